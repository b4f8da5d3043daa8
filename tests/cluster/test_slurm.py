"""The demo workflow on a real single-node Slurm cluster (`make test-cluster`), against the same
run on this machine.

The cluster is Debian's slurm-wlm 22.05 with munge, cgroup process tracking and slurmdbd
accounting (`cluster/slurm`), started for this module and stopped after it. Both runs use the
demo site (every query of research_list.csv, three videos each), a PostgreSQL database of their
own and local storage in their working directory. The cluster run uses `--workflow-profile
profiles/slurm` as it is. Checked:

- the per-query statuses, the published videos and the database rows equal the local run's;
- no process of the run outlives its cluster job (none carries one of the run's job ids once
  the jobs are over);
- each video is attempted at most 1 + retries times: as often as in the local run, and at most
  twice per stage (the download's and the processing's tries within a job);
- each cluster job's peak memory, as Slurm's accounting records it, is within its request.

Not part of `make test` (tests/conftest.py leaves this folder out unless
TIKTOK_RESEARCH_CLUSTER_TESTS is set). `make bench-cluster` prints the figures of both runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest
from support.workflow import REPO, SNAKEMAKE

from tiktok_research.config import bundled_whisper_model, config_arguments
from tiktok_research.fakeweb.media import ensure_media

pytest_plugins = ["support.postgres"]  # the fixtures

pytestmark = pytest.mark.slow

CLUSTER = REPO / "cluster" / "slurm"
PROFILE = REPO / "profiles" / "slurm"
TRIES = 2  # a download's and a processing's tries within their job (1 + 1 retry)
FIGURES = REPO / ".cluster-figures.txt"


def demo_config(web_host: str, output_dir: str) -> dict[str, Any]:
    """The demo's settings (`tiktok_research.demo`), with PostgreSQL as the database."""
    return {
        "output_dir": output_dir,
        "research_list": str(REPO / "research_list.csv"),
        "max_results": 3,
        "whisper_model": bundled_whisper_model(),
        "serper": {"base_url": f"http://{web_host}", "backoff_seconds": 0.5},
        "tiktok": {"hosts": [web_host], "backoff_seconds": 0.5,
                   "min_page_interval_seconds": 0},
        "database": {"backend": "postgres"},
    }


def snakemake(workdir: Path, config: dict[str, Any], dsn: str, *extra: str,
              env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, float]:
    command = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(workdir), *extra,
               "--config", *config_arguments(config)]
    started = time.monotonic()
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=1500,
                            env={**os.environ, "SERPER_API_KEY": "demo-key",
                                 "DATABASE_URL": dsn, **(env or {})})
    return result, time.monotonic() - started


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {"SLURM_CONF": str(root / "slurm.conf")}

    def command(self, *args: str) -> str:
        return subprocess.run(list(args), capture_output=True, text=True, check=True,
                              env={**os.environ, **self.env}).stdout

    def daemons(self) -> list[str]:
        """The daemons of this cluster still running (by their pid files)."""
        alive = []
        for pidfile in (self.root / "run").glob("*.pid"):
            pid = pidfile.read_text().strip()
            if pid.isdigit() and Path(f"/proc/{pid}").exists():
                alive.append(pidfile.stem)
        return alive


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if shutil.which("slurmctld") is None:
        pytest.fail("Slurm is not installed: make test-cluster installs it (make cluster-deps)")
    root = tmp_path_factory.mktemp("slurm")
    subprocess.run([str(CLUSTER), "start", str(root)], check=True, timeout=180)
    cluster = Cluster(root)
    yield cluster
    subprocess.run([str(CLUSTER), "stop", str(root)], check=True, timeout=120)
    assert cluster.daemons() == [], "cluster/slurm stop left daemons running"


@pytest.fixture(scope="module")
def runs(cluster, postgres_server, tmp_path_factory):
    """The demo run here and on the cluster, each with its own database."""
    from tiktok_research.fakeweb.server import FakeWeb

    web = FakeWeb().start()
    try:
        ensure_media([v for v in web.catalog.videos.values() if v.kind in ("ok", "legacy")])
        results = {}
        on_cluster = ("--workflow-profile", str(PROFILE))
        for name, extra, env, settings in (
                ("local", ("--cores", "2"), {}, {}),
                ("cluster", on_cluster, cluster.env, {}),
                # The search and the downloads on this host, one query.
                ("network_here", on_cluster, cluster.env,
                 {"count": 1, "cluster": {"network_jobs": "submit_host"}})):
            workdir = tmp_path_factory.mktemp(name)
            dsn = postgres_server.create_database()
            result, seconds = snakemake(workdir, {**demo_config(web.host, "out"), **settings},
                                        dsn, *extra, env=env)
            results[name] = {"workdir": workdir, "output": workdir / "out", "dsn": dsn,
                             "result": result, "seconds": seconds}
    finally:
        web.stop()
    # The demo ends with failed videos by design (no audio, no speech: processing_failed
    # receipts), which are not job failures: both runs must succeed.
    for name, run in results.items():
        assert run["result"].returncode == 0, f"{name}: {run['result'].stderr[-3000:]}"
    for name in ("cluster", "network_here"):
        results[name]["jobs"] = cluster_jobs(cluster, results[name]["result"].stderr)
    write_figures(results)
    return results


def cluster_jobs(cluster: Cluster, stderr: str) -> dict[str, str]:
    """The Slurm jobs of the run (the plugin names each after the run's id) and what each ran
    (the plugin's comment: `rule_search_videos_wildcards_...`, `rule_video` for a group)."""
    run_ids = set(re.findall(r"SLURM run ID: (\S+)", stderr))
    assert len(run_ids) == 1, stderr[-2000:]
    listing = cluster.command("sacct", "-n", "-X", "-P", "-o", "JobID,Comment",
                              "--name", run_ids.pop())
    return dict(line.split("|", 1) for line in listing.splitlines() if line)


def group_jobs(jobs: dict[str, str]) -> list[str]:
    return [job for job, comment in jobs.items() if not comment.startswith("rule_search")]


def published_videos(output: Path) -> list[str]:
    return sorted(video for video, (outcome, _) in receipts(output).items()
                  if outcome == "published")


def write_figures(results: dict[str, Any]) -> None:
    local, on_cluster = results["local"], results["cluster"]
    videos = len(list(on_cluster["output"].glob("videos/*/.uploaded"))) or 1
    local_jobs = re.findall(r"(\d+) of \d+ steps \(100%\) done", local["result"].stderr)
    lines = [
        f"local run:   {local['seconds']:6.1f} s wall, snakemake --cores 2 on this machine, "
        f"{local_jobs[-1] if local_jobs else '?'} local jobs for {videos} videos",
        f"cluster run: {on_cluster['seconds']:6.1f} s wall, {len(on_cluster['jobs'])} cluster "
        f"jobs for {videos} videos ({len(on_cluster['jobs']) / videos:.2f} jobs per video; "
        f"{len(published_videos(on_cluster['output']))} published)",
        f"cluster/local wall time: {on_cluster['seconds'] / local['seconds']:.2f}",
    ]
    FIGURES.write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))


def statuses(output: Path) -> dict[str, Any]:
    found = {}
    for path in sorted(output.glob("queries/*/status.json")):
        status = json.loads(path.read_text())
        found[path.parent.name] = (status["status"], status["counts"], status["videos"])
    return found


def receipts(output: Path) -> dict[str, Any]:
    found = {}
    for path in output.glob("videos/*/.uploaded"):
        receipt = json.loads(path.read_text())
        # Object names, not sizes: metadata.json holds the time of its download.
        found[receipt["video_id"]] = (receipt["outcome"], sorted(
            obj["key"] for obj in receipt.get("objects") or []))
    return found


def rows(dsn: str) -> dict[str, list[tuple]]:
    with psycopg.connect(dsn) as connection:
        return {
            "videos": connection.execute(
                "SELECT video_id, url, author, title, transcript, ocr_text, frame_count, "
                "post_type FROM videos ORDER BY video_id").fetchall(),
            "query_videos": connection.execute(
                "SELECT query_index, query, video_id, position FROM query_videos "
                "ORDER BY query_index, position").fetchall(),
            "failures": sorted(connection.execute(
                "SELECT video_id, type, attempt FROM pipeline_failures").fetchall(),
                key=repr),
        }


def test_the_cluster_run_gives_the_local_result(runs):
    local, on_cluster = runs["local"], runs["cluster"]
    assert statuses(on_cluster["output"]) == statuses(local["output"])
    assert len(statuses(local["output"])) == 12
    assert receipts(on_cluster["output"]) == receipts(local["output"])
    assert published_videos(local["output"]), "the demo publishes videos"
    assert rows(on_cluster["dsn"]) == rows(local["dsn"])
    # The per-video work ran in group jobs of at most six videos (profiles/slurm), not one
    # cluster job per video, nor one for them all (runtime/groups.py).
    videos = len(receipts(on_cluster["output"]))
    assert -(-videos // 6) <= len(group_jobs(on_cluster["jobs"])) < videos


def test_the_network_jobs_can_run_on_the_submitting_host(runs):
    """cluster.network_jobs=submit_host: the searches and downloads are local jobs, only the
    processing goes to the cluster, and the query ends as in the local run."""
    here, local = runs["network_here"], runs["local"]
    assert group_jobs(here["jobs"]) and all(
        "search" not in comment and "download" not in comment
        for comment in here["jobs"].values()), here["jobs"]
    query = sorted(statuses(here["output"]))
    assert len(query) == 1
    assert statuses(here["output"])[query[0]] == statuses(local["output"])[query[0]]
    mine = receipts(here["output"])
    assert mine and mine == {video: receipt for video, receipt in receipts(local["output"])
                             .items() if video in mine}


def tries(output: Path, stage: str, pattern: str) -> Counter:
    """How often each video's `stage` job log says it began a try (`pattern` with the id)."""
    counts = Counter()
    for path in (output / "logs" / stage).glob("*.log"):
        counts[path.stem] = len(re.findall(pattern.format(video_id=path.stem),
                                           path.read_text(errors="replace")))
    return counts


def test_each_video_is_tried_at_most_one_plus_retries_times(runs):
    for stage, pattern in (("download", r"downloading {video_id} from"),
                           ("process", r"extract_audio done for {video_id}")):
        on_cluster = tries(runs["cluster"]["output"], stage, pattern)
        assert on_cluster == tries(runs["local"]["output"], stage, pattern), stage
        assert on_cluster and max(on_cluster.values()) <= TRIES, (stage, on_cluster)
    # The failure records (one per failed try) are the local run's: 2 + 2, not 4 + 4.
    failures = Counter(video for video, _, _ in rows(runs["cluster"]["dsn"])["failures"])
    assert failures and max(failures.values()) <= TRIES, failures


def processes_of_jobs(job_ids: set[str]) -> list[str]:
    """The live processes whose environment names one of `job_ids` (SLURM_JOB_ID)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
        except OSError:
            continue
        for entry in environ:
            if entry.startswith(b"SLURM_JOB_ID=") and entry[13:].decode() in job_ids:
                found.append(f"{proc.name}: {command}")
    return found


def test_no_process_outlives_its_cluster_job(runs, cluster):
    job_ids = set(runs["cluster"]["jobs"])
    assert job_ids
    states = cluster.command("sacct", "-n", "-X", "-P", "-o", "JobID,State",
                             "-j", ",".join(sorted(job_ids)))
    assert {line.split("|")[1] for line in states.split()} == {"COMPLETED"}, states
    assert processes_of_jobs(job_ids) == []
    # The persistent worker ran inside the group jobs, one per cluster job, with that job's
    # CPUs (its socket names the job).
    log = runs["cluster"]["workdir"] / ".snakemake" / "log" / "tiktok-research-worker.log"
    started = re.findall(r"worker \d+ listening on \S+/slurm-job-(\d+)/\S+ with (\d+) CPUs",
                         log.read_text())
    groups = set(group_jobs(runs["cluster"]["jobs"]))
    assert sorted(job for job, _ in started) == sorted(groups) != [], (started, groups)
    allocated = dict(line.split("|") for line in cluster.command(
        "sacct", "-n", "-X", "-P", "-o", "JobID,AllocCPUS", "-j", ",".join(groups)).split())
    assert {job: int(cpus) for job, cpus in started} == {
        job: int(cpus) for job, cpus in allocated.items()}


def megabytes(value: str) -> float:
    """A sacct memory figure (`123456K`, `1500M`, `2G`) in MB."""
    units = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
    value = value.strip()
    if not value:
        return 0.0
    if value[-1] in units:
        return float(value[:-1]) * units[value[-1]]
    return float(value) / (1024 * 1024)


def test_each_jobs_peak_memory_is_within_its_request(runs, cluster):
    job_ids = list(runs["cluster"]["jobs"])
    report = cluster.command("sacct", "-n", "-P", "-o", "JobID,ReqMem,MaxRSS,AllocCPUS",
                             "-j", ",".join(job_ids))
    requested, batch, steps, cpus = {}, Counter(), {}, {}
    for line in report.splitlines():
        step, req_mem, max_rss, alloc = line.split("|")
        job, _, name = step.partition(".")
        if not name:
            requested[job], cpus[job] = megabytes(req_mem), int(alloc)
        elif name in ("batch", "extern"):
            batch[job] = max(batch[job], megabytes(max_rss))
        else:
            steps.setdefault(job, []).append(megabytes(max_rss))
    # Slurm records each step's peak: the batch step's (the cluster job's Snakemake and its
    # worker) plus the largest steps that can run side by side (one per CPU) bound the job's.
    peaks = Counter({job: batch[job] + sum(sorted(steps.get(job, []))[-cpus[job]:])
                     for job in requested})
    assert set(requested) == set(job_ids), report
    over = {job: (peaks[job], requested[job]) for job in job_ids if peaks[job] > requested[job]}
    assert not over, f"peak MB over the request (peak, request): {over}"
    assert all(peaks[job] > 0 for job in job_ids), report  # the accounting did record them
    jobs = runs["cluster"]["jobs"]
    with FIGURES.open("a") as figures:
        for kind, members in (("group jobs (per-video)", group_jobs(jobs)),
                              ("search jobs", [job for job in jobs
                                               if job not in group_jobs(jobs)])):
            if members:
                figures.write(f"{kind}: peak {max(peaks[j] for j in members):.0f} MB of "
                              f"{max(requested[j] for j in members):.0f} MB requested "
                              f"({len(members)} jobs)\n")
    print(FIGURES.read_text())


def test_a_cluster_run_with_sqlite_stops_at_start(cluster, tmp_path):
    config = demo_config("127.0.0.1:9", "out")
    config["database"] = {"backend": "sqlite"}
    result, _ = snakemake(tmp_path, config, "postgresql://unused", "--workflow-profile",
                          str(PROFILE), env=cluster.env)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("tiktok-research:")]
    assert lines == ["tiktok-research: database.backend is sqlite, which jobs on several nodes "
                     "cannot share: use postgres or supabase on a cluster"], result.stderr[-2000:]
    assert not (tmp_path / ".snakemake" / "slurm_logs").exists()  # nothing was submitted
    assert not (tmp_path / "out").exists()
