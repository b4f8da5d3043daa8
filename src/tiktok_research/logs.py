"""Logging for rule jobs: everything goes to the rule's `log:` file, secrets redacted.

A job process logs to its one file (`setup_job_logging`). The persistent worker runs several
jobs at once in threads, so there each record goes to the log of the job its thread works for
(`job_log`), and a thread that helps a job (a browser's event loop) borrows that job's log
(`log_thread_as_current`).
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tiktok_research.config import redact

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def job_log_handler(log_path: str | Path | None) -> logging.Handler:
    handler: logging.Handler
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_path, encoding="utf-8")
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(FORMAT))
    return handler


def setup_job_logging(log_path: str | Path | None) -> logging.Logger:
    """Send the package's log records to `log_path` (and stderr when there is no log file)."""
    root = logging.getLogger("tiktok_research")
    root.handlers[:] = [job_log_handler(log_path)]
    root.setLevel(logging.INFO)
    return root


class _ThreadRouter(logging.Handler):
    """Each record to the handler of the job its thread works for; others to `fallback`."""

    def __init__(self, fallback: logging.Handler) -> None:
        super().__init__()
        self.routes: dict[int | None, logging.Handler] = {}
        self.fallback = fallback

    def emit(self, record: logging.LogRecord) -> None:
        self.routes.get(record.thread, self.fallback).handle(record)


_ROUTER: _ThreadRouter | None = None


def route_logs_by_thread() -> None:
    """In the worker: package records go to the current job's log (`job_log`), else stderr."""
    global _ROUTER
    fallback = logging.StreamHandler()
    fallback.setFormatter(RedactingFormatter(FORMAT))
    _ROUTER = _ThreadRouter(fallback)
    root = logging.getLogger("tiktok_research")
    root.handlers[:] = [_ROUTER]
    root.setLevel(logging.INFO)


@contextmanager
def job_log(log_path: str | Path | None) -> Iterator[logging.Handler]:
    """This thread's package records go to `log_path` until the block ends."""
    handler = job_log_handler(log_path)
    ident = threading.get_ident()
    if _ROUTER is not None:
        _ROUTER.routes[ident] = handler
    try:
        yield handler
    finally:
        if _ROUTER is not None:
            _ROUTER.routes.pop(ident, None)
        handler.close()


@contextmanager
def log_thread_as_current(thread: threading.Thread) -> Iterator[None]:
    """`thread`'s records go where this thread's go, until the block ends (no-op outside the
    worker)."""
    router = _ROUTER
    if router is None or threading.get_ident() not in router.routes or thread.ident is None:
        yield
        return
    router.routes[thread.ident] = router.routes[threading.get_ident()]
    try:
        yield
    finally:
        router.routes.pop(thread.ident, None)


def one_line(error: BaseException) -> str:
    return redact(" ".join(str(error).split()))[:300] or type(error).__name__


def resolve_function(function: Callable[..., object] | str) -> Callable[..., object]:
    """A function, or one named `package.module:function` (imported only when it runs here)."""
    if callable(function):
        return function
    module, _, name = function.partition(":")
    return getattr(importlib.import_module(module), name)


def run_job(log_path: str | Path | None, function: Callable[..., object] | str, *args: object,
            worker: bool = False, **kwargs: object) -> None:
    """Run one rule job's function: log to the rule's log file; on failure, the traceback goes
    to that log and the terminal gets one line (secrets redacted), then the job exits non-zero.

    With `worker`, the function runs in the persistent worker (`tiktok_research.worker`),
    which keeps models and browsers loaded between jobs; the result is the same. Naming the
    function as `module:function` spares the job importing the stage when the worker runs it.

    The stage functions have already written the failure record; a failing video among
    thousands should read as one line in Snakemake's output, not a traceback.
    """
    logger = setup_job_logging(log_path)
    name = function if isinstance(function, str) else f"{function.__module__}:{function.__name__}"
    try:
        if worker:
            from tiktok_research.worker import run_in_worker

            run_in_worker(log_path, name, *args, **kwargs)
        else:
            resolve_function(function)(*args, **kwargs)
    except Exception as error:
        logger.exception("job failed")
        print(f"tiktok-research: {name.rpartition(':')[2]} failed: {one_line(error)} "
              f"(log: {log_path})", file=sys.stderr)
        sys.exit(1)
