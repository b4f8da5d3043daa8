"""Logging of jobs: every record of the package goes to the log file of the job it belongs to
(the rule's `log:`), with every secret redacted.

A job's own process logs to its one file. The persistent worker runs several jobs at once, so
the log file is chosen per record from a context variable that `job_log` sets for the job;
asyncio copies the context into the coroutines a job starts on other threads (the browsers'),
so their records follow the job too.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tiktok_research.config import redact

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
PACKAGE_LOGGER = "tiktok_research"

_CURRENT: contextvars.ContextVar[logging.Handler | None] = contextvars.ContextVar(
    "tiktok_research_job_log", default=None)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def file_handler(log_path: str | Path | None) -> logging.Handler:
    handler: logging.Handler
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_path, encoding="utf-8")
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(FORMAT))
    return handler


class _JobRouter(logging.Handler):
    """Each record to the current job's handler; records outside any job to `fallback`."""

    def __init__(self, fallback: logging.Handler) -> None:
        super().__init__()
        self.fallback = fallback

    def emit(self, record: logging.LogRecord) -> None:
        (_CURRENT.get() or self.fallback).handle(record)


def route_package_logs(fallback: str | Path | None = None) -> None:
    """The package's records go to the current job's log (`job_log`), else to `fallback`
    (a file, or stderr)."""
    root = logging.getLogger(PACKAGE_LOGGER)
    root.handlers[:] = [_JobRouter(file_handler(fallback))]
    root.setLevel(logging.INFO)
    root.propagate = False


@contextmanager
def job_log(log_path: str | Path | None) -> Iterator[logging.Handler]:
    """The package's records made in this context go to `log_path` until the block ends."""
    if not any(isinstance(h, _JobRouter) for h in logging.getLogger(PACKAGE_LOGGER).handlers):
        route_package_logs()
    handler = file_handler(log_path)
    token = _CURRENT.set(handler)
    try:
        yield handler
    finally:
        _CURRENT.reset(token)
        handler.close()
