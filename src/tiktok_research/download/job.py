"""The download job: one video → `video.mp4`, `metadata.json` and its caption tracks (the rule
`download_video`).

The page URL comes from the `urls.json` of a query that found the video (the rule's input). An
unavailable video is an outcome, not a failure of the job: it is recorded, `metadata.json`
says why and `video.mp4` is left empty; the next job ends the video there. A temporary one
(region locked, item not found, an empty item) carries `retry_after`: a run after that time
tries it again. A video whose every source is over a cap (`tiktok.max_video_bytes`,
`max_duration_seconds`, `max_pixels`) is refused alike, for good: `metadata.json` names the
cap, and the video ends `download_failed` without being tried again (to try such videos with a
higher cap, delete their receipts). Any other error after the download's own retries fails the
job, the download deadline (`download_deadline_seconds`) among them: a slow network may be
faster next time.

In a pseudonymised study (`privacy.pseudonymise`) the item's people are pseudonymised before
`metadata.json` is written, its link names no user, and no page is kept in the logs (a page's
HTML and screenshot show its author).

With `include_photo_posts` the rule also declares an `images` folder: a photo post's page is
loaded like a video's, its images are fetched into that folder (`download.photo`), and
`metadata.json` says `"post_type": "photo"` and lists them. Without the key, a photo post is
unavailable (`photo_post`), as before.
"""

from __future__ import annotations

import logging
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tiktok_research.download.item import build_metadata
from tiktok_research.download.pool import BrowserPool, open_browser_pool
from tiktok_research.download.session import BrowserSettings
from tiktok_research.errors import DownloadError, OverCap, VideoUnavailable
from tiktok_research.files import atomic_write_bytes, atomic_write_json, read_json
from tiktok_research.privacy import pseudonymiser, userless_url
from tiktok_research.records import one_line, utc_now
from tiktok_research.registry import Host, Job, Resource, Task

log = logging.getLogger("tiktok_research.download")

DEFAULT_RETRY_HOURS = 24.0


def found_entry(urls_path: str, video_id: str) -> dict[str, Any]:
    """The entry of `video_id` in a query's `urls.json`."""
    entries = read_json(urls_path)
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and str(entry.get("video_id")) == video_id:
            return entry
    raise DownloadError(f"{urls_path} does not list video {video_id}", retryable=False,
                        reason="no_url")


def unavailable_metadata(video_id: str, url: str, error: VideoUnavailable,
                         retry_hours: float) -> dict[str, Any]:
    """`metadata.json` of a video that cannot be had (for now, or for good)."""
    now = datetime.now(UTC)
    retry_after = None if error.permanent else (
        (now + timedelta(hours=retry_hours)).isoformat(timespec="seconds").replace("+00:00", "Z"))
    return {"video_id": video_id, "url": url,
            "unavailable": {"reason": error.reason, "status_code": error.status_code,
                            "status_msg": error.status_msg, "permanent": error.permanent,
                            "retry_after": retry_after, "checked_at": utc_now()}}


def refused_metadata(video_id: str, url: str, error: OverCap) -> dict[str, Any]:
    """`metadata.json` of a video whose every source is over a cap, for good."""
    return {"video_id": video_id, "url": url,
            "refused": {"reason": error.reason, "cap": error.details.get("cap"),
                        "error": one_line(error), "checked_at": utc_now()}}


def retry_hours(config: dict[str, Any]) -> float:
    return float((config.get("tiktok") or {}).get("unavailable_retry_hours",
                                                   DEFAULT_RETRY_HOURS))


def run_download(job: Job) -> dict[str, Any]:
    """Download the video `job.key` from its page in `job.inputs["urls"]`; write its
    metadata and caption tracks."""
    video_id = job.key
    job.context.update(video_id=video_id)
    entry = found_entry(job.inputs["urls"], video_id)
    study = pseudonymiser(job.config)
    page = str(entry.get("url")) if study is None else userless_url(str(entry.get("url")))
    video_path, meta_path = Path(job.outputs["video"]), Path(job.outputs["meta"])
    captions_dir = Path(job.outputs["captions"]) if "captions" in job.outputs else None
    if captions_dir is not None:
        captions_dir.mkdir(parents=True, exist_ok=True)
    # A photo post's images (include_photo_posts: the rule then declares the folder); empty for
    # a video, and for a post that ends unavailable.
    images_dir = Path(job.outputs["images"]) if "images" in job.outputs else None
    if images_dir is not None:
        shutil.rmtree(images_dir, ignore_errors=True)
        images_dir.mkdir(parents=True)
    job.context.update(url=page)
    log.info("downloading %s from %s (attempt %d)", video_id, page, job.attempt)
    started = time.monotonic()
    try:
        if entry.get("kind") == "photo" and images_dir is None:
            raise VideoUnavailable("photo_post")  # a photo post's link, its images not wanted
        browsers: BrowserPool = job.resource("browsers")
        result = browsers.download(
            page, video_id, video_path, BrowserSettings.from_config(job.config),
            captions_dir=captions_dir, images_dir=images_dir, run=job.run,
            pages_dir=Path(job.params["pages"]) if job.params.get("pages") and study is None
            else None)
    except (VideoUnavailable, OverCap) as error:  # an outcome: metadata.json says why
        job.record(error)
        log.warning("%s: %s", video_id, error)
        atomic_write_bytes(video_path, b"")
        metadata = (unavailable_metadata(video_id, page, error, retry_hours(job.config))
                    if isinstance(error, VideoUnavailable)
                    else refused_metadata(video_id, page, error))
        atomic_write_json(meta_path, metadata)
        return metadata
    item = result.item if study is None else study.item(result.item)
    metadata = build_metadata(item, video_id=video_id, url=page, downloaded_at=utc_now(),
                              name_user_in_url=study is None)
    if result.rendition.get("kind") == "image_post":
        metadata["post_type"] = "photo"
        metadata["images"] = result.rendition["images"]
        metadata["rendition"] = {key: value for key, value in result.rendition.items()
                                 if key != "images"}
    else:
        metadata["rendition"] = result.rendition
    metadata["captions"] = result.captions
    metadata["download"] = {"bytes": result.size, "page_visits": result.page_visits,
                            "seconds": round(time.monotonic() - started, 3)}
    atomic_write_json(meta_path, metadata)
    if metadata.get("post_type") == "photo":
        log.info("%s: photo post, %d images (%d bytes) from %s after %d page visit(s)",
                 video_id, len(metadata["images"]), result.size,
                 result.source_url.split("?")[0], result.page_visits)
        return metadata
    log.info("%s: %d bytes of %s (%s, fetched by the %s) from %s after %d page visit(s), "
             "%d caption track(s)", video_id, result.size, result.rendition.get("kind"),
             "watermarked" if result.rendition.get("watermarked") else "clean",
             "page" if result.rendition.get("fetched_by") == "page" else "HTTP client",
             result.source_url.split("?")[0], result.page_visits, len(result.captions))
    return metadata


def _browser_settings(config: dict[str, Any]) -> BrowserSettings:
    return BrowserSettings.from_config(config)


def _open_browsers(config: dict[str, Any], host: Host) -> BrowserPool:
    return open_browser_pool(_browser_settings(config))


BROWSERS = Resource("browsers", _open_browsers, settings=_browser_settings,
                    close=BrowserPool.close, warm=True)
# One more try for a challenge or login wall that outlasted the try's own revisits. An
# unavailable video is not a failure: metadata.json says why and the job succeeds.
TASK = Task("download", run_download, failure_type="download", resources=(BROWSERS,),
            attempts=2)
