"""Moving a video's bytes from TikTok's CDN, in byte ranges.

First through the page: a `fetch()` in the tab carries its cookies (among them
`tt_chain_token`, without which the CDN answers 403) and the page as Referer. When the page
may not read the CDN (status 0: CORS refused, a network error), outside it, as yt-dlp,
TikTok-Api, pyktok and 4CAT all fetch: httpx with the browser's cookies and User-Agent, the
page as Referer, `Range` requests. The path that served the bytes is reported.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from tiktok_research.download.verify import Caps, over_cap
from tiktok_research.errors import TransientFetchError, UrlRefused

log = logging.getLogger("tiktok_research.download")

RangeGetter = Callable[[str, int, int], Awaitable[tuple[int, str, bytes]]]

# Runs in the page: one ranged (or whole, when start is negative) fetch with the page's
# cookies; the body as base64. The body is read piece by piece and given up once it passes
# `limit` bytes (a Content-Length over it is not read at all): a source that ignores the range
# and sends a huge 200 is never held whole in the page.
FETCH_JS = """
(async () => {
  try {
    const limit = %(limit)d;
    const headers = %(start)d >= 0 ? {"Range": "bytes=%(start)d-%(end)d"} : {};
    const response = await fetch(%(url)s, {
      credentials: "include", cache: "no-store", referrer: location.href, headers: headers,
    });
    const contentRange = response.headers.get("content-range") || "";
    const declared = Number(response.headers.get("content-length") || "-1");
    if (declared > limit) {
      if (response.body) { await response.body.cancel(); }
      return JSON.stringify({status: response.status, over: declared, contentRange});
    }
    const pieces = [];
    let size = 0;
    if (response.body) {
      const reader = response.body.getReader();
      for (;;) {
        const {done, value} = await reader.read();
        if (done) break;
        size += value.length;
        if (size > limit) {
          await reader.cancel();
          return JSON.stringify({status: response.status, over: size, contentRange});
        }
        pieces.push(value);
      }
    }
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const piece of pieces) { bytes.set(piece, at); at += piece.length; }
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return JSON.stringify({status: response.status, data: btoa(binary), contentRange});
  } catch (error) {
    return JSON.stringify({status: 0, error: String(error)});
  }
})()
"""


def body_over_cap(limit: int, size: int) -> Exception:
    return over_cap("max_video_bytes", limit, size, f"one reply of the source has {size} bytes")


class PageRefused(TransientFetchError):
    """The page may not read this URL (status 0): a CORS refusal or a network error."""


def range_total(content_range: str) -> int:
    try:
        return int(content_range.rsplit("/", 1)[1])
    except (IndexError, ValueError):
        raise TransientFetchError(f"bad Content-Range {content_range!r}") from None


async def fetch_to(get_range: RangeGetter, url: str, target: Path, chunk: int,
                   caps: Caps | None = None) -> int:
    """Fetch `url` into `target` in byte ranges; the size written.

    The total comes from Content-Range; a cross-origin CDN may not expose that header to the
    page, and then a short range (or 416 past the end) marks the end instead. A total over
    `caps.max_bytes` is not fetched, and reading stops once more than that came."""
    caps = caps or Caps()
    total: int | None = None
    written = 0
    with open(target, "wb") as handle:
        while total is None or written < total:
            status, content_range, data = await get_range(url, written, written + chunk - 1)
            if status == 416 and written and total is None:
                break  # the previous range ended exactly at the end
            if status in (401, 403, 404, 410):
                raise UrlRefused(f"the CDN answered {status}")
            if status == 429 or status >= 500:
                raise TransientFetchError(f"the CDN answered {status}")
            if status == 200:  # the whole body at once, range ignored
                caps.check_size(len(data), "the source sent")
                handle.seek(0)
                handle.truncate()
                handle.write(data)
                return len(data)
            if status != 206:
                raise TransientFetchError(f"the CDN answered {status}")
            if not data:
                raise TransientFetchError("the CDN sent an empty range")
            if content_range:
                total = range_total(content_range)
                caps.check_size(total, "the source announces")
            caps.check_size(written + len(data), "the source sent at least")
            handle.write(data)
            written += len(data)
            if not content_range and len(data) < chunk:
                break
    return written


class InPage:
    """Ranges fetched by the page itself."""

    name = "page"

    def __init__(self, tab: Any, timeout: float, max_bytes: int = Caps.max_bytes) -> None:
        self.tab = tab
        self.timeout = timeout
        self.max_bytes = max_bytes

    async def get(self, url: str, start: int, end: int) -> tuple[int, str, bytes]:
        script = FETCH_JS % {"url": json.dumps(url), "start": start, "end": end,
                             "limit": self.max_bytes}
        raw = await asyncio.wait_for(self.tab.evaluate(script, await_promise=True),
                                     timeout=self.timeout)
        answer = json.loads(raw)
        if answer.get("status") == 0:
            raise PageRefused(f"the page could not fetch the URL: {answer.get('error')}")
        if "over" in answer:
            raise body_over_cap(self.max_bytes, int(answer["over"]))
        return answer["status"], answer.get("contentRange", ""), base64.b64decode(answer["data"])


class Outside:
    """Ranges fetched with httpx, carrying the browser's cookies and User-Agent and the page as
    Referer."""

    name = "http"

    def __init__(self, cookies: list[Any], user_agent: str, referer: str,
                 timeout: float, max_bytes: int = Caps.max_bytes) -> None:
        self.max_bytes = max_bytes
        jar = httpx.Cookies()
        for cookie in cookies:
            jar.set(cookie.name, cookie.value, domain=cookie.domain or "", path=cookie.path or "/")
        headers = {"User-Agent": user_agent, "Referer": referer, "Accept": "*/*",
                   "Accept-Encoding": "identity", "Sec-Fetch-Dest": "video",
                   "Sec-Fetch-Mode": "no-cors"}
        self.client = httpx.AsyncClient(cookies=jar, headers=headers, timeout=timeout,
                                        follow_redirects=True)

    async def get(self, url: str, start: int, end: int) -> tuple[int, str, bytes]:
        headers = {"Range": f"bytes={start}-{end}"} if start >= 0 else {}
        body = bytearray()
        try:
            async with self.client.stream("GET", url, headers=headers) as response:
                length = response.headers.get("content-length", "")
                declared = int(length) if length.isdigit() else -1
                if declared > self.max_bytes:
                    raise body_over_cap(self.max_bytes, declared)
                async for piece in response.aiter_bytes():
                    body += piece
                    if len(body) > self.max_bytes:
                        raise body_over_cap(self.max_bytes, len(body))
        except httpx.HTTPError as error:
            raise TransientFetchError(f"network error fetching the video: {error!r}") from None
        return response.status_code, response.headers.get("content-range", ""), bytes(body)

    async def close(self) -> None:
        await self.client.aclose()


async def fetch_whole(get_range: RangeGetter, url: str) -> bytes:
    """A small file (a caption track) in one request."""
    status, _range, data = await get_range(url, -1, -1)
    if status != 200:
        raise TransientFetchError(f"the server answered {status}")
    return data
