"""The GCS emulator (gcp-storage-emulator) in-process, for the real google-cloud-storage client.

`gcs_emulator` starts one server per session on a free port; `gcs_env` points the client at
it (`STORAGE_EMULATOR_HOST`, `GCS_BUCKET`) and empties the bucket before each test. The server
can be stopped and started again on the same port (data on disk survives) to simulate an outage.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from gcp_storage_emulator.server import create_server
from google.cloud import storage

BUCKET = "b"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GcsEmulator:
    def __init__(self) -> None:
        self.port = free_port()
        self.data_dir = Path(tempfile.mkdtemp(prefix="tiktok-gcs-"))
        self._server = None

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GcsEmulator:
        self._server = create_server("127.0.0.1", self.port, in_memory=False,
                                     default_bucket=BUCKET, data_dir=str(self.data_dir))
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def wipe(self) -> None:
        if self._server is not None:
            self._server.wipe(keep_buckets=True)

    def objects(self) -> dict[str, storage.Blob]:
        """Every object in the bucket by name (needs STORAGE_EMULATOR_HOST set)."""
        client = storage.Client()
        return {blob.name: blob for blob in client.list_blobs(BUCKET)}

    def download(self, prefix: str, target: Path) -> Path:
        """Every object under `prefix` as a file of `target`, at its name; `target / prefix`."""
        for name, blob in self.objects().items():
            if name.startswith(prefix):
                path = target / name
                path.parent.mkdir(parents=True, exist_ok=True)
                blob.download_to_filename(path)
        return target / prefix


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[GcsEmulator]:
    emulator = GcsEmulator().start()
    yield emulator
    emulator.stop()
    shutil.rmtree(emulator.data_dir, ignore_errors=True)


@pytest.fixture
def gcs_env(gcs_emulator: GcsEmulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for the client (also for snakemake subprocesses); an empty bucket."""
    if gcs_emulator._server is None:
        gcs_emulator.start()
    gcs_emulator.wipe()
    env = {"STORAGE_EMULATOR_HOST": gcs_emulator.host, "GCS_BUCKET": BUCKET}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
