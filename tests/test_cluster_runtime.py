"""The runtime's part in cluster runs, without a cluster: which states a cluster run refuses, the
cluster job's claim on its run, the worker's socket per cluster job, and the rules a cluster
job's command runs. (`make test-cluster` runs the workflow on a real Slurm cluster.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tiktok_research import config as config_module
from tiktok_research.runtime import run
from tiktok_research.runtime.run import (
    CLUSTER_RUN_ENV,
    RUN_ENV,
    claim_cluster_run,
    on_cluster,
    shared_state_problem,
    target_rules,
)
from tiktok_research.runtime.worker import worker_address


def cluster_config(**overrides) -> dict:
    return config_module.load({"output_dir": "out", **overrides})


def test_sqlite_is_refused_on_a_cluster(tmp_path: Path) -> None:
    problem = shared_state_problem(cluster_config(), tmp_path)
    assert problem is not None and "database.backend is sqlite" in problem
    assert "\n" not in problem


def test_local_storage_in_the_working_directory_is_shared(tmp_path: Path) -> None:
    postgres = {"database": {"backend": "postgres"}}
    assert shared_state_problem(cluster_config(**postgres), tmp_path) is None
    inside = {**postgres, "storage": {"backend": "local", "local_dir": "data/bucket"}}
    assert shared_state_problem(cluster_config(**inside), tmp_path) is None


def test_local_storage_outside_the_shared_folders_is_refused(tmp_path: Path) -> None:
    workdir, elsewhere = tmp_path / "work", tmp_path / "scratch"
    workdir.mkdir()
    settings = {"database": {"backend": "postgres"},
                "storage": {"backend": "local", "local_dir": str(elsewhere / "bucket")}}
    problem = shared_state_problem(cluster_config(**settings), workdir)
    assert problem is not None and "cluster.shared_paths" in problem
    assert str(elsewhere / "bucket") in problem
    # `..` out of the working directory is outside too.
    dotted = {**settings, "storage": {"backend": "local", "local_dir": "../scratch/bucket"}}
    assert shared_state_problem(cluster_config(**dotted), workdir) is not None
    shared = {**settings, "cluster": {"shared_paths": [str(elsewhere)]}}
    assert shared_state_problem(cluster_config(**shared), workdir) is None


def test_gcs_and_supabase_are_shared(tmp_path: Path) -> None:
    settings = {"database": {"backend": "supabase"},
                "storage": {"backend": "gcs", "gcs_bucket": "b"}}
    assert shared_state_problem(cluster_config(**settings), tmp_path) is None


def test_the_network_jobs_setting_is_checked() -> None:
    assert cluster_config()["cluster"] == {"network_jobs": "compute", "shared_paths": []}
    with pytest.raises(config_module.ConfigError, match="network_jobs"):
        cluster_config(cluster={"network_jobs": "login"})


def test_target_rules_of_a_cluster_jobs_command() -> None:
    argv = ["snakemake", "--snakefile", "Snakefile", "--target-jobs",
            "download_video:video_id=1", "process_and_publish_video:video_id=1",
            "--cores", "2", "--mode", "remote"]
    assert target_rules(argv) == {"download_video", "process_and_publish_video"}
    assert target_rules(["snakemake", "--target-jobs=search_videos:qdir=q", "-j1"]) == {
        "search_videos"}
    assert target_rules(["snakemake", "--cores", "2"]) == set()


def test_the_first_process_of_a_cluster_job_claims_its_run(monkeypatch) -> None:
    # setenv, not delenv: monkeypatch restores only what it changed, and the code under test
    # sets these itself (a variable left set would make later runs of the suite "cluster" runs).
    monkeypatch.setenv(CLUSTER_RUN_ENV, "")
    monkeypatch.setenv(RUN_ENV, "login-host:1-1")  # the main process's, exported by sbatch
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert claim_cluster_run() is False  # not in a cluster job
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    assert claim_cluster_run() is True
    first = run.os.environ[RUN_ENV]
    assert first != "login-host:1-1"
    # A job step's Snakemake (same job, the environment inherited) leaves the run as it is.
    assert claim_cluster_run() is False
    assert run.os.environ[RUN_ENV] == first
    # Another cluster job, which inherited the variable from the main process, claims its own.
    monkeypatch.setenv("SLURM_JOB_ID", "43")
    assert claim_cluster_run() is True


def test_the_worker_socket_is_the_cluster_jobs_own(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    here = worker_address(tmp_path)
    assert here.parent == tmp_path / f"tiktok-research-{run.os.getuid()}"
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    in_job = worker_address(tmp_path)
    assert in_job.parent == here.parent / "slurm-job-42"
    assert in_job.parent.stat().st_mode & 0o077 == 0
    monkeypatch.setenv("SLURM_JOB_ID", "43")
    assert worker_address(tmp_path).parent != in_job.parent


def test_on_cluster(monkeypatch) -> None:
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setenv(run.CLUSTER_EXECUTOR_ENV, "")  # restored (removed) after the test
    assert not on_cluster()
    run.mark_cluster_executor()
    assert on_cluster()
    monkeypatch.setenv(run.CLUSTER_EXECUTOR_ENV, "")
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    assert on_cluster()


def test_the_worker_is_used_off_a_cluster_and_in_a_cluster_jobs_per_video_jobs(monkeypatch):
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.setenv(run.CLUSTER_EXECUTOR_ENV, "")
    assert run.worker_allowed(per_video=True) and run.worker_allowed(per_video=False)
    monkeypatch.setenv(run.CLUSTER_EXECUTOR_ENV, "1")  # a local job of a cluster run
    assert not run.worker_allowed(per_video=True) and not run.worker_allowed(per_video=False)
    monkeypatch.setenv("SLURM_JOB_ID", "7")  # in a cluster job
    assert run.worker_allowed(per_video=True) and not run.worker_allowed(per_video=False)
