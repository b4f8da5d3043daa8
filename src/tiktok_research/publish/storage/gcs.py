"""The `gcs` storage backend: Google Cloud Storage through google-cloud-storage.

The bucket comes from `GCS_BUCKET` (environment or `.env`) or config `storage.gcs_bucket`.
Credentials are Google's application default ones (`GOOGLE_APPLICATION_CREDENTIALS`); with
`STORAGE_EMULATOR_HOST` set the client talks anonymously to an emulator instead. Retries are
left to the caller (publish), so the client's own retry is switched off.
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import google_crc32c
from google.api_core import exceptions as api_exceptions
from google.auth.exceptions import DefaultCredentialsError
from google.cloud import storage

from tiktok_research.config import require_secret, secret
from tiktok_research.errors import ChecksumMismatch, MissingSecret, StorageError
from tiktok_research.publish.storage import StoredObject, file_md5

UPLOAD_TIMEOUT_SECONDS = 120
# The 4xx answer worth another try (429); every other 4xx (403, 404 bucket...) is final.
RETRYABLE_CLIENT_ERRORS = (api_exceptions.TooManyRequests,)


def file_crc32c(path: Path) -> str:
    checksum = google_crc32c.Checksum()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            checksum.update(chunk)
    return base64.b64encode(checksum.digest()).decode("ascii")


class GcsStorage:
    """Objects in one bucket, at `videos/{video_id}/...`."""

    name = "gcs"

    def __init__(self, bucket_name: str, client: storage.Client | None = None) -> None:
        self.bucket_name = bucket_name
        self.client = client or _make_client()
        self.bucket = self.client.bucket(bucket_name)

    @classmethod
    def from_config(cls, settings: dict[str, Any]) -> GcsStorage:
        bucket_name = secret("GCS_BUCKET") or settings.get("gcs_bucket")
        if not bucket_name:
            bucket_name = require_secret("GCS_BUCKET", "the gcs storage backend "
                                         "(or set config storage.gcs_bucket)")
        return cls(bucket_name)

    def prefix_uri(self, video_id: str) -> str:
        return f"gs://{self.bucket_name}/videos/{video_id}/"

    def upload(self, local_path: Path, key: str) -> StoredObject:
        blob = self.bucket.blob(key)
        with storage_errors(f"upload of {key}"):
            blob.upload_from_filename(str(local_path), checksum="md5", retry=None,
                                      timeout=UPLOAD_TIMEOUT_SECONDS)
            if blob.md5_hash is None:
                blob.reload(retry=None, timeout=UPLOAD_TIMEOUT_SECONDS)
        expected_md5 = file_md5(local_path)
        if blob.md5_hash != expected_md5:
            raise ChecksumMismatch(f"{key}: storage md5Hash {blob.md5_hash} != local "
                                   f"{expected_md5}")
        if blob.crc32c is not None and blob.crc32c != file_crc32c(local_path):
            raise ChecksumMismatch(f"{key}: storage crc32c {blob.crc32c} differs from local file")
        return StoredObject(key=key, uri=f"gs://{self.bucket_name}/{key}",
                            size=int(blob.size if blob.size is not None else
                                     local_path.stat().st_size),
                            md5=blob.md5_hash, crc32c=blob.crc32c)


    def stored_md5(self, key: str) -> str | None:
        with storage_errors(f"check of {key}"):
            blob = self.bucket.get_blob(key, retry=None, timeout=UPLOAD_TIMEOUT_SECONDS)
        return blob.md5_hash if blob is not None else None

    def download(self, key: str, local_path: Path) -> None:
        with storage_errors(f"download of {key}"):
            try:
                self.bucket.blob(key).download_to_filename(str(local_path), retry=None,
                                                           timeout=UPLOAD_TIMEOUT_SECONDS)
            except api_exceptions.NotFound:
                missing = True
            else:
                missing = False
        if missing:
            raise StorageError(f"gs://{self.bucket_name}/{key} is not there any more",
                               retryable=False)


@contextlib.contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """The client's errors as StorageError: a 429 and anything not a 4xx (network errors, 5xx,
    resumable-media errors) may pass; every other 4xx is final."""
    try:
        yield
    except RETRYABLE_CLIENT_ERRORS as error:
        raise StorageError(f"{what} failed: {error}") from error
    except api_exceptions.ClientError as error:
        raise StorageError(f"{what} failed: {error}", retryable=False) from error
    except Exception as error:
        raise StorageError(f"{what} failed: {type(error).__name__}: {error}") from error


def _make_client() -> storage.Client:
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        return storage.Client()  # anonymous, against the emulator
    try:
        return storage.Client()
    except (DefaultCredentialsError, OSError) as error:
        raise MissingSecret(
            "GOOGLE_APPLICATION_CREDENTIALS is not set or not usable (environment or .env); "
            f"it is needed for the gcs storage backend ({type(error).__name__})"
        ) from error
