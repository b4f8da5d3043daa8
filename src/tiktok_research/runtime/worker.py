"""The persistent worker: one process per Snakemake run that hosts the jobs of its tasks and
keeps their resources (`registry.Resource`: models, browsers) open from one job to the next.

A job started fresh pays, before any work, its imports, model loads and a browser start: about
as much CPU again as the work on a short video. So a job command (`runtime.job`) hands its job
to the worker over a Unix socket and waits; the worker runs it in a thread with the job's log
and answers ok or the one-line error. What the job does — its outputs, its failure records — is
exactly what it does in its own process, and Snakemake still schedules, retries and times
every job. The worker knows no stage: it runs whatever task is registered under the job's
task name, and opens the resources that task declares.

Lifetime: one worker per Snakemake run (the run's main process names itself in the jobs'
environment). The first job of a run starts it; it opens the resources marked `warm` in the
background while the first jobs run. It stops when that run's process is gone, or after
`IDLE_SECONDS` without a job; a worker started outside a run stops when no run holds its
directory's run lock. A job whose worker dies during the call starts a new one once; a job that
cannot reach or start one runs itself. The socket lives in a private per-user folder; its name
is a hash of the directory, the interpreter, the package's code and the environment the jobs
read, so a changed setup never talks to a stale worker.

In a cluster job (Slurm) the worker belongs to that job: its socket is in a folder of the job's
own (under the job's TMPDIR when the cluster sets one), its run is the cluster job's first
Snakemake process, which starts it (`start_worker`) for a job of per-video tasks, and it sizes
itself from the CPUs the job was granted. It ends with the cluster job: with that process, or
when Slurm ends the job's processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from tiktok_research.config import PSEUDONYMISED_ENV, SECRET_NAMES, load_dotenv_secrets
from tiktok_research.errors import WorkerJobFailed, WorkerUnavailable
from tiktok_research.procs import named_process_alive
from tiktok_research.records import one_line
from tiktok_research.registry import Host, Job, load_task, task_names
from tiktok_research.runtime.logs import job_log, route_package_logs
from tiktok_research.runtime.run import RUN_ENV, RUN_LOCK, cluster_job

log = logging.getLogger("tiktok_research.worker")

# What a job reads from the environment, besides the secrets and the run (a worker per
# Snakemake run). Not the thread counts Snakemake sets per job.
ENV_NAMES = (*SECRET_NAMES, "STORAGE_EMULATOR_HOST", "DISPLAY", "XAUTHORITY", "PATH", "HOME",
             "ANTHROPIC_BASE_URL", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy",
             "https_proxy", "no_proxy", "SSL_CERT_FILE", "GOOGLE_CLOUD_PROJECT", RUN_ENV,
             PSEUDONYMISED_ENV)
# Thread counts Snakemake sets per job (0 for a download): the worker gets one thread per job.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
WORKER_LOG = Path(".snakemake") / "log" / "tiktok-research-worker.log"
IDLE_SECONDS = 300.0
START_SECONDS = 60.0
CALL_ATTEMPTS = 2  # a worker that dies during a call is replaced once, then the job runs itself
WATCH_SECONDS = 1.0


def _code_stamp() -> str:
    package = Path(__file__).resolve().parents[1]
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
    # In a cluster job, the job's own folder: only jobs of this allocation reach its worker,
    # which ends with it (a job of another allocation would lose its call when that one ends).
    job = cluster_job()
    for part in [folder, folder / f"slurm-job-{job}"] if job else [folder]:
        part.mkdir(mode=0o700, exist_ok=True)
        info = part.stat()
        if info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise WorkerUnavailable(f"{part} is not a private folder of this user")
        folder = part
    return folder / f"{key}.sock"


def _connect(address: Path) -> Connection | None:
    try:
        return Client(str(address), family="AF_UNIX")
    except (FileNotFoundError, ConnectionRefusedError):
        return None


def _remove_start_lock(address: Path) -> None:
    """The starters' lock file of a stopped worker's socket, unless a job is starting another
    worker right now (it holds the lock): no lock file per run is left behind."""
    from filelock import FileLock, Timeout

    lock = FileLock(f"{address}.lock", timeout=0)
    with contextlib.suppress(Timeout, OSError), lock:
        Path(f"{address}.lock").unlink(missing_ok=True)


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
                [sys.executable, "-m", "tiktok_research.runtime.worker", str(address)],
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


def start_worker() -> None:
    """Start this directory's worker now, from this process, if none runs: a cluster job's
    first Snakemake process starts it, so that it lives as long as the cluster job and not
    only as long as the job step of the job that would start it."""
    _start(worker_address()).close()


def run_in_worker(job: Job) -> None:
    """Run `job` in the worker of this directory, starting it if needed; `WorkerJobFailed`
    with the one-line error when it fails there. A job that cannot reach a worker runs here."""
    request = json.dumps({"job": job.spec()}, default=str).encode()
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
        if answer.get("stopping"):  # it closed its resources under the job: as if it died
            problem = WorkerUnavailable(answer.get("error") or "the worker was stopping")
            continue
        if not answer.get("ok"):
            raise WorkerJobFailed(answer.get("error") or "the job failed in the worker")
        return
    log.warning("the persistent worker is unavailable (%r); running the job here", problem)
    from tiktok_research.runtime.host import execute_here

    execute_here(job)


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
    """Ask this directory's worker to stop; whether one was running."""
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


class Worker:
    """The server: one thread per job; resources shared through one `RunServices`."""

    def __init__(self, address: Path) -> None:
        from tiktok_research.runtime.host import RunServices, available_cpus

        route_package_logs()
        self.services = RunServices(Host(parallel=available_cpus()))
        self.address = address
        self.listener = Listener(str(address), family="AF_UNIX", backlog=64)
        self.inode = os.stat(address).st_ino
        self.active = 0
        self.last_job = time.monotonic()
        self.lock = threading.Lock()
        self.key_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self.stopping = threading.Event()
        self.warmed = False

    def serve(self) -> None:
        signal.signal(signal.SIGTERM, lambda signum, frame: self.stop("SIGTERM"))
        threading.Thread(target=self.watch, daemon=True, name="watch").start()
        log.info("worker %d listening on %s with %d CPUs", os.getpid(), self.address,
                 self.services.host.parallel)
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
                self.stop("asked to")
                return
            answer = self.run(request)
            with contextlib.suppress(OSError):  # the job may be gone (killed by Snakemake)
                connection.send_bytes(json.dumps(answer).encode())

    def run(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.active += 1
        try:
            job = Job.from_spec(request.get("job") or {})
            with job_log(job.log):
                try:
                    task = load_task(job.task)
                    self.warm_up(job.config)
                    # Two jobs of one key never overlap (a killed run's job may still run).
                    with self.key_locks[f"{job.task}:{job.key}"]:
                        started = time.monotonic()
                        self.execute(job, task)
                    log.info("%s %s ran in the worker in %.2f s", job.task, job.key,
                             time.monotonic() - started)
                except Exception as error:
                    log.exception("job failed")
                    # A worker that is stopping fails its jobs by closing what they use: the job
                    # goes to another worker, not to its failures.
                    return {"ok": False, "error": one_line(error, 300),
                            "stopping": self.stopping.is_set()}
            return {"ok": True}
        finally:
            with self.lock:
                self.active -= 1
                self.last_job = time.monotonic()

    def execute(self, job: Job, task: Any) -> None:
        from tiktok_research.runtime.host import execute

        execute(job, task, self.services)

    def warm_up(self, config: dict[str, Any]) -> None:
        """Open every registered task's warm resources in the background, once, while the
        run's first jobs (its searches) run."""
        with self.lock:
            if self.warmed or config.get("search_only"):
                return
            self.warmed = True

        def open_resource(task_name: str, resource_name: str) -> None:
            try:
                self.services.resource(load_task(task_name), resource_name, config)
            except Exception as error:  # the job that needs it reports what fails
                log.info("warm-up of %s skipped: %s", resource_name, error)

        for task_name in task_names():
            for resource in load_task(task_name).resources:
                if resource.warm:
                    threading.Thread(target=open_resource, args=(task_name, resource.name),
                                     daemon=True, name=f"warm-{resource.name}").start()

    def watch(self) -> None:
        run = os.environ.get(RUN_ENV)
        while not self.stopping.wait(WATCH_SECONDS):
            if run and not named_process_alive(run):
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
        # then the resources close.
        with contextlib.suppress(OSError):
            if os.stat(self.address).st_ino == self.inode:
                self.address.unlink()
                _remove_start_lock(self.address)
        try:
            self.services.close()
        finally:
            logging.shutdown()
            os._exit(0)  # jobs still running belong to a run that is gone


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m tiktok_research.runtime.worker SOCKET", file=sys.stderr)
        return 2
    Worker(Path(argv[0])).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
