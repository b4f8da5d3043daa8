"""One visit of a TikTok video page → what it found (pure, no I/O).

A page carries its data in `<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__">` →
`__DEFAULT_SCOPE__["webapp.video-detail"]` (`statusCode`, `statusMsg`, `itemInfo.itemStruct`);
older pages in `<script id="SIGI_STATE">` → `ItemModule[id]` with the status under `VideoPage`.

The outcomes, from the real site's behaviour (yt-dlp's extractor and issue threads, 4CAT):
- unavailable for good: private post 10216, private account 10222, user gone 10221, a photo
  post, an age-restricted item (`isContentClassified`, no video: it needs a login), a 404 page;
- unavailable for now, to be tried again by a later run: 10204 (deleted posts, but also IP
  blocks), region locked 10231, an empty item, any other code;
- worth another visit in this job: a WAF challenge ("Please wait…", `#cs`, `#wci`), a captcha
  overlay, a login wall (a redirect to /login, or an item with empty stats and createTime 0),
  an empty shell (the app without its data), another video's item, 429 and 5xx.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Literal
from urllib.parse import urlsplit

from tiktok_research.download.item import as_int, candidates

UNIVERSAL_DATA_ID = "__UNIVERSAL_DATA_FOR_REHYDRATION__"
SIGI_STATE_ID = "SIGI_STATE"
PERMANENT_CODES = {10216: "private_post", 10222: "private_account", 10221: "user_not_found"}
TEMPORARY_CODES = {10204: "item_not_found", 10231: "region_locked"}
CAPTCHA_MARKERS = ("captcha-verify-container", "captcha-verify-image",
                   "secsdk-captcha-drag-icon", "captcha-disable-scroll")
BLOCKED = ("challenge", "captcha", "login", "shell")  # a defence in the way, not the video

Status = Literal["ok", "unavailable", "retry"]


@dataclass(frozen=True)
class PageOutcome:
    """What one visit of a video page found.

    `status` is "ok" (item holds the normalised itemStruct), "unavailable" (the video cannot be
    had; `permanent` says whether a later run may find it) or "retry" (another visit may help).
    """

    status: Status
    reason: str = ""
    status_code: int | None = None
    item: dict[str, Any] = field(default_factory=dict)
    permanent: bool = True
    status_msg: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def photo_post(self) -> bool:
        """A photo post: images (`imagePost`) and no playable video; `item` holds it."""
        return self.status == "unavailable" and self.reason == "photo_post"

    @property
    def blocked(self) -> bool:
        """A bot defence or a login wall stood in the way."""
        return self.status == "retry" and self.reason in BLOCKED


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


def _status_code(value: Any) -> int:
    code = as_int(value)
    return 0 if code is None else code


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


def _has_element(html: str, element_id: str) -> bool:
    return f'id="{element_id}"' in html or f"id='{element_id}'" in html


def blocked_reason(html: str, final_url: str = "") -> str | None:
    """Which defence a page without data shows: challenge, captcha, login, or None."""
    if final_url and _is_login_url(final_url):
        return "login"
    if _has_element(html, "cs") and _has_element(html, "wci"):
        return "challenge"
    if any(marker in html for marker in CAPTCHA_MARKERS):
        return "captcha"
    return None


def parse_page(html: str, video_id: str, *, http_status: int = 200,
               final_url: str = "") -> PageOutcome:
    """Classify one visit of a video page and extract its item when there is one."""
    if final_url and _is_login_url(final_url):
        return PageOutcome("retry", "login")
    page_host = urlsplit(final_url).netloc or None
    universal = script_json(html, UNIVERSAL_DATA_ID)
    if isinstance(universal, dict):
        detail = _dict(_dict(universal.get("__DEFAULT_SCOPE__")).get("webapp.video-detail"))
        if detail:
            item = _dict(_dict(detail.get("itemInfo")).get("itemStruct"))
            return _classify(_status_code(detail.get("statusCode")),
                             str(detail.get("statusMsg") or ""), item, video_id, page_host)
    sigi = script_json(html, SIGI_STATE_ID)
    if isinstance(sigi, dict):
        video_page = _dict(sigi.get("VideoPage"))
        item = _dict(_dict(sigi.get("ItemModule")).get(video_id))
        return _classify(_status_code(video_page.get("statusCode")),
                         str(video_page.get("statusMsg") or ""),
                         normalise_legacy_item(item) if item else {}, video_id, page_host)
    if http_status in (404, 410):
        return PageOutcome("unavailable", "deleted")
    if http_status == 429 or http_status >= 500:
        return PageOutcome("retry", f"http_{http_status}")
    return PageOutcome("retry", blocked_reason(html, final_url) or "shell")


def _dict(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one: page data is not trusted to be
    shaped as documented."""
    return value if isinstance(value, dict) else {}


def _login_wall_item(item: dict[str, Any]) -> bool:
    """What a login wall serves in place of the item (4CAT): empty stats, or createTime 0.
    An item without `stats` at all is not one: some carry only `statsV2`."""
    stats = item.get("stats")
    empty_stats = isinstance(stats, dict) and not stats and not _dict(item.get("statsV2"))
    return empty_stats or str(item.get("createTime")).strip() == "0"


def _classify(code: int, message: str, item: dict[str, Any], video_id: str,
              page_host: str | None) -> PageOutcome:
    if code in PERMANENT_CODES:
        return PageOutcome("unavailable", PERMANENT_CODES[code], code, status_msg=message)
    if code != 0:
        return PageOutcome("unavailable", TEMPORARY_CODES.get(code, f"status_{code}"), code,
                           permanent=False, status_msg=message)
    if not item:
        return PageOutcome("unavailable", "empty_item", code, permanent=False,
                           status_msg=message)
    if str(item.get("id") or video_id) != video_id:
        # The page carries another video (a redirect to a recommendation): never save it
        # under this id.
        return PageOutcome("retry", "other_video", code)
    if _login_wall_item(item):
        return PageOutcome("retry", "login", code)
    playable = candidates(item, page_host)
    if item.get("imagePost") and not playable:
        return PageOutcome("unavailable", "photo_post", code, item)
    if not playable:
        if item.get("isContentClassified"):
            return PageOutcome("unavailable", "login_required", code, item)  # age-restricted
        return PageOutcome("unavailable", "no_video", code, item, permanent=False)
    return PageOutcome("ok", "", code, item)
