"""Fake TikTok: video pages `GET /@{user}/video/{id}` (and `/@{user}/photo/{id}`), the video
CDN `GET /video/tos/...` and the www host's own `GET /aweme/v1/play/`.

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
status kinds and item shapes are in STATUS_CODES and `_item_for`. Each shape of the real site
names its public source where it is built.
"""

from __future__ import annotations

import base64
import binascii
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
# The user part may be empty: yt-dlp rewrites /share/video/ID and /embed/v2/ID links to
# https://www.tiktok.com/@/video/ID (its _create_url), which the site serves.
PAGE_PATH = re.compile(r"^/@(?P<user>[^/]*)/(?P<form>video|photo)/(?P<video_id>\d+)/?$")
# yt-dlp's extractor marks gears whose path ends in /media-video-hvc1/ as video-only.
CDN_PATH = re.compile(
    r"^/video/tos/(?P<region>[a-z0-9]+)/(?P<token>[0-9a-f]+)(?P<dash>/media-video-hvc1)?/?$")
WWW_PLAY_PATH = "/aweme/v1/play/"
RANGE = re.compile(r"^bytes=(?P<start>\d*)-(?P<end>\d*)$")
DEFAULT_URL_TTL = 6 * 3600
CAPTION_URL_TTL = 24 * 3600  # reference: caption URLs expire in about a day
SIGNING_KEY = "fake-tiktok-cdn"
# statusCode per kind (reference "statusCode values"; gallery-dl's _check_status_code names
# 10221 "User account could not be found" and 10231 "Region locked").
STATUS_CODES = {"private": 10216, "private_account": 10222, "unavailable": 10204,
                "other_status": 10101, "region_locked": 10231, "user_not_found": 10221}
STATUS_MESSAGES = {10216: "item is private", 10222: "author is private",
                   10204: "item doesn't exist", 10101: "item not available",
                   10231: "item is not available in your region", 10221: "user doesn't exist"}
# The WAF challenge (yt-dlp's _solve_challenge_and_set_cookies, gallery-dl's _solve_challenge):
# `#cs` holds base64 JSON {"v": {"a": base64 prefix, "c": base64 SHA-256(prefix + str(n))}};
# the page finds n, adds "d": base64(str(n)), and sets the base64 of that JSON as the cookie
# named by `#wci` (and `#rci` = `#rs`), with a short Max-Age (the real script's is 1 s), then
# reloads. n stays below WAF_MAX_NONCE so the page solves it in well under a second.
WAF_COOKIE = "_wafchallengeid"
WAF_ORIGIN_COOKIE = "waforiginalreid"
WAF_MAX_NONCE = 2000
WAF_COOKIE_MAX_AGE = 5
# Illustrative caption language ids and two-letter codes (subtitleInfos[].LanguageID,
# claInfo.captionInfos[].languageCode).
CAPTION_LANGUAGES = {"eng-US": ("2", "en"), "spa-ES": ("7", "es"), "por-PT": ("16", "pt"),
                     "jpn-JP": ("9", "ja"), "kor-KR": ("10", "ko"), "tha-TH": ("31", "th"),
                     "deu-DE": ("4", "de")}
WWW_NON_VIDEO_BYTES = 31 * 1024
_media_lock = threading.Lock()


# --- counts ---------------------------------------------------------------------------------
def displayed_count(value: int) -> int:
    """A count as `stats` carries it once it is large: the precision TikTok shows (22.6K, 1.8M)
    as an int. TikTok-Api PR #1143 ("Added support for statsV2") shows the pair: stats
    playCount 1800000 / statsV2 "1776621", commentCount 16000 / "15955", diggCount 22600 /
    "22609", collectCount 2787 / "2787"."""
    for unit in (1_000_000_000, 1_000_000, 1_000):
        if value >= unit * (10 if unit == 1_000 else 1):
            return round(value / (unit // 10)) * (unit // 10)
    return value


def _stats(video: DemoVideo) -> dict[str, Any]:
    values = {name: displayed_count(value) if video.rounded_stats else value
              for name, value in video.stats.items()}
    if video.counts_as_strings:
        return {name: str(value) for name, value in values.items()}
    return values


def _text_extra(desc: str, hashtags: list[str]) -> list[dict[str, Any]]:
    extras = []
    for tag in hashtags:
        start = desc.find(f"#{tag}")
        if start >= 0:
            extras.append({"awemeId": "", "start": start, "end": start + len(tag) + 1,
                           "hashtagId": str(int(hashlib.sha1(tag.encode()).hexdigest()[:12], 16)),
                           "hashtagName": tag, "isCommerce": False, "subType": 0, "type": 1})
    return extras


# --- URLs -----------------------------------------------------------------------------------
def _signature(video_id: str, expire: int, variant: str) -> str:
    return hashlib.sha256(f"{SIGNING_KEY}:{video_id}:{expire}:{variant}".encode()).hexdigest()[:32]


def _token(video: DemoVideo, variant: str) -> str:
    return hashlib.sha1(f"{video.video_id}{variant}".encode()).hexdigest()[:32]


def video_url(web: Web, video: DemoVideo, expire: int, variant: str, *,
              mime: str = "video_mp4") -> str:
    """A CDN URL shaped like TikTok's (`...&expire=...&signature=...&tk=tt_chain_token`).

    `variant` names the stream: play/v16/v19 (the muxed file), download, struct, dash_video,
    dash_audio, bytevc2, caption-<language>; a `_bak` suffix is the same stream on the v19
    mirror. Clean renditions carry `lr=unwatermarked`, downloadAddr `lr=all` (reference)."""
    watermark = "all" if variant == "download" else "unwatermarked"
    query = (f"a=1988&bti=NEBzNTY6&ch=0&cr=3&dr=0&lr={watermark}&cd=0%7C0%7C0%7C&br=1226&bt=613"
             f"&cs=0&ds=6&ft=-Csk_mq8PD12NLnbRh-UxPjtYsBmZyiDUhxDLvr&mime_type={mime}"
             f"&qs=0&rc=aDdoNzc&vvpl=1&l=20240101&btag=e00090000&expire={expire}"
             f"&policy=2&signature={_signature(video.video_id, expire, variant)}"
             f"&tk=tt_chain_token&vid={video.video_id}&variant={variant}")
    dash = "/media-video-hvc1" if variant.startswith("dash_video") else ""
    path = f"/video/tos/maliva/{_token(video, variant)}{dash}/"
    return f"http://{cdn_host(web, variant)}{path}?{query}"


def cdn_host(web: Web, variant: str) -> str:
    """The CDN's host: the fake's own, or with `web.state["tiktok_domain"]` (e.g. "tiktok.test",
    resolved to the fake by the browser) a separate, cross-origin host as on TikTok."""
    domain = web.state.get("tiktok_domain")
    if not domain:
        return web.host
    mirror = "v19" if variant == "v19" or variant.endswith("_bak") else "v16"
    return f"{mirror}-webapp-prime.{domain}:{web.host.rsplit(':', 1)[1]}"


def www_play_url(page_host: str, video: DemoVideo) -> str:
    """A format URL on the page's own host. yt-dlp issue #11034 ("31KB non-video files are
    being downloaded"): such URLs answer ~31 KB that is not the video, and the extractor now
    drops every format hosted on www.tiktok.com."""
    file_id = _token(video, "www")
    return (f"http://{page_host}{WWW_PLAY_PATH}?faid=1988&file_id={file_id}&is_play_url=1"
            f"&item_id={video.video_id}&line=0&ply_type=2&signaturev3={file_id[:24]}"
            f"&tk=tt_chain_token&video_id=v12044gd0000{video.video_id}")


def _uri(video: DemoVideo) -> str:
    return f"v12044gd0000{video.video_id}"


def _play_addr(video: DemoVideo, urls: list[str], codec_key: str, bitrate: int) -> dict[str, Any]:
    """A gear's PlayAddr. UrlKey follows the `v…_<codec>_<res>p_<bitrate>` pattern yt-dlp's
    _parse_url_key reads the codec from (it flags `bytevc2` as unplayable)."""
    return {"Uri": _uri(video), "DataSize": 0, "Width": video.width, "Height": video.height,
            "UrlList": urls, "UrlKey": f"{_uri(video)}_{codec_key}_540p_{bitrate}",
            "FileHash": _token(video, f"hash{codec_key}")}


def _audio_file_id(video: DemoVideo) -> str:
    return _token(video, "audio_file")


def _gears(web: Web, video: DemoVideo, expire: int, page_host: str) -> list[dict[str, Any]]:
    """video.bitrateInfo: [a DASH video-only gear], [a bytevc2 gear], the muxed h264 gear."""
    gears = []
    if video.first_gear == "dash":
        # A DASH rung (reference "Video sources"; yt-dlp's _extract_web_formats marks paths
        # ending in /media-video-hvc1/ acodec none, issues #16622/#17372): video only, its
        # sound in bitrateAudioInfo, linked by VideoExtra.audio_file_id. VideoExtra is a JSON
        # string, as in TikTok's published IDL (BitrateStruct.VideoExtra "json string").
        extra: dict[str, Any] = {"PktOffset": "1024"}
        if video.has_audio:
            extra["audio_file_id"] = _audio_file_id(video)
        gears.append({
            "GearName": "adapt_540_1", "Bitrate": 801000, "QualityType": 28,
            "CodecType": "h265_hvc1", "Format": "dash", "FPS": 15,
            "VideoExtra": json.dumps(extra, separators=(",", ":")),
            "PlayAddr": _play_addr(video, [video_url(web, video, expire, "dash_video"),
                                           video_url(web, video, expire, "dash_video_bak")],
                                   "bytevc1", 801000),
        })
    if video.bytevc2_gear:
        # ByteDance's own codec (yt-dlp: "bytevc2 … as-of-yet unplayable", preference -100;
        # issue #9567 "New API fix adds non-playable video codec").
        gears.append({
            "GearName": "adapt_lowest_540_1", "Bitrate": 512000, "QualityType": 25,
            "CodecType": "bytevc2", "Format": "mp4", "FPS": 15,
            "PlayAddr": _play_addr(video, [video_url(web, video, expire, "bytevc2")],
                                   "bytevc2", 512000),
        })
    urls = [video_url(web, video, expire, "v16"), video_url(web, video, expire, "v19")]
    if video.www_format_url:
        urls.insert(0, www_play_url(page_host, video))
    gear = {"GearName": "lower_540_0", "Bitrate": 1256144, "QualityType": 24, "CodecType": "h264",
            "PlayAddr": {"Uri": _uri(video), "DataSize": 0, "Width": video.width,
                         "Height": video.height, "UrlList": urls}}
    if video.first_gear == "dash" or video.bytevc2_gear or video.www_format_url:
        gear["Format"] = "mp4"
        gear["PlayAddr"]["UrlKey"] = f"{_uri(video)}_h264_540p_1256144"
    gears.append(gear)
    return gears


def _audio_info(web: Web, video: DemoVideo, expire: int) -> list[dict[str, Any]]:
    """video.bitrateAudioInfo for a DASH gear: the audio alone (reference: `UrlList` of
    {MainUrl, BackupUrl}; TikTok's IDL BitrateMetaStruct: UrlList {MainUrl, BackupUrl,
    FallbackUrl}, FileId, FileHash, Bitrate, CodecType, MediaType). `UrlList` is a list of one
    such object, or with `audio_url_list_as_object` the object itself, as some clients'
    fixtures have it."""
    main = video_url(web, video, expire, "dash_audio", mime="audio_mp4")
    backup = video_url(web, video, expire, "dash_audio_bak", mime="audio_mp4")
    urls: dict[str, str] = {"MainUrl": main, "BackupUrl": backup, "FallbackUrl": backup}
    return [{
        "AudioQuality": 1, "AudioQualityString": "adapt_audio_medium", "Bitrate": 64000,
        "CodecType": "aac", "MediaType": "audio", "Format": "dash",
        "FileId": _audio_file_id(video), "FileHash": _token(video, "audio_hash"), "Size": 0,
        "UrlList": urls if video.audio_url_list_as_object else [urls],
    }]


def _captions(web: Web, video: DemoVideo, caption_expire: int) -> dict[str, Any]:
    """video.subtitleInfos and video.claInfo (reference "Captions"; gallery-dl's
    _extract_subtitles reads LanguageID, LanguageCodeName, Format, Version, Source, Url;
    yt-dlp's _get_subtitles reads subtitleInfos[].Url/LanguageCodeName/Format; TikTok's IDL
    ClaStruct: HasOriginalAudio, EnableAutoCaption, CaptionInfos). A post without its own
    audio says `hasOriginalAudio: false` (a public client's fixture of a music-track post:
    captionInfos [], noCaptionReason 3)."""
    from tiktok_research.fakeweb.media import webvtt

    size = str(len(webvtt(video).encode("utf-8"))) if video.captions else "0"
    subtitles, infos = [], []
    for index, language in enumerate(video.captions):
        language_id, code = CAPTION_LANGUAGES.get(language, (str(100 + index), language[:2]))
        source = video.caption_source if index == 0 else "MT"
        url = video_url(web, video, caption_expire, f"caption-{language}", mime="video_subtitle")
        backup = video_url(web, video, caption_expire, f"caption-{language}_bak",
                           mime="video_subtitle")
        subtitles.append({"Url": url, "UrlExpire": str(caption_expire), "Size": size,
                          "LanguageID": language_id, "LanguageCodeName": language,
                          "Format": "webvtt", "Version": "1", "Source": source})
        infos.append({"language": language, "languageID": language_id, "languageCode": code,
                      "url": url, "urlList": [url, backup], "captionFormat": "webvtt",
                      "expire": caption_expire, "isAutoGenerated": source == "ASR",
                      "isOriginalCaption": index == 0})
    cla: dict[str, Any] = {"enableAutoCaption": bool(infos), "hasOriginalAudio": video.has_audio,
                           "captionInfos": infos}
    if not video.has_audio:
        cla["noCaptionReason"] = 3
    return {"subtitleInfos": subtitles, "claInfo": cla}


# --- items ----------------------------------------------------------------------------------
def item_struct(web: Web, video: DemoVideo, expire: int, page_host: str | None = None,
                caption_expire: int | None = None) -> dict[str, Any]:
    """The itemStruct of reference/external-apis.md for one demo video."""
    page_host = page_host or web.host
    if caption_expire is None:
        caption_expire = int(time.time()) + CAPTION_URL_TTL
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
        "stats": _stats(video),
        # statsV2: the exact counts as strings (TikTok-Api PR #1143, which prefers it).
        "statsV2": {name: str(value) for name, value in video.stats.items()},
        "challenges": [{"id": extra["hashtagId"], "title": extra["hashtagName"], "desc": ""}
                       for extra in _text_extra(video.desc, video.hashtags)],
        "textExtra": _text_extra(video.desc, video.hashtags),
        "stickersOnItem": [{"stickerText": [scene.text], "stickerType": 4}
                           for scene in video.scenes[:1]],
    }
    if video.stats_v2_only:  # TikTok-Api PR #1143: "statsV2-only users"
        del item["stats"]
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
    if video.kind == "age_restricted":
        # yt-dlp's _extract_web_data_and_status: no `video` and isContentClassified → "This
        # post may not be comfortable for some audiences. Log in for access".
        item["isContentClassified"] = True
        return item
    sources: dict[str, Any] = {}
    if video.download_only:
        pass  # downloadAddr alone (below)
    elif video.sources == "struct_only":
        # playAddr "" with PlayAddrStruct the only clean source (reference "Video sources").
        sources["playAddr"] = ""
        sources["PlayAddrStruct"] = {
            "Uri": _uri(video), "UrlKey": f"{_uri(video)}_h264_540p_1256144", "DataSize": 0,
            "Width": video.width, "Height": video.height,
            "UrlList": [video_url(web, video, expire, "struct"),
                        video_url(web, video, expire, "struct_bak")],
            "FileHash": _token(video, "struct_hash"),
        }
    else:
        play = video_url(web, video, expire, "play")
        if video.play_addr_list:
            # yt-dlp's _extract_web_formats also takes playAddr as a list of {src} objects.
            sources["playAddr"] = [{"src": play},
                                   {"src": video_url(web, video, expire, "play_bak")}]
        else:
            sources["playAddr"] = play
        sources["bitrateInfo"] = _gears(web, video, expire, page_host)
        if video.first_gear == "dash" and video.has_audio:
            sources["bitrateAudioInfo"] = _audio_info(web, video, expire)
    item["video"] = {
        **geometry,
        **sources,
        # downloadAddr: burned-in "TikTok @author" watermark when the video says so (yt-dlp
        # notes it "watermarked", preference -2).
        "downloadAddr": video_url(web, video, expire, "download"),
        **_captions(web, video, caption_expire),
    }
    return item


def _item_for(web: Web, video: DemoVideo, expire: int, page_host: str,
              caption_expire: int) -> dict[str, Any] | None:
    """itemInfo.itemStruct for a statusCode-0 page (None: no itemInfo at all)."""
    if video.kind == "missing_item":
        return None
    if video.kind == "empty_item":
        return {}
    if video.kind == "login_wall":
        # 4CAT's search_tiktok_urls: `not video.get("stats") or video.get("createTime") ==
        # "0"` → "post exists but requires logging in" (empty metadata).
        return {"id": video.video_id, "desc": "", "createTime": "0",
                "isContentClassified": False,
                "author": {"id": "", "uniqueId": "", "nickname": "", "secUid": ""},
                "stats": {}, "statsV2": {},
                "video": {"id": "", "width": 0, "height": 0, "duration": 0, "cover": ""}}
    return item_struct(web, video, expire, page_host, caption_expire)


def _script(element_id: str, payload: Any) -> str:
    text = json.dumps(payload, ensure_ascii=False).replace("</", "<\\/")
    return f'<script id="{element_id}" type="application/json">{text}</script>'


def _document(title: str, body: str, body_class: str = "") -> str:
    body_tag = f'<body class="{body_class}">' if body_class else "<body>"
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title></head>{body_tag}{body}</body></html>")


def universal_page(web: Web, video: DemoVideo, expire: int, page_host: str | None = None,
                   caption_expire: int | None = None) -> str:
    code = STATUS_CODES.get(video.kind, 0)
    detail: dict[str, Any] = {"statusCode": code, "statusMsg": STATUS_MESSAGES.get(code, "")}
    if code == 0:
        if caption_expire is None:
            caption_expire = int(time.time()) + CAPTION_URL_TTL
        item = _item_for(web, video, expire, page_host or web.host, caption_expire)
        if item is not None:
            detail["itemInfo"] = {"itemStruct": item}
        detail["shareMeta"] = {"title": f"{video.nickname} on TikTok", "desc": video.desc}
    data = {"__DEFAULT_SCOPE__": {
        "webapp.app-context": {"language": "en", "region": "US", "appId": 1988,
                               "user": {}, "wid": str(int(time.time() * 1000))},
        "webapp.biz-context": {"isMobile": False},
        "webapp.video-detail": detail,
    }}
    body = '<div id="app"></div>' + _script("__UNIVERSAL_DATA_FOR_REHYDRATION__", data)
    return _document(f"{video.desc} | TikTok", body)


def legacy_page(web: Web, video: DemoVideo, expire: int, page_host: str | None = None,
                caption_expire: int | None = None) -> str:
    item = item_struct(web, video, expire, page_host, caption_expire)
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


# --- bot defences ---------------------------------------------------------------------------
def challenge_page() -> str:
    """The old static bot page (`challenge_visits`): no data, does nothing by itself."""
    body = ('<div id="cs" class="captcha-verify-container"><div id="wci" class="wci">'
            '<p>Please wait...</p></div></div>'
            '<script>setTimeout(function(){},1000)</script>')
    return _document("Please wait...", body)


def _b64(data: bytes) -> str:
    """Base64 without padding: yt-dlp and gallery-dl add `===`/`==` before decoding."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _sha256_tables() -> tuple[list[int], list[int]]:
    """SHA-256's round constants and initial hash (fractional bits of the cube and square roots
    of the first primes), exact in integers, for the page's fallback digest."""
    primes: list[int] = []
    candidate = 2
    while len(primes) < 64:
        if all(candidate % p for p in primes if p * p <= candidate):
            primes.append(candidate)
        candidate += 1

    def root(value: int, power: int) -> int:
        low, high = 0, 1 << 64
        while low < high:
            middle = (low + high + 1) // 2
            if middle ** power <= value:
                low = middle
            else:
                high = middle - 1
        return low

    rounds = [root(p << 96, 3) & 0xFFFFFFFF for p in primes]
    initial = [root(p << 64, 2) & 0xFFFFFFFF for p in primes[:8]]
    return rounds, initial


_ROUNDS, _INITIAL = _sha256_tables()
# The page's solver. crypto.subtle exists only in a secure context (https, or http on
# 127.0.0.1/localhost); the fake's cross-origin mode serves http://www.<domain>, so the page
# falls back to a small SHA-256 of its own there.
WAF_SCRIPT = """
(function () {
  var K = %(rounds)s, H = %(initial)s, LIMIT = %(limit)d, MAX_AGE = %(max_age)d;
  function rotr(x, n) { return (x >>> n) | (x << (32 - n)); }
  function sha256(bytes) {
    var length = bytes.length, total = ((length + 72) >> 6) << 6, i, j;
    var m = new Uint8Array(total), w = new Array(64), h = H.slice(), bits = length * 8;
    m.set(bytes); m[length] = 0x80;
    for (i = 0; i < 4; i++) m[total - 1 - i] = (bits >>> (8 * i)) & 255;
    for (var at = 0; at < total; at += 64) {
      for (i = 0; i < 16; i++) {
        j = at + 4 * i;
        w[i] = (m[j] << 24) | (m[j + 1] << 16) | (m[j + 2] << 8) | m[j + 3];
      }
      for (i = 16; i < 64; i++) {
        var s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
        var s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
      for (i = 0; i < 64; i++) {
        var t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g))
                  + K[i] + w[i]) | 0;
        var t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0;
      h[3] = (h[3] + d) | 0; h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0;
      h[6] = (h[6] + g) | 0; h[7] = (h[7] + k) | 0;
    }
    var out = new Uint8Array(32);
    for (i = 0; i < 8; i++) {
      out[4 * i] = h[i] >>> 24; out[4 * i + 1] = (h[i] >>> 16) & 255;
      out[4 * i + 2] = (h[i] >>> 8) & 255; out[4 * i + 3] = h[i] & 255;
    }
    return out;
  }
  var subtle = window.isSecureContext && window.crypto && window.crypto.subtle;
  function digest(bytes) {
    if (!subtle) return Promise.resolve(sha256(bytes));
    return crypto.subtle.digest("SHA-256", bytes).then(function (b) { return new Uint8Array(b); });
  }
  function unb64(text) {
    while (text.length %% 4) text += "=";
    var raw = atob(text), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  function same(x, y) {
    if (x.length !== y.length) return false;
    for (var i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  }
  function className(id) { var el = document.getElementById(id); return el ? el.className : ""; }
  var cs = JSON.parse(new TextDecoder().decode(unb64(className("cs"))));
  var prefix = unb64(cs.v.a), expected = unb64(cs.v.c), encoder = new TextEncoder();
  async function solve() {
    for (var n = 0; n <= LIMIT; n++) {
      var tail = encoder.encode(String(n)), data = new Uint8Array(prefix.length + tail.length);
      data.set(prefix); data.set(tail, prefix.length);
      if (same(await digest(data), expected)) return n;
    }
    return -1;
  }
  solve().then(function (n) {
    if (n < 0) return;
    cs.d = btoa(String(n));
    var tail = "; Max-Age=" + MAX_AGE + "; Path=/; SameSite=Lax";
    document.cookie = className("wci") + "=" + btoa(JSON.stringify(cs)) + tail;
    if (className("rci") && className("rs")) {
      document.cookie = className("rci") + "=" + className("rs") + tail;
    }
    location.reload();
  });
})();
"""


def waf_challenge_page(web: Web, video: DemoVideo) -> str:
    """The WAF's "Please wait..." page with a fresh proof-of-work challenge (module constants
    above: the shape yt-dlp and gallery-dl solve natively), remembered until it is answered."""
    prefix = secrets.token_bytes(24)
    answer = secrets.randbelow(WAF_MAX_NONCE)
    expected = hashlib.sha256(prefix + str(answer).encode()).digest()
    challenge = {"v": {"a": _b64(prefix), "c": _b64(expected)}}
    with web.lock:
        web.state.setdefault("tiktok_waf", {})[challenge["v"]["a"]] = {
            "video": video.video_id, "c": challenge["v"]["c"], "used": False}
    script = WAF_SCRIPT % {"rounds": json.dumps(_ROUNDS), "initial": json.dumps(_INITIAL),
                           "limit": WAF_MAX_NONCE, "max_age": WAF_COOKIE_MAX_AGE}
    cs = _b64(json.dumps(challenge, separators=(",", ":")).encode())
    body = (f'<div id="cs" class="{cs}"></div><div id="wci" class="{WAF_COOKIE}"></div>'
            f'<div id="rci" class="{WAF_ORIGIN_COOKIE}"></div>'
            f'<div id="rs" class="{secrets.token_hex(16)}"></div>'
            f'<p>Please wait...</p><script>{script}</script>')
    return _document("Please wait...", body)


def waf_solution(challenge: dict[str, Any], answer: int) -> str:
    """The cookie value a solver sets for `challenge` (the decoded `#cs` JSON) and its nonce."""
    solved = {**challenge, "d": base64.b64encode(str(answer).encode()).decode()}
    return base64.b64encode(json.dumps(solved, separators=(",", ":")).encode()).decode()


def _waf_passed(web: Web, request: Request, video: DemoVideo) -> bool:
    """Whether the request carries an unused, correct answer to a challenge issued for `video`."""
    raw = request.cookies().get(WAF_COOKIE, "")
    if not raw:
        return False
    try:
        solved = json.loads(_unb64(raw.strip('"').rstrip("=")))
        prefix_text, expected_text = solved["v"]["a"], solved["v"]["c"]
        nonce, prefix, expected = (_unb64(solved["d"].rstrip("=")), _unb64(prefix_text),
                                   _unb64(expected_text))
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        return False
    if hashlib.sha256(prefix + nonce).digest() != expected:
        return False
    with web.lock:
        issued = web.state.get("tiktok_waf", {}).get(prefix_text.rstrip("="))
        if (not issued or issued["video"] != video.video_id or issued["used"]
                or issued["c"] != expected_text.rstrip("=")):
            return False
        issued["used"] = True
    return True


def captcha_page(video: DemoVideo) -> str:
    """The app page under a slider captcha, with no data (reference "Captcha overlay": the
    class and id names TikTok's secsdk captcha uses)."""
    pixel = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJ"
             "RU5ErkJggg==")
    body = ('<div id="app"><div id="main-content-video_detail"></div></div>'
            '<div class="TUXModal captcha-verify-container" role="dialog">'
            '<div class="cap-flex"><div class="captcha_verify_bar--title">'
            'Drag the slider to fit the puzzle</div>'
            '<div class="captcha_verify_img--wrapper">'
            f'<img id="captcha-verify-image" alt="Captcha" src="data:image/png;base64,{pixel}">'
            '</div><div class="captcha_verify_slide--slidebar">'
            '<div class="secsdk-captcha-drag-icon captcha_verify_slide--button"></div></div>'
            '</div></div>')
    return _document(f"{video.desc} | TikTok", body, body_class="captcha-disable-scroll")


def shell_page() -> str:
    """The app's shell with no data script at all (what a throttled request can get)."""
    body = ('<div id="app"></div><script>window.__APP_SHELL__ = true;</script>')
    return _document("TikTok - Make Your Day", body)


def login_page() -> str:
    return _document("Log in | TikTok", '<div id="loginContainer"><h2>Log in to TikTok</h2></div>')


def deleted_page() -> str:
    return _document("Video currently unavailable | TikTok",
                     '<div id="app"><p>Video currently unavailable</p></div>')


def _page(web: Web, request: Request, video_id: str) -> Response:
    video = web.catalog.videos.get(video_id)
    web.count(f"tiktok_page:{video_id}")
    if video is None:
        return Response.html(deleted_page(), 404)
    if video.waf_challenge_rounds > 0:
        solved_key = f"tiktok_waf_solved:{video_id}"
        with web.lock:
            solved = web.counters.get(solved_key, 0)
        if solved < video.waf_challenge_rounds and _waf_passed(web, request, video):
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
    if request.query.get("signature") != _signature(video.video_id, expire, variant):
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
        page = _document("TikTok", "<p>Something went wrong. Please try again.</p>")
        return Response.html(page)
    stream = _stream(web, video, variant)
    if stream is None:
        return _not_found(cors)
    data, content_type = stream
    if video.kind == "truncated":
        data = data[: len(data) * 3 // 5]
    return _ranged(request, data, content_type, cors)


def _www_play(web: Web, request: Request) -> Response:
    """`/aweme/v1/play/` on the page's host: ~31 KB that is not a video (yt-dlp #11034)."""
    if request.query.get("item_id", "") not in web.catalog.videos:
        return _not_found()
    page = _document("TikTok", "<p>Loading...</p>" + "<!-- " + "0" * WWW_NON_VIDEO_BYTES + " -->")
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
    page = PAGE_PATH.match(request.path)
    if page:
        return _page(web, request, page["video_id"])
    if CDN_PATH.match(request.path):
        return _cdn(web, request)
    if request.path == WWW_PLAY_PATH:
        return _www_play(web, request)
    return None
