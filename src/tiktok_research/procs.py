"""Processes by pid and start time: pids are reused, so a pid alone does not name a process."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def process_start(pid: int | None) -> str | None:
    """The start time (clock ticks after boot) of a live process, None once it has exited
    (a zombie too)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def process_name(pid: int) -> str | None:
    """`host:pid-starttime` of a live process."""
    start = process_start(pid)
    return f"{socket.gethostname()}:{pid}-{start}" if start else None


def named_process_alive(name: str) -> bool:
    """Whether the process named by `process_name` lives; True when it is on another host
    (a cluster job), where this one cannot tell."""
    host, _, process = name.rpartition(":")
    if host != socket.gethostname():
        return True
    pid = process.partition("-")[0]
    return pid.isdigit() and process_name(int(pid)) == name


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
