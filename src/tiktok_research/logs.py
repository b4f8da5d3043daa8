"""Logging for rule jobs: everything goes to the rule's `log:` file, secrets redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

from tiktok_research.config import redact


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_job_logging(log_path: str | Path | None) -> logging.Logger:
    """Send the package's log records to `log_path` (and stderr when there is no log file)."""
    handler: logging.Handler
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_path, encoding="utf-8")
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("tiktok_research")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    return root


def run_job(log_path: str | Path | None, function: Callable[..., object], *args: object,
            **kwargs: object) -> None:
    """Run one rule job's function: log to the rule's log file; on failure, the traceback goes
    to that log and the terminal gets one line (secrets redacted), then the job exits non-zero.

    The stage functions have already written the failure record; a failing video among
    thousands should read as one line in Snakemake's output, not a traceback.
    """
    logger = setup_job_logging(log_path)
    try:
        function(*args, **kwargs)
    except Exception as error:
        logger.exception("job failed")
        message = redact(" ".join(str(error).split()))[:300] or type(error).__name__
        print(f"tiktok-research: {function.__name__} failed: {message} "
              f"(log: {log_path})", file=sys.stderr)
        sys.exit(1)
