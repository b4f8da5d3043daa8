"""A TikTok itemStruct → its video sources in the order to try, its caption tracks, and
`metadata.json` (pure, no I/O).

Video sources of the real site (yt-dlp's extractor and its issue threads, gallery-dl,
TikTok-Api): `playAddr` (a string, sometimes "", or a list of `{src}`), `PlayAddrStruct.UrlList`
(sometimes the only source), `bitrateInfo[]` gears, and `downloadAddr`, which carries a
burned-in "TikTok @author" watermark. Gears with `Format: "dash"` (paths with
`/media-video-…/`) are video-only, their audio a separate stream; bytevc2 gears do not decode
in common players; format URLs on the page's own host (`/aweme/v1/play/`) answer a few KB of
non-video. Those are skipped. Counts: `stats` rounds large values, `statsV2` has them exact
(as strings), and some items have only `statsV2`.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("tiktok_research.download")

HASHTAG = re.compile(r"#(\w+)", re.UNICODE)
# A user handle as TikTok links spell it (search.links.ITEM_PATH).
HANDLE = re.compile(r"[A-Za-z0-9._-]{1,64}")
UNPLAYABLE_CODECS = {"bytevc2"}
TIKTOK_HOSTS = {"www.tiktok.com", "tiktok.com", "m.tiktok.com"}
COUNTS = {"play_count": "playCount", "like_count": "diggCount", "comment_count": "commentCount",
          "share_count": "shareCount", "collect_count": "collectCount"}


@dataclass(frozen=True)
class Candidate:
    """One source of the video, as the page lists it."""

    url: str
    kind: str  # play_addr, play_addr_struct, gear or download_addr
    gear: str | None = None
    codec: str | None = None
    watermarked: bool = False


@dataclass(frozen=True)
class CaptionTrack:
    url: str
    language: str  # e.g. eng-US
    source: str | None  # ASR (speech recognition), MT (machine translation), LC (creator)
    format: str


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_number(value: Any) -> int | float | None:
    """A finite number from an int, a float or a numeric string ("12100", "12.5"), a whole one
    as an int (durations keep a fractional part); else None: NaN, ±Infinity and "1e999" (page
    JSON may hold them) included."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        number = float(value) if isinstance(value, float) else float(str(value).strip())
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() else number


# A count or a time beyond a signed 64-bit integer is no real value, and no database column
# holds it.
INT64_MAX = 2**63 - 1


def as_int(value: Any) -> int | None:
    """as_number, without its fractional part, within a signed 64-bit integer; else None."""
    number = as_number(value)
    return None if number is None or not -INT64_MAX - 1 <= number <= INT64_MAX else int(number)


def _urls(value: Any) -> list[str]:
    """URLs from a string, a list of strings or a list of `{src}` / `{MainUrl}` objects."""
    found = []
    for entry in value if isinstance(value, list) else [value]:
        if isinstance(entry, dict):
            entry = entry.get("src") or entry.get("MainUrl")
        if isinstance(entry, str) and entry.startswith(("http://", "https://")):
            found.append(entry)
    return found


# TikTok's CDN domains (a host is one of them or a subdomain): config tiktok.cdn_hosts.
DEFAULT_CDN_HOSTS = ("tiktok.com", "tiktokcdn.com", "tiktokcdn-us.com", "tiktokcdn-eu.com",
                     "tiktokv.com", "tiktokv.us", "tiktokv.eu", "byteoversea.com",
                     "ibytedtos.com", "ibyteimg.com", "muscdn.com")


@dataclass(frozen=True)
class SourceHosts:
    """Where page data may send a fetch made with the researcher's cookies: https on a CDN
    domain, or plain http on a local site named in `tiktok.hosts` (the demo and the tests)."""

    cdn: tuple[str, ...] = DEFAULT_CDN_HOSTS
    plain: tuple[str, ...] = ()  # `host:port` entries served over http

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme == "http":
            return parts.netloc.lower() in self.plain
        name = (parts.hostname or "").lower()
        return parts.scheme == "https" and any(
            name == domain or name.endswith("." + domain) for domain in self.cdn)


def _off_cdn(url: str, page_host: str | None) -> bool:
    """A format URL on the site itself, which answers non-video."""
    parts = urlsplit(url)
    on_site = parts.netloc.lower() in TIKTOK_HOSTS or (page_host and parts.netloc == page_host)
    return bool(on_site and parts.path.startswith("/aweme/"))


def _video_only(gear: dict[str, Any], url: str) -> bool:
    return (str(gear.get("Format") or "").lower() == "dash"
            or "/media-video-" in urlsplit(url).path)


def candidates(item: dict[str, Any], page_host: str | None = None,
               hosts: SourceHosts | None = None) -> list[Candidate]:
    """The video's sources in the order to try: unwatermarked progressive renditions with
    audio first (`playAddr`, `PlayAddrStruct`, muxed `bitrateInfo` gears), `downloadAddr`
    (watermarked) last; video-only DASH gears, unplayable codecs, on-site URLs and, given
    `hosts`, URLs on hosts it does not allow left out."""
    video = _dict(item.get("video"))
    found: list[Candidate] = []
    seen: set[str] = set()

    def add(url: str, kind: str, **extra: Any) -> None:
        if hosts is not None and not hosts.allows(url):
            log.warning("%s source on a host outside tiktok.cdn_hosts skipped: %s", kind,
                        urlsplit(url).netloc[:100])
            return
        if url not in seen and not _off_cdn(url, page_host):
            seen.add(url)
            found.append(Candidate(url, kind, **extra))

    for url in _urls(video.get("playAddr")):
        add(url, "play_addr")
    for url in _urls(_dict(video.get("PlayAddrStruct")).get("UrlList")):
        add(url, "play_addr_struct")
    for gear in _list(video.get("bitrateInfo")):
        gear = _dict(gear)
        codec = str(gear.get("CodecType") or "").lower() or None
        if codec in UNPLAYABLE_CODECS:
            continue
        for url in _urls(_dict(gear.get("PlayAddr")).get("UrlList")):
            if not _video_only(gear, url):
                add(url, "gear", gear=gear.get("GearName"), codec=codec)
    for url in _urls(video.get("downloadAddr")):
        add(url, "download_addr", watermarked=True)
    return found


def photo_images(item: dict[str, Any]) -> list[list[str]]:
    """A photo post's images in post order, each as the URLs that serve it
    (`imagePost.images[].imageURL.urlList`); an image without a URL is left out."""
    found = []
    for image in _list(_dict(item.get("imagePost")).get("images")):
        urls = _urls(_dict(_dict(image).get("imageURL")).get("urlList"))
        if urls:
            found.append(list(dict.fromkeys(urls)))
    return found


def candidate_urls(item: dict[str, Any], page_host: str | None = None) -> list[str]:
    return [candidate.url for candidate in candidates(item, page_host)]


def expects_audio(item: dict[str, Any]) -> bool:
    """Whether the page says the video has sound: an audio stream listed for it, or TikTok's
    own caption info saying the original audio is there. Without a word either way, a file
    without sound is taken as it is."""
    video = _dict(item.get("video"))
    if _list(video.get("bitrateAudioInfo")):
        return True
    return _dict(video.get("claInfo")).get("hasOriginalAudio") is True


def caption_tracks(item: dict[str, Any]) -> list[CaptionTrack]:
    """TikTok's own WebVTT caption tracks (`video.subtitleInfos`, `video.claInfo.captionInfos`),
    one per language, the first listed winning."""
    video = _dict(item.get("video"))
    tracks: dict[str, CaptionTrack] = {}
    for info in _list(video.get("subtitleInfos")):
        info = _dict(info)
        urls = _urls(info.get("Url"))
        language = str(info.get("LanguageCodeName") or info.get("LanguageID") or "")
        form = str(info.get("Format") or "").lower()
        if urls and language and form == "webvtt":
            tracks.setdefault(language, CaptionTrack(urls[0], language, info.get("Source"), form))
    for info in _list(_dict(video.get("claInfo")).get("captionInfos")):
        info = _dict(info)
        urls = _urls(info.get("url")) or _urls(info.get("urlList"))
        language = str(info.get("language") or info.get("languageCode") or "")  # "eng-US"
        form = str(info.get("captionFormat") or "webvtt").lower()
        if urls and language and form == "webvtt":
            tracks.setdefault(language, CaptionTrack(urls[0], language, "cla", form))
    return [track for track in tracks.values() if _safe_language(track.language)]


def _safe_language(language: str) -> bool:
    """A language code fit to name a file (`eng-US`, `zh-Hans`)."""
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}", language))


def hashtags_of(item: dict[str, Any]) -> list[str]:
    """Hashtag names in caption order: textExtra, else challenges, else `#words` of the caption."""
    names: list[str] = []
    for extra in _list(item.get("textExtra")):
        name = _dict(extra).get("hashtagName")
        if isinstance(name, str) and name and name not in names:
            names.append(name)
    if not names:
        for challenge in _list(item.get("challenges")):
            name = _dict(challenge).get("title")
            if isinstance(name, str) and name and name not in names:
                names.append(name)
    if not names:
        desc = item.get("desc") if isinstance(item.get("desc"), str) else ""
        for name in HASHTAG.findall(desc):
            if name not in names:
                names.append(name)
    return names


def iso_utc(timestamp: Any) -> str | None:
    seconds = as_int(timestamp)
    if seconds is None:
        return None
    try:
        moment = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.isoformat().replace("+00:00", "Z")


def counts(item: dict[str, Any]) -> dict[str, int | None]:
    """The counts as integers: `statsV2` (exact) where it has them, `stats` (rounded) else."""
    exact, rounded = _dict(item.get("statsV2")), _dict(item.get("stats"))
    found = {}
    for field_name, key in COUNTS.items():
        value = as_int(exact.get(key))
        found[field_name] = value if value is not None else as_int(rounded.get(key))
    return found


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def build_metadata(item: dict[str, Any], *, video_id: str, url: str, downloaded_at: str,
                   name_user_in_url: bool = True) -> dict[str, Any]:
    """`metadata.json` for a downloaded video: the author, caption, hashtags, times, size,
    counts, music, location and stickers the page gives. A link without its user (`/@_/`)
    gets the item's, unless not `name_user_in_url` (a pseudonymised study's links name
    nobody)."""
    author = _dict(item.get("author"))
    video = _dict(item.get("video"))
    music = _dict(item.get("music"))
    stickers = [text for sticker in _list(item.get("stickersOnItem"))
                for text in _list(_dict(sticker).get("stickerText")) if isinstance(text, str)]
    handle = _text(author.get("uniqueId"))
    if name_user_in_url and handle and HANDLE.fullmatch(handle):
        # A link that did not name its user (/share/video/ID, /embed/v2/ID) was written onto
        # `/@_/video/ID`; the item names the user.
        url = url.replace("/@_/", f"/@{handle}/", 1)
    return {
        "video_id": video_id,
        "url": url,
        "author": handle,
        "author_id": str(author["id"]) if isinstance(author.get("id"), (str, int)) else None,
        "author_nickname": _text(author.get("nickname")),
        "author_sec_uid": _text(author.get("secUid")),
        "caption": _text(item.get("desc")) or "",
        "hashtags": hashtags_of(item),
        "create_time": iso_utc(item.get("createTime")),
        "duration": as_number(video.get("duration")),
        "width": as_int(video.get("width")),
        "height": as_int(video.get("height")),
        **counts(item),
        "music_title": _text(music.get("title")),
        "music_author": _text(music.get("authorName")),
        "location": _text(item.get("locationCreated")),
        "stickers": stickers,
        "downloaded_at": downloaded_at,
    }
