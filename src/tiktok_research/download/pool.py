"""Browsers kept between downloads: the resource a long-lived host (the persistent worker)
keeps for the download task, so that a Chromium start is paid once, not per video."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any

from filelock import FileLock

from tiktok_research.download.fetch import download_with_session, quiet_websocket_errors
from tiktok_research.download.session import (
    BrowserSession,
    BrowserSettings,
    DownloadRequest,
    DownloadResult,
)
from tiktok_research.download.slots import SLOT_WAIT_SECONDS, acquire_slot
from tiktok_research.errors import BreakerOpen, DownloadError, VideoUnavailable
from tiktok_research.procs import process_start

log = logging.getLogger("tiktok_research.download")


class _SlotBrowser:
    """One slot's Chromium, kept between downloads on its own thread and event loop (zendriver's
    connection belongs to the loop that opened it)."""

    def __init__(self, profile: Path) -> None:
        self.profile = profile
        self.session: BrowserSession | None = None
        self.starting = False
        self.uses = 0
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(quiet_websocket_errors)
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

    async def download(self, request: DownloadRequest,
                       settings: BrowserSettings) -> DownloadResult:
        await self.start(settings)
        self.uses += 1
        try:
            return await download_with_session(self.session, request)
        except (VideoUnavailable, BreakerOpen):
            raise  # the page answered, or no page was loaded: the browser is fine
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
    """Chromium kept per browser slot across downloads; `download` has `download_video`'s
    signature.

    A download takes a slot whose browser runs and is free; only when none frees up within
    `NEW_BROWSER_WAIT` seconds does it start another browser on another slot (at most
    `workers`): a browser start costs more CPU than many downloads from a fast site, while
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
        self._closed = False
        self._prestart: threading.Thread | None = None

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
                if self._closed:  # a closed pool starts no browser (nor waits for one)
                    raise DownloadError("the browser pool is closed")
                running, starting = self._running_slots(settings.workers)
                if starting:  # the wait for a free browser counts once they have all started
                    waiting_since = time.monotonic()
                patient = time.monotonic() - waiting_since < self.NEW_BROWSER_WAIT
                indices = running if running and patient else range(settings.workers)
                taken = acquire_slot(settings.slots, indices, self.browser_pids)
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
        try:
            lock, browser = self._take_slot(settings)
        except DownloadError as error:  # closed meanwhile, or every slot taken
            log.info("browser warm-up skipped: %s", error)
            return
        try:
            browser.run(browser.start(settings))
        except Exception as error:  # the first download starts one and reports what fails
            log.info("browser warm-up failed: %s", error)
        finally:
            browser.starting = False
            lock.release()

    def prestart_in_background(self, settings: BrowserSettings) -> None:
        """`prestart` on a thread of its own; `close` waits for it."""
        self._prestart = threading.Thread(target=self.prestart, args=(settings,), daemon=True,
                                          name="browser-prestart")
        self._prestart.start()

    def download(self, page_url: str, video_id: str, video_path: Path | str,
                 settings: BrowserSettings, **extra: Any) -> DownloadResult:
        """`extra`: the other fields of `DownloadRequest` (captions_dir, pages_dir, run)."""
        request = DownloadRequest(page_url, video_id, Path(video_path), **extra)
        lock, browser = self._take_slot(settings)
        try:
            # The coroutine runs on the browser's thread in this thread's context (asyncio
            # copies it), so its log records go wherever this job's go.
            return browser.run(browser.download(request, settings))
        finally:
            browser.starting = False
            lock.release()

    def close(self) -> None:
        """Stop every browser, one still starting too: a warm-up that lost the race for the
        first slot to a download must not start a browser once the pool is closed."""
        with self._lock:
            self._closed = True
        if self._prestart is not None:
            self._prestart.join(timeout=60)
        with self._lock:
            browsers, self._browsers = list(self._browsers.values()), {}
        for browser in browsers:
            browser.close()


def open_browser_pool(settings: BrowserSettings) -> BrowserPool:
    """A pool that starts its first browser now, in the background: a long-lived host opens it
    while the searches run, and a download that comes meanwhile waits for that browser."""
    pool = BrowserPool()
    pool.prestart_in_background(settings)
    return pool
