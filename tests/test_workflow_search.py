"""The workflow's search stage end to end: real `snakemake` against the fake Serper."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from support.workflow import REPO, SNAKEMAKE, base_config, run_snakemake, write_research_list

QUERIES = ["tokyo ramen spots", "lisbon hidden gems", "anxiety tips from therapists",
           "sourdough bread at home"]


def test_dry_run_needs_no_network_or_keys(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "SERPER_API_KEY"}
    result = subprocess.run(
        [str(SNAKEMAKE), "-n", "--config", "query=tokyo ramen spots"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "search_videos" in result.stdout


def test_search_only_writes_urls_and_second_run_does_nothing(fake_web, tmp_path):
    write_research_list(tmp_path, QUERIES)
    config = base_config(fake_web.host, search_only=True, start=0, count=3, max_results=2)
    first = run_snakemake(tmp_path, config)
    assert first.returncode == 0, first.stderr[-3000:]
    folders = sorted((tmp_path / "output" / "queries").iterdir())
    assert [f.name for f in folders] == [
        "query_00000_tokyo_ramen_spots", "query_00001_lisbon_hidden_gems",
        "query_00002_anxiety_tips_from_therapists"]
    for folder in folders:
        entries = json.loads((folder / "urls.json").read_text())
        assert 0 < len(entries) <= 2
        ids = [entry["video_id"] for entry in entries]
        assert len(set(ids)) == len(ids) and all(i.isdigit() for i in ids)
        assert all(entry["url"].startswith(f"http://{fake_web.host}/@") for entry in entries)
        assert all(entry["url"].endswith("/video/" + entry["video_id"]) for entry in entries)
    assert not (tmp_path / "output" / "videos").exists()
    # The searches ran in the persistent worker, which stopped when the run ended.
    log_path = tmp_path / ".snakemake" / "log" / "tiktok-research-worker.log"
    pid = int(log_path.read_text().split("worker ", 1)[1].split()[0])
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists()
    worker_log = log_path.read_text()
    assert worker_log.count("listening on") == 1, worker_log
    assert "stopping: the Snakemake run that started it is gone" in worker_log, worker_log
    requests_before = len(fake_web.requests_to("serper"))
    second = run_snakemake(tmp_path, config)
    assert second.returncode == 0
    assert "Nothing to be done" in second.stdout + second.stderr
    assert len(fake_web.requests_to("serper")) == requests_before


def test_search_failure_is_recorded_and_retried_next_run(fake_web, tmp_path):
    write_research_list(tmp_path, QUERIES)
    config = base_config(fake_web.host, search_only=True, start=0, count=1)
    fake_web.fail("serper", 500, times=None)
    failed = run_snakemake(tmp_path, config)
    assert failed.returncode != 0
    folder = tmp_path / "output" / "queries" / "query_00000_tokyo_ramen_spots"
    assert not (folder / "urls.json").exists()
    records = json.loads((tmp_path / "output" / "failures.json").read_text())
    assert [r["type"] for r in records] == ["search"]
    assert not folder.exists()  # nothing was found, so no folder was made
    progress = json.loads((tmp_path / "output" / "progress.json").read_text())
    assert progress["stats"]["search_failed"] == 1
    assert "stopped after" not in failed.stderr
    assert "0 video(s) failed" in failed.stderr
    fake_web.clear_faults()
    again = run_snakemake(tmp_path, config)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (folder / "urls.json").exists()


@pytest.mark.parametrize(
    ("override", "named"),
    [("max_resluts=3", "max_resluts"), ("workers=0", "workers"),
     ("serper={base_ulr: x}", "serper.base_ulr")],
)
def test_bad_config_stops_with_one_line(tmp_path, override, named):
    result = subprocess.run(
        [str(SNAKEMAKE), "-n", "--config", override], cwd=REPO,
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if named in line]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_missing_query_column_is_one_line(tmp_path):
    (tmp_path / "list.csv").write_text("search\nx\n")
    result = subprocess.run(
        [str(SNAKEMAKE), "-n", "-d", str(tmp_path), "-s", str(REPO / "Snakefile"), "--config",
         f"research_list={tmp_path / 'list.csv'}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "no 'query' column" in result.stderr
    assert "Traceback" not in result.stderr


def test_lint_is_clean():
    result = subprocess.run([str(SNAKEMAKE), "--lint", "--cores", "1"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert "Congratulations" in result.stdout + result.stderr
