"""The download job: one video ID → `video.mp4` + `metadata.json`, failures recorded.

An unavailable video (private, deleted, not available, a photo post) leaves the receipt
`videos/{id}/unavailable.json` and one failure record; the job still fails (its outputs cannot
exist), and any later attempt stops at once on the receipt, without a browser, so Snakemake's
retries burn nothing. The next run's DAG leaves the video out (`workflow_support`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tiktok_research import workflow_support
from tiktok_research.download import (
    BrowserSettings,
    DownloadResult,
    PageBlocked,
    VideoUnavailable,
    download_video,
)
from tiktok_research.failures import record_failure, utc_now
from tiktok_research.files import atomic_write_json, read_json
from tiktok_research.tiktok_page import build_metadata

log = logging.getLogger("tiktok_research.download")


class UnavailableVideo(RuntimeError):
    """The video is known to be unavailable (its receipt exists): nothing to download."""


def unavailable_path(output_dir: str | Path, video_id: str) -> Path:
    return Path(output_dir) / "videos" / video_id / workflow_support.UNAVAILABLE_MARKER


def run_download(video_id: str, config: dict[str, Any], *, video_path: str | Path,
                 meta_path: str | Path, attempt: int = 1,
                 downloader: Callable[..., DownloadResult] = download_video) -> dict[str, Any]:
    """Download one video and write its metadata; on failure record it and raise.

    `downloader` has `download.download_video`'s signature; the persistent worker passes its
    `BrowserPool.download`, which keeps each slot's browser between videos."""
    output_dir = Path(config["output_dir"])
    marker = unavailable_path(output_dir, video_id)
    if marker.exists():
        reason = (read_json(marker, {}) or {}).get("reason", "unavailable")
        raise UnavailableVideo(f"video {video_id} is unavailable ({reason}): {marker}")
    entry = workflow_support.video_entry(output_dir, video_id)
    if entry is None:
        error = f"no urls.json lists video {video_id}"
        record_failure(output_dir, "download", error, video_id=video_id, attempt=attempt,
                       details={"outcome": "failed", "cause": "no_url"})
        raise LookupError(error)
    page_url = entry["url"]
    fields = {"query_index": entry.get("query_index"), "query": entry.get("query"),
              "video_id": video_id, "url": page_url, "attempt": attempt}
    log.info("downloading %s from %s (attempt %d)", video_id, page_url, attempt)
    try:
        result = downloader(page_url, video_id, video_path, BrowserSettings.from_config(config))
    except VideoUnavailable as error:
        outcome = error.outcome
        atomic_write_json(marker, {"video_id": video_id, "url": page_url,
                                   "reason": outcome.reason, "status_code": outcome.status_code,
                                   "checked_at": utc_now()})
        record_failure(output_dir, "download", error, **fields,
                       details={"outcome": "unavailable", "reason": outcome.reason,
                                "status_code": outcome.status_code})
        log.warning("%s: %s", video_id, error)
        raise
    except PageBlocked as error:
        record_failure(output_dir, "download", error, **fields,
                       details={"outcome": "retryable", "reason": error.reason})
        log.error("%s: %s", video_id, error)
        raise
    except Exception as error:
        record_failure(output_dir, "download", error, **fields,
                       details={"outcome": "failed", "error_type": type(error).__name__})
        log.error("%s: %s", video_id, error)
        raise
    metadata = build_metadata(result.item, video_id=video_id, url=page_url,
                              queries=workflow_support.queries_for_video(output_dir, video_id),
                              downloaded_at=utc_now())
    atomic_write_json(meta_path, metadata)
    log.info("%s: %d bytes from %s after %d page visit(s)", video_id, result.size,
             result.source_url.split("?")[0], result.page_visits)
    return metadata
