"""The download job: one video → `video.mp4` and `metadata.json` (the rule `download_video`).

The page URL comes from the `urls.json` of a query that found the video (the rule's input). An
unavailable video (private, deleted, not a video) is an outcome, not a failure of the job: it
is recorded, `metadata.json` says why, and `video.mp4` is left empty; the next job ends the
video there. Any other error after the download's own retries fails the job.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tiktok_research.download.page import build_metadata
from tiktok_research.download.pool import BrowserPool, open_browser_pool
from tiktok_research.download.session import BrowserSettings
from tiktok_research.errors import DownloadError, VideoUnavailable
from tiktok_research.files import atomic_write_bytes, atomic_write_json, read_json
from tiktok_research.records import utc_now
from tiktok_research.registry import Host, Job, Resource, Task

log = logging.getLogger("tiktok_research.download")


def unavailable_metadata(video_id: str, url: str, error: VideoUnavailable) -> dict[str, Any]:
    """`metadata.json` of a video that cannot be had."""
    return {"video_id": video_id, "url": url,
            "unavailable": {"reason": error.reason, "status_code": error.status_code,
                            "checked_at": utc_now()}}


def page_url(urls_path: str, video_id: str) -> str:
    """The page URL of `video_id` in a query's `urls.json`."""
    entries = read_json(urls_path)
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and str(entry.get("video_id")) == video_id:
            return str(entry["url"])
    raise DownloadError(f"{urls_path} does not list video {video_id}", retryable=False,
                        reason="no_url")


def run_download(job: Job) -> dict[str, Any]:
    """Download the video `job.key` from its page in `job.inputs["urls"]`; write its
    metadata."""
    video_id = job.key
    job.context.update(video_id=video_id)
    page = page_url(job.inputs["urls"], video_id)
    video_path, meta_path = Path(job.outputs["video"]), Path(job.outputs["meta"])
    job.context.update(url=page)
    log.info("downloading %s from %s (attempt %d)", video_id, page, job.attempt)
    browsers: BrowserPool = job.resource("browsers")
    started = time.monotonic()
    try:
        result = browsers.download(page, video_id, video_path,
                                   BrowserSettings.from_config(job.config))
    except VideoUnavailable as error:
        job.record(error)
        log.warning("%s: %s", video_id, error)
        atomic_write_bytes(video_path, b"")
        metadata = unavailable_metadata(video_id, page, error)
        atomic_write_json(meta_path, metadata)
        return metadata
    metadata = build_metadata(result.item, video_id=video_id, url=page,
                              downloaded_at=utc_now())
    metadata["download"] = {"bytes": result.size, "page_visits": result.page_visits,
                            "source_host": urlsplit(result.source_url).hostname,
                            "seconds": round(time.monotonic() - started, 3)}
    atomic_write_json(meta_path, metadata)
    log.info("%s: %d bytes from %s after %d page visit(s)", video_id, result.size,
             result.source_url.split("?")[0], result.page_visits)
    return metadata


def _browser_settings(config: dict[str, Any]) -> BrowserSettings:
    return BrowserSettings.from_config(config)


def _open_browsers(config: dict[str, Any], host: Host) -> BrowserPool:
    return open_browser_pool(_browser_settings(config))


BROWSERS = Resource("browsers", _open_browsers, settings=_browser_settings,
                    close=BrowserPool.close, warm=True)
TASK = Task("download", run_download, failure_type="download", resources=(BROWSERS,))
