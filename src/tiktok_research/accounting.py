"""Run accounting: per-query status.json, progress.json — written at the end of every run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tiktok_research.failures import read_failures, utc_now
from tiktok_research.files import atomic_write_json, read_json
from tiktok_research.queries import Query, all_queries
from tiktok_research.workflow_support import UNAVAILABLE_MARKER

log = logging.getLogger("tiktok_research.accounting")
STATUSES = ("success", "partial_success", "search_failed", "download_failed",
            "processing_failed", "upload_failed", "error")


def video_outcome(output_dir: Path, video_id: str) -> str:
    """published | unavailable | processed | downloaded | pending, from the files on disk."""
    folder = output_dir / "videos" / video_id
    if (folder / ".uploaded").exists():
        return "published"
    if (folder / UNAVAILABLE_MARKER).exists():
        return "unavailable"
    if (folder / "ocr.json").exists() and (folder / "transcript.txt").exists():
        return "processed"
    if (folder / "metadata.json").exists():
        return "downloaded"
    return "pending"


def query_status(query: Query, output_dir: Path, failures: list[dict[str, Any]]) -> dict[str, Any]:
    """The status of one query, from its urls.json, its videos' files and its failure records."""
    folder = output_dir / "queries" / query.dirname
    urls = read_json(folder / "urls.json")
    own_failures = [f for f in failures if f.get("query_index") == query.index
                    and f.get("query") == query.text]
    base = {"index": query.index, "query": query.text, "meta": query.meta, "updated_at": utc_now()}
    if urls is None:
        searched = any(f.get("type") == "search" for f in own_failures)
        return {**base, "status": "search_failed" if searched else "pending",
                "videos": {}, "counts": {"found": 0}}
    if not urls:
        return {**base, "status": "search_failed", "videos": {}, "counts": {"found": 0}}
    outcomes = {str(entry["video_id"]): video_outcome(output_dir, str(entry["video_id"]))
                for entry in urls}
    video_failures: dict[str, str] = {}
    for failure in failures:
        video_id = failure.get("video_id")
        if video_id in outcomes and outcomes[video_id] not in ("published", "unavailable"):
            video_failures[video_id] = failure["type"]
    for video_id, failure_type in video_failures.items():
        stage = {"download": "download_failed", "process": "processing_failed",
                 "validate": "processing_failed", "upload": "upload_failed"}.get(
                     failure_type, "error")
        outcomes[video_id] = stage
    counts = {
        "found": len(outcomes),
        "downloaded": sum(o in ("downloaded", "processed", "published", "processing_failed",
                                "upload_failed") for o in outcomes.values()),
        "processed": sum(o in ("processed", "published", "upload_failed")
                         for o in outcomes.values()),
        "published": sum(o == "published" for o in outcomes.values()),
        "unavailable": sum(o == "unavailable" for o in outcomes.values()),
        "failed": sum(o.endswith("_failed") or o == "error" for o in outcomes.values()),
        "pending": sum(o in ("pending", "downloaded", "processed") for o in outcomes.values()),
    }
    return {**base, "status": classify(outcomes, counts), "videos": outcomes, "counts": counts}


def classify(outcomes: dict[str, str], counts: dict[str, int]) -> str:
    available = counts["found"] - counts["unavailable"]
    if counts["published"] and counts["published"] == available:
        return "success"
    if counts["published"]:
        return "partial_success"
    if counts["pending"] and not counts["failed"]:
        return "pending"
    values = set(outcomes.values()) - {"unavailable"}
    if not values or values <= {"download_failed", "pending"}:
        return "download_failed"
    if "upload_failed" in values:
        return "upload_failed"
    if "processing_failed" in values:
        return "processing_failed"
    if "download_failed" in values:
        return "download_failed"
    return "error"


def write_run_status(config: dict[str, Any], log_path: object = None) -> dict[str, Any]:
    """Write status.json for every query this run covers and progress.json over all queries."""
    output_dir = Path(config["output_dir"])
    failures = read_failures(output_dir)
    statuses = []
    for query in all_queries(config):
        folder = output_dir / "queries" / query.dirname
        status = query_status(query, output_dir, failures)
        if folder.exists():
            atomic_write_json(folder / "status.json", status)
        statuses.append(status)
    finished = [f"{s['index']}:{s['query']}" for s in statuses if s["status"] not in ("pending",)]
    totals: dict[str, int] = {name: 0 for name in STATUSES}
    for status in statuses:
        if status["status"] in totals:
            totals[status["status"]] += 1
    progress = {
        "processed_queries": finished,
        "stats": {"total": len(finished), **totals,
                  "videos_published": sum(s["counts"].get("published", 0) for s in statuses)},
        "updated_at": utc_now(),
    }
    atomic_write_json(output_dir / "progress.json", progress)
    return progress
