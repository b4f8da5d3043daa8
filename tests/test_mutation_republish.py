"""A new destination (issue 14, item 11) in detail, found by `make mutation`: how a destination
is named and keyed, where a receipt's objects are read from, what is copied and what is left,
each step retried on its own, and what the summary's note and log say."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from pathlib import Path

import pytest
from support.processed import make_config, make_processed_video, publish

from tiktok_research.errors import ChecksumMismatch, PublishError, StorageError
from tiktok_research.publish import republish
from tiktok_research.publish.destination import destination, destination_key, postgres_identity
from tiktok_research.publish.republish import publish_to_destination, source_storage
from tiktok_research.publish.storage import file_md5
from tiktok_research.publish.storage.gcs import GcsStorage
from tiktok_research.publish.storage.local import LocalStorage

pytest_plugins = ["support.gcs"]  # the fixtures
VIDEO = "7319467787859053825"
OTHER = "7319467787859053826"


# --- naming a destination -------------------------------------------------------------------
@pytest.mark.parametrize(("url", "identity"), [
    ("postgresql://user:secret@db.example:6543/study", "postgres://db.example:6543/study"),
    ("hostaddr=10.0.0.7 dbname=study password='two words'", "postgres://10.0.0.7:5432/study"),
    ("postgresql:///", "postgres://localhost:5432/"),
])
def test_a_postgres_database_is_named_by_host_port_and_name(url, identity) -> None:
    assert postgres_identity(url) == identity


def test_a_url_libpq_cannot_read_is_named_by_its_hash() -> None:
    url = "host='never closed"
    assert postgres_identity(url) == (
        "DATABASE_URL sha256:" + hashlib.sha256(url.encode()).hexdigest()[:16])


def test_a_destination_key_stays_the_same_across_versions(monkeypatch) -> None:
    """`published-<key>.json` files of earlier runs are found again only if the key of the same
    destination never changes: it is pinned here."""
    for name in ("GCS_BUCKET", "DATABASE_URL", "SUPABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    config = {"output_dir": "out", "storage": {"backend": "local", "local_dir": "out/bucket"},
              "database": {"backend": "sqlite", "sqlite_path": "out/research.sqlite"}}
    assert destination(config) == {
        "storage": {"backend": "local", "where": "out/bucket"},
        "database": {"backend": "sqlite", "where": "out/research.sqlite"}}
    assert destination_key(config) == "833843abc396"


# --- where a receipt's objects are read from ------------------------------------------------
def test_the_source_is_the_storage_the_receipt_names(gcs_env, tmp_path) -> None:
    config = {"output_dir": str(tmp_path / "out")}
    old = source_storage({"backend": "gcs", "where": "gs://old-bucket"}, config)
    assert isinstance(old, GcsStorage) and old.bucket_name == "old-bucket"
    local = source_storage({"backend": "local", "where": str(tmp_path / "a")}, config)
    assert isinstance(local, LocalStorage) and local.root == tmp_path / "a"
    # A receipt that names no folder: the output folder's bucket, as publishing chose it.
    bare = source_storage({"backend": "local"}, config)
    assert bare.root == tmp_path / "out" / "bucket"


# --- copying --------------------------------------------------------------------------------
@pytest.fixture
def published(tmp_path, monkeypatch):
    """Two videos published to folder `a` and `a.sqlite`; the config of a new destination."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "output"
    receipts = {}
    for video_id in (VIDEO, OTHER):
        make_processed_video(out, video_id, frames=2)
        receipts[video_id] = publish(out, make_config(
            out, storage={"local_dir": str(tmp_path / "a")},
            database={"sqlite_path": str(tmp_path / "a.sqlite")}), video_id)

    def to(name: str) -> dict:
        return make_config(out, storage={"local_dir": str(tmp_path / name)},
                           database={"sqlite_path": str(tmp_path / f"{name}.sqlite")})

    return receipts, to


def rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT video_id, gcs_prefix FROM videos "
                                  "ORDER BY video_id").fetchall()


def test_every_kind_of_receipt_is_handled_in_one_pass(published, tmp_path, caplog,
                                                      monkeypatch) -> None:
    """Receipts in an order where an early `break` would leave later videos behind."""
    receipts, to = published
    monkeypatch.setattr(logging.getLogger("tiktok_research"), "propagate", True)
    here = to("b")
    undecided = {key: value for key, value in receipts[VIDEO].items() if key != "destination"}
    already = {**receipts[OTHER], "destination": destination(here)}
    everything = {"1": None, "2": {"outcome": "unavailable"}, "3": undecided, "4": already,
                  "5": dict(already), "6": dict(undecided), VIDEO: receipts[VIDEO],
                  OTHER: receipts[OTHER]}
    with caplog.at_level(logging.INFO, logger="tiktok_research.publish"):
        note = publish_to_destination(here, everything)
    checked_at = note.pop("checked_at")
    assert checked_at.endswith("Z")
    count = len(receipts[VIDEO]["objects"])
    assert note == {
        "destination": destination(here),
        "copied": {video_id: {"objects": count, "database": "sqlite",
                              "prefix": (tmp_path / "b" / "videos" / video_id).as_uri() + "/"}
                   for video_id in (VIDEO, OTHER)},
        "already_there": ["4", "5"], "no_destination_in_receipt": ["3", "6"], "missing": {}}
    assert rows(tmp_path / "b.sqlite") == [
        (video_id, (tmp_path / "b" / "videos" / video_id).as_uri() + "/")
        for video_id in (VIDEO, OTHER)]
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        f"video {VIDEO}, published to {tmp_path / 'a'} before, is now published to "
        f"{tmp_path / 'b'} too",
        f"video {OTHER}, published to {tmp_path / 'a'} before, is now published to "
        f"{tmp_path / 'b'} too",
        "2 receipt(s) name no destination (written before receipts did); they are taken as "
        "published to this run's: 3, 6"]


def test_only_the_objects_the_new_destination_lacks_or_holds_otherwise_are_copied(
        published, tmp_path) -> None:
    receipts, to = published
    here = to("b")
    publish_to_destination(here, {VIDEO: receipts[VIDEO]})
    objects = receipts[VIDEO]["objects"]
    first, last = (tmp_path / "b" / objects[0]["key"]), (tmp_path / "b" / objects[-1]["key"])
    last.unlink()  # lost
    first.write_bytes(b"another version")  # held, but not what the receipt says
    note = publish_to_destination(here, {VIDEO: receipts[VIDEO]})
    assert note["copied"][VIDEO]["objects"] == 2
    assert file_md5(first) == objects[0]["md5"] and file_md5(last) == objects[-1]["md5"]


def test_a_lost_old_copy_is_listed_and_the_next_video_still_copied(published, tmp_path,
                                                                    caplog, monkeypatch) -> None:
    receipts, to = published
    monkeypatch.setattr(logging.getLogger("tiktok_research"), "propagate", True)
    (tmp_path / "a" / receipts[VIDEO]["objects"][0]["key"]).unlink()
    with caplog.at_level(logging.ERROR, logger="tiktok_research.publish"):
        note = publish_to_destination(to("b"), receipts)
    assert list(note["copied"]) == [OTHER] and list(note["missing"]) == [VIDEO]
    [message] = [record.getMessage() for record in caplog.records]
    assert message == (f"video {VIDEO} cannot be published to this run's destination: "
                       f"{note['missing'][VIDEO]} (it stays published at {tmp_path / 'a'})")
    assert "is not there any more" in message


def test_an_old_copy_that_differs_from_its_receipt_is_refused(published, tmp_path) -> None:
    receipts, to = published
    key = receipts[VIDEO]["objects"][0]["key"]
    (tmp_path / "a" / key).write_bytes(b"changed since")
    with pytest.raises(ChecksumMismatch) as raised:
        publish_to_destination(to("b"), {VIDEO: receipts[VIDEO]})
    prefix = (tmp_path / "a" / "videos" / VIDEO).as_uri() + "/"
    assert str(raised.value) == (f"{key}: the copy at {prefix} is not what the receipt says "
                                 "was published")
    assert not (tmp_path / "b" / key).exists()


def test_a_receipt_without_its_row_is_a_publish_error_naming_the_video(published) -> None:
    receipts, to = published
    broken = {key: value for key, value in receipts[VIDEO].items() if key != "row"}
    with pytest.raises(PublishError) as raised:
        publish_to_destination(to("b"), {VIDEO: broken})
    assert str(raised.value) == (f"publishing video {VIDEO} to the new destination failed: "
                                 "KeyError: 'row'")


def fail_once(monkeypatch, owner: object, name: str) -> None:
    """`owner.name` raises a retryable StorageError on its first call, then works."""
    real, calls = getattr(owner, name), []

    def flaky(*args, **kwargs):
        calls.append(name)
        if len(calls) == 1:
            raise StorageError(f"{name} hiccup")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, flaky)


def test_each_step_of_a_copy_is_retried_on_its_own_and_logged_by_name(published, tmp_path,
                                                                      caplog,
                                                                      monkeypatch) -> None:
    receipts, to = published
    for owner, name in ((LocalStorage, "stored_md5"), (LocalStorage, "download"),
                        (LocalStorage, "upload"), (republish, "open_database")):
        fail_once(monkeypatch, owner, name)
    monkeypatch.setattr(logging.getLogger("tiktok_research"), "propagate", True)
    with caplog.at_level(logging.WARNING, logger="tiktok_research.publish"):
        note = publish_to_destination(to("b"), {VIDEO: receipts[VIDEO]})
    assert note["copied"][VIDEO]["objects"] == len(receipts[VIDEO]["objects"])
    key = receipts[VIDEO]["objects"][0]["key"]
    assert [record.getMessage() for record in caplog.records] == [
        f"check of {key} failed (try 1 of 3), retrying: stored_md5 hiccup",
        f"download of {key} failed (try 1 of 3), retrying: download hiccup",
        f"upload of {key} failed (try 1 of 3), retrying: upload hiccup",
        "database connection failed (try 1 of 3), retrying: open_database hiccup"]


def test_a_row_write_that_fails_once_is_retried_by_name(published, tmp_path, caplog,
                                                        monkeypatch) -> None:
    from tiktok_research.database.sqlite import SqliteDatabase

    receipts, to = published
    fail_once(monkeypatch, SqliteDatabase, "upsert_video")
    monkeypatch.setattr(logging.getLogger("tiktok_research"), "propagate", True)
    with caplog.at_level(logging.WARNING, logger="tiktok_research.publish"):
        publish_to_destination(to("b"), {VIDEO: receipts[VIDEO]})
    assert [record.getMessage() for record in caplog.records] == [
        f"upsert of video {VIDEO} failed (try 1 of 3), retrying: upsert_video hiccup"]
    assert [video_id for video_id, _ in rows(tmp_path / "b.sqlite")] == [VIDEO]
