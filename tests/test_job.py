"""The per-video rules' command line (`python -m tiktok_research.job`) and its config file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tiktok_research.failures import read_failures
from tiktok_research.workflow_support import job_config_file


def test_the_config_file_is_named_by_its_content(tmp_path: Path) -> None:
    first = job_config_file({"output_dir": "out", "keep": False}, tmp_path)
    again = job_config_file({"keep": False, "output_dir": "out"}, tmp_path)
    other = job_config_file({"output_dir": "out", "keep": True}, tmp_path)
    assert first == again and first != other
    assert json.loads(first.read_text()) == {"keep": False, "output_dir": "out"}


def run_job_cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tiktok_research.job", *args], cwd=workdir,
                          capture_output=True, text=True, timeout=60)


def test_a_failing_job_prints_one_line_and_records_the_failure(tmp_path: Path) -> None:
    config = job_config_file({"output_dir": "output", "persistent_worker": False}, tmp_path)
    result = run_job_cli(tmp_path, "download", "123", "--config", str(config),
                         "--video", "output/videos/123/video.mp4",
                         "--meta", "output/videos/123/metadata.json", "--attempt", "2",
                         "--log", "output/logs/download/123.log")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "tiktok-research: run_download failed: no urls.json lists video 123 "
        "(log: output/logs/download/123.log)"]
    [record] = read_failures(tmp_path / "output")
    assert (record["video_id"], record["attempt"]) == ("123", 2)
    assert "Traceback" in (tmp_path / "output/logs/download/123.log").read_text()


@pytest.mark.parametrize("args", [["process", "1", "--config", "c.json", "--video", "v",
                                   "--meta", "m"],
                                  ["upload", "1", "--config", "c.json", "--video", "v",
                                   "--meta", "m"]])
def test_bad_arguments_are_refused(tmp_path: Path, args: list[str]) -> None:
    result = run_job_cli(tmp_path, *args)
    assert result.returncode == 2 and "error:" in result.stderr
