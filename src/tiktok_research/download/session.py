"""One Chromium (zendriver over CDP) on one slot profile, one tab on a video page.

The session visits the page until it shows its data (a challenge or a login wall gets a wait
and another visit) and fetches the video's bytes *inside* the page, with its cookies (among
them `tt_chain_token`) and the page as Referer, in byte ranges.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tenacity
import zendriver

from tiktok_research.download.page import PageOutcome, parse_page
from tiktok_research.download.slots import PID_FILE, kill_process_group, launcher_script
from tiktok_research.download.verify import verify_video
from tiktok_research.errors import (
    DownloadError,
    PageBlocked,
    TransientFetchError,
    UrlRefused,
    VideoUnavailable,
)

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
            raise VideoUnavailable(outcome.reason, outcome.status_code)
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
