"""The `local` storage backend: a directory laid out exactly like the bucket."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from tiktok_research.storage import ChecksumMismatch, StorageError, StoredObject, file_md5


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
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part",
                                            dir=target.parent)
            os.close(fd)
            try:
                shutil.copyfile(local_path, tmp_name)
                os.replace(tmp_name, target)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
            # Copies left half-done by a killed job (nothing can clean up after SIGKILL).
            for leftover in target.parent.glob(f".{target.name}.*.part"):
                leftover.unlink(missing_ok=True)
        except OSError as error:
            raise StorageError(f"copy to {target} failed: {error}") from error
        # What the storage now holds, read back, against the source.
        expected, stored = file_md5(local_path), file_md5(target)
        if stored != expected:
            raise ChecksumMismatch(f"{key}: stored md5 {stored} != local md5 {expected}")
        return StoredObject(key=key, uri=target.as_uri(), size=target.stat().st_size, md5=stored)
