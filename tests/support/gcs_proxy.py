"""An HTTP proxy in front of the GCS emulator that counts requests and can break uploads.

`gcs_proxy` points `STORAGE_EMULATOR_HOST` at the proxy, so the real google-cloud-storage
client talks to the emulator through it. Every request is recorded (`seen`). Each upload is
forwarded as it came, unless the test has asked for a fault:

- `fail_uploads(status, times)`: the next `times` uploads get `status` with the JSON error
  body GCS sends, and never reach the emulator (a 429, a 503);
- `misreport(field, value)`: the emulator stores the upload, but the reply reports `field`
  (`md5Hash`, `crc32c`) as `value`, or without it when `value` is None: what a storage
  holding other bytes than were sent would answer.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx
import pytest

# Headers that belong to one connection, or that no longer fit once the body is re-sent.
NOT_FORWARDED = {"connection", "keep-alive", "transfer-encoding", "content-length",
                 "content-encoding", "host"}
OBJECT_NAME = re.compile(rb'"name"\s*:\s*"([^"]+)"')


@dataclass(frozen=True)
class Seen:
    """One request as the proxy received it."""

    method: str
    path: str
    status: int
    name: str | None  # the object an upload was for, from its metadata

    @property
    def is_upload(self) -> bool:
        return self.path.startswith("/upload/")


class GcsProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.seen: list[Seen] = []
        self._failures: list[int] = []
        self._misreported: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=upstream, timeout=30)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> GcsProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def fail_uploads(self, status: int, times: int) -> None:
        with self._lock:
            self._failures = [status] * times

    def misreport(self, field: str, value: str | None) -> None:
        with self._lock:
            self._misreported[field] = value

    def uploads(self, name: str | None = None) -> list[Seen]:
        """The upload requests seen, all or those for one object."""
        return [seen for seen in self.seen
                if seen.is_upload and (name is None or seen.name == name)]

    def _answer(self, method: str, path: str, headers: dict[str, str],
                body: bytes) -> tuple[int, dict[str, str], bytes]:
        upload = path.startswith("/upload/")
        with self._lock:
            failure = self._failures.pop(0) if upload and self._failures else None
            misreported = dict(self._misreported) if upload else {}
        if failure is not None:
            error = {"error": {"code": failure, "message": f"injected {failure}",
                               "errors": [{"message": f"injected {failure}"}]}}
            return failure, {"content-type": "application/json"}, json.dumps(error).encode()
        try:
            reply = self._client.request(method, path, headers=headers, content=body)
        except httpx.TransportError as error:
            return 502, {"content-type": "text/plain"}, str(error).encode()
        content = reply.content
        if misreported and reply.is_success and content:
            document = json.loads(content)
            for field, value in misreported.items():
                if value is None:
                    document.pop(field, None)
                else:
                    document[field] = value
            content = json.dumps(document).encode()
        kept = {name: value for name, value in reply.headers.items()
                if name.lower() not in NOT_FORWARDED}
        return reply.status_code, kept, content

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {name: value for name, value in self.headers.items()
                           if name.lower() not in NOT_FORWARDED}
                status, reply_headers, content = proxy._answer(self.command, self.path,
                                                               headers, body)
                name = OBJECT_NAME.search(body)
                proxy.seen.append(Seen(self.command, urlsplit(self.path).path, status,
                                       name.group(1).decode() if name else None))
                self.send_response(status)
                for header, value in reply_headers.items():
                    self.send_header(header, value)
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

        return Handler


@pytest.fixture
def gcs_proxy(gcs_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[GcsProxy]:
    """A proxy in front of the emulator (an empty bucket), with the client pointed at it."""
    proxy = GcsProxy(gcs_env["STORAGE_EMULATOR_HOST"]).start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.host)
    yield proxy
    proxy.stop()
