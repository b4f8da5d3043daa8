"""The fake web's HTTP machinery: requests, responses, injected faults, and the threaded server
that dispatches each request to the services it was given (`server.FakeWeb` gives it all).

Each service is a module with `handle(web, request) -> Response | None`; the first one that
answers wins. Faults are injected per service (`web.fail(...)`), from Python in tests or over
HTTP (`POST /_fake/fail`) from another process, and every request is recorded.

`web.add_listener("127.0.0.2")` makes the same site answer on a second loopback address too
(`web.second_host`, e.g. TikTok's short-link host), with the same services and state. Requests
are routed on their path, and a request target in absolute form (`GET http://host/path`, what
an HTTP client sends to a proxy) is served like `GET /path` with `request.host` = `host`: the
fake web can stand in as the plain-HTTP proxy of a client (`HTTP_PROXY=http://127.0.0.1:PORT`)
and so answer for host names such as vm.tiktok.com.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tiktok_research.fakeweb.catalog import Catalog, demo_catalog


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    host: str = ""  # the host[:port] asked for: absolute-form target's, else the Host header

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def cookies(self) -> dict[str, str]:
        jar: dict[str, str] = {}
        for part in self.header("cookie").split(";"):
            name, _, value = part.strip().partition("=")
            if name:
                jar[name] = value
        return jar


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None):
        merged = {"Content-Type": "application/json"}
        merged.update(headers or {})
        return cls(status, json.dumps(payload).encode(), merged)

    @classmethod
    def html(cls, text: str, status: int = 200, headers: dict[str, str] | None = None):
        merged = {"Content-Type": "text/html; charset=utf-8"}
        merged.update(headers or {})
        return cls(status, text.encode("utf-8"), merged)


@dataclass
class Fault:
    """Answer `status` with `body` for the next `times` requests (None: until cleared)."""

    status: int
    times: int | None = 1
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    match: str = ""  # only requests whose path contains this


Handler = Callable[["Web", Request], "Response | None"]


class Web:
    def __init__(self, catalog: Catalog | None = None, host: str = "127.0.0.1", port: int = 0,
                 media_dir: Path | None = None, services: list[tuple[str, Handler]] = ()):
        self.catalog = catalog or demo_catalog()
        self.media_dir = media_dir  # demo MP4s (None: fakeweb.media's shared cache)
        self.lock = threading.Lock()
        self.faults: dict[str, list[Fault]] = {}
        self.requests: list[tuple[str, Request]] = []
        self.counters: dict[str, int] = {}
        self.state: dict[str, Any] = {}  # per-service scratch space (e.g. upserted rows)
        self.services: list[tuple[str, Handler]] = list(services)
        self._httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._listeners: list[ThreadingHTTPServer] = []

    @property
    def host(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{host}:{port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"

    def add_listener(self, host: str = "127.0.0.2", port: int = 0) -> str:
        """Serve the same site on one more address as well (now); its `host:port`."""
        httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        httpd.daemon_threads = True
        self._listeners.append(httpd)
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        bound_host, bound_port = httpd.server_address[:2]
        return f"{bound_host}:{bound_port}"

    @property
    def second_host(self) -> str | None:
        """`host:port` of the first listener added with `add_listener`, if any."""
        if not self._listeners:
            return None
        host, port = self._listeners[0].server_address[:2]
        return f"{host}:{port}"

    def start(self) -> Web:
        # A short poll interval: stop() waits up to one for the server to notice.
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        for httpd in self._listeners:
            httpd.shutdown()
            httpd.server_close()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> Web:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- fault injection and inspection -------------------------------------------------
    def fail(self, service: str, status: int, times: int | None = 1, body: Any = None,
             headers: dict[str, str] | None = None, delay: float = 0.0, match: str = "") -> None:
        with self.lock:
            self.faults.setdefault(service, []).append(
                Fault(status, times, body, dict(headers or {}), delay, match)
            )

    def clear_faults(self, service: str | None = None) -> None:
        with self.lock:
            if service is None:
                self.faults.clear()
            else:
                self.faults.pop(service, None)

    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.requests.clear()
            self.counters.clear()
            self.state.clear()

    def take_fault(self, service: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults.get(service, []):
                if fault.match and fault.match not in path:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults[service].remove(fault)
                return fault
        return None

    def count(self, key: str) -> int:
        """Increment and return a named counter (e.g. visits of one page)."""
        with self.lock:
            self.counters[key] = self.counters.get(key, 0) + 1
            return self.counters[key]

    def requests_to(self, service: str) -> list[Request]:
        with self.lock:
            return [request for name, request in self.requests if name == service]

    # --- dispatch ------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        if request.path.startswith("/_fake/"):
            return self._control(request)
        for name, handler in self.services:
            response = handler(self, request)
            if response is None:
                continue
            with self.lock:
                self.requests.append((name, request))
            return response
        return Response.json({"message": "not found", "path": request.path}, 404)

    def _control(self, request: Request) -> Response:
        if request.path == "/_fake/fail" and request.method == "POST":
            spec = request.json()
            self.fail(spec.pop("service"), **spec)
            return Response.json({"ok": True})
        if request.path == "/_fake/reset" and request.method == "POST":
            self.reset()
            return Response.json({"ok": True})
        if request.path == "/_fake/requests":
            service = request.query.get("service", "")
            return Response.json(
                [{"method": r.method, "path": r.path, "query": r.query}
                 for r in self.requests_to(service)]
            )
        if request.path == "/_fake/health":
            return Response.json({"ok": True})
        return Response.json({"message": "unknown control path"}, 404)


def fault_response(service: str, fault: Fault, default_body: Callable[[int], Any]) -> Response:
    """The injected fault as this service would answer it."""
    if fault.delay:
        time.sleep(fault.delay)
    body = fault.body if fault.body is not None else default_body(fault.status)
    if isinstance(body, (bytes, str)):
        data = body.encode() if isinstance(body, str) else body
        headers = {"Content-Type": "text/plain"}
        headers.update(fault.headers)
        return Response(fault.status, data, headers)
    return Response.json(body, fault.status, fault.headers)


def _make_handler(web: Web) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet by default
            pass

        def _handle(self) -> None:
            # `/path?query` or, as sent to a proxy, `http://host:port/path?query`.
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=parts.path or "/",
                query={key: values[-1] for key, values in parse_qs(parts.query).items()},
                headers={key.lower(): value for key, value in self.headers.items()},
                body=body,
                host=(parts.netloc or self.headers.get("Host") or "").lower(),
            )
            try:
                response = web.dispatch(request)
            except Exception as error:  # a bug in a fake must not hang the client
                response = Response.json({"message": f"fake web error: {error!r}"}, 500)
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                try:
                    self.wfile.write(response.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    return RequestHandler
