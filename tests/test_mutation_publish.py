"""Publish-side behaviour that only the workflow tests reached, or none (found by `make
mutation`): caption text, the outputs of a video that ends without publishing, and the log
line of each retried link upsert."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from tiktok_research.errors import DatabaseError
from tiktok_research.publish import publish as publish_module
from tiktok_research.publish.job import end_without_publishing
from tiktok_research.publish.publish import publish_links
from tiktok_research.publish.rows import vtt_text
from tiktok_research.registry import Job

VTT = """WEBVTT
Kind: captions

NOTE a comment
that spans two lines

STYLE
::cue { color: red }

1
00:00:00.000 --> 00:00:01.500 align:start
<c.yellow>Hello</c> there

2
00:01.500 --> 00:03.000
  second   cue
42
"""


def test_vtt_text_keeps_only_the_words_of_the_cues() -> None:
    assert vtt_text(VTT) == "Hello there second   cue"
    assert vtt_text("WEBVTT\n\n00:00:00,000 --> 00:00:01,000\n<b></b>\n7\n") == ""
    assert vtt_text("") == ""


def unavailable_job(tmp_path: Path) -> Job:
    names = {"transcript": "transcript.txt", "timestamps": "transcript_timestamps.json",
             "ocr": "ocr.json", "audio": "audio.mp3", "frames": "frames",
             "receipt": ".uploaded"}
    return Job(task="process", key="123", config={}, attempt=2,
               outputs={name: str(tmp_path / file) for name, file in names.items()})


def test_a_video_that_ends_gets_empty_outputs_and_a_receipt(tmp_path: Path) -> None:
    job = unavailable_job(tmp_path)
    (tmp_path / "audio.mp3").write_bytes(b"kept")
    receipt = end_without_publishing(job, "unavailable", "private", status_code=403)

    assert (tmp_path / "transcript.txt").read_text(encoding="utf-8") == ""
    assert json.loads((tmp_path / "transcript_timestamps.json").read_text()) == {
        "language": None, "segments": [], "outcome": "unavailable"}
    assert json.loads((tmp_path / "ocr.json").read_text()) == {
        "items": [], "scenes": 0, "engine": None, "outcome": "unavailable"}
    assert (tmp_path / "audio.mp3").read_bytes() == b"kept"  # made before the end: left alone
    assert (tmp_path / "frames").is_dir() and not any((tmp_path / "frames").iterdir())

    on_disk = json.loads((tmp_path / ".uploaded").read_text())
    assert on_disk == receipt
    decided_at = receipt.pop("decided_at")
    assert decided_at.endswith("Z") and decided_at[:2] == "20"
    assert receipt == {"video_id": "123", "outcome": "unavailable", "reason": "private",
                       "status_code": 403, "attempt": 2}


def test_outputs_a_rule_does_not_declare_are_not_written(tmp_path: Path) -> None:
    job = unavailable_job(tmp_path)
    for name in ("transcript", "timestamps", "ocr", "audio", "frames"):
        del job.outputs[name]
    end_without_publishing(job, "bad_video", "no video stream")
    assert sorted(path.name for path in tmp_path.iterdir()) == [".uploaded"]


class FlakyLinks:
    """A database whose first upsert of links fails with a retryable error."""

    name = "flaky"

    def __init__(self) -> None:
        self.tries, self.closed = 0, False

    def upsert_links(self, rows: list[dict]) -> None:
        self.tries += 1
        if self.tries == 1:
            raise DatabaseError("connection reset", retryable=True)

    def close(self) -> None:
        self.closed = True


def test_each_retry_of_a_link_upsert_is_logged_with_what_failed(monkeypatch, caplog):
    database = FlakyLinks()
    opened = iter([DatabaseError("starting up", retryable=True), database])

    def open_database(config: dict) -> FlakyLinks:
        result = next(opened)
        if isinstance(result, Exception):
            raise result
        return result

    monkeypatch.setattr(publish_module, "open_database", open_database)
    rows = [{"query_index": 0, "query": "q", "video_id": "1", "position": 1},
            {"query_index": 0, "query": "q", "video_id": "2", "position": 2}]
    with caplog.at_level(logging.WARNING, logger="tiktok_research.publish"):
        assert publish_links({"publish": {"backoff_seconds": 0}}, rows) == "flaky"
    assert [record.getMessage() for record in caplog.records] == [
        "database connection failed (try 1 of 3), retrying: starting up",
        "2 rows of query_videos failed (try 1 of 3), retrying: connection reset"]
    assert database.tries == 2 and database.closed


def test_an_ended_video_gets_an_empty_audio_a_frames_folder_and_one_log_line(
        tmp_path: Path, caplog, monkeypatch) -> None:
    job = unavailable_job(tmp_path)
    job.outputs["frames"] = str(tmp_path / "scratch" / "frames")  # its folder not made yet
    monkeypatch.setattr(logging.getLogger("tiktok_research"), "propagate", True)
    with caplog.at_level(logging.INFO, logger="tiktok_research.publish"):
        end_without_publishing(job, "processing_failed", "no_audio_track")
    assert (tmp_path / "audio.mp3").read_bytes() == b""
    assert (tmp_path / "scratch" / "frames").is_dir()
    assert [record.getMessage() for record in caplog.records] == [
        "video 123 ended processing_failed (no_audio_track)"]


def test_vtt_text_skips_region_blocks_and_reads_a_track_without_a_header() -> None:
    region = "WEBVTT\n\nREGION\nid:fred\nwidth:40%\n\n00:00.000 --> 00:01.000 region:fred\nHi\n"
    assert vtt_text(region) == "Hi"
    assert vtt_text("00:00.000 --> 00:01.000\nNo header here\n") == "No header here"


def test_the_postgres_backend_without_its_url_says_what_needs_it(monkeypatch) -> None:
    import pytest

    from tiktok_research.database import open_database
    from tiktok_research.errors import MissingSecret

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setattr("tiktok_research.config.load_dotenv_secrets", lambda *args: None)
    with pytest.raises(MissingSecret) as raised:
        open_database({"database": {"backend": "postgres"}})
    assert str(raised.value) == ("DATABASE_URL is not set (environment or .env); it is needed "
                                 "for the postgres database backend")
