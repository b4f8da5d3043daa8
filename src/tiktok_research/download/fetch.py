"""The download of one video: the page's candidate URLs in order, each with its retries; a
refused (expired) URL makes the page load again for fresh ones; the file is verified before it
is renamed into place, so a partial or bogus file never sits at `video.mp4`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tiktok_research.download.page import candidate_urls
from tiktok_research.download.session import BrowserSession, BrowserSettings, DownloadResult
from tiktok_research.download.slots import browser_slot
from tiktok_research.errors import DownloadError, TransientFetchError, UrlRefused

log = logging.getLogger("tiktok_research.download")

PAGE_RELOADS = 2  # fresh URLs after expired ones


def _expire_of(url: str) -> int | None:
    values = parse_qs(urlsplit(url).query).get("expire")
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


async def _download(page_url: str, video_id: str, video_path: Path,
                    session: BrowserSession, part: Path) -> DownloadResult:
    outcome = await session.open_video_page(page_url, video_id)
    errors: list[str] = []
    for reload in range(PAGE_RELOADS + 1):
        refused = False
        for url in candidate_urls(outcome.item):
            try:
                size = await session.download_candidate(url, part)
            except UrlRefused as error:
                expire = _expire_of(url)
                expired = expire is not None and expire < time.time()
                errors.append(f"{error}{' (URL expired)' if expired else ''}")
                log.info("video URL refused (%s, expired=%s)", error, expired)
                refused = True
                if expired:
                    break  # every URL of this page visit shares the expiry
                continue
            except (TransientFetchError, TimeoutError) as error:
                errors.append(str(error) or type(error).__name__)
                log.info("video URL failed after retries: %s", error)
                continue
            part.chmod(0o644)
            os.replace(part, video_path)
            return DownloadResult(outcome.item, url, size, session.page_visits)
        if not refused or reload == PAGE_RELOADS:
            break
        log.info("reloading %s for fresh video URLs", page_url)
        outcome = await session.open_video_page(page_url, video_id)
    raise DownloadError("no candidate URL gave a valid video: " + "; ".join(errors[-4:]))


def quiet_websocket_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # zendriver's listener task dies with "no websocket connection" once the browser is
    # stopped; harmless (see reference), so it is kept out of the job log.
    if "no websocket connection" in str(context.get("exception", "")):
        return
    loop.default_exception_handler(context)


async def download_with_session(session: BrowserSession, page_url: str, video_id: str,
                                video_path: Path) -> DownloadResult:
    """Download one video with a started browser session into `video_path`."""
    video_path.parent.mkdir(parents=True, exist_ok=True)
    for stale in video_path.parent.glob(f".{video_path.name}.*.part"):
        stale.unlink(missing_ok=True)  # left by a killed attempt; Snakemake runs one job per video
    fd, part_name = tempfile.mkstemp(prefix=f".{video_path.name}.", suffix=".part",
                                     dir=video_path.parent)
    os.close(fd)
    part = Path(part_name)
    session.page_visits = 0
    try:
        return await _download(page_url, video_id, video_path, session, part)
    finally:
        part.unlink(missing_ok=True)


async def download_video_async(page_url: str, video_id: str, video_path: Path,
                               settings: BrowserSettings) -> DownloadResult:
    asyncio.get_running_loop().set_exception_handler(quiet_websocket_errors)
    video_path = Path(video_path)
    with browser_slot(settings.profiles_dir, settings.workers) as profile:
        session = BrowserSession(settings, profile)

        def on_signal(signum: int, frame: Any) -> None:
            session.kill()
            raise SystemExit(128 + signum)

        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {sig: signal.signal(sig, on_signal)
                        for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            await session.start()
            return await download_with_session(session, page_url, video_id, video_path)
        finally:
            await session.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def download_video(page_url: str, video_id: str, video_path: Path | str,
                   settings: BrowserSettings) -> DownloadResult:
    """Download one video with a fresh browser on a free slot; see the module docstring."""
    return asyncio.run(download_video_async(page_url, video_id, Path(video_path), settings))
