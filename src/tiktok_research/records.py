"""Failure records: one per failed attempt, in the shape `failures.json` documents.

    {"timestamp": "2026-12-02T04:37:54Z", "type": "download", "query_index": 5,
     "query": "tokyo ramen spots", "video_id": "7319...", "url": "https://...",
     "attempt": 2, "error": "one line", "details": {...}}

A record is built here, with every secret redacted, and stored by the runtime (in the run's
database); the run summary writes them all to `failures.json`.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from tiktok_research.config import redact
from tiktok_research.errors import FAILURE_TYPES, PipelineError

ERROR_CHARACTERS = 500


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def one_line(message: object, limit: int = ERROR_CHARACTERS) -> str:
    """`message` on one line, secrets redacted, at most `limit` characters."""
    text = " ".join(str(message).split())
    return redact(text)[:limit] or type(message).__name__


def _redact_details(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(key): _redact_details(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_details(item) for item in value]
    return value


def make_record(failure_type: str, error: object, *, query_index: int | None = None,
                query: str | None = None, video_id: str | None = None, url: str | None = None,
                attempt: int = 1, details: dict[str, Any] | None = None) -> dict[str, Any]:
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


def error_record(error: BaseException, context: dict[str, Any], *, attempt: int,
                 default_type: str) -> dict[str, Any]:
    """The record of a failed attempt: the failure type, reason and details the error carries,
    the query and video fields of `context`."""
    if isinstance(error, PipelineError):
        failure_type = error.kind
        details = {"reason": error.reason, **error.details}
        if error.outcome:
            details["outcome"] = error.outcome
    else:
        failure_type = default_type
        details = {"reason": type(error).__name__}
    fields = {name: context.get(name) for name in ("query_index", "query", "video_id", "url")}
    details.update(context.get("details") or {})
    return make_record(failure_type, error, attempt=attempt, details=details, **fields)


def record_key(record: dict[str, Any]) -> tuple[int, str]:
    """Orders records by when they were made (`seq`, nanoseconds), then by their id."""
    return int(record.get("seq") or 0), str(record.get("id") or "")


def with_identity(record: dict[str, Any]) -> dict[str, Any]:
    """The record with a unique `id` and a `seq` (nanoseconds) for storing and ordering."""
    return {"id": uuid.uuid4().hex, "seq": time.time_ns(), **record}
