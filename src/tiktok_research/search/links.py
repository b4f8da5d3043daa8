"""Serper's JSON → TikTok item links (pure, no I/O): every link form search results carry,
normalised to one URL per item, in order, without duplicates.

Link forms (reference/external-apis.md, "Link forms in search results"; the patterns follow
yt-dlp's TikTok extractors, `yt_dlp/extractor/tiktok.py`):

- `/@user/video/ID`, with or without tracking query strings (`?is_from_webapp=1&...`) or a
  fragment, on any host of `tiktok.hosts` (`tiktok.com`, `www.`, `m.`), over http or https;
- `/share/video/ID`, `/embed/ID`, `/embed/v2/ID` and the old `m.tiktok.com/v/ID.html`: these
  do not name the user, who becomes `_` (`@_`), as yt-dlp's `TikTokBaseIE._create_url` writes
  them (`f'https://www.tiktok.com/@{user_id or "_"}/video/{video_id}'`); TikTok serves the
  item whatever the user in the path;
- `/@user/photo/ID`: a photo post, kept as `/@user/photo/ID` with kind "photo" (every other
  item has kind "video");
- short links, `/t/<code>/` on a host of `tiktok.hosts` and `/<code>/` on a host of
  `tiktok.short_link_hosts` (vm.tiktok.com, vt.tiktok.com): they name no item; `parse_link`
  returns a `ShortLink`, which `search.shortlinks` resolves by following its redirect.

The canonical URL of an item is `{origin}/@user/video/ID` (or `/photo/ID`), where the origin
comes from the first entry of `tiktok.hosts`: `https://www.tiktok.com` when that entry is
TikTok's (tiktok.com or a subdomain), else `http://{entry}` — a local test or demo site such
as `127.0.0.1:8765`, which serves plain HTTP. Links on the other hosts of the list are written
onto that origin too (m.tiktok.com → www.tiktok.com), so each item has exactly one URL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

VIDEO, PHOTO = "video", "photo"
UNKNOWN_USER = "_"
TIKTOK_ORIGIN = "https://www.tiktok.com"

# Paths on a page host (tiktok.hosts). A user handle: letters, digits, `_`, `.` (yt-dlp also
# lets `-` through).
ITEM_PATH = re.compile(
    r"^/@(?P<user>[A-Za-z0-9._-]{1,64})/(?P<kind>video|photo)/(?P<video_id>\d{1,30})/?$")
USERLESS_PATHS = (
    re.compile(r"^/share/video/(?P<video_id>\d{1,30})/?$"),
    re.compile(r"^/embed(?:/v2)?/(?P<video_id>\d{1,30})/?$"),
    re.compile(r"^/v/(?P<video_id>\d{1,30})(?:\.html)?/?$"),
)
T_SHORT_PATH = re.compile(r"^/t/(?P<code>[A-Za-z0-9_-]{1,64})/?$")
# Paths on a short-link host (tiktok.short_link_hosts).
SHORT_PATH = re.compile(r"^/(?P<code>[A-Za-z0-9_-]{1,64})/?$")

Hosts = Sequence[str]


@dataclass(frozen=True)
class ItemLink:
    """A link that names its item: the id, the canonical URL and the user ("" if unknown)."""

    video_id: str
    url: str
    author: str
    kind: str = VIDEO


@dataclass(frozen=True)
class ShortLink:
    """A short link (no item in it): `url` is the link to follow, query string dropped."""

    url: str


@dataclass(frozen=True)
class VideoLink:
    """One entry of `urls.json`."""

    video_id: str
    url: str
    author: str
    title: str
    position: int
    source_url: str
    snippet: str = ""
    date: str = ""
    duration: str = ""
    kind: str = VIDEO

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_tiktok_host(host: str) -> bool:
    """Whether `host` (`name[:port]`) is TikTok's own: tiktok.com or one of its subdomains."""
    name = host.lower().rsplit(":", 1)[0] if host.count(":") == 1 else host.lower()
    return name == "tiktok.com" or name.endswith(".tiktok.com")


def canonical_origin(hosts: Hosts) -> str:
    """The scheme and host every accepted link is written onto (see the module docstring)."""
    if not hosts:
        raise ValueError("tiktok.hosts is empty")
    first = hosts[0].strip().lower()
    return TIKTOK_ORIGIN if is_tiktok_host(first) else f"http://{first}"


def item_url(origin: str, user: str, kind: str, video_id: str) -> str:
    return f"{origin}/@{user or UNKNOWN_USER}/{kind}/{video_id}"


def _split(link: str) -> SplitResult | None:
    try:
        parts = urlsplit(link.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return parts


def parse_link(link: str, hosts: Hosts,
               short_hosts: Hosts = ()) -> ItemLink | ShortLink | None:
    """The item a search result links to (`ItemLink`), a short link to resolve (`ShortLink`),
    or None: not a TikTok item link on the accepted hosts (profiles, other sites, garbage)."""
    parts = _split(link)
    if parts is None:
        return None
    host, path = parts.netloc.lower(), parts.path
    page_hosts = {entry.strip().lower() for entry in hosts}
    if host in page_hosts:
        origin = canonical_origin(hosts)
        match = ITEM_PATH.match(path)
        if match:
            return ItemLink(match["video_id"],
                            item_url(origin, match["user"], match["kind"], match["video_id"]),
                            match["user"], match["kind"])
        for pattern in USERLESS_PATHS:
            match = pattern.match(path)
            if match:
                return ItemLink(match["video_id"],
                                item_url(origin, UNKNOWN_USER, VIDEO, match["video_id"]), "")
        if T_SHORT_PATH.match(path):
            return ShortLink(f"{parts.scheme.lower()}://{host}{path}")
    if host in {entry.strip().lower() for entry in short_hosts} and SHORT_PATH.match(path):
        return ShortLink(f"{parts.scheme.lower()}://{host}{path}")
    return None


Resolve = Callable[[ShortLink], "ItemLink | None"]


def links_from_response(
    payload: dict[str, Any], hosts: Hosts, seen: set[str], first_position: int, *,
    short_hosts: Hosts = (), resolve: Resolve | None = None, limit: int | None = None,
) -> list[VideoLink]:
    """New TikTok item links of one Serper response, in order, skipping ids already `seen`.

    Short links go through `resolve` (None: they are skipped; it returns None for a link that
    cannot be resolved, which is dropped). At most `limit` links: short links past it are
    never resolved."""
    links: list[VideoLink] = []
    for item in payload.get("videos") or []:
        if limit is not None and len(links) >= limit:
            break
        if not isinstance(item, dict) or not isinstance(item.get("link"), str):
            continue
        parsed = parse_link(item["link"], hosts, short_hosts)
        if isinstance(parsed, ShortLink):
            parsed = resolve(parsed) if resolve is not None else None
        if parsed is None or parsed.video_id in seen:
            continue
        seen.add(parsed.video_id)
        links.append(
            VideoLink(
                video_id=parsed.video_id,
                url=parsed.url,
                author=parsed.author,
                title=str(item.get("title") or ""),
                position=first_position + len(links),
                source_url=item["link"],
                snippet=str(item.get("snippet") or ""),
                date=str(item.get("date") or ""),
                duration=str(item.get("duration") or ""),
                kind=parsed.kind,
            )
        )
    return links
