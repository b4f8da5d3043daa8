"""Storage backends: where published files go, behind one small protocol.

A backend is chosen by name from config `storage.backend` (`local` or `gcs`); adding one is one
new module with a class that satisfies `Storage`. Every backend lays objects out the same way,
`videos/{video_id}/...`, and verifies each upload against the checksum the storage reports.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from tiktok_research.paths import OutputTree


@dataclass(frozen=True)
class StoredObject:
    """One uploaded, verified object."""

    key: str  # videos/{video_id}/frames/001_t0.0s.jpg
    uri: str  # gs://bucket/videos/... or file:///.../videos/...
    size: int
    md5: str  # base64, as GCS reports md5Hash
    crc32c: str | None = None  # base64, when the storage reports one

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Storage(Protocol):
    """What publishing needs from a storage backend."""

    name: str

    def prefix_uri(self, video_id: str) -> str:
        """The URI of the video's folder, e.g. `gs://bucket/videos/{video_id}/`."""
        ...

    def upload(self, local_path: Path, key: str) -> StoredObject:
        """Upload one file to `key`, verify the stored checksum, return what was stored."""
        ...

    def stored_md5(self, key: str) -> str | None:
        """The md5 (base64) of the object `key`, or None when there is none."""
        ...

    def download(self, key: str, local_path: Path) -> None:
        """Copy the object `key` to `local_path` (publishing to another destination copies a
        finished video's objects from where its receipt says they are)."""
        ...


def file_md5(path: Path) -> str:
    """The base64 MD5 of a file, in the form GCS reports it (`md5Hash`)."""
    with open(path, "rb") as handle:
        digest = hashlib.file_digest(handle, "md5").digest()
    return base64.b64encode(digest).decode("ascii")


def open_storage(config: dict[str, Any]) -> Storage:
    """The backend named by `storage.backend`; a missing secret raises MissingSecret."""
    settings = config.get("storage") or {}
    backend = settings.get("backend", "local")
    if backend == "local":
        from tiktok_research.publish.storage.local import LocalStorage

        return LocalStorage(Path(settings.get("local_dir")
                                 or OutputTree(config.get("output_dir", "output")).bucket()))
    if backend == "gcs":
        from tiktok_research.publish.storage.gcs import GcsStorage

        return GcsStorage.from_config(settings)
    raise ValueError(f"unknown storage backend {backend!r}")
