"""Decoding a downloaded file in a child process, so that the file can hurt that video alone.

(Used by the download's verification and by the process steps; stages register the modules its
children should find imported with `preload`.)

A downloaded video is untrusted input to FFmpeg and OpenCV. Decoded inside the job (or the
persistent worker, where other videos' jobs, the warm models and the browsers live), a crash,
a hang or a runaway allocation on one hostile file would take them all down, again on every
retry. Here the decoding runs in a child forked from a clean server process (multiprocessing's
`forkserver`, which has imported the decoders once), with an address-space limit, and is
waited for up to the step's timeout:

- a child killed by a signal (a decoder crash, or the kernel's OOM killer) is `StepFailed`
  with reason `decoder_crashed`;
- a child still running at the timeout is killed: `StepFailed`, reason `step_timeout`, naming
  the config key;
- an allocation over the limit fails in the child, as an error of the step.

Like a missing audio track, `StepFailed` is a verdict about the file that stands once a second
try confirms it (the video then ends `processing_failed`, and later runs leave it be). A caller
may name another failure for a crash or a timeout (the download's check: `BadVideo`, and the
next source is tried). A `PipelineError` raised in the child is raised again here as the same
class, with its reason, retryability and details.

    frames = run_isolated(write_scene_frames, (video, frames_dir, 20),
                          Limits(600, 4096, "process.timeouts.detect_scenes"), video)
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from tiktok_research.errors import PipelineError, ProcessError, StepFailed

# A test hook, for the fault-injection run: a child decoding a file whose path contains this
# text (`<video id>/video.mp4`: a processing step, not the download's check of its part file)
# kills itself with SIGKILL, as a decoder crash would end it.
CRASH_HOOK = "TIKTOK_RESEARCH_CRASH_DECODER_ON"
_preload: set[str] = set()
JOIN_SECONDS = 10  # for a child that has answered to end

_context: Any = None
_context_lock = threading.Lock()


@dataclass(frozen=True)
class Limits:
    seconds: float  # the step's timeout
    memory_mb: int  # the child's address space; 0 = no limit
    key: str  # the config key of the timeout, named in the failure


def over_time(what: str, limits: Limits,
              failure: type[PipelineError] = StepFailed) -> PipelineError:
    return failure(f"{what} took over {limits.seconds:g} s ({limits.key})",
                   reason="step_timeout", details={"cap": limits.key})


class Deadline:
    """A step's timeout for work in this process that cannot be killed (a warm model's
    inference, an API's replies): checked between its pieces (segments, frames). Running over
    it is a retryable ProcessError, not a verdict: a busy machine or a slow API may be the cause,
    not the file."""

    def __init__(self, what: str, limits: Limits) -> None:
        self.what, self.limits = what, limits
        self.at = time.monotonic() + limits.seconds

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise over_time(self.what, self.limits, ProcessError)


def preload(*modules: str) -> None:
    """Modules the children should find imported (the server imports them once, when it
    starts with the first child)."""
    with _context_lock:
        _preload.update(modules)


def context() -> Any:
    """The forkserver context. Each child first runs this program's main module again, as
    `__mp_main__` (multiprocessing's rule: a main script needs its `__main__` guard); a main run
    with `-m` (the job, the worker) is preloaded too, so that costs milliseconds, not imports."""
    global _context
    with _context_lock:
        if _context is None:
            main = getattr(getattr(sys.modules.get("__main__"), "__spec__", None), "name", None)
            if main and main != "__main__" and not main.endswith(".__main__"):
                _preload.add(main)
            _context = multiprocessing.get_context("forkserver")
            _context.set_forkserver_preload(sorted(_preload))
        return _context


def _child(connection: Connection, function: Callable[..., Any], args: tuple[Any, ...],
           limits: Limits, crash: bool, failure: type[PipelineError]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the child stops
    if limits.memory_mb:
        limit = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # A child is the forkserver's, not its job's: should the job be killed before it, CPU time
    # past the step's timeout ends the child anyway (SIGXCPU, then SIGKILL).
    cpu = int(limits.seconds) + 30
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 10))
    if crash:
        os.kill(os.getpid(), signal.SIGKILL)
    try:
        result: tuple[Any, ...] = ("ok", function(*args))
    except PipelineError as error:
        result = ("error", type(error), str(error), error.reason, error.retryable,
                  error.details)
    except BaseException as error:  # noqa: BLE001 - everything reaches the parent as one line
        # (MemoryError past the address-space limit, an unexpected decoder error): the failure
        # the caller names for this step.
        result = ("error", failure, f"{type(error).__name__}: {error}", "decode_error",
                  failure.default_retryable, {})
    connection.send(result)
    connection.close()


def rebuilt(cls: type[PipelineError], message: str, reason: str, retryable: bool,
            details: dict[str, Any]) -> PipelineError:
    """The child's error as the same class (its own constructor may take other arguments)."""
    error = cls.__new__(cls)
    PipelineError.__init__(error, message, retryable=retryable, reason=reason, details=details)
    return error


def run_isolated(function: Callable[..., Any], args: tuple[Any, ...], limits: Limits,
                 video: Path, failure: type[PipelineError] = StepFailed) -> Any:
    """`function(*args)` in a child process within `limits`: its result, or its error; a crash
    or a timeout is `failure`."""
    ctx = context()
    receive, send = ctx.Pipe(duplex=False)
    crash_on = os.environ.get(CRASH_HOOK, "")  # read here: the children have the server's env
    crash = bool(crash_on) and crash_on in str(video)
    process = ctx.Process(target=_child, args=(send, function, args, limits, crash, failure),
                          daemon=True)
    process.start()
    send.close()
    try:
        if not receive.poll(limits.seconds):  # (a child that died is an end of file: ready)
            raise over_time(f"decoding {Path(video).name}", limits, failure)
        try:
            result = receive.recv()
        except (EOFError, OSError):
            result = None
        process.join(JOIN_SECONDS)
    finally:  # a child over its time, or one that would not end after its answer
        receive.close()
        if process.is_alive():
            process.kill()
        process.join()
    if result is None:
        code = process.exitcode or 0
        how = (f"killed by {signal.Signals(-code).name}" if code < 0
               else f"exit status {code}")
        raise failure(f"the decoder crashed on {Path(video).name} ({how})",
                      reason="decoder_crashed")
    if result[0] == "error":
        raise rebuilt(*result[1:])
    return result[1]
