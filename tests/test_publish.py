"""The publish stage called directly: frame choice, rows, receipts, retries, failure records."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import psycopg
import pytest
from support.processed import make_processed_video, publish_inputs, write_query

from tiktok_research.config import SECRET_NAMES, MissingSecret, load
from tiktok_research.database import DatabaseError, schema_sql
from tiktok_research.failures import read_failures
from tiktok_research.fakeweb import postgrest
from tiktok_research.publish import (
    ValidationFailed,
    ocr_text,
    pick_frames,
    run_link_query,
    run_publish,
)
from tiktok_research.storage import file_md5

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
    return run_publish(video_id, config, inputs=publish_inputs(out, video_id,
                                                              config["include_video"]),
                       receipt_path=out / "videos" / video_id / ".uploaded")


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
    write_query(out, 0, "tokyo ramen", [VIDEO])
    write_query(out, 7, "lisbon", ["1", VIDEO])
    receipt = publish(out, make_config(out))

    bucket = out / "bucket" / "videos" / VIDEO
    names = sorted(str(p.relative_to(bucket)) for p in bucket.rglob("*") if p.is_file())
    assert names == ["audio.mp3", "frames/001_t0.0s.jpg", "frames/002_t1.5s.jpg",
                     "frames/003_t3.0s.jpg", "frames/004_t4.5s.jpg", "metadata.json", "ocr.json",
                     "transcript.txt", "transcript_timestamps.json"]
    on_disk = json.loads((folder / ".uploaded").read_text())
    assert on_disk == receipt
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
        links = connection.execute("SELECT * FROM query_videos ORDER BY query_index").fetchall()
    assert row == [(VIDEO, f"https://www.tiktok.com/@tester/video/{VIDEO}", "tester",
                    f"caption of {VIDEO} #test", f"hello from video {VIDEO}",
                    "\n".join(f"text {VIDEO} {i}" for i in range(1, 5)),
                    bucket.resolve().as_uri() + "/", 4)]
    assert links == [(0, "tokyo ramen", VIDEO, 1), (7, "lisbon", VIDEO, 2)]


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


def test_validation_failure_is_recorded_and_nothing_published(tmp_path, no_secrets):
    out = tmp_path / "output"
    make_processed_video(out, VIDEO, transcript="")
    write_query(out, 2, "tokyo ramen", [VIDEO])
    with pytest.raises(ValidationFailed, match="transcript"):
        publish(out, make_config(out))
    assert not (out / "videos" / VIDEO / ".uploaded").exists()
    assert not (out / "bucket").exists()
    [failure] = read_failures(out)
    assert failure["type"] == "validate" and failure["video_id"] == VIDEO
    assert failure["query_index"] == 2 and failure["query"] == "tokyo ramen"


def test_missing_database_url_fails_at_once_naming_it(tmp_path, no_secrets):
    out = tmp_path / "output"
    make_processed_video(out, VIDEO)
    with pytest.raises(MissingSecret, match="DATABASE_URL"):
        publish(out, make_config(out, database={"backend": "postgres"}))
    assert not (out / "bucket").exists()
    [failure] = read_failures(out)
    assert failure["type"] == "upload" and "DATABASE_URL" in failure["error"]


def test_database_password_never_reaches_failures(tmp_path, no_secrets, monkeypatch):
    out = tmp_path / "output"
    make_processed_video(out, VIDEO)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:hunter2secret@127.0.0.1:1/db")
    with pytest.raises(DatabaseError):
        publish(out, make_config(out, database={"backend": "postgres"}))
    assert "hunter2secret" not in (out / "failures.json").read_text()
    assert len(read_failures(out)) == 1  # three tries, one record


# --- GCS + PostgreSQL -----------------------------------------------------------------------
def test_gcs_and_postgres(tmp_path, no_secrets, gcs_env, gcs_emulator, postgres_dsn,
                          monkeypatch):
    monkeypatch.setenv("DATABASE_URL", postgres_dsn)
    out = tmp_path / "output"
    folder = make_processed_video(out, VIDEO, frames=3)
    write_query(out, 0, "tokyo ramen", [VIDEO])
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
        links = connection.execute("SELECT count(*) FROM query_videos").fetchone()
    assert rows == [(VIDEO, f"gs://{BUCKET}/videos/{VIDEO}/", 3)]
    assert links == (1,)


def test_storage_down_leaves_no_receipt_and_keeps_files(tmp_path, no_secrets, gcs_env,
                                                        gcs_emulator):
    out = tmp_path / "output"
    folder = make_processed_video(out, VIDEO)
    config = make_config(out, storage={"backend": "gcs"})
    gcs_emulator.stop()
    try:
        with pytest.raises(Exception, match="upload of videos/"):
            publish(out, config)
        assert not (folder / ".uploaded").exists()
        assert (folder / "audio.mp3").exists() and list((folder / "frames").iterdir())
        [failure] = read_failures(out)
        assert failure["type"] == "upload" and failure["video_id"] == VIDEO
    finally:
        gcs_emulator.start()
    publish(out, config)
    assert (folder / ".uploaded").exists()
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
    write_query(out, 0, "tokyo ramen", [VIDEO])
    fake_web.fail("supabase", 503, times=2)
    receipt = publish(out, make_config(out, database={"backend": "supabase"}))
    assert receipt["database"]["backend"] == "supabase"
    assert len([r for r in fake_web.requests_to("supabase") if r.path == "/rest/v1/videos"]) == 3
    with psycopg.connect(postgres_dsn) as connection:
        assert connection.execute("SELECT video_id FROM videos").fetchall() == [(VIDEO,)]
        assert connection.execute("SELECT count(*) FROM query_videos").fetchone() == (1,)


# --- links of a query -----------------------------------------------------------------------
def test_link_query_links_published_videos(tmp_path, no_secrets):
    out = tmp_path / "output"
    make_processed_video(out, VIDEO)
    folder = write_query(out, 3, "tokyo ramen", ["111", VIDEO])
    config = make_config(out)
    publish(out, config)
    result = run_link_query({"index": 3, "query": "tokyo ramen", "meta": {}}, config,
                            urls_path=folder / "urls.json", links_path=folder / "links.json")
    assert json.loads((folder / "links.json").read_text()) == result
    assert [link["video_id"] for link in result["links"]] == [VIDEO]
    assert result["not_published"] == ["111"]
    with sqlite3.connect(out / "research.sqlite") as connection:
        assert connection.execute("SELECT * FROM query_videos").fetchall() == [
            (3, "tokyo ramen", VIDEO, 2)]
