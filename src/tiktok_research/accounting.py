"""Run accounting: per-query `status.json` and `progress.json`, derived from the files on disk.

Output files are the state: a video's outcome is read from its receipt, its unavailable marker,
its derived files and the failure records, so the status is right whatever run (or crash)
produced them, including for queries outside this run's slice.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from tiktok_research.failures import read_failures, utc_now
from tiktok_research.files import atomic_write_json, read_json
from tiktok_research.queries import Query, all_queries
from tiktok_research.workflow_support import UNAVAILABLE_MARKER

log = logging.getLogger("tiktok_research.accounting")

STATUSES = ("success", "partial_success", "search_failed", "download_failed",
            "processing_failed", "upload_failed", "error")
# Not in SPEC §6's seven: a query whose run has not finished (never run, or interrupted).
PENDING = "pending"
FAILED_OUTCOME = {"search": "error", "download": "download_failed", "process": "processing_failed",
                  "validate": "processing_failed", "upload": "upload_failed", "error": "error"}
VIDEO_OUTCOMES = ("published", "unavailable", "download_failed", "processing_failed",
                  "upload_failed", "error", "pending")


def video_outcome(output_dir: Path, video_id: str, last_failure: dict[str, Any] | None) -> str:
    """What became of one video: a receipt or a marker wins over any earlier failure."""
    folder = output_dir / "videos" / video_id
    if (folder / ".uploaded").exists():
        return "published"
    if (folder / UNAVAILABLE_MARKER).exists():
        return "unavailable"
    if last_failure is not None and not _got_past(folder, last_failure.get("type")):
        return FAILED_OUTCOME.get(last_failure.get("type", "error"), "error")
    return "pending"


def _got_past(folder: Path, failure_type: str | None) -> bool:
    """Whether a later attempt got past the stage that failed (the run then stopped)."""
    if failure_type == "download":
        return (folder / "metadata.json").exists()
    if failure_type == "process":
        return (folder / "ocr.json").exists() and (folder / "transcript.txt").exists()
    return False


def video_stage_counts(output_dir: Path, video_ids: list[str], outcomes: dict[str, str]) -> dict:
    folder = output_dir / "videos"
    downloaded = processed = 0
    for video_id in video_ids:
        outcome = outcomes[video_id]
        if outcome == "published" or (folder / video_id / "metadata.json").exists():
            downloaded += 1
        if outcome in ("published", "upload_failed") or (
            (folder / video_id / "ocr.json").exists()
            and (folder / video_id / "transcript.txt").exists()
        ):
            processed += 1
    counted = Counter(outcomes.values())
    return {
        "found": len(video_ids),
        "downloaded": downloaded,
        "processed": processed,
        "published": counted["published"],
        "unavailable": counted["unavailable"],
        "failed": sum(counted[name] for name in
                      ("download_failed", "processing_failed", "upload_failed", "error")),
        "pending": counted["pending"],
    }


def classify(outcomes: dict[str, str]) -> str:
    """A query's status from its videos' outcomes (SPEC §6)."""
    counted = Counter(outcomes.values())
    if not outcomes:
        return "search_failed"
    if counted["published"] == len(outcomes):
        return "success"
    if counted["published"]:
        return "partial_success"
    if counted["pending"]:
        return PENDING
    # Nothing published: name the furthest stage any video reached before failing.
    for outcome in ("error", "upload_failed", "processing_failed"):
        if counted[outcome]:
            return outcome
    return "download_failed"


def query_status(query: Query, output_dir: Path,
                 failures_by_video: dict[str, dict[str, Any]],
                 query_failures: list[dict[str, Any]]) -> dict[str, Any]:
    folder = output_dir / "queries" / query.dirname
    urls = read_json(folder / "urls.json")
    base = {"index": query.index, "query": query.text, "meta": query.meta, "updated_at": utc_now()}
    search_failures = [f for f in query_failures if f.get("type") == "search"]
    if urls is None:
        status = "search_failed" if search_failures else PENDING
        return {**base, "status": status, "counts": {"found": 0}, "videos": {},
                "last_error": search_failures[-1]["error"] if search_failures else None}
    video_ids = [str(entry["video_id"]) for entry in urls]
    outcomes = {video_id: video_outcome(output_dir, video_id, failures_by_video.get(video_id))
                for video_id in video_ids}
    errors = {video_id: failures_by_video[video_id]["error"] for video_id, outcome
              in outcomes.items() if outcome not in ("published", "pending")
              and video_id in failures_by_video}
    status = classify(outcomes)
    return {
        **base,
        "status": status,
        "counts": video_stage_counts(output_dir, video_ids, outcomes),
        "videos": {video_id: {"outcome": outcome, **({"error": errors[video_id]}
                                                      if video_id in errors else {})}
                   for video_id, outcome in outcomes.items()},
        "last_error": search_failures[-1]["error"] if status == "search_failed"
        and search_failures else None,
    }


def collect_statuses(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The status of every query of the list (and the single query, if any)."""
    output_dir = Path(config["output_dir"])
    failures = read_failures(output_dir)
    failures_by_video: dict[str, dict[str, Any]] = {}
    failures_by_query: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for record in failures:  # in time order, so the last one per video wins
        if record.get("video_id"):
            failures_by_video[str(record["video_id"])] = record
        failures_by_query.setdefault((record.get("query_index"), record.get("query")),
                                     []).append(record)
    return [
        query_status(query, output_dir, failures_by_video,
                     failures_by_query.get((query.index, query.text), []))
        for query in all_queries(config)
    ]


def progress_summary(statuses: list[dict[str, Any]]) -> dict[str, Any]:
    finished = [s for s in statuses if s["status"] != PENDING]
    totals = Counter(s["status"] for s in statuses)
    # A video found by several queries is counted once.
    unique = {video_id: video["outcome"] for s in statuses
              for video_id, video in s["videos"].items()}
    videos = {"found": len(unique), **Counter(unique.values())}
    return {
        "processed_queries": [Query(s["index"], s["query"]).label for s in finished],
        "stats": {"total": len(finished), **{name: totals[name] for name in STATUSES},
                  "pending": totals[PENDING]},
        "videos": videos,
        "updated_at": utc_now(),
    }


def write_run_status(config: dict[str, Any],
                     statuses: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Write status.json of every query that has a folder, and progress.json over all queries."""
    output_dir = Path(config["output_dir"])
    statuses = collect_statuses(config) if statuses is None else statuses
    for status in statuses:
        folder = output_dir / "queries" / Query(status["index"], status["query"]).dirname
        if folder.exists():
            atomic_write_json(folder / "status.json", status)
    progress = progress_summary(statuses)
    atomic_write_json(output_dir / "progress.json", progress)
    return progress


def finish_run(config: dict[str, Any]) -> None:
    """End of every run (Snakemake's onsuccess/onerror): status files, report, export.

    Each part is attempted even if another fails, so a broken report never hides the status.
    """
    from tiktok_research.export import export_dataset
    from tiktok_research.report import write_report
    from tiktok_research.worker import stop_worker

    stop_worker()  # its models and browsers are not needed any more

    try:
        statuses = collect_statuses(config)  # once, for the status files and the report
    except Exception as error:
        log.error("collecting statuses failed: %s", error)
        statuses = None
    steps = ((write_run_status, (config, statuses)), (write_report, (config, statuses)),
             (export_dataset, (config,)))
    for step, arguments in steps:
        try:
            step(*arguments)
        except Exception as error:  # the run is over; say what broke and carry on
            log.error("%s failed: %s", step.__name__, error)
            print(f"tiktok-research: {step.__name__} failed: {error}", file=sys.stderr)
