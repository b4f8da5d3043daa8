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

    def upload(self, local_path: Path, key: str) -> StoredObject:
        target = self.root / key
        if self.root not in target.resolve().parents:
            raise StorageError(f"object key escapes the storage directory: {key!r}",
                               retryable=False)
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
