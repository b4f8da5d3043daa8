"""The persistent worker: one process per working directory that keeps the Whisper model, the
OCR engine and a browser per slot loaded from one job to the next.

A job started fresh pays, before any work, its imports, the model and OCR engine loads and a
Chromium start: about 1.1 CPU-s per processed video and 0.9 per download on the benchmark
machine, as much again as the work itself (`make bench`). So a job (`logs.run_job` with
`worker=True`) hands its one function call to the worker over a Unix socket and waits; the
worker runs it in a thread, with the job's log file, and answers ok or the one-line error.
What the function does — outputs, failure records, retries — is exactly what it does in the job
process, and Snakemake still schedules, retries and times every job.

Lifetime: one worker per Snakemake run (the run's main process names itself in the jobs'
environment). The first job of a run (a search) starts it, and it loads the models in the
background while the searches and first downloads run. It stops when the run ends (`stop_worker`
from the run's end handler), when that run's process is gone (killed), or after `IDLE_SECONDS`
without a job; a worker started outside a run stops when no run holds its directory's run lock.
A job whose worker dies during the call starts a new one once; a job that cannot reach or start
one runs the function itself. The socket lives in a private per-user folder; its name is a hash
of the directory, the interpreter, the package's code and the environment the jobs read, so a
changed setup never talks to a stale worker. Only the functions in `TASKS` run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from tiktok_research.config import SECRET_NAMES, load_dotenv_secrets

log = logging.getLogger("tiktok_research.worker")

TASKS = (
    "tiktok_research.search_stage:run_search",
    "tiktok_research.download_stage:run_download",
    "tiktok_research.process_stage:run_process_and_publish",
)
RUN_ENV = "TIKTOK_RESEARCH_RUN"  # set by the run's main process: workflow_support.mark_run
# What a job's function reads from the environment, besides the secrets and the run (a worker
# per Snakemake run). Not the thread counts Snakemake sets per job, which the end-of-run
# handler, which stops the worker, does not have.
ENV_NAMES = (*SECRET_NAMES, "STORAGE_EMULATOR_HOST", "DISPLAY", "XAUTHORITY", "PATH", "HOME",
             "ANTHROPIC_BASE_URL", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy",
             "https_proxy", "no_proxy", "SSL_CERT_FILE", "GOOGLE_CLOUD_PROJECT", RUN_ENV)
# Thread counts Snakemake sets per job (0 for a download): the worker gets one thread per task.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
RUN_LOCK = Path(".snakemake") / "tiktok-research-run.lock"  # workflow_support.clear_stale_locks
WORKER_LOG = Path(".snakemake") / "log" / "tiktok-research-worker.log"
IDLE_SECONDS = 300.0
START_SECONDS = 60.0
CALL_ATTEMPTS = 2  # a worker that dies during a call is replaced once, then the job runs it
WATCH_SECONDS = 1.0


class WorkerUnavailable(RuntimeError):
    """The worker could not be reached or started."""


class WorkerJobFailed(RuntimeError):
    """The job's function failed in the worker; the message is its one-line error."""


def _code_stamp() -> str:
    package = Path(__file__).resolve().parent
    return str(max(path.stat().st_mtime_ns for path in package.rglob("*.py")))


def worker_address(workdir: str | Path = ".") -> Path:
    """The socket of the worker for `workdir` and this interpreter, code and environment."""
    load_dotenv_secrets()  # the same secrets whether or not this process has read .env yet
    parts = [os.path.realpath(workdir), os.path.realpath(sys.executable), _code_stamp(),
             *(f"{name}={os.environ.get(name, '')}" for name in ENV_NAMES),
             *sorted(f"{name}={value}" for name, value in os.environ.items()
                     if name.startswith("PG"))]
    key = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]
    folder = Path(tempfile.gettempdir()) / f"tiktok-research-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise WorkerUnavailable(f"{folder} is not a private folder of this user")
    return folder / f"{key}.sock"


def process_start(pid: int | None) -> str | None:
    """The start time (clock ticks after boot) of a live process, None once it has exited
    (a zombie too); with the pid it names the process, since pids are reused."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def run_id(pid: int) -> str | None:
    """`host:pid-starttime` of a live process."""
    start = process_start(pid)
    return f"{socket.gethostname()}:{pid}-{start}" if start else None


def run_alive(run: str) -> bool:
    """Whether the run's main process lives; True when it is on another host (a cluster job),
    where only the idle limit can tell."""
    host, _, process = run.rpartition(":")
    if host != socket.gethostname():
        return True
    pid = process.partition("-")[0]
    return pid.isdigit() and run_id(int(pid)) == run


def _connect(address: Path) -> Connection | None:
    try:
        return Client(str(address), family="AF_UNIX")
    except (FileNotFoundError, ConnectionRefusedError):
        return None


def _start(address: Path) -> Connection:
    """Start the worker (one starter at a time) and connect to it."""
    from filelock import FileLock

    with FileLock(f"{address}.lock", timeout=START_SECONDS):
        connection = _connect(address)
        if connection is not None:
            return connection
        address.unlink(missing_ok=True)  # left by a worker that was killed
        WORKER_LOG.parent.mkdir(parents=True, exist_ok=True)
        environment = {**os.environ, **dict.fromkeys(THREAD_VARIABLES, "1")}
        with open(WORKER_LOG, "ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "tiktok_research.worker", str(address)],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, env=environment)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise WorkerUnavailable(f"it exited with code {process.returncode} "
                                        f"(log: {WORKER_LOG})")
            connection = _connect(address)
            if connection is not None:
                return connection
            time.sleep(0.02)
        process.kill()
        raise WorkerUnavailable(f"it did not start within {START_SECONDS:.0f} s")


def run_in_worker(log_path: str | Path | None, name: str, *args: Any, **kwargs: Any) -> None:
    """Run the task `name` (`module:function`, one of `TASKS`) with these arguments in the
    worker of this directory, starting it if needed; raise `WorkerJobFailed` with its one-line
    error when it fails there."""
    if name not in TASKS:
        raise ValueError(f"{name} is not a worker task")
    request = json.dumps({"task": name, "args": args, "kwargs": kwargs,
                          "log": str(log_path) if log_path else None}, default=str).encode()
    problem: BaseException | None = None
    for _attempt in range(CALL_ATTEMPTS):
        try:
            address = worker_address()
            connection = _connect(address) or _start(address)
        except (WorkerUnavailable, OSError) as error:
            problem = error
            break
        with connection:
            try:
                connection.send_bytes(request)
                answer = json.loads(connection.recv_bytes())
            except (EOFError, OSError) as error:  # it died: a new one is started, once
                problem = error
                continue
        if not answer.get("ok"):
            raise WorkerJobFailed(answer.get("error") or "the job failed in the worker")
        return
    log.warning("the persistent worker is unavailable (%r); running the job here", problem)
    _resolve(name)(*args, **kwargs)


def _ask(op: str, workdir: str | Path) -> dict[str, Any] | None:
    """Send `op` to this directory's worker, if one runs; its answer."""
    with contextlib.suppress(WorkerUnavailable, OSError):
        connection = _connect(worker_address(workdir))
        if connection is not None:
            with connection:
                connection.send_bytes(json.dumps({"op": op}).encode())
                try:
                    return json.loads(connection.recv_bytes())
                except (EOFError, OSError, ValueError):
                    return {}
    return None


def stop_worker(workdir: str | Path = ".") -> bool:
    """Ask this directory's worker to stop (the end of a run); whether one was running."""
    return _ask("stop", workdir) is not None


def worker_pid(workdir: str | Path = ".") -> int | None:
    """The process id of this directory's worker, if one runs."""
    answer = _ask("ping", workdir)
    return int(answer["pid"]) if answer and answer.get("pid") else None


def _run_lock_free(path: Path) -> bool:
    """Whether nothing holds the run lock: the Snakemake run that used this worker is over."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False  # no run lock here (jobs of another executor): the idle limit applies
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def _resolve(name: str) -> Callable[..., object]:
    from tiktok_research.logs import resolve_function

    if name not in TASKS:
        raise ValueError(f"{name} is not a worker task")
    return resolve_function(name)


class Worker:
    """The server: one thread per job, models and browsers shared."""

    def __init__(self, address: Path) -> None:
        from tiktok_research import process_stage
        from tiktok_research.logs import route_logs_by_thread

        route_logs_by_thread()
        process_stage.PARALLEL_VIDEOS = os.cpu_count() or 1
        self.address = address
        self.listener = Listener(str(address), family="AF_UNIX", backlog=64)
        self.inode = os.stat(address).st_ino
        self.active = 0
        self.last_job = time.monotonic()
        self.lock = threading.Lock()
        self.video_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self.stopping = threading.Event()
        self.warmed = False
        self._browsers: Any = None

    @property
    def browsers(self) -> Any:
        from tiktok_research.download import BrowserPool

        with self.lock:
            if self._browsers is None:
                self._browsers = BrowserPool()
            return self._browsers

    def serve(self) -> None:
        signal.signal(signal.SIGTERM, lambda signum, frame: self.stop("SIGTERM"))
        threading.Thread(target=self.watch, daemon=True, name="watch").start()
        log.info("worker %d listening on %s", os.getpid(), self.address)
        while not self.stopping.is_set():
            try:
                connection = self.listener.accept()
            except OSError:
                break
            threading.Thread(target=self.handle, args=(connection,), daemon=True).start()

    def handle(self, connection: Connection) -> None:
        with connection:
            try:
                request = json.loads(connection.recv_bytes())
            except (EOFError, OSError, ValueError):
                return
            if request.get("op") == "ping":
                with contextlib.suppress(OSError):
                    connection.send_bytes(json.dumps({"ok": True, "pid": os.getpid()}).encode())
                return
            if request.get("op") == "stop":
                with contextlib.suppress(OSError):
                    connection.send_bytes(b'{"ok": true}')
                self.stop("the run ended")
                return
            answer = self.run(request)
            with contextlib.suppress(OSError):  # the job may be gone (killed by Snakemake)
                connection.send_bytes(json.dumps(answer).encode())

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        from tiktok_research.logs import job_log, one_line

        with self.lock:
            self.active += 1
        try:
            args, kwargs = request.get("args") or [], request.get("kwargs") or {}
            name = request.get("task", "")
            with job_log(request.get("log")):
                try:
                    function = _resolve(name)
                    if len(args) > 1 and isinstance(args[1], dict):
                        self.warm_up(args[1], name)  # every task's second argument: config
                    if name.endswith(":run_download"):
                        kwargs["downloader"] = self.browsers.download
                    # Two jobs of one video never overlap (a killed run's job may still run).
                    with self.video_locks[str(args[0]) if args else ""]:
                        started = time.monotonic()
                        function(*args, **kwargs)
                    log.info("%s ran in the worker in %.2f s", name.rpartition(":")[2],
                             time.monotonic() - started)
                except Exception as error:
                    log.exception("job failed")
                    return {"ok": False, "error": one_line(error), "type": type(error).__name__}
            return {"ok": True}
        finally:
            with self.lock:
                self.active -= 1
                self.last_job = time.monotonic()

    def warm_up(self, config: dict[str, Any], task: str) -> None:
        """Load the models, and start a browser when downloads will follow, while the searches
        and first downloads run (once, in the background)."""
        with self.lock:
            if self.warmed or not isinstance(config, dict) or config.get("search_only"):
                return
            self.warmed = True

        def load() -> None:
            from tiktok_research import process_stage

            try:
                import tiktok_research.scenes  # noqa: F401  OpenCV and PySceneDetect

                process_stage.transcriber_for(config)
                process_stage.ocr_engine_for(config)
            except Exception as error:  # the job that needs the model reports it properly
                log.info("warm-up skipped: %s", error)

        def start_browser() -> None:
            from tiktok_research.download import BrowserSettings

            try:
                settings = BrowserSettings.from_config(config)
            except (KeyError, TypeError, ValueError) as error:
                log.info("browser warm-up skipped: %r", error)
                return
            self.browsers.prestart(settings)

        if task.endswith((":run_search", ":run_download")):
            threading.Thread(target=start_browser, daemon=True, name="warm-up-browser").start()
        threading.Thread(target=load, daemon=True, name="warm-up").start()

    def watch(self) -> None:
        run = os.environ.get(RUN_ENV)
        while not self.stopping.wait(WATCH_SECONDS):
            if run and not run_alive(run):
                self.stop("the Snakemake run that started it is gone")
            elif not run and _run_lock_free(RUN_LOCK):
                self.stop("no Snakemake run holds this directory any more")
            with self.lock:
                idle = self.active == 0 and time.monotonic() - self.last_job > IDLE_SECONDS
            if idle:
                self.stop(f"no job for {IDLE_SECONDS:.0f} s")

    def stop(self, reason: str) -> None:
        if self.stopping.is_set():
            return
        self.stopping.set()
        log.info("worker %d stopping: %s", os.getpid(), reason)
        # First no new job can reach it (the socket goes only if it is still this worker's),
        # then the browsers close.
        with contextlib.suppress(OSError):
            if os.stat(self.address).st_ino == self.inode:
                self.address.unlink()
        try:
            if self._browsers is not None:
                self._browsers.close()
        finally:
            logging.shutdown()
            os._exit(0)  # jobs still running belong to a run that is gone


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m tiktok_research.worker SOCKET", file=sys.stderr)
        return 2
    Worker(Path(argv[0])).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
