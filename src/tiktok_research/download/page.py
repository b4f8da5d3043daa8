"""TikTok video pages → outcome, candidate video URLs and `metadata.json` (pure, no I/O).

A page carries its data in `<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__">` →
`__DEFAULT_SCOPE__["webapp.video-detail"]` (`statusCode`, `itemInfo.itemStruct`); older pages
in `<script id="SIGI_STATE">` → `ItemModule[id]` with the status under `VideoPage`. A page with
neither is a bot challenge or a login wall: worth another visit later. Counts and times arrive
as ints or strings; both are accepted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, Literal
from urllib.parse import urlsplit

UNIVERSAL_DATA_ID = "__UNIVERSAL_DATA_FOR_REHYDRATION__"
SIGI_STATE_ID = "SIGI_STATE"
PRIVATE_CODES = {10216: "private_post", 10222: "private_account"}
UNAVAILABLE_CODE = 10204
HASHTAG = re.compile(r"#(\w+)", re.UNICODE)

Status = Literal["ok", "unavailable", "retry"]


@dataclass(frozen=True)
class PageOutcome:
    """What one visit of a video page found.

    `status` is "ok" (item holds the normalised itemStruct), "unavailable" (private, deleted,
    not available, a photo post: final, no retry helps) or "retry" (challenge, login wall).
    """

    status: Status
    reason: str = ""
    status_code: int | None = None
    item: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class _ScriptFinder(HTMLParser):
    """Collects the text of `<script>` elements by id."""

    def __init__(self, wanted: tuple[str, ...]) -> None:
        super().__init__(convert_charrefs=True)
        self.wanted = wanted
        self.found: dict[str, str] = {}
        self._current: str | None = None
        self._parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            element_id = dict(attrs).get("id")
            if element_id in self.wanted and element_id not in self.found:
                self._current = element_id
                self._parts = []

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._parts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._current is not None:
            self.found[self._current] = "".join(self._parts)
            self._current = None


def script_json(html: str, element_id: str) -> Any:
    """The parsed JSON of the `<script id=element_id>` element, or None."""
    finder = _ScriptFinder((element_id,))
    finder.feed(html)
    finder.close()
    text = finder.found.get(element_id)
    if not text or not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def as_int(value: Any) -> int | None:
    """An int from an int, a float or a numeric string ("12100", "12100.0"); else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value)
    try:
        return int(float(str(value).strip()))
    except ValueError:
        return None


def as_number(value: Any) -> int | float | None:
    """Like as_int but keeps a fractional part (durations)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return int(number) if number.is_integer() else number


def _status_code(value: Any) -> int:
    code = as_int(value)
    return 0 if code is None else code


def _unavailable_reason(code: int) -> str:
    if code in PRIVATE_CODES:
        return PRIVATE_CODES[code]
    if code == UNAVAILABLE_CODE:
        return "unavailable"
    return f"status_{code}"


def normalise_legacy_item(item: dict[str, Any]) -> dict[str, Any]:
    """A SIGI_STATE ItemModule entry in the itemStruct shape (author as an object)."""
    if isinstance(item.get("author"), dict):
        return item
    normalised = dict(item)
    normalised["author"] = {
        "id": item.get("authorId"),
        "uniqueId": item.get("author"),
        "nickname": item.get("nickname"),
        "secUid": item.get("authorSecId"),
    }
    return normalised


def _is_login_url(url: str) -> bool:
    return urlsplit(url).path.rstrip("/").split("/")[-1:] == ["login"]


def parse_page(html: str, video_id: str, *, http_status: int = 200,
               final_url: str = "") -> PageOutcome:
    """Classify one visit of a video page and extract its item when there is one."""
    if final_url and _is_login_url(final_url):
        return PageOutcome("retry", "login")
    universal = script_json(html, UNIVERSAL_DATA_ID)
    if isinstance(universal, dict):
        detail = _dict(_dict(universal.get("__DEFAULT_SCOPE__")).get("webapp.video-detail"))
        if detail:
            code = _status_code(detail.get("statusCode"))
            item = _dict(_dict(detail.get("itemInfo")).get("itemStruct"))
            return _classify(code, item, video_id)
    sigi = script_json(html, SIGI_STATE_ID)
    if isinstance(sigi, dict):
        code = _status_code(_dict(sigi.get("VideoPage")).get("statusCode"))
        item = _dict(_dict(sigi.get("ItemModule")).get(video_id))
        return _classify(code, normalise_legacy_item(item) if item else {}, video_id)
    if http_status in (404, 410):
        return PageOutcome("unavailable", "deleted")
    if http_status == 429 or http_status >= 500:
        return PageOutcome("retry", f"http_{http_status}")
    return PageOutcome("retry", "challenge")


def _dict(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one: page data is not trusted to be
    shaped as documented."""
    return value if isinstance(value, dict) else {}


def _classify(code: int, item: dict[str, Any], video_id: str) -> PageOutcome:
    if code != 0:
        return PageOutcome("unavailable", _unavailable_reason(code), code)
    if not item:
        return PageOutcome("unavailable", "deleted", code)
    if str(item.get("id") or video_id) != video_id:
        # The page carries another video (a redirect to a recommendation): never save it
        # under this id.
        return PageOutcome("retry", "other_video", code)
    if item.get("imagePost") and not candidate_urls(item):
        return PageOutcome("unavailable", "photo_post", code, item)
    if not candidate_urls(item):
        if item.get("isContentClassified"):
            return PageOutcome("retry", "login", code, item)  # age-restricted: needs a login
        return PageOutcome("unavailable", "no_video", code, item)
    return PageOutcome("ok", "", code, item)


def candidate_urls(item: dict[str, Any]) -> list[str]:
    """Video URLs in the order to try: playAddr, bitrateInfo[].PlayAddr.UrlList, downloadAddr."""
    video = item.get("video") or {}
    urls: list[str] = []

    def add(url: Any) -> None:
        if isinstance(url, str) and url.startswith(("http://", "https://")) and url not in urls:
            urls.append(url)

    add(video.get("playAddr"))
    for rate in video.get("bitrateInfo") or []:
        for url in ((rate or {}).get("PlayAddr") or {}).get("UrlList") or []:
            add(url)
    add(video.get("downloadAddr"))
    return urls


def hashtags_of(item: dict[str, Any]) -> list[str]:
    """Hashtag names in caption order: textExtra, else challenges, else `#words` of the caption."""
    names: list[str] = []
    for extra in item.get("textExtra") or []:
        name = (extra or {}).get("hashtagName")
        if name and name not in names:
            names.append(name)
    if not names:
        for challenge in item.get("challenges") or []:
            name = (challenge or {}).get("title")
            if name and name not in names:
                names.append(name)
    if not names:
        for name in HASHTAG.findall(item.get("desc") or ""):
            if name not in names:
                names.append(name)
    return names


def iso_utc(timestamp: Any) -> str | None:
    seconds = as_int(timestamp)
    if seconds is None:
        return None
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _count(stats: dict[str, Any], stats_v2: dict[str, Any], name: str) -> int | None:
    value = as_int(stats.get(name))
    return value if value is not None else as_int(stats_v2.get(name))


def build_metadata(item: dict[str, Any], *, video_id: str, url: str,
                   downloaded_at: str) -> dict[str, Any]:
    """`metadata.json` for a downloaded video: the author, caption, hashtags, times, size,
    counts, music, location and stickers the page gives."""
    author = item.get("author") or {}
    video = item.get("video") or {}
    music = item.get("music") or {}
    stats = item.get("stats") or {}
    stats_v2 = item.get("statsV2") or {}
    stickers = [text for sticker in item.get("stickersOnItem") or []
                for text in (sticker or {}).get("stickerText") or []]
    return {
        "video_id": video_id,
        "url": url,
        "author": author.get("uniqueId"),
        "author_id": str(author["id"]) if author.get("id") is not None else None,
        "author_nickname": author.get("nickname"),
        "author_sec_uid": author.get("secUid"),
        "caption": item.get("desc") or "",
        "hashtags": hashtags_of(item),
        "create_time": iso_utc(item.get("createTime")),
        "duration": as_number(video.get("duration")),
        "width": as_int(video.get("width")),
        "height": as_int(video.get("height")),
        "play_count": _count(stats, stats_v2, "playCount"),
        "like_count": _count(stats, stats_v2, "diggCount"),
        "comment_count": _count(stats, stats_v2, "commentCount"),
        "share_count": _count(stats, stats_v2, "shareCount"),
        "collect_count": _count(stats, stats_v2, "collectCount"),
        "music_title": music.get("title"),
        "music_author": music.get("authorName"),
        "location": item.get("locationCreated"),
        "stickers": stickers,
        "downloaded_at": downloaded_at,
    }
