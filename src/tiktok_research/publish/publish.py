"""Publishing one processed video: its files to the storage, then its row to the database.

Order matters: files first, then the row, and the caller writes the video's receipt last, so
a crash anywhere before the receipt only repeats idempotent work (same object keys, upserts).
Storage and database errors that may pass are retried with exponential backoff (tenacity);
the rest fail at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from tiktok_research.database import LINKS_TABLE, VIDEOS_TABLE, Database, open_database
from tiktok_research.errors import PipelineError
from tiktok_research.files import read_json
from tiktok_research.paths import VIDEO_FILES, object_key
from tiktok_research.publish.destination import destination
from tiktok_research.publish.rows import pick_frames, video_row
from tiktok_research.publish.storage import Storage, StoredObject, open_storage
from tiktok_research.records import utc_now

log = logging.getLogger("tiktok_research.publish")
T = TypeVar("T")

ATTEMPTS = 3
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


def _is_retryable(error: BaseException) -> bool:
    return isinstance(error, PipelineError) and error.retryable


def with_retries(action: Callable[[], T], what: str, backoff_seconds: float) -> T:
    """Run `action`, retrying retryable storage/database errors: 3 tries, backoff b, 2b."""

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning("%s failed (try %d of %d), retrying: %s", what, state.attempt_number,
                    ATTEMPTS, error)

    retrying = Retrying(
        stop=stop_after_attempt(ATTEMPTS),
        wait=wait_exponential(multiplier=backoff_seconds, min=backoff_seconds,
                              max=max(backoff_seconds * 8, 0)),
        retry=retry_if_exception(_is_retryable),
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(action)


def backoff_of(config: dict[str, Any]) -> float:
    return float((config.get("publish") or {}).get("backoff_seconds", 2))


@dataclass(frozen=True)
class PublishedFiles:
    """A processed video's files, by role (`paths.VIDEO_FILES`)."""

    metadata: Path
    transcript: Path
    timestamps: Path
    ocr: Path
    audio: Path
    frames: Path
    video: Path | None = None  # only with include_video
    captions: Path | None = None  # TikTok's caption tracks (`{language}.vtt`), when any
    post_type: str = "video"  # or "photo": a photo post has no audio, no transcript

    def uploads(self, max_frames: int) -> tuple[list[tuple[Path, str]], int]:
        """(local path, name under the video's folder) in upload order, and the frames there
        were to choose from. A photo post's are its metadata, ocr.json and its images as
        frames."""
        roles = (("metadata", "ocr") if self.post_type == "photo" else
                 ("metadata", "transcript", "timestamps", "ocr", "audio"))
        files = [(getattr(self, role), VIDEO_FILES[role]) for role in roles]
        frames = ([path for path in self.frames.iterdir()
                   if path.is_file() and path.suffix.lower() in FRAME_SUFFIXES]
                  if self.frames.is_dir() else [])
        files += [(frame, f"{VIDEO_FILES['frames']}/{frame.name}")
                  for frame in pick_frames(frames, max_frames)]
        if self.captions is not None and self.captions.is_dir():
            files += [(track, f"{VIDEO_FILES['captions']}/{track.name}")
                      for track in sorted(self.captions.glob("*.vtt")) if track.is_file()]
        if self.video is not None:
            files.append((self.video, VIDEO_FILES["video"]))
        return files, len(frames)


def _upload_all(storage: Storage, video_id: str, files: list[tuple[Path, str]],
                backoff_seconds: float) -> list[StoredObject]:
    stored = []
    for local_path, relative in files:
        key = object_key(video_id, relative)
        stored.append(with_retries(lambda p=local_path, k=key: storage.upload(p, k),
                                   f"upload of {key}", backoff_seconds))
        log.info("uploaded %s (%d bytes)", stored[-1].uri, stored[-1].size)
    return stored


def publish_video(video_id: str, files: PublishedFiles, config: dict[str, Any]) -> dict[str, Any]:
    """Upload the video's files, verified, then upsert its `videos` row; what the receipt says
    about where everything went (and the row itself)."""
    if not str(video_id).isdigit():
        raise ValueError(f"not a video id: {video_id!r}")
    started_at = utc_now()
    backoff = backoff_of(config)
    storage = open_storage(config)
    database: Database = with_retries(lambda: open_database(config), "database connection",
                                      backoff)
    try:
        uploads, frames_available = files.uploads(int(config["max_frames"]))
        stored = _upload_all(storage, video_id, uploads, backoff)
        frames_prefix = object_key(video_id, f"{VIDEO_FILES['frames']}/")
        frame_count = sum(obj.key.startswith(frames_prefix) for obj in stored)
        row = video_row(video_id, read_json(files.metadata, {}) or {},
                        files.transcript.read_text(encoding="utf-8"),
                        read_json(files.ocr, {}) or {}, storage.prefix_uri(video_id),
                        frame_count, utc_now(), files.post_type)
        with_retries(lambda: database.upsert_video(row), f"upsert of video {video_id}", backoff)
    finally:
        database.close()
    log.info("published video %s: %d objects, %d of %d frames, row in %s", video_id,
             len(stored), frame_count, frames_available, database.name)
    return {
        "destination": destination(config),
        "storage": {"backend": storage.name, "prefix": row["gcs_prefix"]},
        "objects": [obj.as_dict() for obj in stored],
        "frames": {"available": frames_available, "published": frame_count},
        "database": {"backend": database.name, "table": VIDEOS_TABLE,
                     "key": {"video_id": video_id}},
        "row": row,
        "started_at": started_at,
        "processed_at": row["processed_at"],
        "published_at": utc_now(),
    }


def publish_links(config: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """Upsert `query_videos` rows; the backend's name."""
    backoff = backoff_of(config)
    database: Database = with_retries(lambda: open_database(config), "database connection",
                                      backoff)
    try:
        with_retries(lambda: database.upsert_links(rows), f"{len(rows)} rows of {LINKS_TABLE}",
                     backoff)
        return database.name
    finally:
        database.close()
