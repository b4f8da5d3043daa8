"""The `local` storage backend: a directory laid out exactly like the bucket."""

from __future__ import annotations

import shutil
from pathlib import Path

from tiktok_research.errors import ChecksumMismatch, StorageError
from tiktok_research.files import atomic_path
from tiktok_research.publish.storage import StoredObject, file_md5


class LocalStorage:
    """Objects are files under `root` (`root/videos/{video_id}/...`), copied atomically."""

    name = "local"

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()

    def prefix_uri(self, video_id: str) -> str:
        return (self.root / "videos" / video_id).as_uri() + "/"

    def _path(self, key: str) -> Path:
        """Where the object `key` is, which must be inside the storage directory."""
        path = self.root / key
        if self.root not in path.resolve().parents:
            raise StorageError(f"object key escapes the storage directory: {key!r}",
                               retryable=False)
        return path

    def upload(self, local_path: Path, key: str) -> StoredObject:
        target = self._path(key)
        try:
            with atomic_path(target) as temp:
                shutil.copyfile(local_path, temp)
        except OSError as error:
            raise StorageError(f"copy to {target} failed: {error}") from error
        # What the storage now holds, read back, against the source.
        expected, stored = file_md5(local_path), file_md5(target)
        if stored != expected:
            raise ChecksumMismatch(f"{key}: stored md5 {stored} != local md5 {expected}")
        return StoredObject(key=key, uri=target.as_uri(), size=target.stat().st_size, md5=stored)

    def stored_md5(self, key: str) -> str | None:
        path = self._path(key)
        return file_md5(path) if path.is_file() else None

    def download(self, key: str, local_path: Path) -> None:
        source = self._path(key)
        try:
            shutil.copyfile(source, local_path)
        except FileNotFoundError as error:
            raise StorageError(f"{source} is not there any more", retryable=False) from error
        except OSError as error:
            raise StorageError(f"copy from {source} failed: {error}") from error
