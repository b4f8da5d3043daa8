"""The download of one video with a started browser session.

The page's sources are tried in order (`item.candidates`): each with its retries; a refused
(expired) URL makes the page load again for fresh ones. The bytes come through the page, or
outside it when the page may not read the CDN (`transfer`). A file is verified before it is
renamed into place, so a partial or bogus file never sits at `video.mp4`, and a rendition
without sound is rejected when the page says the video has sound. Then TikTok's caption tracks
are saved; a caption that cannot be had never fails the video. A photo post's page, when the
request has a folder for its images (`include_photo_posts`), goes to `photo`.
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

from tiktok_research.download.item import Candidate, candidates, caption_tracks, expects_audio
from tiktok_research.download.photo import download_photo_post
from tiktok_research.download.session import (
    FETCH_ATTEMPTS,
    BrowserSession,
    BrowserSettings,
    DownloadRequest,
    DownloadResult,
)
from tiktok_research.download.slots import browser_slot
from tiktok_research.download.transfer import (
    InPage,
    PageRefused,
    RangeGetter,
    fetch_to,
    fetch_whole,
)
from tiktok_research.download.verify import VideoInfo, verify_video
from tiktok_research.errors import (
    DownloadError,
    NoAudioInFile,
    OverCap,
    TransientFetchError,
    UrlRefused,
)

log = logging.getLogger("tiktok_research.download")

PAGE_RELOADS = 2  # fresh URLs after expired ones
CAPTION_BYTES = 2 * 1024 * 1024


def _expire_of(url: str) -> int | None:
    values = parse_qs(urlsplit(url).query).get("expire")
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


class Fetcher:
    """Fetches for one download: through the page while it may, outside it after a refusal."""

    def __init__(self, session: BrowserSession, page_url: str) -> None:
        self.session = session
        self.page_url = page_url
        self.in_page = InPage(session.tab, session.settings.page_timeout * 4,
                              session.settings.caps.max_bytes)
        self.outside: Any = None

    async def _outside(self) -> RangeGetter:
        if self.outside is None:
            self.outside = await self.session.outside(self.page_url)
        return self.outside.get

    async def to_file(self, url: str, target: Path) -> tuple[int, str]:
        """The size written and the path that served it ("page" or "http")."""
        chunk, caps = self.session.settings.chunk_bytes, self.session.settings.caps
        if self.outside is None:
            try:
                return await fetch_to(self.in_page.get, url, target, chunk, caps), "page"
            except PageRefused as error:
                log.info("the page may not fetch the video (%s); fetching outside it", error)
        return await fetch_to(await self._outside(), url, target, chunk, caps), "http"

    async def whole(self, url: str) -> bytes:
        if self.outside is None:
            try:
                return await fetch_whole(self.in_page.get, url)
            except PageRefused:
                pass
        return await fetch_whole(await self._outside(), url)

    async def close(self) -> None:
        if self.outside is not None:
            await self.outside.close()


async def _fetch_candidate(session: BrowserSession, fetcher: Fetcher, candidate: Candidate,
                           part: Path, with_sound: bool) -> tuple[int, str, VideoInfo]:
    """One source with 2 retries and backoff; a refused URL is not retried (it needs a
    reload), nor a rendition without sound (the next source may have it)."""
    retrying = session.retrying(FETCH_ATTEMPTS, (TransientFetchError, TimeoutError),
                                never=(NoAudioInFile,))
    try:
        async for attempt in retrying:
            with attempt:
                size, via = await fetcher.to_file(candidate.url, part)
                info = await asyncio.to_thread(verify_video, part, session.settings.caps)
                if with_sound and not info.has_audio:
                    raise NoAudioInFile(f"the {candidate.kind} rendition has no audio stream")
    except TimeoutError:
        raise TransientFetchError("the video fetch timed out") from None
    return size, via, info


def rendition(candidate: Candidate, info: VideoInfo, via: str) -> dict[str, Any]:
    """What `metadata.json` says of the file taken: its source and what it actually is."""
    return {"kind": candidate.kind, "gear": candidate.gear, "codec": info.codec,
            "width": info.width, "height": info.height, "has_audio": info.has_audio,
            "watermarked": candidate.watermarked, "fetched_by": via,
            "host": urlsplit(candidate.url).hostname}


async def save_captions(fetcher: Fetcher, item: dict[str, Any],
                        folder: Path | None) -> list[dict[str, Any]]:
    """TikTok's caption tracks as `{folder}/{language}.vtt`; what was saved."""
    if folder is None:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for track in caption_tracks(item):
        allowed = fetcher.session.settings.sources
        if allowed is not None and not allowed.allows(track.url):
            log.warning("caption %s on a host outside tiktok.cdn_hosts skipped", track.language)
            continue
        try:
            data = await fetcher.whole(track.url)
            if len(data) > CAPTION_BYTES or not data.lstrip(b"\xef\xbb\xbf").startswith(b"WEBVTT"):
                raise TransientFetchError("the answer is not a WebVTT file")
            target = folder / f"{track.language}.vtt"
            await asyncio.to_thread(target.write_bytes, data)
        except Exception as error:  # a caption that cannot be had never fails the video
            log.warning("caption %s not saved: %s", track.language, error)
            continue
        saved.append({"language": track.language, "source": track.source,
                      "format": track.format, "file": f"{folder.name}/{target.name}"})
    return saved


async def _download(request: DownloadRequest, session: BrowserSession,
                    part: Path) -> DownloadResult:
    page_url, video_id = request.page_url, request.video_id
    page_host = urlsplit(page_url).netloc or None
    outcome = await session.open_video_page(page_url, video_id,
                                            photo_posts=request.images_dir is not None)
    if outcome.photo_post and request.images_dir is not None:
        fetcher = Fetcher(session, page_url)
        try:
            return await download_photo_post(request, request.images_dir, session, fetcher,
                                              outcome.item)
        finally:
            await fetcher.close()
    errors: list[str] = []
    over: OverCap | None = None  # a source over a cap: the video's refusal if no other fits,
    failed_otherwise = False  # and none failed in a way another try might not
    for reload in range(PAGE_RELOADS + 1):
        fetcher = Fetcher(session, page_url)
        try:
            refused = False
            with_sound = expects_audio(outcome.item)
            sources = candidates(outcome.item, page_host, session.settings.sources)
            if not sources:
                errors.append("the page lists no source on an allowed host (https on "
                              "tiktok.cdn_hosts)")
            for candidate in sources:
                try:
                    size, via, info = await _fetch_candidate(session, fetcher, candidate, part,
                                                             with_sound)
                except UrlRefused as error:
                    expire = _expire_of(candidate.url)
                    expired = expire is not None and expire < time.time()
                    errors.append(f"{error}{' (URL expired)' if expired else ''}")
                    failed_otherwise = True
                    log.info("video URL refused (%s, expired=%s)", error, expired)
                    refused = True
                    if expired:
                        break  # every URL of this page visit shares the expiry
                    continue
                except (TransientFetchError, NoAudioInFile, TimeoutError) as error:
                    errors.append(str(error) or type(error).__name__)
                    log.info("%s source failed: %s", candidate.kind, error)
                    failed_otherwise = True
                    continue
                except OverCap as error:
                    # Bytes and pixels differ between renditions: a smaller one may fit. The
                    # duration does not.
                    over = error
                    errors.append(str(error))
                    log.info("%s source is over a cap: %s", candidate.kind, error)
                    if error.details.get("cap") == "tiktok.max_duration_seconds":
                        break
                    continue
                part.chmod(0o644)
                os.replace(part, request.video_path)
                log.info("%s: %s rendition (%s, %dx%d) fetched by the %s", video_id,
                         candidate.kind, info.codec, info.width, info.height,
                         "page" if via == "page" else "HTTP client outside the page")
                captions = await save_captions(fetcher, outcome.item, request.captions_dir)
                return DownloadResult(outcome.item, candidate.url, size, session.page_visits,
                                      rendition(candidate, info, via), captions)
        finally:
            await fetcher.close()
        if not refused or reload == PAGE_RELOADS:
            break
        log.info("reloading %s for fresh video URLs", page_url)
        outcome = await session.open_video_page(page_url, video_id)
    if over is not None and not failed_otherwise:
        raise over
    raise DownloadError("no source gave a valid video: " + "; ".join(errors[-4:]))


def quiet_websocket_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # zendriver's listener task dies with "no websocket connection" once the browser is
    # stopped; harmless (see reference), so it is kept out of the job log.
    if "no websocket connection" in str(context.get("exception", "")):
        return
    loop.default_exception_handler(context)


async def download_with_session(session: BrowserSession,
                                request: DownloadRequest) -> DownloadResult:
    """Download one video with a started browser session into `request.video_path`."""
    video_path = request.video_path
    video_path.parent.mkdir(parents=True, exist_ok=True)
    for stale in video_path.parent.glob(f".{video_path.name}.*.part"):
        stale.unlink(missing_ok=True)  # left by a killed attempt; Snakemake runs one job per video
    fd, part_name = tempfile.mkstemp(prefix=f".{video_path.name}.", suffix=".part",
                                     dir=video_path.parent)
    os.close(fd)
    part = Path(part_name)
    session.begin(request)
    deadline = asyncio.timeout(session.settings.caps.deadline)
    try:
        async with deadline:
            return await _download(request, session, part)
    except TimeoutError:
        if not deadline.expired():
            raise
        raise DownloadError(f"the download took longer than tiktok.download_deadline_seconds "
                            f"({session.settings.caps.deadline:g} s)",
                            reason="deadline") from None
    finally:
        part.unlink(missing_ok=True)


async def download_video_async(request: DownloadRequest,
                               settings: BrowserSettings) -> DownloadResult:
    asyncio.get_running_loop().set_exception_handler(quiet_websocket_errors)
    with browser_slot(settings.slots, settings.workers) as profile:
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
            return await download_with_session(session, request)
        finally:
            await session.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def download_video(page_url: str, video_id: str, video_path: Path | str,
                   settings: BrowserSettings, **extra: Any) -> DownloadResult:
    """Download one video with a fresh browser on a free slot; see the module docstring.
    `extra`: the other fields of `DownloadRequest` (captions_dir, pages_dir, run)."""
    request = DownloadRequest(page_url, video_id, Path(video_path), **extra)
    return asyncio.run(download_video_async(request, settings))
