"""Fake TikTok: video pages `GET /@{user}/video/{id}` (and `/@{user}/photo/{id}`), the video
CDN `GET /video/tos/...`, a photo post's images `GET /photo/{id}/{n}.jpeg` and the www host's
own `GET /aweme/v1/play/`.

Faithful to reference/external-apis.md. A page is text/html carrying
`__UNIVERSAL_DATA_FOR_REHYDRATION__` (a `legacy` video: `SIGI_STATE`) built from the catalog's
DemoVideo, and sets the `tt_chain_token` cookie. The CDN answers 403 without that cookie or
without a Referer, serves `Range` requests with 206 + Content-Range, and refuses URLs past their
`expire=` (or with a signature that does not match); every stream below (gears, audio, captions)
goes through those checks. With `web.state["tiktok_domain"]` the CDN sits on its own host under
that domain (cross-origin, credentialed CORS, cookie on the domain), as on TikTok; the browser
maps the names to the fake, and a client outside the browser reaches them through the fake used
as a plain HTTP proxy. `web.state["tiktok_cdn_cors"] = False` (or a video's `cdn_cors=False`)
drops the CDN's and the captions' Access-Control-* headers, so an in-page fetch from the page's
origin is refused. `web.state["tiktok_url_ttl"]` sets how long video URLs live (seconds;
caption URLs live a day). Media bytes come from `fakeweb.media`, made lazily and cached.

Per video (catalog fields), in the order a visitor meets them: `waf_challenge_rounds` WAF
proof-of-work pages that reload themselves; then, counting the visits past the WAF, a captcha
overlay for `captcha_visits`, an empty app shell for `shell_visits`, the old static bot page for
`challenge_visits`, a redirect to `/login` for `login_visits` and already-expired URLs for
`expired_url_visits`. The kinds `html_as_video` and `truncated` spoil the CDN's bytes; the
status kinds and item shapes are in `tiktok_pages.STATUS_CODES` and `tiktok_item.item_for`.
Each shape of the real site names its public source where it is built: the item in
`fakeweb.tiktok_item`, the pages in `fakeweb.tiktok_pages`; this module serves them.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from pathlib import Path
from urllib.parse import quote

from tiktok_research.fakeweb.catalog import DemoVideo
from tiktok_research.fakeweb.tiktok_item import CAPTION_URL_TTL, WWW_PLAY_PATH, signature
from tiktok_research.fakeweb.tiktok_pages import (
    captcha_page,
    challenge_page,
    deleted_page,
    document,
    legacy_page,
    login_page,
    shell_page,
    universal_page,
    waf_challenge_page,
    waf_passed,
)
from tiktok_research.fakeweb.web import Request, Response, Web, fault_response

SERVICE = "tiktok"
# The user part may be empty: yt-dlp rewrites /share/video/ID and /embed/v2/ID links to
# https://www.tiktok.com/@/video/ID (its _create_url), which the site serves.
PAGE_PATH = re.compile(r"^/@(?P<user>[^/]*)/(?P<form>video|photo)/(?P<video_id>\d+)/?$")
# yt-dlp's extractor marks gears whose path ends in /media-video-hvc1/ as video-only.
CDN_PATH = re.compile(
    r"^/video/tos/(?P<region>[a-z0-9]+)/(?P<token>[0-9a-f]+)(?P<dash>/media-video-hvc1)?/?$")
# A photo post's images (tiktok_item.photo_url), one per scene of the post.
PHOTO_PATH = re.compile(r"^/photo/(?P<video_id>\d+)/(?P<index>\d{1,3})\.jpeg$")
RANGE = re.compile(r"^bytes=(?P<start>\d*)-(?P<end>\d*)$")
DEFAULT_URL_TTL = 6 * 3600
WWW_NON_VIDEO_BYTES = 31 * 1024
_media_lock = threading.Lock()


def _page(web: Web, request: Request, video_id: str) -> Response:
    video = web.catalog.videos.get(video_id)
    web.count(f"tiktok_page:{video_id}")
    if video is None:
        return Response.html(deleted_page(), 404)
    if video.waf_challenge_rounds > 0:
        solved_key = f"tiktok_waf_solved:{video_id}"
        with web.lock:
            solved = web.counters.get(solved_key, 0)
        if solved < video.waf_challenge_rounds and waf_passed(web, request, video):
            solved = web.count(solved_key)
        if solved < video.waf_challenge_rounds:
            return Response.html(waf_challenge_page(web, video),
                                 headers={"Cache-Control": "no-store"})
    visit = web.count(f"tiktok_stage:{video_id}")  # visits past the WAF
    limit = video.captcha_visits
    if visit <= limit:
        return Response.html(captcha_page(video))
    limit += video.shell_visits
    if visit <= limit:
        return Response.html(shell_page())
    limit += video.challenge_visits
    if visit <= limit:
        return Response.html(challenge_page())
    limit += video.login_visits
    if visit <= limit:
        target = quote(f"http://{web.host}{video.page_path}", safe="")
        return Response(302, b"", {"Location": f"/login?redirect_url={target}"})
    if video.kind == "deleted":
        return Response.html(deleted_page(), 404)
    now = int(time.time())
    if visit <= limit + video.expired_url_visits:
        expire = caption_expire = now - 60
    else:
        expire = now + int(web.state.get("tiktok_url_ttl", DEFAULT_URL_TTL))
        caption_expire = now + CAPTION_URL_TTL
    # The host the page was asked on (an absolute-form request target's, else Host).
    page_host = getattr(request, "host", "") or request.header("host") or web.host
    if video.kind == "legacy":
        page = legacy_page(web, video, expire, page_host, caption_expire)
    else:
        page = universal_page(web, video, expire, page_host, caption_expire)
    token = request.cookies().get("tt_chain_token") or secrets.token_urlsafe(18)
    with web.lock:
        web.state.setdefault("tiktok_tokens", set()).add(token)
    cookie = f"tt_chain_token={token}; Path=/; Max-Age=31536000; SameSite=Lax"
    if web.state.get("tiktok_domain"):
        cookie += f"; Domain={web.state['tiktok_domain']}"
    return Response.html(page, headers={"Set-Cookie": cookie})


# --- CDN ------------------------------------------------------------------------------------
def media_file(web: Web, video: DemoVideo) -> Path:
    """The MP4 bytes of a video, generated once (and cached) by `fakeweb.media`."""
    with _media_lock:
        files = web.state.setdefault("tiktok_media", {})
        if video.video_id not in files:
            from tiktok_research.fakeweb.media import ensure_media

            files.update(ensure_media([video], web.media_dir))
        return files[video.video_id]


def rendition_file(web: Web, video: DemoVideo, kind: str) -> Path:
    """A derived rendition (`fakeweb.media.RENDITIONS`) of a video, made once and cached."""
    from tiktok_research.fakeweb.media import ensure_rendition

    key = (video.video_id, kind)
    with _media_lock:
        cached = web.state.setdefault("tiktok_renditions", {}).get(key)
    if cached is None:
        cached = ensure_rendition(video, kind, web.media_dir)
        with _media_lock:
            web.state["tiktok_renditions"][key] = cached
    return cached


def _forbidden(reason: str) -> Response:
    body = f"<html><body><h1>403 Forbidden</h1><p>{reason}</p></body></html>"
    return Response(403, body.encode(), {"Content-Type": "text/html"})


def _not_found(headers: dict[str, str] | None = None) -> Response:
    return Response(404, b"not found", {"Content-Type": "text/plain", **(headers or {})})


def _stream(web: Web, video: DemoVideo, variant: str) -> tuple[bytes, str] | None:
    """The bytes and content type a variant serves (None: no such stream for this video)."""
    base = variant.removesuffix("_bak")
    if base == "dash_video":
        return rendition_file(web, video, "video_only").read_bytes(), "video/mp4"
    if base == "dash_audio":
        if not video.has_audio:
            return None
        return rendition_file(web, video, "audio_only").read_bytes(), "audio/mp4"
    if base == "bytevc2":
        return rendition_file(web, video, "bytevc2").read_bytes(), "video/mp4"
    if base == "download" and video.download_watermarked:
        return rendition_file(web, video, "watermarked").read_bytes(), "video/mp4"
    return media_file(web, video).read_bytes(), "video/mp4"


def _cdn(web: Web, request: Request) -> Response:
    video = web.catalog.videos.get(request.query.get("vid", ""))
    if video is None:
        return _not_found()
    web.count(f"tiktok_cdn:{video.video_id}")
    with web.lock:
        tokens = set(web.state.get("tiktok_tokens", ()))
    if request.cookies().get("tt_chain_token") not in tokens:
        return _forbidden("missing session cookie")
    if not request.header("referer"):
        return _forbidden("missing referer")
    try:
        expire = int(request.query.get("expire", ""))
    except ValueError:
        return _forbidden("bad expire")
    variant = request.query.get("variant", "")
    if request.query.get("signature") != signature(video.video_id, expire, variant):
        return _forbidden("bad signature")
    if expire < time.time():
        return _forbidden("url expired")
    cors = _cors(web, video, request)
    if variant.startswith("caption-"):
        from tiktok_research.fakeweb.media import webvtt

        web.count(f"tiktok_caption:{video.video_id}")
        language = variant.removeprefix("caption-").removesuffix("_bak")
        if language not in video.captions or language in video.failing_captions:
            return _not_found(cors)
        return _ranged(request, webvtt(video).encode("utf-8"), "text/vtt; charset=utf-8", cors)
    if video.kind == "html_as_video":
        page = document("TikTok", "<p>Something went wrong. Please try again.</p>")
        return Response.html(page)
    stream = _stream(web, video, variant)
    if stream is None:
        return _not_found(cors)
    data, content_type = stream
    if video.kind == "truncated":
        data = data[: len(data) * 3 // 5]
    return _ranged(request, data, content_type, cors)


def _photo(web: Web, request: Request, video_id: str, index: int) -> Response:
    """Image `index` of a photo post, JPEG, whole or in ranges."""
    video = web.catalog.videos.get(video_id)
    if video is None or video.kind != "photo" or index >= len(video.scenes):
        return _not_found()
    web.count(f"tiktok_photo:{video_id}")
    from tiktok_research.fakeweb.media import ensure_photo

    with _media_lock:
        path = ensure_photo(video, index, web.media_dir)
    return _ranged(request, path.read_bytes(), "image/jpeg", _cors(web, video, request))


def _www_play(web: Web, request: Request) -> Response:
    """`/aweme/v1/play/` on the page's host: ~31 KB that is not a video (yt-dlp #11034)."""
    if request.query.get("item_id", "") not in web.catalog.videos:
        return _not_found()
    page = document("TikTok", "<p>Loading...</p>" + "<!-- " + "0" * WWW_NON_VIDEO_BYTES + " -->")
    return _ranged(request, page.encode()[:WWW_NON_VIDEO_BYTES], "video/mp4", {})


def _cors_enabled(web: Web, video: DemoVideo | None) -> bool:
    if web.state.get("tiktok_cdn_cors", True) is False:
        return False
    return video is None or video.cdn_cors


def _cors(web: Web, video: DemoVideo | None, request: Request) -> dict[str, str]:
    # Credentialed CORS for the site's pages; Content-Range is not exposed, so a cross-origin
    # reader cannot see it (a downloader must cope). None at all in the no-CORS mode.
    if not _cors_enabled(web, video):
        return {}
    return {"Access-Control-Allow-Origin": request.header("origin") or "*",
            "Access-Control-Allow-Credentials": "true"}


def _preflight(web: Web, request: Request) -> Response:
    video = web.catalog.videos.get(request.query.get("vid", ""))
    if not _cors_enabled(web, video):
        return Response(204, b"", {})
    return Response(204, b"", {**_cors(web, video, request),
                               "Access-Control-Allow-Methods": "GET, HEAD",
                               "Access-Control-Allow-Headers": "Range",
                               "Access-Control-Max-Age": "86400"})


def _ranged(request: Request, data: bytes, content_type: str = "video/mp4",
            cors: dict[str, str] | None = None) -> Response:
    total = len(data)
    headers = {"Content-Type": content_type, "Accept-Ranges": "bytes", **(cors or {})}
    spec = request.header("range")
    if not spec:
        return Response(200, data, headers)
    match = RANGE.match(spec.strip())
    if not match or (not match["start"] and not match["end"]):
        return Response(416, b"", {**headers, "Content-Range": f"bytes */{total}"})
    if match["start"]:
        start = int(match["start"])
        end = min(int(match["end"]), total - 1) if match["end"] else total - 1
    else:  # suffix range: the last N bytes
        start, end = max(0, total - int(match["end"])), total - 1
    if start >= total or start > end:
        return Response(416, b"", {**headers, "Content-Range": f"bytes */{total}"})
    headers["Content-Range"] = f"bytes {start}-{end}/{total}"
    return Response(206, data[start:end + 1], headers)


def handle(web: Web, request: Request) -> Response | None:
    if request.method == "OPTIONS" and CDN_PATH.match(request.path):
        return _preflight(web, request)
    if request.method not in ("GET", "HEAD"):
        return None
    if request.path == "/login":
        return Response.html(login_page())
    if PAGE_PATH.match(request.path) or CDN_PATH.match(request.path) \
            or PHOTO_PATH.match(request.path) or request.path == WWW_PLAY_PATH:
        fault = web.take_fault(SERVICE, request.path)  # web.fail("tiktok", ..., match=PATH)
        if fault is not None:
            return fault_response(SERVICE, fault, lambda status: f"<h1>Error {status}</h1>")
    page = PAGE_PATH.match(request.path)
    if page:
        return _page(web, request, page["video_id"])
    if CDN_PATH.match(request.path):
        return _cdn(web, request)
    photo = PHOTO_PATH.match(request.path)
    if photo:
        return _photo(web, request, photo["video_id"], int(photo["index"]))
    if request.path == WWW_PLAY_PATH:
        return _www_play(web, request)
    return None
