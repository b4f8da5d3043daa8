"""Serper's JSON → TikTok video links (pure, no I/O): the links of one reply on the accepted
hosts, normalised (no tracking query strings), in order, without duplicates."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

VIDEO_PATH = re.compile(r"^/@(?P<user>[A-Za-z0-9._-]{1,64})/video/(?P<video_id>\d{1,30})/?$")


@dataclass(frozen=True)
class VideoLink:
    video_id: str
    url: str
    author: str
    title: str
    position: int
    source_url: str
    snippet: str = ""
    date: str = ""
    duration: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def video_link(link: str, hosts: list[str] | tuple[str, ...]) -> tuple[str, str, str] | None:
    """(video_id, normalised url, author) for a TikTok video page link on `hosts`, else None.

    The normalised URL keeps scheme, host and path and drops query strings and fragments
    (`?is_from_webapp=1&sender_device=pc`).
    """
    try:
        parts = urlsplit(link.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    allowed = {host.lower() for host in hosts}
    if parts.netloc.lower() not in allowed:
        return None
    match = VIDEO_PATH.match(parts.path)
    if not match:
        return None
    path = f"/@{match['user']}/video/{match['video_id']}"
    url = urlunsplit((parts.scheme, parts.netloc.lower(), path, "", ""))
    return match["video_id"], url, match["user"]


def links_from_response(
    payload: dict[str, Any], hosts: list[str] | tuple[str, ...], seen: set[str], first_position: int
) -> list[VideoLink]:
    """New TikTok video links of one Serper response, in order, skipping ids already `seen`."""
    links: list[VideoLink] = []
    for item in payload.get("videos") or []:
        if not isinstance(item, dict) or not isinstance(item.get("link"), str):
            continue
        parsed = video_link(item["link"], hosts)
        if parsed is None:
            continue
        video_id, url, author = parsed
        if video_id in seen:
            continue
        seen.add(video_id)
        links.append(
            VideoLink(
                video_id=video_id,
                url=url,
                author=author,
                title=str(item.get("title") or ""),
                position=first_position + len(links),
                source_url=item["link"],
                snippet=str(item.get("snippet") or ""),
                date=str(item.get("date") or ""),
                duration=str(item.get("duration") or ""),
            )
        )
    return links
