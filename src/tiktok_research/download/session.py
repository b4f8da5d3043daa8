"""One Chromium (zendriver over CDP) on one slot profile, one tab on a video page.

The session visits the page until it shows its data (a challenge or a login wall gets a wait
and another visit) and fetches the video's bytes *inside* the page, with its cookies (among
them `tt_chain_token`) and the page as Referer, in byte ranges.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tenacity
import zendriver

from tiktok_research.download.item import DEFAULT_CDN_HOSTS, SourceHosts
from tiktok_research.download.pace import Pace, PaceSettings
from tiktok_research.download.page import SIGI_STATE_ID, UNIVERSAL_DATA_ID, PageOutcome, parse_page
from tiktok_research.download.pipe import PipeBrowser
from tiktok_research.download.slots import PID_FILE, kill_process_group, launcher_script
from tiktok_research.download.transfer import Outside
from tiktok_research.download.verify import Caps
from tiktok_research.errors import (
    BreakerOpen,
    DownloadError,
    PageBlocked,
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
# zendriver's defaults allow any web origin on the DevTools port and turn site isolation off.
# The browser has no such port (it is driven over a pipe), and site isolation stays on.
UNSAFE_DEFAULTS = ("--remote-allow-origins=*",)
ISOLATION_FEATURES = ("IsolateOrigins", "site-per-process")


def hardened(arguments: list[str]) -> list[str]:
    """zendriver's default Chromium arguments without the allowance of any origin on a
    DevTools port and with site isolation left on."""
    kept = []
    for argument in arguments:
        if argument in UNSAFE_DEFAULTS:
            continue
        if argument.startswith("--disable-features="):
            features = [name for name in argument.split("=", 1)[1].split(",")
                        if name not in ISOLATION_FEATURES]
            if not features:
                continue
            argument = "--disable-features=" + ",".join(features)
        kept.append(argument)
    return kept


CHUNK_BYTES = 4 * 1024 * 1024
FETCH_ATTEMPTS = 3  # one try and 2 retries per URL
PAGE_ATTEMPTS = 4  # a challenge or login wall may pass after a wait and a fresh visit

PAGE_STATE_JS = """
JSON.stringify({
  html: document.documentElement ? document.documentElement.outerHTML : "",
  url: location.href,
  ready: document.readyState,
  status: (performance.getEntriesByType("navigation")[0] || {}).responseStatus || 0,
})
"""


def output_key(output_dir: str | Path) -> str:
    """The folder of an output folder's browser slots: `output-<short hash of its path>`."""
    path = os.path.realpath(str(output_dir) or ".")
    return "output-" + hashlib.sha256(path.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class BrowserSettings:
    chromium: str = "/usr/bin/chromium"
    headless: bool = True
    profiles_dir: Path = Path("browser_profiles")
    # The run's browser slots, when not profiles_dir itself: from_config gives each output
    # folder its own, so runs in one working directory with other outputs never share (or kill)
    # each other's browsers. The page pace stays in profiles_dir, one for the machine.
    slots_dir: Path | None = None
    workers: int = 1
    page_timeout: float = 30.0
    backoff_seconds: float = 2.0
    chunk_bytes: int = CHUNK_BYTES  # bytes per Range request
    extra_args: tuple[str, ...] = ()  # more Chromium flags (tests: --host-resolver-rules)
    challenge_wait: float = 20.0  # seconds a WAF challenge may take to solve itself and reload
    pace: PaceSettings = PaceSettings()
    caps: Caps = Caps()
    # Where page data may send a fetch; from_config always sets it (None, any host: settings
    # built by hand in tests of the fake site's own hosts).
    sources: SourceHosts | None = None

    @property
    def slots(self) -> Path:
        return self.slots_dir or self.profiles_dir

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BrowserSettings:
        tiktok = config["tiktok"]
        return cls(
            chromium=tiktok["chromium"],
            headless=tiktok["headless"],
            profiles_dir=Path(tiktok["profiles_dir"]),
            slots_dir=Path(tiktok["profiles_dir"]) / output_key(config.get("output_dir", "")),
            workers=config["workers"],
            page_timeout=float(tiktok["page_timeout_seconds"]),
            backoff_seconds=float(tiktok["backoff_seconds"]),
            challenge_wait=float(tiktok.get("challenge_wait_seconds", 20.0)),
            pace=PaceSettings(
                min_interval=float(tiktok.get("min_page_interval_seconds", 1.0)),
                jitter=float(tiktok.get("page_interval_jitter", 0.3)),
                pause_after=int(tiktok.get("breaker_pause_after", 5)),
                pause_seconds=float(tiktok.get("breaker_pause_seconds", 30.0)),
                stop_after=int(tiktok.get("breaker_stop_after", 10))),
            caps=Caps(
                max_bytes=int(tiktok.get("max_video_bytes", Caps.max_bytes)),
                max_duration=float(tiktok.get("max_duration_seconds", Caps.max_duration)),
                max_pixels=int(tiktok.get("max_pixels", Caps.max_pixels)),
                deadline=float(tiktok.get("download_deadline_seconds", Caps.deadline))),
            sources=SourceHosts(
                cdn=tuple(tiktok.get("cdn_hosts", DEFAULT_CDN_HOSTS)),
                plain=tuple(host.lower() for host in tiktok.get("hosts", ())
                            if not host.lower().rsplit(":", 1)[0].endswith("tiktok.com"))),
        )


@dataclass(frozen=True)
class DownloadRequest:
    """One video to download, and where this job's files go."""

    page_url: str
    video_id: str
    video_path: Path
    captions_dir: Path | None = None  # TikTok's caption tracks, when the page has them
    pages_dir: Path | None = None  # HTML and a screenshot of each page in an unexpected state
    run: str = ""  # the run: the breaker's count of blocked pages starts afresh with each
    # A photo post's images go here (include_photo_posts); None: a photo post is unavailable.
    images_dir: Path | None = None


@dataclass
class DownloadResult:
    item: dict[str, Any]  # the page's itemStruct (normalised), for metadata.json
    source_url: str  # the candidate URL the bytes came from
    size: int
    page_visits: int
    rendition: dict[str, Any] = field(default_factory=dict)  # which source, what the file is
    captions: list[dict[str, Any]] = field(default_factory=list)


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
        self.request: DownloadRequest | None = None  # the download in progress
        self.pace: Pace | None = None

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
        config = zendriver.Config(
            browser_executable_path=str(launcher_script(self.profile, self.settings.chromium)),
            headless=self.settings.headless,
            # Chromium's sandbox whenever the run is not root (as root Chromium cannot use it,
            # and runs unsandboxed: run the pipeline as a normal user).
            sandbox=os.geteuid() != 0,
            user_data_dir=str(self.profile.resolve()),
            browser_args=[*CHROMIUM_FLAGS, *self.settings.extra_args],
        )
        config._default_browser_args = hardened(config._default_browser_args)
        return await PipeBrowser.create(config)

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

    def begin(self, request: DownloadRequest) -> None:
        """Serve this download next: its page dumps, its run's pace."""
        self.request = request
        self.page_visits = 0
        self.pace = Pace(self.settings.profiles_dir, self.settings.pace, request.run)

    async def _page_state(self) -> dict[str, Any]:
        timeout = self.settings.page_timeout
        return json.loads(await asyncio.wait_for(self.tab.evaluate(PAGE_STATE_JS), timeout))

    async def _settle(self, seconds: float, want_data: bool = False) -> dict[str, Any]:
        """The page's state once it has loaded (and, with `want_data`, once its data script is
        there), or as it is when `seconds` are up. A page that reloads itself (the WAF) cannot
        be read for a moment: that is waited out, as is the blank tab before the navigation."""
        state: dict[str, Any] = {}
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                state = await self._page_state()
            except Exception as error:  # the page is between documents
                log.debug("page state not readable yet: %r", error)
                await asyncio.sleep(0.1)
                continue
            html = state.get("html") or ""
            loaded = (state.get("ready") in ("interactive", "complete") and html
                      and state.get("url") != "about:blank")
            if loaded and (not want_data or UNIVERSAL_DATA_ID in html or SIGI_STATE_ID in html):
                break
            await asyncio.sleep(0.25 if want_data else 0.1)
        return state

    async def visit(self, page_url: str, video_id: str) -> PageOutcome:
        """Load the page once (when the pace allows) and classify it. A WAF challenge solves
        itself in the page and reloads it: the same tab waits for the data rather than
        navigating away."""
        assert self.browser is not None
        if self.pace is not None:
            await asyncio.to_thread(self.pace.turn)
        self.page_visits += 1
        self.tab = await asyncio.wait_for(self.browser.get(page_url),
                                          timeout=self.settings.page_timeout)
        state = await self._settle(self.settings.page_timeout)
        outcome = self._classify(state, video_id)
        if outcome.reason == "challenge":
            log.info("visit %d of %s: a challenge page; waiting for it to pass",
                     self.page_visits, page_url)
            state = await self._settle(self.settings.challenge_wait, want_data=True)
            outcome = self._classify(state, video_id)
        if outcome.status == "retry":
            await self._keep_page(state, outcome.reason)
        if self.pace is not None:
            await asyncio.to_thread(self.pace.record, outcome.blocked)
        return outcome

    @staticmethod
    def _classify(state: dict[str, Any], video_id: str) -> PageOutcome:
        return parse_page(state.get("html", ""), video_id,
                          http_status=int(state.get("status") or 0),
                          final_url=state.get("url", ""))

    async def _keep_page(self, state: dict[str, Any], reason: str) -> None:
        """The HTML and a screenshot of a page in an unexpected state, for whoever wonders
        why (`logs/pages/`)."""
        request = self.request
        if request is None or request.pages_dir is None:
            return
        stem = request.pages_dir / f"{request.video_id}-{self.page_visits}-{reason}"
        try:
            request.pages_dir.mkdir(parents=True, exist_ok=True)
            stem.with_suffix(".html").write_text(state.get("html") or "", encoding="utf-8")
            await asyncio.wait_for(self.tab.save_screenshot(str(stem.with_suffix(".png")), "png"),
                                   timeout=self.settings.page_timeout)
        except Exception as error:  # a missing picture never fails the download
            log.info("could not keep the page of visit %d: %r", self.page_visits, error)

    def retrying(self, attempts: int, exceptions: tuple[type[BaseException], ...],
                 never: tuple[type[BaseException], ...] = ()) -> tenacity.AsyncRetrying:
        """Exponential backoff from `tiktok.backoff_seconds`, at most eight times that, on
        `exceptions` but not `never`."""
        return tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(attempts),
            wait=tenacity.wait_exponential(multiplier=self.settings.backoff_seconds,
                                           max=self.settings.backoff_seconds * 8),
            retry=(tenacity.retry_if_exception_type(exceptions)
                   & tenacity.retry_if_not_exception_type(never)),
            reraise=True,
        )

    async def open_video_page(self, page_url: str, video_id: str,
                              photo_posts: bool = False) -> PageOutcome:
        """Visit until the page shows its data; challenge/login pages get a wait and a revisit.
        An unavailable video raises VideoUnavailable; a photo post too, unless `photo_posts`
        (its outcome, with its item, is returned)."""
        retrying = self.retrying(PAGE_ATTEMPTS, (PageBlocked, TimeoutError), never=(BreakerOpen,))
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
        if outcome.status == "unavailable" and not (photo_posts and outcome.photo_post):
            raise VideoUnavailable(outcome.reason, outcome.status_code,
                                   permanent=outcome.permanent, status_msg=outcome.status_msg)
        return outcome

    async def outside(self, referer: str) -> Outside:
        """A client that fetches outside the page with this browser's cookies and
        User-Agent."""
        assert self.browser is not None and self.tab is not None
        timeout = self.settings.page_timeout
        cookies = await asyncio.wait_for(self.browser.cookies.get_all(), timeout=timeout)
        user_agent = await asyncio.wait_for(self.tab.evaluate("navigator.userAgent"), timeout)
        return Outside(cookies, str(user_agent), referer, timeout, self.settings.caps.max_bytes)
