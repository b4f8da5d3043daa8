"""Secrets stay out of everything a run leaves behind: one real `snakemake` search whose
failing Serper replies quote every credential back, then every file of the run (job logs,
Snakemake's and the worker's logs, failures.json, statuses, the database) and the run's
terminal output searched for them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.workflow import base_config, run_snakemake, write_research_list

pytestmark = pytest.mark.slow

SERPER_KEY = "serper-marker-5b1f0e77"
ANTHROPIC_KEY = "sk-ant-marker-93c2d7aa"
DATABASE_PASSWORD = "dbpass-marker-4e8a61"
DATABASE_URL = f"postgresql://research:{DATABASE_PASSWORD}@127.0.0.1:9/study"
MARKERS = (SERPER_KEY, ANTHROPIC_KEY, DATABASE_PASSWORD)


def test_secrets_stay_out_of_every_file_a_failed_run_leaves(fake_web, tmp_path):
    # A server that quotes its request back (a verbose error page, a proxy): the error the
    # search logs and records carries the key, the other credentials and the database
    # password on its own, as a driver's error would.
    fake_web.fail("serper", 500, times=None, body={
        "message": f"upstream failed for X-API-KEY {SERPER_KEY}; anthropic {ANTHROPIC_KEY}; "
                   f"database {DATABASE_URL}; password {DATABASE_PASSWORD}",
        "statusCode": 500})
    write_research_list(tmp_path, ["tokyo ramen spots"])
    result = run_snakemake(tmp_path, base_config(fake_web.host, search_only=True), env={
        "SERPER_API_KEY": SERPER_KEY, "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "DATABASE_URL": DATABASE_URL})
    assert result.returncode != 0
    assert len(fake_web.requests_to("serper")) == 4  # every try got the quoting reply
    assert fake_web.requests_to("serper")[0].header("x-api-key") == SERPER_KEY

    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    leaks = [(str(path.relative_to(tmp_path)), marker) for path in files
             for marker in MARKERS if marker.encode() in path.read_bytes()]
    leaks += [(stream, marker) for stream, text in (("stdout", result.stdout),
                                                    ("stderr", result.stderr))
              for marker in MARKERS if marker in text]
    assert not leaks, "\n".join(f"{marker} in {where}" for where, marker in leaks)
    searched = {str(path.relative_to(tmp_path)) for path in files}
    assert {"output/failures.json", "output/progress.json", "output/research.sqlite",
            "output/logs/search/query_00000_tokyo_ramen_spots.log",
            ".snakemake/log/tiktok-research-worker.log"} <= searched
    assert any(Path(name).match(".snakemake/log/*.snakemake.log") for name in searched)

    # The error did reach the logs and the records, with the secrets masked.
    out = tmp_path / "output"
    job_log = (out / "logs" / "search" / "query_00000_tokyo_ramen_spots.log").read_text()
    assert "upstream failed for X-API-KEY ***; anthropic ***; database ***; password ***" \
        in job_log
    [record] = json.loads((out / "failures.json").read_text())
    assert "X-API-KEY ***" in record["error"]
