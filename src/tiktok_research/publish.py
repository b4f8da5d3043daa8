"""The publish stage: validate a processed video, upload its files, upsert its row, receipt.

Order matters (SPEC §5.4): files to storage, then the database row and its query links, then
the `.uploaded` receipt, written last and atomically. A crash anywhere before the receipt only
repeats idempotent work (same object keys, upserts). Storage and database errors are retried
with exponential backoff; a failure is recorded in `failures.json` and re-raised so that
Snakemake's `--retries` and `--keep-going` take over.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
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
from tiktok_research.failures import record_failure, utc_now
from tiktok_research.files import atomic_write_json, read_json
from tiktok_research.storage import Storage, StoredObject, open_storage, video_key
from tiktok_research.validate import validate_outputs
from tiktok_research.workflow_support import queries_for_video

log = logging.getLogger("tiktok_research.publish")
T = TypeVar("T")

ATTEMPTS = 3
RECEIPT_NAME = ".uploaded"
# Input name → object name, in upload order (frames and the video are added separately).
PUBLISHED_FILES = {
    "meta": "metadata.json",
    "transcript": "transcript.txt",
    "timestamps": "transcript_timestamps.json",
    "ocr": "ocr.json",
    "audio": "audio.mp3",
}
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


class ValidationFailed(RuntimeError):
    """The processed files of a video are not fit to publish."""


# --- pure helpers ---------------------------------------------------------------------------
def pick_frames(frames: list[Path], max_frames: int) -> list[Path]:
    """At most `max_frames` frames in time order: the first one plus an even spread of the rest.

    Frame names start with their scene index (`001_t0.0s.jpg`), so name order is time order.
    """
    ordered = sorted(frames, key=lambda path: path.name)
    if len(ordered) <= max_frames:
        return ordered
    if max_frames <= 1:
        return ordered[:max_frames]
    last = len(ordered) - 1
    # Evenly spaced indices from the first to the last frame; distinct since last >= max_frames.
    indices = [round(i * last / (max_frames - 1)) for i in range(max_frames)]
    return [ordered[index] for index in indices]


def ocr_text(ocr: dict[str, Any]) -> str:
    """The frames' text joined in time order (one line per frame item)."""
    items = [item for item in ocr.get("items") or [] if isinstance(item, dict)]
    items.sort(key=lambda item: (float(item.get("t") or 0.0), str(item.get("frame") or "")))
    texts = (str(item.get("text") or "").strip() for item in items)
    return "\n".join(text for text in texts if text)


def video_row(video_id: str, metadata: dict[str, Any], transcript: str, ocr: dict[str, Any],
              gcs_prefix: str, frame_count: int, processed_at: str) -> dict[str, Any]:
    """The `videos` row (SPEC §4)."""
    author = metadata.get("author")
    if isinstance(author, dict):  # tolerate a raw TikTok author object
        author = author.get("uniqueId")
    title = metadata.get("title") or metadata.get("caption") or metadata.get("desc")
    return {
        "video_id": video_id,
        "url": metadata.get("url"),
        "author": author,
        "title": title,
        "transcript": transcript.strip(),
        "ocr_text": ocr_text(ocr),
        "gcs_prefix": gcs_prefix,
        "frame_count": frame_count,
        "processed_at": processed_at,
    }


def link_rows(video_id: str, queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`query_videos` rows for every query that found the video."""
    return [{"query_index": query["query_index"], "query": query["query"], "video_id": video_id,
             "position": query.get("position")}
            for query in queries if query.get("query_index") is not None and query.get("query")]


def validation_problems(paths: dict[str, Path], min_transcript_chars: int) -> list[str]:
    """The process stage's validation (SPEC §5.3), on the publish rule's inputs."""
    return list(validate_outputs(paths, min_transcript_chars))


# --- retries --------------------------------------------------------------------------------
def _is_retryable(error: BaseException) -> bool:
    return bool(getattr(error, "retryable", False))


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


# --- the stage ------------------------------------------------------------------------------
def _upload_all(storage: Storage, video_id: str, files: list[tuple[Path, str]],
                backoff_seconds: float) -> list[StoredObject]:
    stored = []
    for local_path, relative in files:
        key = video_key(video_id, relative)
        stored.append(with_retries(lambda p=local_path, k=key: storage.upload(p, k),
                                   f"upload of {key}", backoff_seconds))
        log.info("uploaded %s (%d bytes)", stored[-1].uri, stored[-1].size)
    return stored


def files_to_publish(inputs: dict[str, Path], max_frames: int,
                     include_video: bool) -> tuple[list[tuple[Path, str]], int]:
    """(local path, name under the video's folder) in upload order, and the frames available."""
    files = [(inputs[name], object_name) for name, object_name in PUBLISHED_FILES.items()]
    frames_dir = inputs.get("frames")
    frames = ([path for path in frames_dir.iterdir()
               if path.is_file() and path.suffix.lower() in FRAME_SUFFIXES]
              if frames_dir is not None and frames_dir.is_dir() else [])
    files += [(frame, f"frames/{frame.name}") for frame in pick_frames(frames, max_frames)]
    if include_video and inputs.get("video") is not None:
        files.append((inputs["video"], "video.mp4"))
    return files, len(frames)


def run_publish(video_id: str, config: dict[str, Any], *, inputs: dict[str, Any],
                receipt_path: str | Path, attempt: int = 1) -> dict[str, Any]:
    """Publish one video and write its receipt; on failure record it and re-raise."""
    if not str(video_id).isdigit():
        raise ValueError(f"not a video id: {video_id!r}")
    started_at = utc_now()
    output_dir = config["output_dir"]
    paths = {name: Path(path) for name, path in inputs.items()}
    backoff = float((config.get("publish") or {}).get("backoff_seconds", 2))
    queries = queries_for_video(output_dir, video_id)
    first_query = queries[0] if queries else {}
    fields = {"video_id": video_id, "query_index": first_query.get("query_index"),
              "query": first_query.get("query"), "attempt": attempt}

    problems = validation_problems(paths, int(config.get("min_transcript_chars", 3)))
    if problems:
        error = ValidationFailed(f"video {video_id} failed validation: {'; '.join(problems)}")
        record_failure(output_dir, "validate", error, details={"problems": problems}, **fields)
        log.error("%s", error)
        raise error

    database: Database | None = None
    try:
        storage = open_storage(config)
        database = with_retries(lambda: open_database(config), "database connection", backoff)
        files, frames_available = files_to_publish(paths, int(config["max_frames"]),
                                                   bool(config.get("include_video")))
        stored = _upload_all(storage, video_id, files, backoff)
        frame_count = sum(obj.key.startswith(video_key(video_id, "frames/")) for obj in stored)
        row = video_row(
            video_id,
            read_json(paths["meta"], {}) or {},
            paths["transcript"].read_text(encoding="utf-8"),
            read_json(paths["ocr"], {}) or {},
            storage.prefix_uri(video_id),
            frame_count,
            utc_now(),
        )
        links = link_rows(video_id, queries)
        with_retries(lambda: database.upsert_video(row), f"upsert of video {video_id}", backoff)
        with_retries(lambda: database.upsert_links(links), f"links of video {video_id}", backoff)
    except Exception as error:
        record_failure(output_dir, "upload", error,
                       details={"stage": "publish", "error_type": type(error).__name__}, **fields)
        log.error("publishing video %s failed: %s", video_id, error)
        raise
    finally:
        if database is not None:
            database.close()

    receipt = {
        "video_id": video_id,
        "storage": {"backend": storage.name, "prefix": row["gcs_prefix"]},
        "objects": [obj.as_dict() for obj in stored],
        "frames": {"available": frames_available, "published": frame_count},
        "database": {
            "backend": database.name,
            "table": VIDEOS_TABLE,
            "key": {"video_id": video_id},
            "links_table": LINKS_TABLE,
            "links": [{k: link[k] for k in ("query_index", "query", "position")}
                      for link in links],
        },
        "attempt": attempt,
        "started_at": started_at,
        "processed_at": row["processed_at"],
        "published_at": utc_now(),
    }
    atomic_write_json(receipt_path, receipt)
    log.info("published video %s: %d objects, %d of %d frames, row in %s", video_id,
             len(stored), frame_count, frames_available, database.name)
    return receipt


def run_link_query(query: dict[str, Any], config: dict[str, Any], *, urls_path: str | Path,
                   links_path: str | Path) -> dict[str, Any]:
    """Upsert the link rows of one query's published videos and write `links.json`."""
    output_dir = Path(config["output_dir"])
    backoff = float((config.get("publish") or {}).get("backoff_seconds", 2))
    entries = json.loads(Path(urls_path).read_text(encoding="utf-8"))
    published, not_published = [], []
    for entry in entries:
        video_id = str(entry.get("video_id", ""))
        if not video_id.isdigit():
            continue
        receipt = read_json(output_dir / "videos" / video_id / RECEIPT_NAME)
        if isinstance(receipt, dict):
            published.append({"video_id": video_id, "position": entry.get("position"),
                              "gcs_prefix": (receipt.get("storage") or {}).get("prefix")})
        else:
            not_published.append(video_id)
    rows = [{"query_index": query["index"], "query": query["query"], "video_id": item["video_id"],
             "position": item["position"]} for item in published]
    database: Database | None = None
    try:
        database = with_retries(lambda: open_database(config), "database connection", backoff)
        with_retries(lambda: database.upsert_links(rows), f"links of query {query['index']}",
                     backoff)
    except Exception as error:
        record_failure(output_dir, "upload", error, query_index=query["index"],
                       query=query["query"], details={"stage": "link"})
        log.error("linking query %r failed: %s", query["query"], error)
        raise
    finally:
        if database is not None:
            database.close()
    result = {"query_index": query["index"], "query": query["query"], "table": LINKS_TABLE,
              "links": published, "not_published": not_published, "linked_at": utc_now()}
    atomic_write_json(links_path, result)
    log.info("query %r: %d videos linked, %d not published", query["query"], len(published),
             len(not_published))
    return result
