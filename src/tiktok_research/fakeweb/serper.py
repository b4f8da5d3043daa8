"""Fake Serper: `POST /videos` (and `/search`) answering from the demo catalog.

Faithful to reference/external-apis.md: X-API-KEY auth (403 "Unauthorized."), credits (400
"Not enough credits"; only a 200 costs one: failed requests cost none), `{"message",
"statusCode"}` error bodies, body fields or the same fields as a query string, paging with
`num`/`page`. Result lists mix in non-TikTok links, duplicates and tracking query strings, as
real ones do.

A video's link takes the form its `link_form` names (`catalog.LINK_FORMS`; reference: "Link
forms in search results"): `canonical` /@user/video/ID (every other rank with a tracking query
string), `share` /share/video/ID, `embed` /embed/v2/ID, `photo` /@user/photo/ID, `t`
/t/<code>/, `vm` and `vt` short links (`fakeweb.shortlinks`). The fake serves plain HTTP on its
own host, so `http` is the canonical form there; `mobile` is the page on the fake's second
listener (its other host, as m.tiktok.com is TikTok's; without one, the main host), and vm/vt
short links sit on the second listener too (without one: on vm.tiktok.com / vt.tiktok.com,
which a client reaches only through the fake as its HTTP proxy).
"""

from __future__ import annotations

import hashlib
from typing import Any

from tiktok_research.fakeweb import shortlinks
from tiktok_research.fakeweb.catalog import LINK_FORMS, DemoVideo
from tiktok_research.fakeweb.web import Request, Response, Web, fault_response

INVALID_KEYS = {"", "invalid", "bad-key"}
NOISE = [
    ("https://www.youtube.com/watch?v={token}", "YouTube"),
    ("https://www.instagram.com/reel/{token}/", "Instagram"),
    ("https://www.facebook.com/watch/?v={token}", "Facebook"),
]
SERVICE = "serper"
TRACKING = "?is_from_webapp=1&sender_device=pc"


def _error(status: int) -> dict[str, Any]:
    messages = {403: "Unauthorized.", 400: "Not enough credits", 429: "Too many requests",
                500: "Internal server error", 503: "Service unavailable"}
    return {"message": messages.get(status, "Error"), "statusCode": status}


def result_link(web: Web, video: DemoVideo, rank: int) -> str:
    """The link of `video` at `rank` in a result list, in its `link_form`."""
    form = getattr(video, "link_form", "canonical")
    if form not in LINK_FORMS:
        raise ValueError(f"video {video.video_id}: unknown link_form {form!r}")
    page = f"http://{web.host}{video.page_path}"
    if form == "mobile":
        return f"http://{web.second_host or web.host}{video.page_path}"
    if form == "share":
        return f"http://{web.host}/share/video/{video.video_id}"
    if form == "embed":
        return f"http://{web.host}/embed/v2/{video.video_id}"
    if form == "photo":
        return f"http://{web.host}/@{video.author}/photo/{video.video_id}"
    if form in ("t", "vm", "vt"):
        return shortlinks.short_link(web, video.video_id, form)
    return page + TRACKING if rank % 2 == 1 else page


def result_items(web: Web, query: str) -> list[dict[str, Any]]:
    """The whole ranked result list for a query, TikTok links interleaved with noise."""
    items: list[dict[str, Any]] = []
    ids = web.catalog.results_for(query)
    for rank, video_id in enumerate(ids):
        video = web.catalog.videos[video_id]
        items.append({
            "title": f"{video.desc[:60]} | TikTok",
            "link": result_link(web, video, rank),
            "snippet": video.desc,
            "imageUrl": f"http://{web.host}/cover/{video_id}.jpeg",
            "duration": f"0:{int(video.duration):02d}",
            "source": "TikTok",
            "channel": video.author,
            "date": "3 days ago",
        })
        token = hashlib.sha1(f"{query}{rank}".encode()).hexdigest()[:11]
        if rank % 3 == 0:
            template, source = NOISE[rank % len(NOISE)]
            items.append({"title": f"{query} - {source}", "link": template.format(token=token),
                          "source": source, "channel": source.lower()})
        if rank == 1:
            # The same video again, as the plain link: a duplicate to drop.
            items.append(dict(items[0], link=f"http://{web.host}{web.catalog.videos[ids[0]].page_path}"))
    if ids:
        first = web.catalog.videos[ids[0]]
        items.append({"title": f"{first.nickname} on TikTok", "link": f"http://{web.host}/@{first.author}",
                      "source": "TikTok", "channel": first.author})
    return items


def handle(web: Web, request: Request) -> Response | None:
    if request.method != "POST" or request.path not in ("/videos", "/search"):
        return None
    fault = web.take_fault(SERVICE, request.path)
    if fault is not None:
        return fault_response(SERVICE, fault, _error)
    if request.header("x-api-key") in INVALID_KEYS:
        return Response.json(_error(403), 403)
    credits = web.state.get("serper_credits")
    if credits is not None and credits <= 0:
        return Response.json(_error(400), 400)
    try:
        body = request.json() if request.body else {}
    except ValueError:
        return Response.json({"message": "Invalid JSON body", "statusCode": 400}, 400)
    params = {**request.query, **(body if isinstance(body, dict) else {})}
    query = str(params.get("q") or "").strip()
    if not query:
        return Response.json({"message": "Missing query parameter q", "statusCode": 400}, 400)
    # A query that keeps failing while the others work: {"query text": status}.
    failing = web.state.get("serper_failing_queries", {}).get(query)
    if failing:
        return Response.json(_error(failing), failing)
    num = int(params.get("num") or 10)
    page = int(params.get("page") or 1)
    everything = result_items(web, query)
    window = everything[(page - 1) * num: page * num]
    videos = [dict(item, position=(page - 1) * num + i + 1) for i, item in enumerate(window)]
    with web.lock:  # only an answered search costs a credit
        if credits is not None:
            web.state["serper_credits"] = web.state["serper_credits"] - 1
        web.state["serper_credits_used"] = web.state.get("serper_credits_used", 0) + 1
    return Response.json({
        "searchParameters": {"q": query, "gl": params.get("gl", "us"), "hl": params.get("hl", "en"),
                             "type": "videos", "num": num, "page": page, "engine": "google"},
        "videos": videos,
        "credits": 1,
    })
