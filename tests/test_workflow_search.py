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
        assert all(entry["url"].endswith(f"/{entry['kind']}/{entry['video_id']}")
                   for entry in entries)
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
    [record] = json.loads((tmp_path / "output" / "failures.json").read_text())
    assert (record["type"], record["details"]["reason"]) == ("search", "exhausted")
    assert (record["query_index"], record["query"]) == (0, "tokyo ramen spots")
    # Nothing was found, so no folder (and no status.json) was made: the query's status comes
    # from its failure record.
    assert not folder.exists()
    progress = json.loads((tmp_path / "output" / "progress.json").read_text())
    assert progress["stats"]["search_failed"] == 1
    assert "stopped after" not in failed.stderr
    assert "0 video(s) failed" in failed.stderr
    fake_web.clear_faults()
    again = run_snakemake(tmp_path, config)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (folder / "urls.json").exists()


def test_zero_results_end_as_search_failed(fake_web, tmp_path):
    # Serper answers, with no TikTok video in its results: a result, not a failed job. The
    # whole run (not search_only) ends with the query's status search_failed.
    query = "knitted hats for goldfish"
    fake_web.catalog.query_results[query] = []
    write_research_list(tmp_path, [query])
    result = run_snakemake(tmp_path, base_config(fake_web.host))
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "output"
    folder = out / "queries" / "query_00000_knitted_hats_for_goldfish"
    assert json.loads((folder / "urls.json").read_text()) == []
    status = json.loads((folder / "status.json").read_text())
    assert status["status"] == "search_failed"
    assert status["counts"]["found"] == 0 and status["videos"] == {}
    assert status["last_error"] == "the search found no TikTok video links"
    progress = json.loads((out / "progress.json").read_text())
    assert progress["stats"]["search_failed"] == 1 and progress["stats"]["total"] == 1
    [record] = json.loads((out / "failures.json").read_text())
    assert (record["type"], record["details"]["reason"]) == ("search", "no_results")
    assert record["query"] == query
    assert not (out / "videos").exists()


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
