"""Logging for rule jobs: everything goes to the rule's `log:` file, secrets redacted."""

from __future__ import annotations

import logging
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
