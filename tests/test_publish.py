"""The publish stage called directly: frame choice, rows, what the receipt says, retries, and a
query's links written by its summary."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import psycopg
import pytest
from support.processed import make_processed_video, publish_inputs, write_query

from tiktok_research.accounting.summarise import run_summarise_query
from tiktok_research.config import SECRET_NAMES, load
from tiktok_research.database import schema_sql
from tiktok_research.errors import DatabaseError, MissingSecret
from tiktok_research.fakeweb import postgrest
from tiktok_research.files import atomic_write_json
from tiktok_research.publish.publish import PublishedFiles, publish_video
from tiktok_research.publish.rows import ocr_text, pick_frames
from tiktok_research.publish.storage import file_md5
from tiktok_research.registry import Job, Services

VIDEO = "7319467787859053825"

BUCKET = "b"  # the emulator bucket of support.gcs (GCS_BUCKET in gcs_env)
pytest_plugins = ["support.gcs", "support.postgres"]  # the fixtures


@pytest.fixture
def no_secrets(monkeypatch, tmp_path):
    """No secret in the environment and no `.env` in the working directory."""
    for name in SECRET_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def make_config(out: Path, **overrides) -> dict:
    settings = {"output_dir": str(out), "storage": {"local_dir": str(out / "bucket")},
                "database": {"sqlite_path": str(out / "research.sqlite")},
                "publish": {"backoff_seconds": 0.01}}
    for key, value in overrides.items():
        if isinstance(value, dict):
            settings.setdefault(key, {}).update(value)
        else:
            settings[key] = value
    return load(settings)


def publish(out: Path, config: dict, video_id: str = VIDEO) -> dict:
    inputs = {name: Path(path) for name, path in
              publish_inputs(out, video_id, config["include_video"]).items()}
    files = PublishedFiles(inputs["meta"], inputs["transcript"], inputs["timestamps"],
                           inputs["ocr"], inputs["audio"], inputs["frames"], inputs.get("video"))
    return publish_video(video_id, files, config)


# --- pure helpers ---------------------------------------------------------------------------
def test_pick_frames_keeps_all_when_few():
    frames = [Path(f"{i:03d}_t{i}.0s.jpg") for i in (3, 1, 2)]
    assert [p.name[:3] for p in pick_frames(frames, 5)] == ["001", "002", "003"]


@pytest.mark.parametrize("available", [21, 30, 100])
def test_pick_frames_first_plus_even_spread(available):
    frames = [Path(f"{i:03d}_t{i}.0s.jpg") for i in range(1, available + 1)]
    chosen = pick_frames(frames, 20)
    indices = [int(p.name[:3]) for p in chosen]
    assert len(chosen) == 20 == len(set(indices))
    assert indices[0] == 1 and indices[-1] == available
    assert indices == sorted(indices)
    gaps = [b - a for a, b in zip(indices, indices[1:])]
    assert max(gaps) - min(gaps) <= 1
    assert [p.name for p in pick_frames(frames, 1)] == ["001_t1.0s.jpg"]


def test_ocr_text_is_in_time_order():
    ocr = {"items": [{"frame": "b", "t": 3.5, "text": "second"},
                     {"frame": "c", "t": 10, "text": ""},
                     {"frame": "a", "t": 0.0, "text": " first "}]}
    assert ocr_text(ocr) == "first\nsecond"


# --- the defaults: local storage + sqlite, no secrets at all --------------------------------
def test_defaults_publish_without_any_secret(tmp_path, no_secrets):
    out = tmp_path / "output"
    folder = make_processed_video(out, VIDEO, frames=4)
    receipt = publish(out, make_config(out))

    bucket = out / "bucket" / "videos" / VIDEO
    names = sorted(str(p.relative_to(bucket)) for p in bucket.rglob("*") if p.is_file())
    assert names == ["audio.mp3", "frames/001_t0.0s.jpg", "frames/002_t1.5s.jpg",
                     "frames/003_t3.0s.jpg", "frames/004_t4.5s.jpg", "metadata.json", "ocr.json",
                     "transcript.txt", "transcript_timestamps.json"]
    for obj in receipt["objects"]:
        local = folder / obj["key"].removeprefix(f"videos/{VIDEO}/")
        assert obj["md5"] == file_md5(local) and obj["size"] == local.stat().st_size
        assert obj["uri"] == (out / "bucket" / obj["key"]).resolve().as_uri()
    assert receipt["database"]["key"] == {"video_id": VIDEO}
    assert receipt["storage"]["prefix"] == bucket.resolve().as_uri() + "/"
    assert {"started_at", "processed_at", "published_at"} <= set(receipt)

    with sqlite3.connect(out / "research.sqlite") as connection:
        row = connection.execute("SELECT video_id, url, author, title, transcript, ocr_text, "
                                 "gcs_prefix, frame_count FROM videos").fetchall()
        links = connection.execute("SELECT count(*) FROM query_videos").fetchone()
    assert row == [(VIDEO, f"https://www.tiktok.com/@tester/video/{VIDEO}", "tester",
                    f"caption of {VIDEO} #test", f"hello from video {VIDEO}",
                    "\n".join(f"text {VIDEO} {i}" for i in range(1, 5)),
                    bucket.resolve().as_uri() + "/", 4)]
    assert row[0][:8] == tuple(receipt["row"][name] for name in (
        "video_id", "url", "author", "title", "transcript", "ocr_text", "gcs_prefix",
        "frame_count"))
    assert links == (0,)  # the query's summary writes the links, not the video's publish


def test_frames_capped_and_video_only_with_include_video(tmp_path, no_secrets):
    out = tmp_path / "output"
    make_processed_video(out, VIDEO, frames=30)
    receipt = publish(out, make_config(out, max_frames=7))
    keys = [obj["key"] for obj in receipt["objects"]]
    assert sum("/frames/" in key for key in keys) == 7 == receipt["frames"]["published"]
    assert f"videos/{VIDEO}/frames/001_t0.0s.jpg" in keys
    assert f"videos/{VIDEO}/video.mp4" not in keys

    with_video = publish(out, make_config(out, max_frames=7, include_video=True))
    assert f"videos/{VIDEO}/video.mp4" in [obj["key"] for obj in with_video["objects"]]


def test_missing_database_url_fails_at_once_naming_it(tmp_path, no_secrets):
    out = tmp_path / "output"
    make_processed_video(out, VIDEO)
    with pytest.raises(MissingSecret, match="DATABASE_URL"):
        publish(out, make_config(out, database={"backend": "postgres"}))
    assert not (out / "bucket").exists()


def test_database_password_never_reaches_failures(tmp_path, no_secrets, monkeypatch):
    out = tmp_path / "output"
    make_processed_video(out, VIDEO)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:hunter2secret@127.0.0.1:1/db")
    config = make_config(out, database={"backend": "postgres"})
    with pytest.raises(DatabaseError) as raised:
        publish(out, config)
    job = Job(task="process", key=VIDEO, config=config, context={"video_id": VIDEO})
    record = job.record(raised.value)
    assert record["type"] == "upload"
    assert "hunter2secret" not in json.dumps(record) and "hunter2secret" not in str(job)


# --- GCS + PostgreSQL -----------------------------------------------------------------------
def test_gcs_and_postgres(tmp_path, no_secrets, gcs_env, gcs_emulator, postgres_dsn,
                          monkeypatch):
    monkeypatch.setenv("DATABASE_URL", postgres_dsn)
    out = tmp_path / "output"
    folder = make_processed_video(out, VIDEO, frames=3)
    config = make_config(out, storage={"backend": "gcs"}, database={"backend": "postgres"})
    receipt = publish(out, config)
    objects = gcs_emulator.objects()
    assert sorted(objects) == sorted(obj["key"] for obj in receipt["objects"])
    for key, blob in objects.items():
        assert blob.md5_hash == file_md5(folder / key.removeprefix(f"videos/{VIDEO}/"))
    assert all(obj["uri"] == f"gs://{BUCKET}/{obj['key']}" for obj in receipt["objects"])
    publish(out, config)  # publishing again is idempotent
    with psycopg.connect(postgres_dsn) as connection:
        rows = connection.execute("SELECT video_id, gcs_prefix, frame_count FROM videos").fetchall()
    assert rows == [(VIDEO, f"gs://{BUCKET}/videos/{VIDEO}/", 3)]


def test_storage_down_leaves_no_receipt_and_keeps_files(tmp_path, no_secrets, gcs_env,
                                                        gcs_emulator):
    out = tmp_path / "output"
    folder = make_processed_video(out, VIDEO)
    config = make_config(out, storage={"backend": "gcs"})
    gcs_emulator.stop()
    try:
        with pytest.raises(Exception, match="upload of videos/") as raised:
            publish(out, config)
        assert raised.value.kind == "upload" and raised.value.retryable
        assert (folder / "audio.mp3").exists() and list((folder / "frames").iterdir())
        with sqlite3.connect(out / "research.sqlite") as connection:
            assert connection.execute("SELECT count(*) FROM videos").fetchone() == (0,)
    finally:
        gcs_emulator.start()
    publish(out, config)
    assert f"videos/{VIDEO}/audio.mp3" in gcs_emulator.objects()


# --- Supabase -------------------------------------------------------------------------------
def test_supabase_503_is_retried(tmp_path, no_secrets, fake_web, postgres_dsn,
                                 monkeypatch):
    with psycopg.connect(postgres_dsn) as connection:
        connection.execute(schema_sql())
    postgrest.configure(fake_web, postgres_dsn)
    monkeypatch.setenv("SUPABASE_URL", fake_web.base_url)
    monkeypatch.setenv("SUPABASE_KEY", postgrest.DEFAULT_KEY)
    out = tmp_path / "output"
    make_processed_video(out, VIDEO)
    fake_web.fail("supabase", 503, times=2)
    receipt = publish(out, make_config(out, database={"backend": "supabase"}))
    assert receipt["database"]["backend"] == "supabase"
    assert len([r for r in fake_web.requests_to("supabase") if r.path == "/rest/v1/videos"]) == 3
    with psycopg.connect(postgres_dsn) as connection:
        assert connection.execute("SELECT video_id FROM videos").fetchall() == [(VIDEO,)]


# --- links of a query -----------------------------------------------------------------------
def test_a_query_summary_links_its_published_videos(tmp_path, no_secrets):
    out = tmp_path / "output"
    folder = write_query(out, 3, "tokyo ramen", ["111", VIDEO])
    config = make_config(out)
    make_processed_video(out, VIDEO)
    publish(out, config)  # the row the link refers to
    receipts = {VIDEO: {"video_id": VIDEO, "outcome": "published",
                        "storage": {"prefix": "file:///b/"}},
                "111": {"video_id": "111", "outcome": "unavailable", "reason": "private_post"}}
    for video_id, receipt in receipts.items():
        atomic_write_json(out / "videos" / video_id / ".uploaded", receipt)
    job = Job(task="summarise_query", key=folder.name, config=config,
              inputs={"urls": str(folder / "urls.json"),
                      "receipts": [str(out / "videos" / v / ".uploaded") for v in receipts]},
              outputs={name: str(folder / f"{name}.json") for name in
                       ("status", "links", "videos")},
              params={"query": {"index": 3, "query": "tokyo ramen", "meta": {}}})
    job.services = Services()
    status = run_summarise_query(job)
    assert status["status"] == "partial_success"
    result = json.loads((folder / "links.json").read_text())
    assert [link["video_id"] for link in result["links"]] == [VIDEO]
    assert result["not_published"] == ["111"]
    with sqlite3.connect(out / "research.sqlite") as connection:
        assert connection.execute("SELECT * FROM query_videos").fetchall() == [
            (3, "tokyo ramen", VIDEO, 2)]
