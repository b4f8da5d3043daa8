"""The pace of page loads across processes, and the circuit breaker over blocked pages."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from tiktok_research.download.pace import Pace, PaceSettings
from tiktok_research.errors import BreakerOpen

FAST = PaceSettings(min_interval=0.0, jitter=0.0, pause_after=2, pause_seconds=0.2,
                    stop_after=4)


def _turns(folder: str, interval: float, count: int, queue) -> None:
    pace = Pace(Path(folder), PaceSettings(min_interval=interval, jitter=0.0), run="r")
    for _ in range(count):
        # The time the turn was given, not when this process got to note it: a process can be
        # scheduled out in between on a busy machine (seen in CI: a gap of 0.117 s for 0.15).
        queue.put(pace.turn())


def test_page_loads_of_several_processes_keep_the_interval_between_them(tmp_path):
    interval = 0.15
    queue = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_turns, args=(str(tmp_path), interval, 4, queue))
               for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    times = sorted(queue.get(timeout=5) for _ in range(12))
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert min(gaps) >= interval * 0.99  # every turn, whichever process took it


def test_jitter_keeps_the_interval_within_its_share(tmp_path):
    pace = Pace(tmp_path, PaceSettings(min_interval=0.1, jitter=0.5), run="r")
    pace.turn()
    started = time.time()
    pace.turn()
    assert 0.04 <= time.time() - started <= 0.3


def test_the_breaker_pauses_then_stops_and_an_answer_resets_it(tmp_path):
    pace = Pace(tmp_path, FAST, run="r")
    assert [pace.record(blocked=True) for _ in range(2)] == [1, 2]
    started = time.time()
    pace.turn()  # two blocked in a row: this turn first waits pause_seconds
    assert time.time() - started >= 0.18
    pace.record(blocked=False)
    started = time.time()
    pace.turn()  # a page answered: no pause
    assert time.time() - started < 0.15
    for _ in range(4):
        pace.record(blocked=True)
    with pytest.raises(BreakerOpen):
        pace.turn()
    with pytest.raises(BreakerOpen):  # another process of the same run sees it too
        Pace(tmp_path, FAST, run="r").turn()


def test_a_new_run_starts_afresh(tmp_path):
    pace = Pace(tmp_path, FAST, run="first")
    for _ in range(4):
        pace.record(blocked=True)
    with pytest.raises(BreakerOpen):
        pace.turn()
    Pace(tmp_path, FAST, run="second").turn()  # no error, no pause


def test_a_damaged_state_file_is_a_fresh_start(tmp_path):
    (tmp_path / "pace.json").write_text("{not json")
    pace = Pace(tmp_path, FAST, run="r")
    pace.turn()
    assert pace.record(blocked=True) == 1
