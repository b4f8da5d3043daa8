"""Browser download: zendriver drives Debian's Chromium to a video page and fetches the bytes.

The video is fetched *inside* the browser session that loaded the page (its cookies, among them
`tt_chain_token`, and the page as Referer), in byte ranges, trying the page's candidate URLs in
order (`tiktok_page.candidate_urls`). A refused URL (expired) makes the page load again for
fresh ones. The file is verified (MP4 box structure from `ftyp` to the end, PyAV finds a video
stream, duration > 0) before it is renamed into place, so a partial or bogus file never sits at
`video.mp4`.

Each concurrent download holds one slot (`slot-{i}.lock`, i < workers) and that slot's browser
profile directory, which may be wiped at any time between jobs. Chromium runs in its own process
group and dies with the job: stopped in `finally`, killed on SIGTERM/SIGINT, and started with a
parent-death signal so even a SIGKILLed job leaves no browser behind.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import shlex
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import tenacity
import zendriver
from filelock import FileLock, Timeout

from tiktok_research.tiktok_page import PageOutcome, candidate_urls, parse_page
from tiktok_research.worker import process_start

log = logging.getLogger("tiktok_research.download")

CHROMIUM_FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--mute-audio",
]
CHUNK_BYTES = 4 * 1024 * 1024
FETCH_ATTEMPTS = 3  # one try and 2 retries per URL
PAGE_ATTEMPTS = 4  # a challenge or login wall may pass after a wait and a fresh visit
PAGE_RELOADS = 2  # fresh URLs after expired ones
SLOT_WAIT_SECONDS = 600
PROBE_TIMEOUT_SECONDS = 120
PID_FILE = "browser.pid"

# Runs in the page: one ranged fetch with the page's cookies, the body as base64.
FETCH_RANGE_JS = """
(async () => {
  try {
    const response = await fetch(%(url)s, {
      credentials: "include", cache: "no-store", referrer: location.href,
      headers: {"Range": "bytes=%(start)d-%(end)d"},
    });
    const bytes = new Uint8Array(await response.arrayBuffer());
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return JSON.stringify({status: response.status, data: btoa(binary),
      contentRange: response.headers.get("content-range") || "",
      contentType: response.headers.get("content-type") || ""});
  } catch (error) {
    return JSON.stringify({status: 0, error: String(error)});
  }
})()
"""
PAGE_STATE_JS = """
JSON.stringify({
  html: document.documentElement ? document.documentElement.outerHTML : "",
  url: location.href,
  ready: document.readyState,
  status: (performance.getEntriesByType("navigation")[0] || {}).responseStatus || 0,
})
"""


class DownloadError(RuntimeError):
    """The video could not be downloaded (after the retries this job makes)."""


class PageBlocked(DownloadError):
    """A bot challenge or a login wall stayed in the way: worth a retry later."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"the video page answered with a {reason} page on every visit")
        self.reason = reason


class VideoUnavailable(Exception):
    """The page says the video cannot be had: private, deleted, not available, a photo post."""

    def __init__(self, outcome: PageOutcome) -> None:
        code = f" (statusCode {outcome.status_code})" if outcome.status_code else ""
        super().__init__(f"video unavailable: {outcome.reason}{code}")
        self.outcome = outcome


class TransientFetchError(DownloadError):
    """Network error, 429/5xx or a bad body: the same URL may work on another try."""


class UrlRefused(DownloadError):
    """403/404/410 from the CDN: this URL is expired or refused; the page has fresh ones."""


class BadVideo(TransientFetchError):
    """The bytes are not a complete, decodable MP4 video."""


@dataclass(frozen=True)
class BrowserSettings:
    chromium: str = "/usr/bin/chromium"
    headless: bool = True
    profiles_dir: Path = Path("browser_profiles")
    workers: int = 1
    page_timeout: float = 30.0
    backoff_seconds: float = 2.0
    chunk_bytes: int = CHUNK_BYTES  # bytes per Range request
    extra_args: tuple[str, ...] = ()  # more Chromium flags (tests: --host-resolver-rules)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BrowserSettings:
        tiktok = config["tiktok"]
        return cls(
            chromium=tiktok["chromium"],
            headless=tiktok["headless"],
            profiles_dir=Path(tiktok["profiles_dir"]),
            workers=config["workers"],
            page_timeout=float(tiktok["page_timeout_seconds"]),
            backoff_seconds=float(tiktok["backoff_seconds"]),
        )


@dataclass
class DownloadResult:
    item: dict[str, Any]  # the page's itemStruct (normalised), for metadata.json
    source_url: str  # the candidate URL the bytes came from
    size: int
    page_visits: int


# --- verification ---------------------------------------------------------------------------
def check_mp4_boxes(path: Path) -> None:
    """The file starts with `ftyp` and its top-level boxes end exactly at its end (not cut)."""
    size = path.stat().st_size
    seen: list[str] = []
    with open(path, "rb") as handle:
        offset = 0
        while offset < size:
            handle.seek(offset)
            header = handle.read(16)
            if len(header) < 8:
                raise BadVideo(f"MP4 box header cut at byte {offset}")
            box_size = int.from_bytes(header[:4], "big")
            box_type = header[4:8].decode("latin-1")
            if box_size == 1:
                if len(header) < 16:
                    raise BadVideo(f"MP4 box header cut at byte {offset}")
                box_size = int.from_bytes(header[8:16], "big")
            elif box_size == 0:
                box_size = size - offset
            if not seen and box_type != "ftyp":
                raise BadVideo("not an MP4 file (no ftyp box at the start)")
            if box_size < 8 or offset + box_size > size:
                raise BadVideo(f"MP4 box {box_type!r} runs past the end of the file (truncated)")
            seen.append(box_type)
            offset += box_size
    for needed in ("moov", "mdat"):
        if needed not in seen:
            raise BadVideo(f"MP4 file has no {needed!r} box")


def probe_video(path: Path) -> float:
    """The duration of a file with a video stream (PyAV, in this process: an ffprobe process
    per download cost more CPU than the rest of the check); BadVideo otherwise."""
    import av

    try:
        # FFmpeg's interrupt callback gives up on a hostile file that stalls the demuxer.
        with av.open(str(path), timeout=PROBE_TIMEOUT_SECONDS) as container:
            videos = list(container.streams.video)
            duration = (container.duration / av.time_base if container.duration else 0.0)
            if not duration and videos and videos[0].duration and videos[0].time_base:
                duration = float(videos[0].duration * videos[0].time_base)
    except (av.FFmpegError, OSError) as error:
        reason = getattr(error, "strerror", None) or " ".join(str(error).split())[:200]
        raise BadVideo(f"FFmpeg cannot read the file: {reason}") from None
    if not videos:
        raise BadVideo("no video stream in the file")
    if duration <= 0:
        raise BadVideo("the video has no duration")
    return duration


def verify_video(path: Path) -> float:
    check_mp4_boxes(path)
    return probe_video(path)


# --- browser slots and process lifetime ----------------------------------------------------
def acquire_slot(profiles_dir: Path, indices: Iterable[int],
                 own_browsers: Collection[int] = ()) -> tuple[FileLock, Path] | None:
    """Take the first free slot among `indices` (its lock, its profile directory), or None.

    A browser left running on the slot's profile is killed, unless its pid is one of
    `own_browsers` (the worker's pool keeps its browsers between downloads)."""
    profiles_dir.mkdir(parents=True, exist_ok=True)
    for index in indices:
        lock = FileLock(str(profiles_dir / f"slot-{index}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue
        try:
            profile = profiles_dir / f"slot-{index}"
            profile.mkdir(exist_ok=True)
            kill_leftover_browser(profile, spare=own_browsers)
        except BaseException:
            lock.release()
            raise
        return lock, profile
    return None


@contextlib.contextmanager
def browser_slot(profiles_dir: Path, workers: int,
                 wait_seconds: float = SLOT_WAIT_SECONDS) -> Iterator[Path]:
    """Hold a free slot `i < workers` (its lock file) and yield its profile directory."""
    deadline = time.monotonic() + wait_seconds
    while (taken := acquire_slot(profiles_dir, range(workers))) is None:
        if time.monotonic() > deadline:
            raise DownloadError(f"no free browser slot among {workers} after {wait_seconds:.0f} s")
        time.sleep(0.2)
    lock, profile = taken
    try:
        yield profile
    finally:
        lock.release()


def wipe_profiles(profiles_dir: Path) -> None:
    """Delete every slot's browser profile (cookies, cache); held slots are left alone."""
    for profile in sorted(Path(profiles_dir).glob("slot-*")):
        if not profile.is_dir():
            continue
        lock = FileLock(str(profile) + ".lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue
        try:
            shutil.rmtree(profile, ignore_errors=True)
        finally:
            lock.release()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def kill_leftover_browser(profile: Path, spare: Collection[int] = ()) -> None:
    """A browser a dead job left on this slot's profile is killed (with its process group)."""
    pid_file = profile / PID_FILE
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        pid = 0
    if pid and pid in spare:
        return
    if pid and str(profile.resolve()) in _cmdline(pid):
        log.warning("killing a leftover browser (pid %d) on %s", pid, profile)
        with contextlib.suppress(ProcessLookupError):
            kill_process_group(pid, own_group=os.getpgid(pid) == pid)
    pid_file.unlink(missing_ok=True)
    for name in ("SingletonLock", "SingletonSocket", "SingletonCookie"):
        (profile / name).unlink(missing_ok=True)


def kill_process_group(pid: int, own_group: bool = True) -> None:
    """SIGKILL the browser and its helpers: its process group when the launcher gave it one (the
    group outlives its leader), else the browser process alone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if own_group:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)


def launcher_script(profile: Path, chromium: str) -> Path:
    """A wrapper that starts Chromium in its own process group, killed when its parent dies."""
    if shutil.which("setpriv") is None or shutil.which("setsid") is None:
        return Path(chromium)
    script = profile.parent / f"{profile.name}.launch.sh"
    text = f'#!/bin/sh\nexec setpriv --pdeathsig KILL -- setsid {shlex.quote(chromium)} "$@"\n'
    if not script.exists() or script.read_text() != text:
        tmp = script.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.replace(script)
    return script


# --- the download -------------------------------------------------------------------------
def _expire_of(url: str) -> int | None:
    values = parse_qs(urlsplit(url).query).get("expire")
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


class BrowserSession:
    """One Chromium on one slot profile, one tab on the video page."""

    def __init__(self, settings: BrowserSettings, profile: Path) -> None:
        self.settings = settings
        self.profile = profile
        self.browser: zendriver.Browser | None = None
        self.tab: Any = None
        self.pid: int | None = None
        self.own_group = False
        self.page_visits = 0

    async def start(self) -> None:
        if not self.settings.headless and not os.environ.get("DISPLAY"):
            raise DownloadError("tiktok.headless is false but DISPLAY is not set "
                                "(run under Xvfb, e.g. xvfb-run snakemake ...)")
        if not Path(self.settings.chromium).exists():
            raise DownloadError(f"Chromium not found at {self.settings.chromium} "
                                "(config tiktok.chromium; Debian package `chromium`)")
        try:
            self.browser = await self._launch()
        except Exception as error:  # a damaged profile is the usual cause: wipe it, try again
            log.warning("Chromium did not start (%r); wiping profile %s", error, self.profile)
            shutil.rmtree(self.profile, ignore_errors=True)
            self.profile.mkdir(parents=True, exist_ok=True)
            try:
                self.browser = await self._launch()
            except Exception as again:
                raise DownloadError(f"Chromium did not start: {again!r}") from again
        process = getattr(self.browser, "_process", None)
        self.pid = process.pid if process is not None else None
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                self.own_group = os.getpgid(self.pid) == self.pid
            (self.profile / PID_FILE).write_text(str(self.pid))

    async def _launch(self) -> zendriver.Browser:
        return await zendriver.start(
            browser_executable_path=str(launcher_script(self.profile, self.settings.chromium)),
            headless=self.settings.headless,
            sandbox=False,
            user_data_dir=str(self.profile.resolve()),
            browser_args=[*CHROMIUM_FLAGS, *self.settings.extra_args],
        )

    def kill(self) -> None:
        """Synchronous hard stop (signal handlers): the whole browser process group."""
        if self.pid:
            kill_process_group(self.pid, self.own_group)

    async def stop(self) -> None:
        try:
            if self.browser is not None:
                await asyncio.wait_for(self.browser.stop(), timeout=15)
        except Exception as error:  # the browser may be gone already; kill below regardless
            log.debug("browser stop: %r", error)
        finally:
            self.kill()
            (self.profile / PID_FILE).unlink(missing_ok=True)
            self.browser = None

    async def visit(self, page_url: str, video_id: str) -> PageOutcome:
        """Load the page once and classify it."""
        assert self.browser is not None
        self.page_visits += 1
        timeout = self.settings.page_timeout
        self.tab = await asyncio.wait_for(self.browser.get(page_url), timeout=timeout)
        state: dict[str, Any] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = json.loads(await asyncio.wait_for(self.tab.evaluate(PAGE_STATE_JS), timeout))
            if state.get("ready") in ("interactive", "complete") and state.get("html"):
                break
            await asyncio.sleep(0.1)
        return parse_page(state.get("html", ""), video_id,
                          http_status=int(state.get("status") or 0),
                          final_url=state.get("url", ""))

    def _retrying(self, attempts: int,
                  exceptions: tuple[type[BaseException], ...]) -> tenacity.AsyncRetrying:
        """Exponential backoff from `tiktok.backoff_seconds`, at most eight times that."""
        return tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(attempts),
            wait=tenacity.wait_exponential(multiplier=self.settings.backoff_seconds,
                                           max=self.settings.backoff_seconds * 8),
            retry=tenacity.retry_if_exception_type(exceptions),
            reraise=True,
        )

    async def open_video_page(self, page_url: str, video_id: str) -> PageOutcome:
        """Visit until the page shows its data; challenge/login pages get a wait and a revisit."""
        retrying = self._retrying(PAGE_ATTEMPTS, (PageBlocked, TimeoutError))
        try:
            async for attempt in retrying:
                with attempt:
                    outcome = await self.visit(page_url, video_id)
                    if outcome.status == "retry":
                        log.info("visit %d of %s: %s page", self.page_visits, page_url,
                                 outcome.reason)
                        raise PageBlocked(outcome.reason)
        except TimeoutError:
            raise DownloadError(f"the video page did not load within "
                                f"{self.settings.page_timeout:.0f} s") from None
        if outcome.status == "unavailable":
            raise VideoUnavailable(outcome)
        return outcome

    async def fetch_range(self, url: str, start: int, end: int) -> tuple[int, str, bytes]:
        script = FETCH_RANGE_JS % {"url": json.dumps(url), "start": start, "end": end}
        raw = await asyncio.wait_for(self.tab.evaluate(script, await_promise=True),
                                     timeout=self.settings.page_timeout * 4)
        answer = json.loads(raw)
        if answer["status"] == 0:
            raise TransientFetchError(f"network error fetching the video: {answer.get('error')}")
        return answer["status"], answer.get("contentRange", ""), base64.b64decode(answer["data"])

    async def fetch_to(self, url: str, target: Path) -> int:
        """Fetch `url` into `target` in byte ranges; the size written.

        The total comes from Content-Range; a cross-origin CDN may not expose that header to
        the page, and then a short range (or 416 past the end) marks the end instead.
        """
        chunk = self.settings.chunk_bytes
        total: int | None = None
        written = 0
        with open(target, "wb") as handle:
            while total is None or written < total:
                status, content_range, data = await self.fetch_range(
                    url, written, written + chunk - 1)
                if status == 416 and written and total is None:
                    break  # the previous range ended exactly at the end
                if status in (401, 403, 404, 410):
                    raise UrlRefused(f"the CDN answered {status}")
                if status == 429 or status >= 500:
                    raise TransientFetchError(f"the CDN answered {status}")
                if status == 200:  # the whole body at once, range ignored
                    handle.seek(0)
                    handle.truncate()
                    handle.write(data)
                    return len(data)
                if status != 206:
                    raise TransientFetchError(f"the CDN answered {status}")
                if not data:
                    raise TransientFetchError("the CDN sent an empty range")
                handle.write(data)
                written += len(data)
                if content_range:
                    total = _range_total(content_range)
                elif len(data) < chunk:
                    break
        return written

    async def download_candidate(self, url: str, part: Path) -> int:
        """One URL with 2 retries and backoff; a refused URL is not retried (needs a reload)."""
        retrying = self._retrying(FETCH_ATTEMPTS, (TransientFetchError, TimeoutError))
        try:
            async for attempt in retrying:
                with attempt:
                    size = await self.fetch_to(url, part)
                    await asyncio.to_thread(verify_video, part)
        except TimeoutError:
            raise TransientFetchError("the video fetch timed out") from None
        return size


def _range_total(content_range: str) -> int:
    try:
        return int(content_range.rsplit("/", 1)[1])
    except (IndexError, ValueError):
        raise TransientFetchError(f"bad Content-Range {content_range!r}") from None


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


def _quiet_websocket_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
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
    asyncio.get_running_loop().set_exception_handler(_quiet_websocket_errors)
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


# --- browsers kept between downloads (the persistent worker) -------------------------------
class _SlotBrowser:
    """One slot's Chromium, kept between downloads on its own thread and event loop (zendriver's
    connection belongs to the loop that opened it)."""

    def __init__(self, profile: Path) -> None:
        self.profile = profile
        self.session: BrowserSession | None = None
        self.starting = False
        self.uses = 0
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(_quiet_websocket_errors)
        # The thread lives as long as the pool: Chromium's parent-death signal follows the
        # thread that started it.
        self.thread = threading.Thread(target=self._serve, daemon=True,
                                       name=f"browser-{profile.name}")
        self.thread.start()

    def _serve(self) -> None:
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def run(self, coroutine: Any, timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def start(self, settings: BrowserSettings) -> None:
        """Have a browser with these settings running on this slot."""
        if self.session is not None and process_start(self.session.pid) is None:
            log.info("the browser on %s has gone; starting another", self.profile.name)
            await self.stop()
        if self.session is not None and (self.session.settings != settings
                                         or self.uses >= BrowserPool.MAX_USES):
            await self.stop()
        if self.session is None:
            session = BrowserSession(settings, self.profile)
            # One browser starts at a time: started together they share the CPU and the first
            # video (the one processing waits for) comes last. This thread runs this slot only.
            self.starting = True
            try:
                with BrowserPool.starting:
                    await session.start()
                self.session, self.uses = session, 0
            finally:
                self.starting = False

    async def download(self, page_url: str, video_id: str, video_path: Path,
                       settings: BrowserSettings) -> DownloadResult:
        await self.start(settings)
        self.uses += 1
        try:
            return await download_with_session(self.session, page_url, video_id, video_path)
        except VideoUnavailable:
            raise  # the page answered; the browser is fine
        except BaseException:
            await self.stop()  # a blocked, broken or stuck browser is not used again
            raise

    async def stop(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            await session.stop()

    def close(self) -> None:
        try:
            self.run(self.stop(), timeout=20)
        except Exception as error:  # shutting down: kill whatever is left
            log.debug("browser pool stop: %r", error)
            if self.session is not None:
                self.session.kill()
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)


class BrowserPool:
    """Chromium kept per browser slot across downloads, for a process that downloads many
    videos (the persistent worker); `download` has `download_video`'s signature.

    A download takes a slot whose browser runs and is free; only when none frees up within
    `NEW_BROWSER_WAIT` seconds does it start another browser on another slot (at most
    `workers`): a start costs about 1.2 CPU-s, more than many downloads from a fast site, while
    downloads that take seconds soon have every browser running. A slot's browser is restarted
    after any failure but an unavailable video, when the settings change, and every `MAX_USES`
    videos. Slots and profiles are the same lock files and directories as `download_video`'s.
    """

    MAX_USES = 200
    NEW_BROWSER_WAIT = 2.0
    starting = threading.Lock()

    def __init__(self) -> None:
        self._browsers: dict[Path, _SlotBrowser] = {}
        self._lock = threading.Lock()

    def browser_pids(self) -> set[int]:
        """The pids of the browsers this pool keeps."""
        return {browser.session.pid for browser in list(self._browsers.values())
                if browser.session is not None and browser.session.pid}

    def _running_slots(self, workers: int) -> tuple[list[int], bool]:
        """The slots whose browser runs or starts, and whether one is starting (under _lock)."""
        browsers = list(self._browsers.values())
        indices = [int(browser.profile.name.rpartition("-")[2]) for browser in browsers
                   if browser.session is not None or browser.starting]
        starting = any(browser.starting for browser in browsers)
        return sorted(index for index in indices if index < workers), starting

    def _take_slot(self, settings: BrowserSettings) -> tuple[FileLock, _SlotBrowser]:
        started = waiting_since = time.monotonic()
        while True:
            with self._lock:  # choosing a slot and claiming its browser is one step
                running, starting = self._running_slots(settings.workers)
                if starting:  # the wait for a free browser counts once they have all started
                    waiting_since = time.monotonic()
                patient = time.monotonic() - waiting_since < self.NEW_BROWSER_WAIT
                indices = running if running and patient else range(settings.workers)
                taken = acquire_slot(settings.profiles_dir, indices, self.browser_pids())
                if taken is not None:
                    lock, profile = taken
                    key = profile.resolve()
                    browser = self._browsers.get(key) or _SlotBrowser(profile)
                    self._browsers[key] = browser
                    if browser.session is None:
                        browser.starting = True  # others wait for it rather than start more
                    return lock, browser
            if time.monotonic() - started > SLOT_WAIT_SECONDS:
                raise DownloadError(f"no free browser slot among {settings.workers} after "
                                    f"{SLOT_WAIT_SECONDS:.0f} s")
            time.sleep(0.05)

    def prestart(self, settings: BrowserSettings) -> None:
        """Start a browser before the first download asks for one (the worker does this while
        the searches run); downloads that come meanwhile wait for it rather than start more."""
        lock, browser = self._take_slot(settings)
        try:
            browser.run(browser.start(settings))
        except Exception as error:  # the first download starts one and reports what fails
            log.info("browser warm-up failed: %s", error)
        finally:
            browser.starting = False
            lock.release()

    def download(self, page_url: str, video_id: str, video_path: Path | str,
                 settings: BrowserSettings) -> DownloadResult:
        from tiktok_research.logs import log_thread_as_current

        lock, browser = self._take_slot(settings)
        try:
            with log_thread_as_current(browser.thread):
                return browser.run(browser.download(page_url, video_id, Path(video_path),
                                                    settings))
        finally:
            browser.starting = False
            lock.release()

    def close(self) -> None:
        with self._lock:
            browsers, self._browsers = list(self._browsers.values()), {}
        for browser in browsers:
            browser.close()
