"""Publishing finished videos to a new destination, without processing them again.

A query's summary (`summarise_query`) has one more output, named by the destination's short
key (`destination.destination_key`): after a switch of bucket, storage backend or database it
is missing, so the summary runs again. Before it publishes the query's links, each published
video whose receipt names another destination is copied to this run's: its objects from where
the receipt says they are, each checked against the receipt's md5, then its row with the new
storage prefix. The output lists what was copied, and the log says so.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from tiktok_research.database import open_database
from tiktok_research.errors import ChecksumMismatch, PublishError, StorageError
from tiktok_research.publish.destination import destination
from tiktok_research.publish.publish import backoff_of, with_retries
from tiktok_research.publish.storage import Storage, file_md5, open_storage
from tiktok_research.records import one_line, utc_now

log = logging.getLogger("tiktok_research.publish")


def source_storage(where: dict[str, str], config: dict[str, Any]) -> Storage:
    """The storage a receipt names, to copy its objects from (built from the receipt alone:
    GCS_BUCKET names this run's bucket, not the old one)."""
    location = where.get("where", "")
    if where.get("backend") == "gcs":
        from tiktok_research.publish.storage.gcs import GcsStorage

        return GcsStorage(location.removeprefix("gs://"))
    return open_storage({"storage": {"local_dir": location}, "output_dir": config["output_dir"]})


def copy_video(video_id: str, receipt: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Copy one published video to the config's destination: each object the destination does
    not hold yet (same key, the receipt's md5) from where the receipt says, checked against the
    receipt's md5; then its row. What was published there."""
    backoff = backoff_of(config)
    target = open_storage(config)
    source: Storage | None = None
    copied = 0
    with tempfile.TemporaryDirectory(prefix=f"tiktok-research-{video_id}-") as scratch:
        for number, item in enumerate(receipt.get("objects") or []):
            key, md5 = str(item["key"]), item.get("md5")
            there = with_retries(lambda k=key: target.stored_md5(k), f"check of {key}", backoff)
            if there is not None and there == md5:
                continue  # copied by an earlier summary, or the same folder moved
            source = source or source_storage(receipt["destination"]["storage"], config)
            local = Path(scratch) / str(number)
            with_retries(lambda k=key, p=local, s=source: s.download(k, p),
                         f"download of {key}", backoff)
            if file_md5(local) != md5:
                raise ChecksumMismatch(f"{key}: the copy at {source.prefix_uri(video_id)} is "
                                       "not what the receipt says was published")
            with_retries(lambda k=key, p=local: target.upload(p, k), f"upload of {key}", backoff)
            local.unlink()
            copied += 1
    # (A receipt written before rows had a post_type is a video's.)
    row = {"post_type": "video", **receipt["row"], "gcs_prefix": target.prefix_uri(video_id)}
    database = with_retries(lambda: open_database(config), "database connection", backoff)
    try:
        with_retries(lambda: database.upsert_video(row), f"upsert of video {video_id}", backoff)
    finally:
        database.close()
    return {"objects": copied, "prefix": row["gcs_prefix"], "database": database.name}


def publish_to_destination(config: dict[str, Any],
                           receipts: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """Publish each video whose receipt names another destination to `config`'s; the note of
    what was copied, what was there already, what could not be (its old objects are gone:
    logged, listed, and left out of the links, not failing the summary) and which receipts name
    no destination (written before receipts did: taken as published here)."""
    here = destination(config)
    copied: dict[str, Any] = {}
    already: list[str] = []
    unknown: list[str] = []
    missing: dict[str, str] = {}
    for video_id, receipt in receipts.items():
        if not isinstance(receipt, dict) or receipt.get("outcome", "published") != "published":
            continue
        there = receipt.get("destination")
        if not isinstance(there, dict):
            unknown.append(video_id)
            continue
        if there == here:
            already.append(video_id)
            continue
        try:
            copied[video_id] = copy_video(video_id, receipt, config)
        except StorageError as error:
            if error.retryable:
                raise
            missing[video_id] = one_line(error)
            log.error("video %s cannot be published to this run's destination: %s (it stays "
                      "published at %s)", video_id, one_line(error), there["storage"]["where"])
            continue
        except PublishError:
            raise
        except Exception as error:  # a fault outside the backends' own errors
            raise PublishError(f"publishing video {video_id} to the new destination failed: "
                               f"{type(error).__name__}: {error}") from error
        log.info("video %s, published to %s before, is now published to %s too", video_id,
                 there["storage"]["where"], here["storage"]["where"])
    if unknown:
        log.warning("%d receipt(s) name no destination (written before receipts did); they are "
                    "taken as published to this run's: %s", len(unknown), ", ".join(unknown))
    return {"destination": here, "copied": copied, "already_there": already,
            "no_destination_in_receipt": unknown, "missing": missing, "checked_at": utc_now()}
