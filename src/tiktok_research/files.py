"""Atomic file writes: a half-written file is never mistaken for a result."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tiktok_research.procs import pid_alive

# mkstemp creates files readable by the owner only; results should get the usual mode.
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temp path beside `path` to write to; renamed over `path` when the block succeeds.

    The temp name carries the writer's pid, so leftovers of a writer that was killed (nothing
    can clean up after SIGKILL) are recognised and removed by the next writer of that file,
    while a live writer's temp file is left alone.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".part",
                                    dir=path.parent)
    os.close(fd)
    temp = Path(tmp_name)
    try:
        yield temp
        os.chmod(temp, 0o666 & ~_UMASK)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    remove_dead_leftovers(path)


def remove_dead_leftovers(path: Path) -> None:
    """Remove temp files of `path` whose writer process no longer exists."""
    for leftover in path.parent.glob(f".{path.name}.*.part"):
        pid = leftover.name[len(path.name) + 2:].split(".", 1)[0]
        if not pid.isdigit() or not pid_alive(int(pid)):
            leftover.unlink(missing_ok=True)


@contextmanager
def folder_replaced(target: Path) -> Iterator[Path]:
    """A scratch folder beside `target` to fill; when the block ends it replaces `target` whole
    (a half-filled folder is never taken for a whole one), and on an error it is removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        yield staging
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write `data` to a temp file beside `path`, fsync it, then rename it over `path`."""
    with atomic_path(path) as temp, temp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path | str, payload: Any) -> None:
    atomic_write_text(path, json.dumps(payload, ensure_ascii=False, indent=2) + "\n")


def read_json(path: Path | str, default: Any = None) -> Any:
    """Parsed JSON of `path`, or `default` when it is missing or not valid JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return default


def set_aside_unreadable(path: Path | str) -> Path | None:
    """A JSON file that cannot be parsed (truncated, hand-edited) moved aside as
    `<name>.unreadable-<UTC time>`, so that what is in it is kept; its new path, or None when
    it parses or is not there."""
    path = Path(path)
    try:
        json.loads(path.read_text(encoding="utf-8"))
        return None
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside = path.with_name(f"{path.name}.unreadable-{stamp}")
        os.replace(path, aside)
        return aside
