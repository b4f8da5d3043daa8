"""Page parsing on captured-style documents: outcome, candidate URLs, metadata.json fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tiktok_research.download.page import (
    as_int,
    build_metadata,
    candidate_urls,
    hashtags_of,
    iso_utc,
    parse_page,
)

FIXTURES = Path(__file__).parent / "fixtures"
VIDEO_ID = "7603296357641735445"


def page(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def universal(detail: dict) -> str:
    data = json.dumps({"__DEFAULT_SCOPE__": {"webapp.video-detail": detail}})
    return ('<html><body><script id="__UNIVERSAL_DATA_FOR_REHYDRATION__" '
            f'type="application/json">{data}</script></body></html>')


def metadata_of(html: str) -> dict:
    outcome = parse_page(html, VIDEO_ID)
    assert outcome.status == "ok", outcome
    return build_metadata(outcome.item, video_id=VIDEO_ID, url="https://www.tiktok.com/@x/video/1",
                          downloaded_at="2026-01-01T00:00:00Z")


EXPECTED = {
    "video_id": VIDEO_ID,
    "author": "dua_zahra014",
    "author_id": "7105281502317872154",
    "author_nickname": "Dua ✨",
    "caption": "Dhoky 🌙 #foryou #tiktok ",
    "hashtags": ["foryou", "tiktok"],
    "create_time": "2026-02-05T08:33:12Z",
    "duration": 15,
    "width": 576,
    "height": 1024,
    "play_count": 12100,
    "like_count": 2887,
    "comment_count": 179,
    "share_count": 38,
    "collect_count": 100,
    "music_title": "original sound",
    "music_author": "hoomy",
    "location": "US",
    "downloaded_at": "2026-01-01T00:00:00Z",
}


@pytest.mark.parametrize("name", ["tiktok_video_page.html", "tiktok_video_page_string_counts.html",
                                  "tiktok_legacy_sigi_page.html"])
def test_video_pages_give_the_same_metadata(name):
    metadata = metadata_of(page(name))
    for key, value in EXPECTED.items():
        assert metadata[key] == value, key
    assert metadata["stickers"] == ["on-screen sticker text"]
    assert "queries" not in metadata  # the per-query summary is the one writer of those


def test_candidate_urls_follow_the_spec_order():
    outcome = parse_page(page("tiktok_video_page.html"), VIDEO_ID)
    urls = candidate_urls(outcome.item)
    assert [url.split("/useast2a/")[1].split("/")[0] for url in urls] == [
        "play", "br16", "br19", "download"]


@pytest.mark.parametrize(("code", "reason"), [
    (10216, "private_post"), (10222, "private_account"), (10204, "unavailable"),
    (10101, "status_10101"), ("10216", "private_post"),
])
def test_status_codes_are_unavailable(code, reason):
    outcome = parse_page(universal({"statusCode": code, "statusMsg": "x"}), VIDEO_ID)
    assert (outcome.status, outcome.reason) == ("unavailable", reason)


def test_private_fixture():
    outcome = parse_page(page("tiktok_private_page.html"), VIDEO_ID)
    assert (outcome.status, outcome.reason, outcome.status_code) == (
        "unavailable", "private_post", 10216)


def test_photo_post_is_unavailable():
    outcome = parse_page(page("tiktok_photo_post_page.html"), VIDEO_ID)
    assert (outcome.status, outcome.reason) == ("unavailable", "photo_post")


def test_deleted_and_challenge_and_login():
    assert parse_page("<html>gone</html>", VIDEO_ID, http_status=404).reason == "deleted"
    assert parse_page(universal({"statusCode": 0}), VIDEO_ID).reason == "deleted"
    challenge = parse_page(page("tiktok_challenge_page.html"), VIDEO_ID)
    assert (challenge.status, challenge.reason) == ("retry", "challenge")
    assert parse_page("<html>busy</html>", VIDEO_ID, http_status=503).reason == "http_503"
    login = parse_page("<html>Log in</html>", VIDEO_ID,
                       final_url="https://www.tiktok.com/login?redirect_url=x")
    assert (login.status, login.reason) == ("retry", "login")


def test_legacy_page_without_the_item_is_deleted():
    html = page("tiktok_legacy_sigi_page.html")
    assert parse_page(html, "1234").reason == "deleted"


def test_scalars_accept_ints_and_strings():
    assert as_int("12100") == 12100 and as_int(12100) == 12100 and as_int("1.2e3") == 1200
    assert as_int(None) is None and as_int("n/a") is None and as_int(True) is None
    assert iso_utc("1704067200") == "2024-01-01T00:00:00Z" == iso_utc(1704067200)
    assert hashtags_of({"desc": "a #b #c #b"}) == ["b", "c"]


def _universal(payload) -> str:
    import json as _json

    return ('<html><script id="__UNIVERSAL_DATA_FOR_REHYDRATION__" type="application/json">'
            f"{_json.dumps(payload)}</script></html>")


def test_hostile_page_shapes_never_crash_the_parser():
    from tiktok_research.download.page import parse_page

    shapes = [
        {"__DEFAULT_SCOPE__": []},
        {"__DEFAULT_SCOPE__": {"webapp.video-detail": "x"}},
        {"__DEFAULT_SCOPE__": {"webapp.video-detail": {"statusCode": "0", "itemInfo": 7}}},
        {"__DEFAULT_SCOPE__": {"webapp.video-detail": {"statusCode": None,
                                                        "itemInfo": {"itemStruct": []}}}},
    ]
    for shape in shapes:
        assert parse_page(_universal(shape), "123").status in ("retry", "unavailable")
    assert parse_page('<script id="SIGI_STATE">{"VideoPage": 5, "ItemModule": []}</script>',
                      "123").status == "unavailable"
    assert parse_page('<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__">{nope</script>',
                      "123").status == "retry"


def test_a_page_carrying_another_video_is_not_saved_under_this_id():
    from tiktok_research.download.page import parse_page

    item = {"id": "999", "video": {"playAddr": "https://cdn.example/v.mp4"}}
    page = _universal({"__DEFAULT_SCOPE__": {"webapp.video-detail": {
        "statusCode": 0, "itemInfo": {"itemStruct": item}}}})
    outcome = parse_page(page, "123")
    assert (outcome.status, outcome.reason) == ("retry", "other_video")
