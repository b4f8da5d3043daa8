"""Storage calls that only the workflow tests reached, or none (found by `make mutation`): the
stored checksum a new destination compares against, a download that fails on the way, and a
storage server that accepts the connection and never answers."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tiktok_research.errors import StorageError
from tiktok_research.publish.storage import file_md5, open_storage
from tiktok_research.publish.storage import gcs as gcs_module
from tiktok_research.publish.storage.local import LocalStorage

pytest_plugins = ["support.gcs"]  # the fixtures
KEY = "videos/5/audio.mp3"


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.bin"
    path.write_bytes(bytes(range(256)) * 100)
    return path


def test_the_stored_checksum_is_the_objects_md5_or_none(gcs_env, tmp_path, sample) -> None:
    for storage in (LocalStorage(tmp_path / "bucket"), open_storage({"storage": {
            "backend": "gcs"}})):
        assert storage.stored_md5(KEY) is None
        storage.upload(sample, KEY)
        assert storage.stored_md5(KEY) == file_md5(sample), storage.name
        assert storage.stored_md5("videos/5/other.mp3") is None


def test_a_gcs_check_or_download_that_fails_on_the_way_names_the_object(
        gcs_env, gcs_emulator, tmp_path, sample) -> None:
    storage = open_storage({"storage": {"backend": "gcs"}})
    storage.upload(sample, KEY)
    gcs_emulator.stop()
    try:
        with pytest.raises(StorageError, match=f"^download of {KEY} failed: ") as raised:
            storage.download(KEY, tmp_path / "copy")
        assert raised.value.retryable
        with pytest.raises(StorageError, match=f"^check of {KEY} failed: ") as raised:
            storage.stored_md5(KEY)
        assert raised.value.retryable
    finally:
        gcs_emulator.start()


def test_a_local_copy_that_fails_names_its_source(tmp_path) -> None:
    storage = LocalStorage(tmp_path / "bucket")
    (tmp_path / "bucket" / "videos" / "5" / "audio.mp3").mkdir(parents=True)  # not a file
    with pytest.raises(StorageError, match=r"^copy from .*audio\.mp3 failed: ") as raised:
        storage.download(KEY, tmp_path / "copy")
    assert raised.value.retryable


@pytest.fixture
def silent_server(monkeypatch) -> Iterator[str]:
    """A storage host that accepts connections and never answers a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.setenv("GCS_BUCKET", "b")
    monkeypatch.setattr(gcs_module, "UPLOAD_TIMEOUT_SECONDS", 0.3)
    yield
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def test_a_storage_server_that_never_answers_fails_each_call_after_its_timeout(
        silent_server, tmp_path, sample) -> None:
    """Every call has a deadline and no client-side retry (the caller retries, counted): none
    of them waits forever, or for the client's own retry deadline."""
    storage = open_storage({"storage": {"backend": "gcs"}})
    calls = {"upload": lambda: storage.upload(sample, KEY),
             "check": lambda: storage.stored_md5(KEY),
             "download": lambda: storage.download(KEY, tmp_path / "copy")}
    for name, call in calls.items():
        started = time.monotonic()
        with pytest.raises(StorageError, match=f"^{name} of {KEY} failed: ") as raised:
            call()
        assert time.monotonic() - started < 10, name
        assert raised.value.retryable
