"""Fake TikTok short links: `GET|HEAD /t/<code>/` on the site's host, and `/<code>/` on a
short-link host, answer 301 to the item's page on the site's main host, with the tracking
query TikTok adds (`?_t=<code>&_r=1`).

Shapes from reference/external-apis.md ("Link forms in search results") and yt-dlp's
`TikTokVMIE` tests (`https://www.tiktok.com/t/ZTRC5xgJp`, `https://vm.tiktok.com/ZTR45GpSF/`,
`https://vt.tiktok.com/ZSe4FqkKd`): a code is `Z` + a letter + 7 letters or digits, stable per
video (derived from its id). A short-link host is the fake's second listener
(`web.add_listener`, `web.second_host`) or vm.tiktok.com / vt.tiktok.com asked for through the
fake as an HTTP proxy. An unknown code answers 404; `web.state["shortlinks_refuse_head"]`
makes HEAD answer 405 (clients fall back to GET); faults (`web.fail("shortlinks", ...)`, e.g.
a 301 with another Location) are served first.
"""

from __future__ import annotations

import hashlib
import re

from tiktok_research.fakeweb.catalog import DemoVideo
from tiktok_research.fakeweb.web import Request, Response, Web, fault_response

SERVICE = "shortlinks"
SHORT_LINK_NAMES = ("vm.tiktok.com", "vt.tiktok.com")
# The code's second letter, per form (as seen in real links: /t/ZT..., vm ZM..., vt ZS...).
PREFIXES = {"t": "ZT", "vm": "ZM", "vt": "ZS"}
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
T_PATH = re.compile(r"^/t/(?P<code>Z[A-Z][0-9A-Za-z]{7})/?$")
SHORT_PATH = re.compile(r"^/(?P<code>Z[A-Z][0-9A-Za-z]{7})/?$")


def _body(seed: str) -> str:
    number = int(hashlib.sha1(seed.encode()).hexdigest(), 16)
    chars = []
    for _ in range(7):
        number, digit = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[digit])
    return "".join(chars)


def short_code(video_id: str, form: str = "t", *, dead: bool = False) -> str:
    """The video's short-link code for `form` ("t", "vm" or "vt"); `dead`: a code of the same
    shape that leads nowhere (a link that cannot be resolved)."""
    return PREFIXES[form] + _body(f"{video_id}:dead" if dead else video_id)


def short_link(web: Web, video_id: str, form: str, *, dead: bool = False) -> str:
    """The short link of a video as search results carry it."""
    code = short_code(video_id, form, dead=dead)
    if form == "t":
        return f"http://{web.host}/t/{code}/"
    host = web.second_host or f"{form}.tiktok.com"
    return f"http://{host}/{code}/"


def target_path(video: DemoVideo) -> str:
    kind = "photo" if video.kind == "photo" else "video"
    return f"/@{video.author}/{kind}/{video.video_id}"


def _is_short_host(web: Web, host: str) -> bool:
    return host == web.second_host or host.split(":")[0] in SHORT_LINK_NAMES


def _video_for(web: Web, code: str) -> DemoVideo | None:
    body = code[2:]
    for video in web.catalog.videos.values():
        if _body(video.video_id) == body:
            return video
    return None


def _fault_body(status: int) -> str:
    return "" if 300 <= status < 400 else "Not Found"


def handle(web: Web, request: Request) -> Response | None:
    if request.method not in ("GET", "HEAD"):
        return None
    match = T_PATH.match(request.path)
    if match is None and _is_short_host(web, request.host):
        match = SHORT_PATH.match(request.path)
    if match is None:
        return None
    fault = web.take_fault(SERVICE, request.path)
    if fault is not None:
        return fault_response(SERVICE, fault, _fault_body)
    if request.method == "HEAD" and web.state.get("shortlinks_refuse_head"):
        return Response(405, b"", {"Allow": "GET"})
    video = _video_for(web, match["code"])
    if video is None:
        return Response.html("<html><body>Page not found</body></html>", 404)
    location = f"http://{web.host}{target_path(video)}?_t={match['code']}&_r=1"
    return Response(301, b"", {"Location": location})
