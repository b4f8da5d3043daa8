"""Query statuses (pure): what became of each video a query found, and the query's status.

A video's outcome comes from its receipt (`.uploaded`: published, unavailable, or
processing_failed for a verdict that stood after reprocessing); a video without a receipt
failed in its last attempt (its last failure record says at which stage) or has not finished.

| status            | meaning                                    |
|-------------------|--------------------------------------------|
| success           | every found video published                |
| partial_success   | some published, some failed or unavailable |
| search_failed     | no results after retries                   |
| download_failed   | no video downloaded                        |
| processing_failed | none passed validation                     |
| upload_failed     | none published after retries               |
| error             | an unexpected exception                    |
| pending           | the query's run has not finished           |
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tiktok_research.queries import Query
from tiktok_research.records import utc_now

STATUSES = ("success", "partial_success", "search_failed", "download_failed",
            "processing_failed", "upload_failed", "error")
PENDING = "pending"
FAILED_OUTCOME = {"search": "error", "download": "download_failed", "process": "processing_failed",
                  "validate": "processing_failed", "upload": "upload_failed", "error": "error"}
VIDEO_OUTCOMES = ("published", "unavailable", "download_failed", "processing_failed",
                  "upload_failed", "error", "pending")
FAILED = ("download_failed", "processing_failed", "upload_failed", "error")


def video_outcome(receipt: dict[str, Any] | None,
                  last_failure: dict[str, Any] | None) -> dict[str, Any]:
    """`{"outcome", "reason"?, "error"?}` of one video."""
    if isinstance(receipt, dict) and receipt.get("outcome", "published") in VIDEO_OUTCOMES:
        outcome = receipt.get("outcome", "published")
        described = {"outcome": outcome}
        if outcome != "published":
            described["reason"] = receipt.get("reason")
            if receipt.get("error"):
                described["error"] = receipt["error"]
            if receipt.get("retry_after"):
                described["retry_after"] = receipt["retry_after"]
        return described
    if last_failure is not None:
        return {"outcome": FAILED_OUTCOME.get(str(last_failure.get("type")), "error"),
                "error": last_failure.get("error")}
    return {"outcome": PENDING}


def classify(outcomes: list[str]) -> str:
    """A query's status from its videos' outcomes."""
    counted = Counter(outcomes)
    if not outcomes:
        return "search_failed"
    if counted["published"] == len(outcomes):
        return "success"
    if counted["published"]:
        return "partial_success"
    if counted[PENDING]:
        return PENDING
    # Nothing published: name the furthest stage any video reached before failing.
    for outcome in ("error", "upload_failed", "processing_failed"):
        if counted[outcome]:
            return outcome
    return "download_failed"


def video_counts(outcomes: list[str]) -> dict[str, int]:
    counted = Counter(outcomes)
    return {
        "found": len(outcomes),
        "downloaded": sum(counted[name] for name in ("published", "processing_failed",
                                                      "upload_failed")),
        "processed": counted["published"] + counted["upload_failed"],
        "published": counted["published"],
        "unavailable": counted["unavailable"],
        "failed": sum(counted[name] for name in FAILED),
        "pending": counted[PENDING],
    }


def query_status(query: Query, entries: list[dict[str, Any]] | None,
                 receipts: dict[str, dict[str, Any] | None],
                 failures: list[dict[str, Any]]) -> dict[str, Any]:
    """The query's `status.json`: its status, counts and per-video outcomes.

    `entries` is its `urls.json` (None when the search has not written one), `receipts` the
    receipts of its videos that have one, `failures` the failure records (oldest first)."""
    base = {"index": query.index, "query": query.text, "meta": query.meta,
            "updated_at": utc_now()}
    search_failures = [f for f in failures if f.get("type") == "search"
                       and f.get("query_index") == query.index and f.get("query") == query.text]
    if entries is None:
        return {**base, "status": "search_failed" if search_failures else PENDING,
                "counts": {"found": 0}, "videos": {},
                "last_error": search_failures[-1]["error"] if search_failures else None}
    last_failure: dict[str, dict[str, Any]] = {}
    for record in failures:
        if record.get("video_id"):
            last_failure[str(record["video_id"])] = record
    videos = {}
    for entry in entries:
        video_id = str(entry.get("video_id"))
        videos[video_id] = video_outcome(receipts.get(video_id), last_failure.get(video_id))
    outcomes = [video["outcome"] for video in videos.values()]
    status = classify(outcomes)
    last_error = None
    if status == "search_failed":
        last_error = (search_failures[-1]["error"] if search_failures
                      else "the search found no TikTok video links")
    return {**base, "status": status, "counts": video_counts(outcomes), "videos": videos,
            "last_error": last_error}


def progress_summary(statuses: list[dict[str, Any]]) -> dict[str, Any]:
    """`progress.json`: the finished queries as `index:query`, totals by status, and the unique
    videos by outcome (a video several queries found counts once)."""
    finished = [s for s in statuses if s["status"] != PENDING]
    totals = Counter(s["status"] for s in statuses)
    unique = {video_id: video["outcome"] for s in statuses
              for video_id, video in (s.get("videos") or {}).items()}
    failed = sorted(video_id for video_id, outcome in unique.items() if outcome in FAILED)
    return {
        "processed_queries": [Query(s["index"], s["query"]).label for s in finished],
        "stats": {"total": len(finished), **{name: totals[name] for name in STATUSES},
                  "pending": totals[PENDING]},
        "videos": {"found": len(unique), **Counter(unique.values())},
        "failed_videos": failed,
        "updated_at": utc_now(),
    }


def unique_videos(videos: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each video of the queries' `videos.json` once (a video several queries found)."""
    return {video_id: video for document in videos
            for video_id, video in (document.get("videos") or {}).items()}


def not_published(videos: dict[str, dict[str, Any]]) -> list[list[Any]]:
    # `videos`: the per-video outcomes of the queries' statuses (unique_videos(statuses)).
    """Rows (outcome, reason, whether and when a run tries again, videos) of the videos that
    were not published: unavailable for good or for now (the earliest time a run tries them
    again), a verdict on the video itself (for good), or a failure (the next run)."""
    groups: dict[tuple[str, str], list[str | None]] = {}
    for video in videos.values():
        outcome = video.get("outcome")
        if outcome in (None, "published", PENDING):
            continue
        # A receipt's outcome has a reason; a failure without a receipt only its error.
        key = (str(outcome), str(video.get("reason") or ""), "reason" in video)
        groups.setdefault(key, []).append(video.get("retry_after"))
    rows = []
    for (outcome, reason, ended), retries in sorted(groups.items()):
        due = sorted(r for r in retries if isinstance(r, str))
        again = (f"tried again after {due[0]}" if due else
                 "for good" if ended else "tried again next run")
        rows.append([outcome, reason, again, len(retries)])
    return rows


def renditions(videos: dict[str, dict[str, Any]]) -> list[list[Any]]:
    """Rows (source, watermarked, videos) of the published videos: which of TikTok's sources
    each file came from."""
    counts = Counter(
        (str(video.get("rendition") or "unknown"),
         "yes" if (video.get("dataset_row") or {}).get("watermarked") else "no")
        for video in videos.values() if video.get("outcome") == "published")
    return [[kind, watermarked, count] for (kind, watermarked), count in sorted(counts.items())]


def with_captions(videos: dict[str, dict[str, Any]]) -> list[str]:
    """The published videos that came with TikTok's own captions."""
    return [video_id for video_id, video in videos.items()
            if video.get("outcome") == "published"
            and (video.get("dataset_row") or {}).get("tiktok_captions")]
