"""Fake TikTok: video pages `GET /@{user}/video/{id}` and the video CDN `GET /video/tos/...`.

Faithful to reference/external-apis.md. A page is text/html carrying
`__UNIVERSAL_DATA_FOR_REHYDRATION__` (a `legacy` video: `SIGI_STATE`) built from the catalog's
DemoVideo, and sets the `tt_chain_token` cookie. The CDN answers 403 without that cookie or
without a Referer, serves `Range` requests with 206 + Content-Range, and refuses URLs past their
`expire=` (or with a signature that does not match). With `web.state["tiktok_domain"]` the
CDN sits on its own host under that domain (cross-origin, credentialed CORS, cookie on the
domain), as on TikTok; the browser maps the names to the fake. Per video (catalog fields): a
bot challenge page for the first `challenge_visits` visits, a redirect to `/login` for the next
`login_visits`, already-expired URLs for the next `expired_url_visits`; the kinds
`html_as_video` and `truncated` spoil the CDN's bytes. `web.state["tiktok_url_ttl"]` sets how
long URLs live (seconds). Media bytes come from `fakeweb.media.ensure_media`, made lazily.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tiktok_research.fakeweb.catalog import DemoVideo
from tiktok_research.fakeweb.web import Request, Response, Web

SERVICE = "tiktok"
PAGE_PATH = re.compile(r"^/@(?P<user>[^/]+)/video/(?P<video_id>\d+)/?$")
CDN_PATH = re.compile(r"^/video/tos/(?P<region>[a-z0-9]+)/(?P<token>[0-9a-f]+)/?$")
RANGE = re.compile(r"^bytes=(?P<start>\d*)-(?P<end>\d*)$")
DEFAULT_URL_TTL = 6 * 3600
SIGNING_KEY = "fake-tiktok-cdn"
STATUS_CODES = {"private": 10216, "private_account": 10222, "unavailable": 10204,
                "other_status": 10101}
STATUS_MESSAGES = {10216: "item is private", 10222: "author is private",
                   10204: "item doesn't exist", 10101: "item not available"}
_media_lock = threading.Lock()


# --- pages ----------------------------------------------------------------------------------
def _counts(video: DemoVideo) -> dict[str, Any]:
    if video.counts_as_strings:
        return {name: str(value) for name, value in video.stats.items()}
    return dict(video.stats)


def _text_extra(desc: str, hashtags: list[str]) -> list[dict[str, Any]]:
    extras = []
    for tag in hashtags:
        start = desc.find(f"#{tag}")
        if start >= 0:
            extras.append({"awemeId": "", "start": start, "end": start + len(tag) + 1,
                           "hashtagId": str(int(hashlib.sha1(tag.encode()).hexdigest()[:12], 16)),
                           "hashtagName": tag, "isCommerce": False, "subType": 0, "type": 1})
    return extras


def _signature(video_id: str, expire: int, variant: str) -> str:
    return hashlib.sha256(f"{SIGNING_KEY}:{video_id}:{expire}:{variant}".encode()).hexdigest()[:32]


def video_url(web: Web, video: DemoVideo, expire: int, variant: str) -> str:
    """A CDN URL shaped like TikTok's (`...&expire=...&signature=...&tk=tt_chain_token`)."""
    token = hashlib.sha1(f"{video.video_id}{variant}".encode()).hexdigest()[:32]
    query = (f"a=1988&bti=NEBzNTY6&ch=0&cr=3&dr=0&lr=all&cd=0%7C0%7C0%7C&br=1226&bt=613"
             f"&cs=0&ds=6&ft=-Csk_mq8PD12NLnbRh-UxPjtYsBmZyiDUhxDLvr&mime_type=video_mp4"
             f"&qs=0&rc=aDdoNzc&vvpl=1&l=20240101&btag=e00090000&expire={expire}"
             f"&policy=2&signature={_signature(video.video_id, expire, variant)}"
             f"&tk=tt_chain_token&vid={video.video_id}&variant={variant}")
    return f"http://{cdn_host(web, variant)}/video/tos/maliva/{token}/?{query}"


def cdn_host(web: Web, variant: str) -> str:
    """The CDN's host: the fake's own, or with `web.state["tiktok_domain"]` (e.g. "tiktok.test",
    resolved to the fake by the browser) a separate, cross-origin host as on TikTok."""
    domain = web.state.get("tiktok_domain")
    if not domain:
        return web.host
    mirror = "v19" if variant == "v19" else "v16"
    return f"{mirror}-webapp-prime.{domain}:{web.host.rsplit(':', 1)[1]}"


def item_struct(web: Web, video: DemoVideo, expire: int) -> dict[str, Any]:
    """The itemStruct of reference/external-apis.md for one demo video."""
    counts = _counts(video)
    create_time: Any = str(video.create_time) if video.counts_as_strings else video.create_time
    item: dict[str, Any] = {
        "id": video.video_id,
        "desc": video.desc,
        "createTime": create_time,
        "locationCreated": video.location,
        "isContentClassified": False,
        "author": {"id": video.author_id, "uniqueId": video.author, "nickname": video.nickname,
                   "secUid": video.sec_uid, "verified": False, "privateAccount": False},
        "music": {"id": video.music["id"], "title": video.music["title"],
                  "authorName": video.music["authorName"], "original": False,
                  "playUrl": f"http://{web.host}/music/{video.music['id']}.mp3",
                  "duration": video.music["duration"]},
        "stats": counts,
        "statsV2": {name: str(value) for name, value in video.stats.items()},
        "challenges": [{"id": extra["hashtagId"], "title": extra["hashtagName"], "desc": ""}
                       for extra in _text_extra(video.desc, video.hashtags)],
        "textExtra": _text_extra(video.desc, video.hashtags),
        "stickersOnItem": [{"stickerText": [scene.text], "stickerType": 4}
                           for scene in video.scenes[:1]],
    }
    geometry = {"id": video.video_id, "width": video.width, "height": video.height,
                "duration": int(video.duration), "ratio": "540p", "format": "mp4",
                "cover": f"http://{web.host}/cover/{video.video_id}.jpeg"}
    if video.kind == "photo":
        item["imagePost"] = {
            "title": video.desc,
            "images": [{"imageURL": {"urlList": [f"http://{web.host}/photo/{video.video_id}/{n}.jpeg"]},
                        "imageWidth": 1080, "imageHeight": 1920} for n in range(3)],
        }
        item["video"] = {"id": "", "width": 0, "height": 0, "duration": int(video.duration),
                         "cover": geometry["cover"]}
        return item
    play = video_url(web, video, expire, "play")
    item["video"] = {
        **geometry,
        "playAddr": play,
        "downloadAddr": video_url(web, video, expire, "download"),
        "bitrateInfo": [{
            "GearName": "lower_540_0", "Bitrate": 1256144, "QualityType": 24, "CodecType": "h264",
            "PlayAddr": {"Uri": f"v12044gd0000{video.video_id}", "DataSize": 0,
                         "Width": video.width, "Height": video.height,
                         "UrlList": [video_url(web, video, expire, "v16"),
                                     video_url(web, video, expire, "v19")]},
        }],
        "subtitleInfos": [],
    }
    return item


def _script(element_id: str, payload: Any) -> str:
    text = json.dumps(payload, ensure_ascii=False).replace("</", "<\\/")
    return f'<script id="{element_id}" type="application/json">{text}</script>'


def _document(title: str, body: str) -> str:
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title></head><body>{body}</body></html>")


def universal_page(web: Web, video: DemoVideo, expire: int) -> str:
    code = STATUS_CODES.get(video.kind, 0)
    detail: dict[str, Any] = {"statusCode": code, "statusMsg": STATUS_MESSAGES.get(code, "")}
    if code == 0:
        detail["itemInfo"] = {"itemStruct": item_struct(web, video, expire)}
        detail["shareMeta"] = {"title": f"{video.nickname} on TikTok", "desc": video.desc}
    data = {"__DEFAULT_SCOPE__": {
        "webapp.app-context": {"language": "en", "region": "US", "appId": 1988,
                               "user": {}, "wid": str(int(time.time() * 1000))},
        "webapp.biz-context": {"isMobile": False},
        "webapp.video-detail": detail,
    }}
    body = '<div id="app"></div>' + _script("__UNIVERSAL_DATA_FOR_REHYDRATION__", data)
    return _document(f"{video.desc} | TikTok", body)


def legacy_page(web: Web, video: DemoVideo, expire: int) -> str:
    item = item_struct(web, video, expire)
    author = item.pop("author")
    item.update(author=author["uniqueId"], nickname=author["nickname"],
                authorId=author["id"], authorSecId=author["secUid"])
    data = {
        "AppContext": {"appContext": {"language": "en", "region": "US"}},
        "VideoPage": {"statusCode": 0, "statusMsg": ""},
        "ItemModule": {video.video_id: item},
        "UserModule": {"users": {author["uniqueId"]: author}},
    }
    body = '<div id="app"></div>' + _script("SIGI_STATE", data)
    return _document(f"{video.desc} | TikTok", body)


def challenge_page() -> str:
    body = ('<div id="cs" class="captcha-verify-container"><div id="wci" class="wci">'
            '<p>Please wait...</p></div></div>'
            '<script>setTimeout(function(){},1000)</script>')
    return _document("Please wait...", body)


def login_page() -> str:
    return _document("Log in | TikTok", '<div id="loginContainer"><h2>Log in to TikTok</h2></div>')


def deleted_page() -> str:
    return _document("Video currently unavailable | TikTok",
                     '<div id="app"><p>Video currently unavailable</p></div>')


def _page(web: Web, request: Request, video_id: str) -> Response:
    video = web.catalog.videos.get(video_id)
    visit = web.count(f"tiktok_page:{video_id}")
    if video is None:
        return Response.html(deleted_page(), 404)
    if visit <= video.challenge_visits:
        return Response.html(challenge_page())
    if visit <= video.challenge_visits + video.login_visits:
        target = quote(f"http://{web.host}{video.page_path}", safe="")
        return Response(302, b"", {"Location": f"/login?redirect_url={target}"})
    if video.kind == "deleted":
        return Response.html(deleted_page(), 404)
    now = int(time.time())
    if visit <= video.challenge_visits + video.login_visits + video.expired_url_visits:
        expire = now - 60
    else:
        expire = now + int(web.state.get("tiktok_url_ttl", DEFAULT_URL_TTL))
    page = legacy_page(web, video, expire) if video.kind == "legacy" \
        else universal_page(web, video, expire)
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


def _forbidden(reason: str) -> Response:
    body = f"<html><body><h1>403 Forbidden</h1><p>{reason}</p></body></html>"
    return Response(403, body.encode(), {"Content-Type": "text/html"})


def _cdn(web: Web, request: Request) -> Response:
    video = web.catalog.videos.get(request.query.get("vid", ""))
    if video is None:
        return Response(404, b"not found", {"Content-Type": "text/plain"})
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
    if request.query.get("signature") != _signature(video.video_id, expire, variant):
        return _forbidden("bad signature")
    if expire < time.time():
        return _forbidden("url expired")
    if video.kind == "html_as_video":
        page = _document("TikTok", "<p>Something went wrong. Please try again.</p>")
        return Response.html(page)
    data = media_file(web, video).read_bytes()
    if video.kind == "truncated":
        data = data[: len(data) * 3 // 5]
    return _ranged(request, data)


def _cors(request: Request) -> dict[str, str]:
    # Credentialed CORS for the site's pages; Content-Range is not exposed, so a cross-origin
    # reader cannot see it (a downloader must cope).
    return {"Access-Control-Allow-Origin": request.header("origin") or "*",
            "Access-Control-Allow-Credentials": "true"}


def _preflight(request: Request) -> Response:
    return Response(204, b"", {**_cors(request), "Access-Control-Allow-Methods": "GET, HEAD",
                               "Access-Control-Allow-Headers": "Range",
                               "Access-Control-Max-Age": "86400"})


def _ranged(request: Request, data: bytes) -> Response:
    total = len(data)
    headers = {"Content-Type": "video/mp4", "Accept-Ranges": "bytes", **_cors(request)}
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
        return _preflight(request)
    if request.method not in ("GET", "HEAD"):
        return None
    if request.path == "/login":
        return Response.html(login_page())
    page = PAGE_PATH.match(request.path)
    if page:
        return _page(web, request, page["video_id"])
    if CDN_PATH.match(request.path):
        return _cdn(web, request)
    return None
