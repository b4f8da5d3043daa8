"""Storage backends: the local directory and GCS (real client against gcp-storage-emulator,
through a proxy that can break uploads)."""

from __future__ import annotations

import base64
import hashlib
import shutil
from pathlib import Path

import pytest

from tiktok_research.errors import ChecksumMismatch, MissingSecret, StorageError
from tiktok_research.paths import object_key
from tiktok_research.publish.storage import file_md5, open_storage
from tiktok_research.publish.storage.gcs import GcsStorage
from tiktok_research.publish.storage.local import LocalStorage

BUCKET = "b"  # the emulator bucket of support.gcs (GCS_BUCKET in gcs_env)
pytest_plugins = ["support.gcs", "support.gcs_proxy"]  # the fixtures


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.bin"
    path.write_bytes(bytes(range(256)) * 1000)
    return path


def test_object_key_rejects_non_numeric_ids():
    assert object_key("123", "frames/001_t0.0s.jpg") == "videos/123/frames/001_t0.0s.jpg"
    with pytest.raises(ValueError):
        object_key("../etc", "x")


def test_local_upload_lays_out_like_the_bucket(tmp_path, sample):
    storage = LocalStorage(tmp_path / "bucket")
    stored = storage.upload(sample, "videos/123/frames/001_t0.0s.jpg")
    target = tmp_path / "bucket" / "videos" / "123" / "frames" / "001_t0.0s.jpg"
    assert target.read_bytes() == sample.read_bytes()
    assert stored.uri == target.as_uri()
    assert stored.size == sample.stat().st_size
    assert stored.md5 == md5_b64(sample.read_bytes()) == file_md5(target)
    assert storage.prefix_uri("123") == (tmp_path / "bucket" / "videos" / "123").as_uri() + "/"
    assert not list(target.parent.glob(".*.part"))  # no temp files left behind


def test_local_upload_refuses_keys_outside_the_directory(tmp_path, sample):
    with pytest.raises(StorageError) as caught:
        LocalStorage(tmp_path / "bucket").upload(sample, "../escape.bin")
    assert not caught.value.retryable


def test_local_upload_that_lands_altered_is_a_checksum_mismatch(tmp_path, sample, monkeypatch):
    copy = shutil.copyfile

    def copy_flipping_last_byte(source, target):
        copy(source, target)
        data = bytearray(Path(target).read_bytes())
        data[-1] ^= 0xFF
        Path(target).write_bytes(bytes(data))
        return target

    monkeypatch.setattr(shutil, "copyfile", copy_flipping_last_byte)
    with pytest.raises(ChecksumMismatch, match="videos/123/audio.mp3") as caught:
        LocalStorage(tmp_path / "bucket").upload(sample, "videos/123/audio.mp3")
    assert caught.value.retryable and caught.value.kind == "upload"


def test_open_storage_defaults_to_local(tmp_path):
    storage = open_storage({"storage": {"backend": "local", "local_dir": str(tmp_path)}})
    assert storage.name == "local"


def test_gcs_upload_is_verified_and_lands_at_the_key(gcs_env, gcs_emulator, sample):
    storage = open_storage({"storage": {"backend": "gcs", "gcs_bucket": None}})
    assert storage.prefix_uri("123") == f"gs://{BUCKET}/videos/123/"
    stored = storage.upload(sample, "videos/123/audio.mp3")
    assert stored.uri == f"gs://{BUCKET}/videos/123/audio.mp3"
    assert stored.md5 == md5_b64(sample.read_bytes())
    assert stored.crc32c
    blob = gcs_emulator.objects()["videos/123/audio.mp3"]
    assert blob.md5_hash == stored.md5
    assert blob.download_as_bytes() == sample.read_bytes()


def test_gcs_large_file_uses_resumable_upload(gcs_env, gcs_emulator, tmp_path):
    big = tmp_path / "video.mp4"
    big.write_bytes(hashlib.sha256(b"x").digest() * (9 * 1024 * 1024 // 32))  # > 8 MiB
    stored = open_storage({"storage": {"backend": "gcs"}}).upload(big, "videos/9/video.mp4")
    assert stored.md5 == file_md5(big)
    assert gcs_emulator.objects()["videos/9/video.mp4"].size == big.stat().st_size


def test_gcs_bucket_from_config_when_no_env(gcs_env, monkeypatch):
    monkeypatch.delenv("GCS_BUCKET")
    storage = open_storage({"storage": {"backend": "gcs", "gcs_bucket": BUCKET}})
    assert isinstance(storage, GcsStorage) and storage.bucket_name == BUCKET


def test_gcs_without_bucket_names_the_secret(gcs_env, monkeypatch, tmp_path):
    monkeypatch.delenv("GCS_BUCKET")
    monkeypatch.chdir(tmp_path)  # no .env here
    with pytest.raises(MissingSecret, match="GCS_BUCKET"):
        open_storage({"storage": {"backend": "gcs", "gcs_bucket": None}})


def test_gcs_unknown_bucket_is_not_retryable(gcs_env, sample):
    with pytest.raises(StorageError) as caught:
        GcsStorage("no-such-bucket").upload(sample, "videos/1/audio.mp3")
    assert not caught.value.retryable


def test_gcs_down_is_a_retryable_error(gcs_env, gcs_emulator, sample):
    storage = open_storage({"storage": {"backend": "gcs"}})
    gcs_emulator.stop()
    try:
        with pytest.raises(StorageError) as caught:
            storage.upload(sample, "videos/1/audio.mp3")
        assert caught.value.retryable
    finally:
        gcs_emulator.start()


# What the reply to an upload says when the storage holds other bytes than were sent.
@pytest.mark.parametrize(("field", "other"), [("md5Hash", md5_b64(b"other bytes")),
                                              ("crc32c", "AAAAAA==")], ids=["md5", "crc32c"])
def test_gcs_reply_with_another_checksum_is_a_checksum_mismatch(gcs_proxy, sample, field,
                                                                 other):
    gcs_proxy.misreport(field, other)
    with pytest.raises(ChecksumMismatch, match="videos/1/audio.mp3") as caught:
        open_storage({"storage": {"backend": "gcs"}}).upload(sample, "videos/1/audio.mp3")
    assert caught.value.retryable


def test_gcs_reply_without_md5_is_checked_against_the_stored_object(gcs_proxy, sample):
    gcs_proxy.misreport("md5Hash", None)
    stored = open_storage({"storage": {"backend": "gcs"}}).upload(sample, "videos/1/audio.mp3")
    assert stored.md5 == md5_b64(sample.read_bytes())
    assert [(seen.method, seen.path) for seen in gcs_proxy.seen[-1:]] == [
        ("GET", f"/storage/v1/b/{BUCKET}/o/videos%2F1%2Faudio.mp3")]


def test_gcs_429_is_a_retryable_error_left_to_the_caller(gcs_proxy, sample):
    storage = open_storage({"storage": {"backend": "gcs"}})
    gcs_proxy.fail_uploads(429, times=1)
    with pytest.raises(StorageError, match="429") as caught:
        storage.upload(sample, "videos/1/audio.mp3")
    assert caught.value.retryable
    assert [seen.status for seen in gcs_proxy.uploads()] == [429]  # the client did not retry
    assert storage.upload(sample, "videos/1/audio.mp3").md5 == md5_b64(sample.read_bytes())
    assert [seen.status for seen in gcs_proxy.uploads("videos/1/audio.mp3")] == [429, 200]


def test_objects_come_back_as_stored_from_both_backends(gcs_env, gcs_emulator, tmp_path,
                                                        sample):
    """A new destination copies a finished video's objects from the old one (issue 14, 11):
    each backend gives back the bytes it stored, and a missing object is a final error."""
    from tiktok_research.errors import StorageError
    from tiktok_research.publish.storage import file_md5

    for storage in (LocalStorage(tmp_path / "bucket"), open_storage({"storage": {
            "backend": "gcs"}})):
        stored = storage.upload(sample, "videos/5/audio.mp3")
        copy = tmp_path / f"copy-{storage.name}"
        storage.download("videos/5/audio.mp3", copy)
        assert copy.read_bytes() == sample.read_bytes() and file_md5(copy) == stored.md5
        with pytest.raises(StorageError, match="not there any more") as raised:
            storage.download("videos/5/none.mp3", tmp_path / "none")
        assert not raised.value.retryable
