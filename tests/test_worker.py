"""The persistent worker: a job runs there with the job's log and failure records, fails with
the same one line, and the worker stops with the run that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from multiprocessing.connection import Listener
from pathlib import Path

import pytest
from filelock import FileLock

from tiktok_research.accounting.summarise import read_failures
from tiktok_research.errors import ProcessError, WorkerJobFailed
from tiktok_research.procs import process_name
from tiktok_research.registry import Job
from tiktok_research.runtime.run import RUN_ENV, RUN_LOCK
from tiktok_research.runtime.worker import (
    run_in_worker,
    stop_worker,
    worker_address,
    worker_pid,
)

CONFIG = {"output_dir": "output", "workers": 1}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its new parent) counts as gone.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def wait_gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A working directory whose run lock is held, as by a running Snakemake."""
    monkeypatch.chdir(tmp_path)
    RUN_LOCK.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(RUN_LOCK))
    lock.acquire()
    yield tmp_path, lock
    if lock.is_locked:
        lock.release()
    stop_worker()


def process_job(video_id: str) -> None:
    """A process job whose metadata.json is missing: it fails at once, as a job would."""
    run_in_worker(Job(task="process", key=video_id, config=CONFIG, attempt=2,
                      inputs={"video": f"output/videos/{video_id}/video.mp4",
                              "meta": f"output/videos/{video_id}/metadata.json"},
                      log=f"output/logs/process/{video_id}.log"))


def failures(workdir: Path) -> list[dict]:
    return read_failures({"output_dir": str(workdir / "output")})


def test_a_job_fails_in_the_worker_as_it_would_in_its_own_process(run_dir) -> None:
    workdir, _lock = run_dir
    with pytest.raises(WorkerJobFailed,
                       match=r"^output/videos/123/metadata.json is not a JSON object$"):
        process_job("123")
    pid = worker_pid()
    assert pid and pid != os.getpid()
    # The worker stored the failure record and wrote the traceback to the job's log.
    [record] = failures(workdir)
    assert (record["type"], record["video_id"], record["attempt"]) == ("process", "123", 2)
    log_text = (workdir / "output/logs/process/123.log").read_text()
    assert "ProcessError: output/videos/123/metadata.json is not a JSON object" in log_text
    # A second job goes to the same worker; its records go to its own log only.
    with pytest.raises(WorkerJobFailed, match="456"):
        process_job("456")
    assert worker_pid() == pid
    # Read again after the second job; its video id, not a digit run in a timestamp, is the sign.
    log_text = (workdir / "output/logs/process/123.log").read_text()
    assert "videos/456/" not in log_text
    assert "videos/456/" in (workdir / "output/logs/process/456.log").read_text()


def test_only_registered_tasks_run_in_the_worker(run_dir) -> None:
    with pytest.raises(WorkerJobFailed, match="no task 'os:system' is registered"):
        run_in_worker(Job(task="os:system", key="true", config=CONFIG))


def test_the_worker_stops_when_the_run_is_over(run_dir) -> None:
    _workdir, lock = run_dir
    with pytest.raises(WorkerJobFailed):
        process_job("1")
    pid = worker_pid()
    assert pid is not None
    address = worker_address()
    assert Path(f"{address}.lock").exists()  # the starters' lock
    lock.release()  # the Snakemake run ended without saying so (killed)
    assert wait_gone(pid), "the worker outlived the run"
    assert worker_pid() is None
    # Nothing of it is left in the runtime folder: no socket, no lock file.
    assert not address.exists() and not Path(f"{address}.lock").exists()


def test_stop_worker_ends_it_and_the_next_job_starts_a_new_one(run_dir) -> None:
    with pytest.raises(WorkerJobFailed):
        process_job("1")
    first = worker_pid()
    assert first is not None and stop_worker()
    assert wait_gone(first)
    with pytest.raises(WorkerJobFailed):
        process_job("2")
    second = worker_pid()
    assert second is not None and second != first


def test_a_killed_worker_is_replaced_by_the_next_job(run_dir) -> None:
    with pytest.raises(WorkerJobFailed):
        process_job("1")
    first = worker_pid()
    assert first is not None
    os.kill(first, signal.SIGKILL)  # e.g. a native crash on a hostile file
    assert wait_gone(first)
    with pytest.raises(WorkerJobFailed, match="videos/2/metadata.json"):
        process_job("2")
    second = worker_pid()
    assert second is not None and second != first


def test_a_job_whose_worker_keeps_dying_runs_the_function_itself(run_dir) -> None:
    """A stand-in worker that takes the call and dies without answering, twice."""
    workdir, _lock = run_dir
    listener = Listener(str(worker_address()), family="AF_UNIX")

    def take_and_drop() -> None:
        for _call in range(2):
            with listener.accept() as connection:
                connection.recv_bytes()

    thread = threading.Thread(target=take_and_drop)
    thread.start()
    try:
        # In this process now: the stage's own exception, not the worker's one line.
        with pytest.raises(ProcessError, match="videos/9/metadata.json is not a JSON object"):
            process_job("9")
    finally:
        thread.join()
        listener.close()
    [record] = failures(workdir)
    assert record["video_id"] == "9"


def test_a_runs_worker_ends_with_that_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each Snakemake run names itself in its jobs' environment (runtime.run.mark_run);
    its worker is its own and stops when the run's process is gone, even with no run lock."""
    monkeypatch.chdir(tmp_path)
    run = subprocess.Popen(["sleep", "60"])  # stands in for the run's main process
    try:
        monkeypatch.setenv(RUN_ENV, process_name(run.pid) or "")
        with pytest.raises(WorkerJobFailed):
            process_job("1")
        pid = worker_pid()
        assert pid is not None
        monkeypatch.setenv(RUN_ENV, process_name(os.getpid()) or "")
        assert worker_pid() is None  # another run does not reach it
        run.kill()
        run.wait()
        assert wait_gone(pid), "the worker outlived its run"
    finally:
        run.kill()


def test_a_job_cut_short_by_a_stopping_worker_goes_to_a_new_one(run_dir) -> None:
    """A worker that is stopping closes what its jobs use (the browsers), so a job it was
    running fails there with "the browser pool is closed". Its answer says the worker was
    stopping, and the job goes to a new worker instead of failing (a race seen in CI)."""
    address = worker_address()
    address.parent.mkdir(parents=True, exist_ok=True)
    listener = Listener(str(address), family="AF_UNIX")

    def stopping_worker() -> None:
        with listener.accept() as connection:
            connection.recv_bytes()
            # Its socket goes before it answers, as a stopping worker's does (`Worker.stop`):
            # the new worker the job goes to is never this one.
            listener.close()
            connection.send_bytes(b'{"ok": false, "stopping": true, '
                                  b'"error": "the browser pool is closed"}')

    thread = threading.Thread(target=stopping_worker)
    thread.start()
    # The job's own failure, from the new worker: not the stopping worker's.
    with pytest.raises(WorkerJobFailed, match="is not a JSON object"):
        process_job("123")
    thread.join()
    assert worker_pid() is not None
