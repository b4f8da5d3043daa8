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



CLUSTER_RUN_ENV = "TIKTOK_RESEARCH_CLUSTER_JOB"


def cluster_job() -> str | None:
    """The Slurm job this process runs in, if any (its id)."""
    return os.environ.get("SLURM_JOB_ID") or None


CLUSTER_EXECUTOR_ENV = "TIKTOK_RESEARCH_ON_CLUSTER"


def mark_cluster_executor() -> None:
    """Note, in the environment every job inherits, that this run's jobs go to a cluster
    executor (the local ones too)."""
    os.environ[CLUSTER_EXECUTOR_ENV] = "1"


def on_cluster() -> bool:
    """Whether this process is a job of a run on a cluster: in a cluster job, or a local job
    of such a run on the host that runs snakemake."""
    return cluster_job() is not None or os.environ.get(CLUSTER_EXECUTOR_ENV) == "1"


def worker_allowed(per_video: bool) -> bool:
    """Whether a job may use the persistent worker: always off a cluster; on a cluster only a
    per-video job inside a cluster job, whose first Snakemake process started it (elsewhere a
    worker would load the models for one job, or on the host that runs snakemake)."""
    return not on_cluster() or (per_video and cluster_job() is not None)


def claim_cluster_run() -> bool:
    """Whether this process is the first Snakemake process of its cluster job (the one that
    lives as long as the job); if so it becomes the run of the jobs in it (`mark_run`).

    The jobstep executor runs each job of a group job as a job step of its own, with a
    Snakemake process of its own, which ends with the step; the processes of the steps inherit
    the first one's run, and so share its worker."""
    job = cluster_job()
    if job is None or os.environ.get(CLUSTER_RUN_ENV) == job:
        return False
    os.environ[CLUSTER_RUN_ENV] = job
    mark_run()
    return True


def shared_state_problem(config: dict, workdir: str | Path = ".") -> str | None:
    """Why this config cannot run as cluster jobs, in one line; None if it can.

    Jobs on other nodes share the run's state through the storage and the database: SQLite
    cannot be written from several hosts at once (its locks do not hold on network file
    systems), and a local storage folder must be one that every node sees, the working
    directory or a folder of `cluster.shared_paths`."""
    from tiktok_research.paths import OutputTree

    if (config.get("database") or {}).get("backend", "sqlite") == "sqlite":
        return ("database.backend is sqlite, which jobs on several nodes cannot share: use "
                "postgres or supabase on a cluster")
    storage = config.get("storage") or {}
    if storage.get("backend", "local") != "local":
        return None
    folder = Path(storage.get("local_dir") or OutputTree(config["output_dir"]).bucket())
    folder = Path(os.path.realpath(Path(workdir) / folder))
    shared = [Path(os.path.realpath(workdir)),
              *(Path(os.path.realpath(path)) for path in
                (config.get("cluster") or {}).get("shared_paths") or [])]
    if not any(folder == root or root in folder.parents for root in shared):
        return (f"storage.local_dir {folder} is neither in the working directory nor in "
                "cluster.shared_paths, so jobs on other nodes would not see it: use storage "
                "gcs, or list a folder every node shares in cluster.shared_paths")
    return None


def target_rules(argv: list[str]) -> set[str]:
    """The rules of the jobs a cluster job's Snakemake command runs (`--target-jobs
    RULE:WILDCARDS ...`; Snakemake gives the Snakefile no other view of them while it is read)."""
    rules, inside = set(), False
    for argument in argv:
        if argument == "--target-jobs":
            inside = True
        elif argument.startswith("--target-jobs="):
            rules.add(argument.partition("=")[2].partition(":")[0])
        elif argument.startswith("-"):
            inside = False
        elif inside:
            rules.add(argument.partition(":")[0])
    return rules
