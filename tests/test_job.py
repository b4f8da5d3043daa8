"""The rules' job command (`python -m tiktok_research.runtime.job`) and the config it is given."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tiktok_research.accounting.summarise import read_failures
from tiktok_research.config import job_config, load


def test_the_job_config_leaves_out_the_query_selection_and_is_named_by_its_content() -> None:
    first = job_config({"output_dir": "out", "keep": False, "start": 0, "count": 5})
    again = job_config({"keep": False, "output_dir": "out", "start": 7})
    other = job_config({"output_dir": "out", "keep": True})
    assert first == again and first[0] != other[0]
    assert json.loads(first[1]) == {"keep": False, "output_dir": "out"}


def run_job_cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tiktok_research.runtime.job", *args],
                          cwd=workdir, capture_output=True, text=True, timeout=120)


def test_a_failing_job_prints_one_line_and_records_the_failure(tmp_path: Path) -> None:
    config = load({"output_dir": "output", "persistent_worker": False})
    result = run_job_cli(tmp_path, "process", "123", "--config-json", json.dumps(config),
                         "--in", "video=output/videos/123/video.mp4",
                         "--in", "meta=output/videos/123/metadata.json", "--attempt", "2",
                         "--log", "output/logs/process/123.log")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "tiktok-research: process 123 failed: output/videos/123/metadata.json is not a JSON "
        "object (log: output/logs/process/123.log)"]
    [record] = read_failures({**config, "output_dir": str(tmp_path / "output")})
    assert (record["type"], record["video_id"], record["attempt"]) == ("process", "123", 2)
    assert record["details"]["reason"] == "bad_metadata"
    log = (tmp_path / "output/logs/process/123.log").read_text()
    assert "Traceback" in log and "failure record" in log


@pytest.mark.parametrize("args", [
    ["process", "1"],  # no config
    ["process", "1", "--config-json", "{not json"],
    ["process", "1", "--config-json", "{}", "--in", "video"],  # not NAME=PATH
])
def test_bad_arguments_are_refused(tmp_path: Path, args: list[str]) -> None:
    result = run_job_cli(tmp_path, *args)
    assert result.returncode == 2 and "error:" in result.stderr


def test_an_unknown_task_is_named(tmp_path: Path) -> None:
    config = json.dumps({"output_dir": "output", "persistent_worker": False})
    result = run_job_cli(tmp_path, "os:system", "1", "--config-json", config)
    assert result.returncode == 1
    assert "no task 'os:system' is registered" in result.stderr


def test_a_job_gets_its_tasks_tries_within_the_job_each_failed_one_recorded() -> None:
    # The rules set no Snakemake `retries:` (a restarted job can be lost when a checkpoint
    # finishes before it starts again): the runtime gives the job its task's tries.
    from tiktok_research.errors import DownloadError
    from tiktok_research.registry import Job, Services, Task
    from tiktok_research.runtime.host import execute

    seen = []

    def flaky(job: Job) -> str:
        seen.append(job.attempt)
        if job.attempt < 3:
            raise DownloadError(f"try {job.attempt} broke")
        return "done"

    services = Services()
    job = Job(task="flaky", key="1", config={}, context={"video_id": "1"})
    assert execute(job, Task("flaky", flaky, attempts=3), services) == "done"
    assert seen == [1, 2, 3]
    assert [(r["attempt"], r["error"]) for r in services.recorded] == [
        (1, "try 1 broke"), (2, "try 2 broke")]

    seen.clear()
    services = Services()
    with pytest.raises(DownloadError, match="try 2 broke"):
        execute(Job(task="flaky", key="1", config={}), Task("flaky", flaky, attempts=2),
                services)
    assert seen == [1, 2] and len(services.recorded) == 2


def test_no_rule_leaves_its_retries_to_snakemake() -> None:
    repo = Path(__file__).resolve().parents[1]
    rules = "\n".join(path.read_text() for path in sorted((repo / "rules").glob("*.smk")))
    profile = (repo / "profiles" / "default" / "config.yaml").read_text()
    assert "retries:" not in rules and "resources.attempt" not in rules
    settings = [line.split(":")[0] for line in profile.splitlines() if not line.startswith("#")]
    assert "retries" not in settings and "restart-times" not in settings


def test_a_failure_another_try_cannot_change_ends_the_job_at_once() -> None:
    from tiktok_research.errors import MissingSecret, NoAudioTrack, OverCap
    from tiktok_research.registry import Job, Services, Task
    from tiktok_research.runtime.host import execute

    for error, tries in ((OverCap("over tiktok.max_pixels"), 1),
                         (MissingSecret("SERPER_API_KEY is not set"), 1),
                         (NoAudioTrack("video.mp4 has no audio track"), 2),  # a verdict: confirmed
                         (ValueError("unexpected"), 2)):
        def failing(job: Job, error: Exception = error) -> None:
            raise error

        services = Services()
        with pytest.raises(type(error)):
            execute(Job(task="t", key="1", config={}), Task("t", failing, attempts=2), services)
        assert len(services.recorded) == tries, error
