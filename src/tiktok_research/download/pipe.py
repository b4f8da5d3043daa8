"""Chromium's DevTools over a pipe: no port another local user could reach.

With `--remote-debugging-port`, Chromium listens on 127.0.0.1 and answers anyone on the
machine: another user could open `file:///…/.env` in the run's browser and read it back (issue
14). With `--remote-debugging-pipe` it reads DevTools commands from its fd 3 and writes replies
and events to its fd 4, NUL-terminated JSON, so only the process holding the other ends (this
one) can drive it. Puppeteer and Playwright start Chromium this way.

zendriver speaks DevTools over a websocket only. `PipeBrowser` is its `Browser` started on a
pipe instead: `CdpPipe` has the three calls zendriver makes of a websocket (`send`, `recv`,
`close`), and a closed pipe raises the websocket's `ConnectionClosed`, which zendriver already
handles as a browser gone. Every tab is a flat session on the browser's one connection (as
zendriver 0.17 does over a websocket too), so nothing else needs a connection of its own.

    browser = await PipeBrowser.create(zendriver.Config(...))
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
from pathlib import Path

import zendriver
from websockets.exceptions import ConnectionClosed
from zendriver import cdp
from zendriver.core._contradict import ContraDict
from zendriver.core.connection import Connection

log = logging.getLogger("tiktok_research.download")

PIPE_FLAG = "--remote-debugging-pipe"
PIPE_URL = "pipe://chromium"  # what zendriver shows as the connection's address
# A fetched reply comes back as one base64 message: room for a whole 200 of the default
# tiktok.max_video_bytes (512 MiB, 683 MiB as base64). A longer message ends the connection
# (ConnectionClosed: the try fails and is retried), rather than jam the buffer.
MESSAGE_LIMIT = 768 * 1024 * 1024
START_SECONDS = 30.0  # Chromium's first answer on the pipe


class CdpPipe:
    """The pipe pair to one Chromium, with the calls zendriver makes of its websocket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 read_transport: asyncio.BaseTransport) -> None:
        self.reader = reader
        self.writer = writer
        self.read_transport = read_transport

    @classmethod
    async def open(cls, to_chromium: int, from_chromium: int) -> CdpPipe:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MESSAGE_LIMIT)
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader),
            os.fdopen(from_chromium, "rb", buffering=0))
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(to_chromium, "wb", buffering=0))
        return cls(reader, asyncio.StreamWriter(transport, protocol, None, loop), read_transport)

    async def send(self, message: str) -> None:
        if self.writer.is_closing():
            raise ConnectionClosed(None, None)
        try:
            self.writer.write(message.encode() + b"\0")
            await self.writer.drain()
        except (ConnectionError, RuntimeError) as error:
            raise ConnectionClosed(None, None) from error

    async def recv(self) -> str:
        """The next message. Safe to cancel (zendriver's listener does, every 0.1 s when idle):
        a message is taken from the buffer only once it is whole."""
        try:
            message = await self.reader.readuntil(b"\0")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as error:
            # A message over MESSAGE_LIMIT cannot be read whole: the connection is of no more
            # use (the rest of it would be read as the next message).
            self.close_now()
            raise ConnectionClosed(None, None) from error
        return message[:-1].decode()

    def close_now(self) -> None:
        self.writer.close()
        self.read_transport.close()

    async def close(self) -> None:
        """Closes at once, without yielding: zendriver has asked its listener to stop and sets
        its websocket to None right after this returns; a listener that ran in between would
        find no connection and die with "no websocket connection"."""
        self.close_now()


class PipeBrowser(zendriver.Browser):
    """zendriver's Browser on Chromium's DevTools pipe rather than a port.

    The browser executable is started with the pipe on its stdin and stdout, and must move them
    to fds 3 and 4 (`slots.launcher_script` does); its stderr goes to `<profile>.stderr.log`."""

    async def start(self) -> PipeBrowser:  # type: ignore[override]
        config = self.config
        arguments = [argument for argument in config()
                     if not argument.startswith("--remote-debugging-")]
        commands_read, commands_write = os.pipe()
        replies_read, replies_write = os.pipe()
        stderr_path = Path(str(config.user_data_dir) + ".stderr.log")
        try:
            with open(stderr_path, "wb") as stderr:
                self._process = subprocess.Popen(
                    [str(config.browser_executable_path), *arguments, PIPE_FLAG, "about:blank"],
                    stdin=commands_read, stdout=replies_write, stderr=stderr, close_fds=True)
        except BaseException:
            os.close(commands_write)
            os.close(replies_read)
            raise
        finally:  # Chromium's ends, whether or not it started
            os.close(commands_read)
            os.close(replies_write)
        self._process_pid = self._process.pid
        pipe = await CdpPipe.open(commands_write, replies_read)
        self.info = ContraDict({"webSocketDebuggerUrl": PIPE_URL}, silent=True)
        self.connection = Connection(PIPE_URL, _owner=self)
        self.connection.websocket = pipe  # type: ignore[assignment]
        try:
            await asyncio.wait_for(self._first_contact(), START_SECONDS)
        except BaseException as error:
            # Killed first: a Chromium that does not answer would not answer zendriver's
            # Browser.close either.
            with contextlib.suppress(OSError):
                self._process.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.stop(), 10)
            if not isinstance(error, Exception):  # a cancellation or an interrupt stays one
                raise
            tail = stderr_path.read_text(errors="replace")[-500:].strip()
            raise RuntimeError(f"Chromium did not answer on its DevTools pipe ({error!r}); "
                               f"its stderr ends: {tail or '(nothing)'}") from error
        return self

    async def _first_contact(self) -> None:
        """What zendriver's own start does once connected: follow the targets, find the first
        tab."""
        assert self.connection is not None
        handlers = self.connection.handlers
        for event in (cdp.target.TargetInfoChanged, cdp.target.TargetCreated,
                      cdp.target.TargetDestroyed, cdp.target.TargetCrashed):
            handlers[event] = [self._handle_target_update]
        await self.connection.send(cdp.target.set_discover_targets(discover=True))
        await self.update_targets()
        await self._wait_for_initial_tab()

    async def test_connection(self) -> bool:
        """A pipe has no HTTP endpoint to ask: connected while Chromium runs."""
        return self._process is not None and self._process.poll() is None

