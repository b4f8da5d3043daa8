"""One pace for page loads across every browser and process of a machine, and a circuit
breaker over pages that a bot defence or a login wall answered.

TikTok rate-limits hard; 4CAT waits a second per IP between requests, pauses after 5 failures
in a row and stops after 10. Here every page load takes its turn: at least
`tiktok.min_page_interval_seconds` after the previous one (with jitter), whichever browser or
process makes it. After `breaker_pause_after` blocked pages in a row, each turn first waits,
longer each time; after `breaker_stop_after`, the run starts no more page loads (its downloads
fail at once as blocked, and the next run tries them again) until a page answers again. The
state is a small JSON file beside the browser profiles, under a file lock.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from tiktok_research.errors import BreakerOpen

log = logging.getLogger("tiktok_research.download")

STATE_FILE = "pace.json"
LOCK_WAIT_SECONDS = 600


@dataclass(frozen=True)
class PaceSettings:
    min_interval: float = 1.0  # seconds between page loads
    jitter: float = 0.3  # ± this share of the interval
    pause_after: int = 5  # blocked pages in a row before each turn waits
    pause_seconds: float = 30.0  # the first such wait; it doubles each time
    stop_after: int = 10  # blocked pages in a row before the run loads no more pages


class Pace:
    def __init__(self, folder: Path, settings: PaceSettings, run: str = "") -> None:
        self.folder = Path(folder)
        self.settings = settings
        self.run = run
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.folder / f"{STATE_FILE}.lock"))

    def _read(self) -> dict[str, Any]:
        try:
            state = json.loads((self.folder / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            state = {}
        if not isinstance(state, dict) or state.get("run") != self.run:
            state = {"run": self.run, "last": 0.0, "blocked": 0}  # a new run starts afresh
        return state

    def _write(self, state: dict[str, Any]) -> None:
        path = self.folder / STATE_FILE
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(state), encoding="utf-8")
        temp.replace(path)

    def turn(self) -> float:
        """Wait for this page load's turn; the time it was given (the next one is given at
        least the interval later). BreakerOpen when the breaker has stopped the run's page
        loads."""
        settings = self.settings
        with self._lock.acquire(timeout=LOCK_WAIT_SECONDS):
            state = self._read()
            blocked = int(state.get("blocked", 0))
            if blocked >= settings.stop_after:
                raise BreakerOpen()
            interval = settings.min_interval * (1 + random.uniform(-1, 1) * settings.jitter)
            wait = float(state.get("last", 0.0)) + max(interval, 0.0) - time.time()
            if blocked >= settings.pause_after:
                pause = settings.pause_seconds * 2 ** (blocked - settings.pause_after)
                log.warning("%d blocked pages in a row: pausing %.0f s before the next page",
                            blocked, pause)
                wait = max(wait, pause)
            if wait > 0:
                time.sleep(wait)  # the lock is held: the next turn waits for this one
            state["last"] = time.time()
            self._write(state)
            return state["last"]

    def record(self, blocked: bool) -> int:
        """Note how the page answered; the count of blocked pages in a row."""
        with self._lock.acquire(timeout=LOCK_WAIT_SECONDS):
            state = self._read()
            state["blocked"] = int(state.get("blocked", 0)) + 1 if blocked else 0
            self._write(state)
            if blocked and state["blocked"] >= self.settings.stop_after:
                log.error("%d blocked pages in a row: no more page loads in this run",
                          state["blocked"])
            return state["blocked"]
