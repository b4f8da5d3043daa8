"""Fake TikTok, the item: `itemInfo.itemStruct` of a video page built from the catalog's
DemoVideo (reference/external-apis.md), with its counts, signed CDN URLs, renditions (gears, a
DASH audio stream) and captions. Each shape of the real site names its public source where it
is built; the pages that carry it are in `fakeweb.tiktok_pages`, the site in `fakeweb.tiktok`.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any

from tiktok_research.fakeweb.catalog import DemoVideo
from tiktok_research.fakeweb.web import Web

WWW_PLAY_PATH = "/aweme/v1/play/"
CAPTION_URL_TTL = 24 * 3600  # reference: caption URLs expire in about a day
SIGNING_KEY = "fake-tiktok-cdn"
# Illustrative caption language ids and two-letter codes (subtitleInfos[].LanguageID,
# claInfo.captionInfos[].languageCode).
CAPTION_LANGUAGES = {"eng-US": ("2", "en"), "spa-ES": ("7", "es"), "por-PT": ("16", "pt"),
                     "jpn-JP": ("9", "ja"), "kor-KR": ("10", "ko"), "tha-TH": ("31", "th"),
                     "deu-DE": ("4", "de")}


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


MENTION = re.compile(r"(?<![\w.])@([A-Za-z0-9_.]+[A-Za-z0-9_])")


def _mentioned_user(handle: str) -> tuple[str, str]:
    """The user id and secUid of a mentioned handle (made up, stable)."""
    digest = hashlib.sha1(handle.lower().encode()).hexdigest()
    return str(6_800_000_000_000_000_000 + int(digest[:12], 16)), "MS4wLjABAAAA" + digest[:40]


def _text_extra(desc: str, hashtags: list[str]) -> list[dict[str, Any]]:
    """Hashtags (type 1) and @-mentions of the caption (type 0, with the mentioned user's
    `userId`, `userUniqueId` and `secUid`)."""
    extras = []
    for match in MENTION.finditer(desc):
        user_id, sec_uid = _mentioned_user(match[1])
        extras.append({"awemeId": "", "start": match.start(), "end": match.end(),
                       "hashtagName": "", "isCommerce": False, "subType": 0, "type": 0,
                       "userId": user_id, "userUniqueId": match[1].lower(), "secUid": sec_uid})
    for tag in hashtags:
        start = desc.find(f"#{tag}")
        if start >= 0:
            extras.append({"awemeId": "", "start": start, "end": start + len(tag) + 1,
                           "hashtagId": str(int(hashlib.sha1(tag.encode()).hexdigest()[:12], 16)),
                           "hashtagName": tag, "isCommerce": False, "subType": 0, "type": 1})
    return extras


# --- URLs -----------------------------------------------------------------------------------
def signature(video_id: str, expire: int, variant: str) -> str:
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
             f"&policy=2&signature={signature(video.video_id, expire, variant)}"
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


def photo_url(web: Web, video: DemoVideo, index: int) -> str:
    """Where the fake serves image `index` of a photo post."""
    return f"http://{web.host}/photo/{video.video_id}/{index}.jpeg"


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
                       for extra in _text_extra(video.desc, video.hashtags)
                       if extra["type"] == 1],
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
            # One image per scene, its text drawn on it (fakeweb.media.ensure_photo), served by
            # fakeweb.tiktok at PHOTO_PATH.
            "images": [{"imageURL": {"urlList": [photo_url(web, video, n)]},
                        "imageWidth": video.width, "imageHeight": video.height}
                       for n in range(len(video.scenes))],
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


def item_for(web: Web, video: DemoVideo, expire: int, page_host: str,
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
    item = item_struct(web, video, expire, page_host, caption_expire)
    for key, value in video.item_patch.items():
        if key == "video" and isinstance(value, dict) and isinstance(item.get("video"), dict):
            item["video"] = {**item["video"], **value}
        else:
            item[key] = value
    return item
