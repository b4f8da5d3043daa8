"""Browser slots and the lifetime of Chromium processes.

Each concurrent download holds one slot (`slot-{i}.lock`, i < workers) and that slot's browser
profile directory, which may be wiped between jobs. Chromium runs in its own process group,
started with a parent-death signal, so even a SIGKILLed job leaves no browser behind; a
browser left on a slot's profile by a dead job is killed when the slot is next taken.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import signal
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from tiktok_research.errors import DownloadError
from tiktok_research.procs import command_line

log = logging.getLogger("tiktok_research.download")

SLOT_WAIT_SECONDS = 600
PID_FILE = "browser.pid"


def acquire_slot(profiles_dir: Path, indices: Iterable[int],
                 own_browsers: Callable[[], Collection[int]] = tuple,
                 ) -> tuple[FileLock, Path] | None:
    """Take the first free slot among `indices` (its lock, its profile directory), or None.

    A browser left running on the slot's profile is killed, unless its pid is one of
    `own_browsers()` (the worker's pool keeps its browsers between downloads). That is asked
    once the slot's lock is held: a browser its holder started just before releasing the lock
    is then known (asked before, it was killed as a stranger's in the middle of a download)."""
    profiles_dir.mkdir(parents=True, exist_ok=True)
    for index in indices:
        lock = FileLock(str(profiles_dir / f"slot-{index}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue
        try:
            profile = profiles_dir / f"slot-{index}"
            profile.mkdir(exist_ok=True)
            kill_leftover_browser(profile, spare=own_browsers())
        except BaseException:
            lock.release()
            raise
        return lock, profile
    return None


@contextlib.contextmanager
def browser_slot(profiles_dir: Path, workers: int,
                 wait_seconds: float = SLOT_WAIT_SECONDS) -> Iterator[Path]:
    """Hold a free slot `i < workers` (its lock file) and yield its profile directory."""
    deadline = time.monotonic() + wait_seconds
    while (taken := acquire_slot(profiles_dir, range(workers))) is None:
        if time.monotonic() > deadline:
            raise DownloadError(f"no free browser slot among {workers} after {wait_seconds:.0f} s")
        time.sleep(0.2)
    lock, profile = taken
    try:
        yield profile
    finally:
        lock.release()


def wipe_profiles(profiles_dir: Path) -> None:
    """Delete every slot's browser profile (cookies, cache); held slots are left alone."""
    for profile in sorted(Path(profiles_dir).glob("slot-*")):
        if not profile.is_dir():
            continue
        lock = FileLock(str(profile) + ".lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue
        try:
            shutil.rmtree(profile, ignore_errors=True)
        finally:
            lock.release()


def kill_leftover_browser(profile: Path, spare: Collection[int] = ()) -> None:
    """A browser a dead job left on this slot's profile is killed (with its process group)."""
    pid_file = profile / PID_FILE
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        pid = 0
    if pid and pid in spare:
        return
    if pid and str(profile.resolve()) in command_line(pid):
        log.warning("killing a leftover browser (pid %d) on %s", pid, profile)
        with contextlib.suppress(ProcessLookupError):
            kill_process_group(pid, own_group=os.getpgid(pid) == pid)
    pid_file.unlink(missing_ok=True)
    for name in ("SingletonLock", "SingletonSocket", "SingletonCookie"):
        (profile / name).unlink(missing_ok=True)


def kill_process_group(pid: int, own_group: bool = True) -> None:
    """SIGKILL the browser and its helpers: its process group when the launcher gave it one (the
    group outlives its leader), else the browser process alone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if own_group:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)


def launcher_script(profile: Path, chromium: str) -> Path:
    """A wrapper that starts Chromium in its own process group, killed when its parent dies, with
    the DevTools pipe it is started on (its stdin and stdout) moved to fds 3 and 4, where
    `--remote-debugging-pipe` looks for it (`pipe.PipeBrowser`)."""
    keeper = ""
    if shutil.which("setpriv") is not None and shutil.which("setsid") is not None:
        keeper = "setpriv --pdeathsig KILL -- setsid "
    script = profile.parent / f"{profile.name}.launch.sh"
    text = (f'#!/bin/sh\nexec {keeper}{shlex.quote(chromium)} "$@" '
            '3<&0 4>&1 </dev/null >/dev/null\n')
    if not script.exists() or script.read_text() != text:
        tmp = script.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.replace(script)
    return script
