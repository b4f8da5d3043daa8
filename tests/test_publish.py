"""The publish stage called directly: frame choice, rows, what the receipt says, retries, the
order uploads → row → receipt when a backend fails, and a query's links written by its summary."""

from __future__ import annotations

import json
import logging
import re
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from support.processed import make_config, make_processed_video, publish, write_query

from tiktok_research.accounting.summarise import run_summarise_query
from tiktok_research.config import SECRET_NAMES, bundled_whisper_model
from tiktok_research.database import schema_sql
from tiktok_research.database.sqlite import SqliteDatabase
from tiktok_research.errors import DatabaseError, MissingSecret, StorageError
from tiktok_research.fakeweb import postgrest
from tiktok_research.files import atomic_write_json
from tiktok_research.publish.rows import ocr_text, pick_frames
from tiktok_research.publish.storage import file_md5
from tiktok_research.registry import Job, Services, load_task
from tiktok_research.runtime.host import execute

VIDEO = "7319467787859053825"

BUCKET = "b"  # the emulator bucket of support.gcs (GCS_BUCKET in gcs_env)
pytest_plugins = ["support.gcs", "support.gcs_proxy", "support.postgres"]  # the fixtures


@pytest.fixture
def no_secrets(monkeypatch, tmp_path):
    """No secret in the environment and no `.env` in the working directory."""
    for name in SECRET_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


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
    receipt = publish(out, make_config(out), VIDEO)

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
    receipt = publish(out, make_config(out, max_frames=7), VIDEO)
    keys = [obj["key"] for obj in receipt["objects"]]
    assert sum("/frames/" in key for key in keys) == 7 == receipt["frames"]["published"]
    assert f"videos/{VIDEO}/frames/001_t0.0s.jpg" in keys
    assert f"videos/{VIDEO}/video.mp4" not in keys

    with_video = publish(out, make_config(out, max_frames=7, include_video=True), VIDEO)
    assert f"videos/{VIDEO}/video.mp4" in [obj["key"] for obj in with_video["objects"]]


def test_missing_database_url_fails_at_once_naming_it(tmp_path, no_secrets):
    out = tmp_path / "output"
    make_processed_video(out, VIDEO)
    with pytest.raises(MissingSecret, match="DATABASE_URL"):
        publish(out, make_config(out, database={"backend": "postgres"}), VIDEO)
    assert not (out / "bucket").exists()


def test_database_password_never_reaches_failures(tmp_path, no_secrets, monkeypatch):
    out = tmp_path / "output"
    make_processed_video(out, VIDEO)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:hunter2secret@127.0.0.1:1/db")
    config = make_config(out, database={"backend": "postgres"})
    with pytest.raises(DatabaseError) as raised:
        publish(out, config, VIDEO)
    job = Job(task="process", key=VIDEO, config=config, context={"video_id": VIDEO})
    record = job.record(raised.value)
    assert record["type"] == "upload"
    assert "hunter2secret" not in json.dumps(record) and "hunter2secret" not in str(job)


@pytest.fixture
def hanging_up_server() -> Iterator[dict]:
    """A TCP server that closes every connection at once, as a database going down does; it
    counts the connections."""
    server = socket.create_server(("127.0.0.1", 0))
    seen = {"port": server.getsockname()[1], "connections": 0}

    def serve() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:  # closed at the end of the test
                return
            seen["connections"] += 1
            connection.close()

    threading.Thread(target=serve, daemon=True).start()
    yield seen
    server.shutdown(socket.SHUT_RDWR)  # wakes the accept
    server.close()


def test_a_database_that_hangs_up_is_tried_three_times(tmp_path, no_secrets, monkeypatch,
                                                       hanging_up_server):
    out = tmp_path / "output"
    make_processed_video(out, VIDEO)
    monkeypatch.setenv("DATABASE_URL",
                       f"postgresql://u:p@127.0.0.1:{hanging_up_server['port']}/db")
    with pytest.raises(DatabaseError, match="closed the connection") as raised:
        publish(out, make_config(out, database={"backend": "postgres"}), VIDEO)
    assert raised.value.retryable
    assert hanging_up_server["connections"] == 3
    assert not (out / "bucket").exists()  # the connection comes before any upload


# --- GCS + PostgreSQL -----------------------------------------------------------------------
def test_gcs_and_postgres(tmp_path, no_secrets, gcs_env, gcs_emulator, postgres_dsn,
                          monkeypatch):
    monkeypatch.setenv("DATABASE_URL", postgres_dsn)
    out = tmp_path / "output"
    folder = make_processed_video(out, VIDEO, frames=3)
    config = make_config(out, storage={"backend": "gcs"}, database={"backend": "postgres"})
    receipt = publish(out, config, VIDEO)
    objects = gcs_emulator.objects()
    assert sorted(objects) == sorted(obj["key"] for obj in receipt["objects"])
    for key, blob in objects.items():
        assert blob.md5_hash == file_md5(folder / key.removeprefix(f"videos/{VIDEO}/"))
    assert all(obj["uri"] == f"gs://{BUCKET}/{obj['key']}" for obj in receipt["objects"])
    publish(out, config, VIDEO)  # publishing again is idempotent
    with psycopg.connect(postgres_dsn) as connection:
        rows = connection.execute("SELECT video_id, gcs_prefix, frame_count FROM videos").fetchall()
    assert rows == [(VIDEO, f"gs://{BUCKET}/videos/{VIDEO}/", 3)]


def test_a_429_from_gcs_is_retried_and_the_upload_lands(tmp_path, no_secrets, gcs_proxy,
                                                      gcs_emulator):
    out = tmp_path / "output"
    make_processed_video(out, VIDEO, frames=2)
    gcs_proxy.fail_uploads(429, times=1)
    receipt = publish(out, make_config(out, storage={"backend": "gcs"}), VIDEO)
    first = f"videos/{VIDEO}/metadata.json"
    assert [seen.status for seen in gcs_proxy.uploads(first)] == [429, 200]
    assert len(gcs_proxy.uploads()) == len(receipt["objects"]) + 1  # the one retry, no other
    assert sorted(gcs_emulator.objects()) == sorted(obj["key"] for obj in receipt["objects"])


# --- the receipt comes last: the `process` task when a backend fails -----------------------
@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    """A one-second video with a tone and one scene: processing it takes about a second."""
    path = tmp_path_factory.mktemp("clip") / "video.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=blue:s=160x120:d=1",
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-shortest",
                    "-c:v", "libx264", "-c:a", "aac", str(path)], check=True)
    return path


def process_job(out: Path, clip: Path, attempt: int = 1, **overrides) -> tuple[Job, Services]:
    """The `process` task's job for VIDEO as its rule declares it (the clip as the downloaded
    video; transcript, timestamps, ocr and the receipt in the video's folder)."""
    folder = out / "videos" / VIDEO
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metadata.json").write_text(json.dumps({
        "video_id": VIDEO, "url": f"https://www.tiktok.com/@tester/video/{VIDEO}",
        "author": "tester", "caption": f"caption of {VIDEO}"}), encoding="utf-8")
    config = make_config(out, whisper_model=bundled_whisper_model(), min_transcript_chars=0,
                         **overrides)
    outputs = {name: str(folder / file) for name, file in (
        ("transcript", "transcript.txt"), ("timestamps", "transcript_timestamps.json"),
        ("ocr", "ocr.json"), ("receipt", ".uploaded"))}
    job = Job(task="process", key=VIDEO, config=config, attempt=attempt,
              inputs={"video": str(clip), "meta": str(folder / "metadata.json")}, outputs=outputs)
    return job, Services()


def video_rows(out: Path) -> list[tuple]:
    with sqlite3.connect(out / "research.sqlite") as connection:
        return connection.execute("SELECT video_id, frame_count FROM videos").fetchall()


def stored_names(bucket: Path) -> list[str]:
    folder = bucket / "videos" / VIDEO
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def one_try():
    """The process task given one try: what a job's first try leaves behind (its second try
    runs the same code again at once)."""
    return replace(load_task("process"), attempts=1)


PUBLISHED = ["audio.mp3", "frames/001_t0.0s.jpg", "metadata.json", "ocr.json", "transcript.txt",
             "transcript_timestamps.json"]


def test_a_row_refused_after_the_uploads_leaves_no_receipt(tmp_path, no_secrets, short_clip,
                                                           monkeypatch, caplog):
    out = tmp_path / "output"
    SqliteDatabase(out / "research.sqlite").close()  # the tables exist
    # Another writer holds the database's write lock for the whole attempt: the connection
    # opens, the uploads go through, the upsert waits its busy timeout and is refused.
    monkeypatch.setattr("tiktok_research.database.sqlite.BUSY_TIMEOUT_SECONDS", 0.05)
    writer = sqlite3.connect(out / "research.sqlite", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    # route_package_logs (a worker, a job command) may have cut the package off from caplog.
    monkeypatch.setattr(logging.getLogger("tiktok_research"), "propagate", True)
    job, services = process_job(out, short_clip)
    with caplog.at_level(logging.WARNING, "tiktok_research.publish"), \
            pytest.raises(DatabaseError, match="database is locked") as raised:
        execute(job, one_try(), services)
    writer.execute("ROLLBACK")
    writer.close()

    receipt = Path(job.outputs["receipt"])
    assert not receipt.exists()
    assert stored_names(out / "bucket") == PUBLISHED  # the uploads had succeeded
    assert video_rows(out) == []
    assert raised.value.retryable
    assert [(r["type"], r["video_id"], r["attempt"]) for r in services.recorded] == [
        ("upload", VIDEO, 1)]
    log = "\n".join(record.getMessage() for record in caplog.records)
    assert re.findall(rf"upsert of video {VIDEO} failed \((try \d of \d)\)", log) == [
        "try 1 of 3", "try 2 of 3"]  # and the third try raised

    again, _ = process_job(out, short_clip, attempt=2)
    published = execute(again, load_task("process"), Services())
    assert json.loads(receipt.read_text())["outcome"] == published["outcome"] == "published"
    assert video_rows(out) == [(VIDEO, 1)]


def test_storage_down_leaves_no_row_and_no_receipt(tmp_path, no_secrets, short_clip, gcs_proxy,
                                                   gcs_emulator):
    out = tmp_path / "output"
    job, services = process_job(out, short_clip, storage={"backend": "gcs"})
    gcs_emulator.stop()
    try:
        with pytest.raises(StorageError, match=f"upload of videos/{VIDEO}/metadata.json") \
                as raised:
            execute(job, one_try(), services)
    finally:
        gcs_emulator.start()
    assert raised.value.retryable
    # The proxy answers 502 while the emulator is down, as a load balancer would: three tries.
    assert [seen.status for seen in gcs_proxy.uploads()] == [502, 502, 502]
    assert not Path(job.outputs["receipt"]).exists()
    assert video_rows(out) == []
    assert [(r["type"], r["video_id"]) for r in services.recorded] == [("upload", VIDEO)]
    # What processing made stays for the next attempt.
    assert all(Path(job.outputs[name]).exists() for name in ("transcript", "timestamps", "ocr"))

    again, _ = process_job(out, short_clip, attempt=2, storage={"backend": "gcs"})
    execute(again, load_task("process"), Services())
    assert sorted(gcs_emulator.objects()) == [f"videos/{VIDEO}/{name}" for name in PUBLISHED]
    assert video_rows(out) == [(VIDEO, 1)]
    assert json.loads(Path(job.outputs["receipt"]).read_text())["outcome"] == "published"


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
    receipt = publish(out, make_config(out, database={"backend": "supabase"}), VIDEO)
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
    publish(out, config, VIDEO)  # the row the link refers to
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


# --- a new destination (issue 14, item 11) ------------------------------------------------------
def test_a_new_destination_copies_once_and_a_lost_old_one_is_listed_not_fatal(tmp_path,
                                                                             no_secrets):
    """Published to `a`, then the config names `b`: the video is copied there (objects and
    row). Asked again, nothing is copied, even with `a` gone (`b` holds every object with the
    receipt's md5). With `a` gone and `c` empty, the video is listed as missing and the
    summary goes on."""
    import shutil

    from tiktok_research.publish.republish import publish_to_destination

    out = tmp_path / "output"
    make_processed_video(out, VIDEO, frames=2)
    receipt = publish(out, make_config(out, storage={"local_dir": str(tmp_path / "a")}), VIDEO)
    assert receipt["destination"]["storage"]["where"] == str(tmp_path / "a")

    def to(name: str) -> dict:
        config = make_config(out, storage={"local_dir": str(tmp_path / name)},
                             database={"sqlite_path": str(tmp_path / f"{name}.sqlite")})
        return publish_to_destination(config, {VIDEO: receipt, "7000000000000000099": None})

    first = to("b")
    assert first["copied"] == {VIDEO: {"objects": len(receipt["objects"]), "database": "sqlite",
                                       "prefix": (tmp_path / "b" / "videos" / VIDEO).resolve()
                                       .as_uri() + "/"}}
    for item in receipt["objects"]:
        assert file_md5(tmp_path / "b" / item["key"]) == item["md5"]
    with sqlite3.connect(tmp_path / "b.sqlite") as connection:
        assert connection.execute("SELECT video_id FROM videos").fetchall() == [(VIDEO,)]
    shutil.rmtree(tmp_path / "a")
    assert to("b")["copied"][VIDEO]["objects"] == 0
    lost = to("c")
    assert lost["copied"] == {} and list(lost["missing"]) == [VIDEO]
    assert "not there any more" in lost["missing"][VIDEO]
    unknown = publish_to_destination(make_config(out), {VIDEO: {
        key: value for key, value in receipt.items() if key != "destination"}})
    assert unknown["no_destination_in_receipt"] == [VIDEO] and unknown["copied"] == {}
