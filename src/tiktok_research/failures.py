"""`failures.json`: one record per failed attempt, appended safely by concurrent jobs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock

from tiktok_research.config import redact
from tiktok_research.files import atomic_write_json

FAILURE_TYPES = ("search", "download", "process", "validate", "upload", "error")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def one_line(message: object) -> str:
    text = " ".join(str(message).split())
    return redact(text)[:500]


def _redact_details(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_details(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact_details(item) for item in value]
    return value


def make_record(
    failure_type: str,
    error: object,
    *,
    query_index: int | None = None,
    query: str | None = None,
    video_id: str | None = None,
    url: str | None = None,
    attempt: int = 1,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    if failure_type not in FAILURE_TYPES:
        raise ValueError(f"unknown failure type {failure_type!r}")
    record: dict[str, Any] = {
        "timestamp": utc_now(),
        "type": failure_type,
        "query_index": query_index,
        "query": query,
        "attempt": attempt,
        "error": one_line(error),
        "details": _redact_details(details or {}),
    }
    if video_id is not None:
        record["video_id"] = video_id
    if url is not None:
        record["url"] = url
    return record


def failures_path(output_dir: Path | str) -> Path:
    return Path(output_dir) / "failures.json"


def read_failures(output_dir: Path | str) -> list[dict[str, Any]]:
    path = failures_path(output_dir)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    return records if isinstance(records, list) else []


def append_failures(output_dir: Path | str, records: list[dict[str, Any]]) -> None:
    """Append under an exclusive file lock; the array is rewritten atomically."""
    if not records:
        return
    path = failures_path(output_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=120):
        existing = read_failures(output_dir)
        atomic_write_json(path, existing + records)


def record_failure(output_dir: Path | str, failure_type: str, error: object, **fields: Any) -> dict:
    record = make_record(failure_type, error, **fields)
    append_failures(output_dir, [record])
    return record
