"""The Snakemake run, as the main process sets it up at start: its name, which the jobs inherit
(so that each run has its own persistent worker, which ends with the run), and the clearing of
directory locks that a killed run left behind."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tiktok_research.procs import process_name

RUN_ENV = "TIKTOK_RESEARCH_RUN"
RUN_LOCK = Path(".snakemake") / "tiktok-research-run.lock"

_RUN_LOCK = None  # a FileLock held for the life of the main Snakemake process


def mark_run() -> str:
    """Name this Snakemake run (its main process: host, pid and start time) in the environment
    the jobs inherit."""
    os.environ[RUN_ENV] = process_name(os.getpid()) or str(os.getpid())
    return os.environ[RUN_ENV]


def clear_stale_locks(workdir: str | Path = ".") -> bool:
    """Remove Snakemake's directory locks when they were left by a run that was killed.

    Snakemake locks the working directory with plain files, which a `kill -9` or a power loss
    leaves behind, so the same command then refuses to run until `--unlock`. The main process
    also holds an OS file lock (released by the kernel however the process ends): if we can
    take it, no other run is alive here, and any Snakemake lock files are stale.
    """
    global _RUN_LOCK
    from filelock import FileLock, Timeout

    state = Path(workdir) / ".snakemake"
    state.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(Path(workdir) / RUN_LOCK))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False  # another run is alive: its locks are real
    _RUN_LOCK = lock
    stale = list((state / "locks").glob("*.lock"))
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        print("tiktok-research: removed locks left by a run that did not finish", file=sys.stderr)
    return bool(stale)

