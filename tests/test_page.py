"""Page parsing on captured-style documents: outcome, sources, captions, metadata.json fields.

The shapes are the real site's, as yt-dlp's extractor, its issue threads, gallery-dl,
TikTok-Api and 4CAT read them (reference/external-apis.md, "TikTok, field behaviour")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tiktok_research.download.item import (
    CaptionTrack,
    as_int,
    as_number,
    build_metadata,
    candidate_urls,
    candidates,
    caption_tracks,
    counts,
    expects_audio,
    hashtags_of,
    iso_utc,
)
from tiktok_research.download.page import (
    PageOutcome,
    blocked_reason,
    normalise_legacy_item,
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


@pytest.mark.parametrize(("code", "reason", "permanent"), [
    (10216, "private_post", True), (10222, "private_account", True),
    (10221, "user_not_found", True), ("10216", "private_post", True),
    # yt-dlp reads 10204 as an IP block (users also get it for deleted posts): try again later.
    (10204, "item_not_found", False), (10231, "region_locked", False),
    (10101, "status_10101", False),
])
def test_status_codes_are_unavailable_for_good_or_for_now(code, reason, permanent):
    outcome = parse_page(universal({"statusCode": code, "statusMsg": "item is gone"}), VIDEO_ID)
    assert (outcome.status, outcome.reason, outcome.permanent) == (
        "unavailable", reason, permanent)
    assert outcome.status_msg == "item is gone"


def test_private_fixture():
    outcome = parse_page(page("tiktok_private_page.html"), VIDEO_ID)
    assert (outcome.status, outcome.reason, outcome.status_code) == (
        "unavailable", "private_post", 10216)


def test_photo_post_is_unavailable():
    outcome = parse_page(page("tiktok_photo_post_page.html"), VIDEO_ID)
    assert (outcome.status, outcome.reason) == ("unavailable", "photo_post")


def test_deleted_and_challenge_and_login():
    gone = parse_page("<html>gone</html>", VIDEO_ID, http_status=404)
    assert (gone.reason, gone.permanent) == ("deleted", True)
    empty = parse_page(universal({"statusCode": 0}), VIDEO_ID)
    assert (empty.status, empty.reason, empty.permanent) == ("unavailable", "empty_item", False)
    challenge = parse_page(page("tiktok_challenge_page.html"), VIDEO_ID)
    assert (challenge.status, challenge.reason) == ("retry", "challenge")
    assert parse_page("<html>busy</html>", VIDEO_ID, http_status=503).reason == "http_503"
    login = parse_page("<html>Log in</html>", VIDEO_ID,
                       final_url="https://www.tiktok.com/login?redirect_url=x")
    assert (login.status, login.reason) == ("retry", "login")


def test_legacy_page_without_the_item_is_an_empty_item():
    html = page("tiktok_legacy_sigi_page.html")
    outcome = parse_page(html, "1234")
    assert (outcome.status, outcome.reason, outcome.permanent) == (
        "unavailable", "empty_item", False)


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


def item_page(item: dict) -> str:
    return universal({"statusCode": 0, "itemInfo": {"itemStruct": {"id": VIDEO_ID, **item}}})


PLAY = "https://v16-webapp-prime.tiktok.com/video/tos/useast2a/play/?lr=unwatermarked"
STRUCT = "https://v19-webapp-prime.us.tiktok.com/video/tos/useast2a/struct/?a=1"
GEAR = "https://v16-webapp-prime.tiktok.com/video/tos/useast2a/gear/?a=1"
DASH = "https://v16-webapp-prime.tiktok.com/video/tos/useast2a/media-video-hvc1/?a=1"
DOWNLOAD = "https://v16-webapp-prime.tiktok.com/video/tos/useast2a/download/?a=1"


def test_sources_come_in_the_order_a_researcher_needs():
    """Unwatermarked renditions with sound first; video-only DASH and bytevc2 gears and on-site
    format URLs never; the watermarked downloadAddr last."""
    item = {"video": {
        "playAddr": [{"src": PLAY}],
        "PlayAddrStruct": {"UrlList": [STRUCT, PLAY], "DataSize": 1},
        "bitrateInfo": [
            {"GearName": "adapt_1080", "CodecType": "h265_hvc1", "Format": "dash",
             "PlayAddr": {"UrlList": [DASH]}},
            {"GearName": "normal_540", "CodecType": "bytevc2",
             "PlayAddr": {"UrlList": [GEAR + "&bytevc2"]}},
            {"GearName": "lower_540_0", "CodecType": "h264", "Format": "mp4",
             "PlayAddr": {"UrlList": [GEAR, "https://www.tiktok.com/aweme/v1/play/?video_id=1"]}},
        ],
        "downloadAddr": DOWNLOAD}}
    found = candidates(item)
    assert [(c.url, c.kind, c.gear, c.watermarked) for c in found] == [
        (PLAY, "play_addr", None, False), (STRUCT, "play_addr_struct", None, False),
        (GEAR, "gear", "lower_540_0", False), (DOWNLOAD, "download_addr", None, True)]
    assert parse_page(item_page(item), VIDEO_ID).ok


def test_play_addr_struct_can_be_the_only_source():
    outcome = parse_page(item_page({"video": {"playAddr": "", "PlayAddrStruct": {
        "UrlList": [STRUCT]}}}), VIDEO_ID)
    assert outcome.ok and candidate_urls(outcome.item) == [STRUCT]


def test_on_site_format_urls_are_skipped_on_the_page_host_too():
    item = {"video": {"playAddr": "http://127.0.0.1:8765/aweme/v1/play/?video_id=1",
                      "downloadAddr": DOWNLOAD}}
    assert candidate_urls(item, "127.0.0.1:8765") == [DOWNLOAD]


def test_counts_prefer_the_exact_stats_v2():
    rounded = {"playCount": 1200000, "diggCount": 98000}
    exact = {"playCount": "1234567", "diggCount": "98123", "shareCount": "7"}
    assert counts({"stats": rounded, "statsV2": exact}) == {
        "play_count": 1234567, "like_count": 98123, "comment_count": None, "share_count": 7,
        "collect_count": None}
    assert counts({"statsV2": exact})["play_count"] == 1234567
    assert counts({"stats": rounded})["play_count"] == 1200000


def test_sound_is_expected_only_when_the_page_says_so():
    assert expects_audio({"video": {"bitrateAudioInfo": [{"UrlList": [{"MainUrl": PLAY}]}]}})
    assert expects_audio({"video": {"claInfo": {"hasOriginalAudio": True}}})
    assert not expects_audio({"video": {"claInfo": {"hasOriginalAudio": False}}})
    assert not expects_audio({"video": {}})  # no word either way: a silent file is kept


def test_caption_tracks_one_per_language():
    item = {"video": {
        "subtitleInfos": [
            {"Url": "https://cdn/sub-en.vtt", "LanguageCodeName": "eng-US", "Format": "webvtt",
             "Source": "ASR"},
            {"Url": "https://cdn/sub-es.vtt", "LanguageCodeName": "spa-ES", "Format": "webvtt",
             "Source": "MT"},
            {"Url": "https://cdn/creator", "LanguageCodeName": "fra-FR",
             "Format": "creator_caption"},
            {"Url": "https://cdn/evil", "LanguageCodeName": "../../etc", "Format": "webvtt"},
        ],
        "claInfo": {"hasOriginalAudio": True, "captionInfos": [
            {"language": "eng-US", "languageCode": "en", "url": "https://cdn/cla-en.vtt",
             "captionFormat": "webvtt"},
            {"language": "deu-DE", "languageCode": "de", "urlList": ["https://cdn/cla-de.vtt"]},
            {"languageCode": "it", "urlList": ["https://cdn/cla-it.vtt"]}]}}}
    tracks = caption_tracks(item)
    assert [(t.language, t.url, t.source) for t in tracks] == [
        ("eng-US", "https://cdn/sub-en.vtt", "ASR"), ("spa-ES", "https://cdn/sub-es.vtt", "MT"),
        ("deu-DE", "https://cdn/cla-de.vtt", "cla"), ("it", "https://cdn/cla-it.vtt", "cla")]


@pytest.mark.parametrize(("html", "reason"), [
    ('<div id="cs" class="eyJ2IjoxfQ=="></div><div id="wci" class="_wafchallengeid"></div>'
     "<p>Please wait...</p>", "challenge"),
    ('<body class="captcha-disable-scroll"><div class="captcha-verify-container">'
     '<img id="captcha-verify-image"></div></body>', "captcha"),
    ('<div id="app"></div>', "shell"),
])
def test_defences_are_told_apart(html, reason):
    outcome = parse_page(f"<html>{html}</html>", VIDEO_ID)
    assert (outcome.status, outcome.reason, outcome.blocked) == ("retry", reason, True)


def test_a_login_wall_item_is_a_login_not_a_video():
    """4CAT: what a login wall serves is an item with empty stats and createTime 0."""
    outcome = parse_page(item_page({"createTime": "0", "stats": {},
                                    "video": {"playAddr": PLAY}}), VIDEO_ID)
    assert (outcome.status, outcome.reason, outcome.blocked) == ("retry", "login", True)


def test_age_restricted_items_need_a_login_for_good():
    outcome = parse_page(item_page({"isContentClassified": True, "stats": {"playCount": 1},
                                    "createTime": 1}), VIDEO_ID)
    assert (outcome.status, outcome.reason, outcome.permanent) == (
        "unavailable", "login_required", True)


def test_absurd_values_never_crash_the_metadata():
    metadata = build_metadata({"createTime": 10**20, "author": "name", "textExtra": ["x"],
                               "stats": [1], "statsV2": {"playCount": "1e999"}, "desc": 5},
                              video_id=VIDEO_ID, url="u", downloaded_at="t")
    assert metadata["create_time"] is None and metadata["author"] is None
    assert metadata["play_count"] is None and metadata["caption"] == ""


@pytest.mark.parametrize(("handle", "url"), [
    ("solo.sara", "https://www.tiktok.com/@solo.sara/video/1"),
    ("", "https://www.tiktok.com/@_/video/1"),
    ("a/b", "https://www.tiktok.com/@_/video/1"),
])
def test_a_link_without_its_user_gets_the_user_the_item_names(handle, url):
    """A /share/video/ID or /embed/v2/ID link was written onto /@_/video/ID."""
    metadata = build_metadata({"author": {"uniqueId": handle}}, video_id="1",
                              url="https://www.tiktok.com/@_/video/1", downloaded_at="t")
    assert metadata["url"] == url


def test_caption_track_fields_and_the_entries_left_out():
    item = {"video": {
        "subtitleInfos": [
            {"Url": "https://cdn/sub-pt.vtt", "LanguageID": "por-BR", "Format": "WebVTT"},
            {"Url": "https://cdn/sub-none.vtt", "Format": "webvtt"},
            {"Url": "https://cdn/sub-noformat.vtt", "LanguageCodeName": "nld-NL"},
        ],
        "claInfo": {"captionInfos": [
            {"language": "eng-US", "url": "https://cdn/cla-url.vtt",
             "urlList": ["https://cdn/cla-list.vtt"]},
            {"url": "https://cdn/cla-nolang.vtt"},
            {"language": "jpn-JP"},
            {"language": "kor-KR", "url": "https://cdn/cla-ko.srt", "captionFormat": "SRT"},
            {"languageCode": "sv", "url": "https://cdn/cla-sv.vtt", "captionFormat": "WEBVTT"},
        ]}}}
    assert caption_tracks(item) == [
        CaptionTrack("https://cdn/sub-pt.vtt", "por-BR", None, "webvtt"),
        CaptionTrack("https://cdn/cla-url.vtt", "eng-US", "cla", "webvtt"),
        CaptionTrack("https://cdn/cla-sv.vtt", "sv", "cla", "webvtt")]


def test_legacy_items_get_the_author_object():
    legacy = {"id": "1", "author": "maker", "authorId": "77", "nickname": "Maker",
              "authorSecId": "MS4wLjABAAAA"}
    assert normalise_legacy_item(legacy)["author"] == {
        "id": "77", "uniqueId": "maker", "nickname": "Maker", "secUid": "MS4wLjABAAAA"}
    assert normalise_legacy_item({"author": {"id": "77"}}) == {"author": {"id": "77"}}


def test_a_login_path_with_a_prefix_or_a_trailing_slash_is_a_login():
    for final_url in ("https://www.tiktok.com/login/", "https://www.tiktok.com/en/login"):
        login = parse_page("<html>Log in</html>", VIDEO_ID, final_url=final_url)
        assert (login.status, login.reason) == ("retry", "login"), final_url


def test_durations_keep_their_fraction():
    assert as_number("2.5") == 2.5 and as_number(7.25) == 7.25
    assert as_number("3.0") == 3 and type(as_number("3.0")) is int
    assert as_number(True) is None and as_number(None) is None and as_number("n/a") is None


def test_hashtags_come_from_text_extra_else_challenges_else_the_caption():
    extra = [{"hashtagName": "a"}, {"hashtagName": ""}, "junk", {"hashtagName": "a"},
             {"hashtagName": 5}, {"hashtagName": "b"}]
    challenges = [{"title": "x"}, {"title": ""}, {"title": "x"}, {"title": "y"}]
    assert hashtags_of({"textExtra": extra, "challenges": challenges, "desc": "#d"}) == ["a", "b"]
    assert hashtags_of({"textExtra": [{"hashtagName": ""}], "challenges": challenges,
                        "desc": "#d"}) == ["x", "y"]
    assert hashtags_of({"challenges": [{"title": None}], "desc": "#d #e"}) == ["d", "e"]
    assert hashtags_of({"desc": 5}) == []


def test_video_only_gears_are_known_by_format_or_path():
    item = {"video": {"bitrateInfo": [
        {"GearName": "dash_upper", "Format": "DASH", "PlayAddr": {"UrlList": [GEAR + "&1"]}},
        {"GearName": "by_path", "Format": "mp4", "PlayAddr": {"UrlList": [DASH]}},
        {"GearName": "plain", "PlayAddr": {"UrlList": [GEAR]}},
    ]}}
    assert candidate_urls(item) == [GEAR]


def test_only_on_site_format_urls_are_skipped():
    cdn_aweme = "https://v16-webapp-prime.tiktok.com/aweme/v1/play/?video_id=1"
    site_other = "https://www.tiktok.com/video/tos/x.mp4"
    item = {"video": {"playAddr": [cdn_aweme, site_other,
                                   "https://www.tiktok.com/aweme/v1/play/?video_id=2"]}}
    assert candidate_urls(item, "127.0.0.1:8765") == [cdn_aweme, site_other]


def test_blocked_reason_on_its_own():
    assert blocked_reason("<html></html>", "https://www.tiktok.com/login") == "login"
    assert blocked_reason('<div id="cs"></div>') is None
    assert blocked_reason('<div id="wci"></div>') is None
    assert blocked_reason("<html></html>", "https://www.tiktok.com/@a/video/1") is None


def test_the_author_sec_uid_is_kept():
    metadata = build_metadata({"author": {"uniqueId": "a", "secUid": "MS4wLjABAAAA"}},
                              video_id="1", url="https://www.tiktok.com/@a/video/1",
                              downloaded_at="t")
    assert metadata["author_sec_uid"] == "MS4wLjABAAAA"


def test_every_outcome_carries_its_status_code_item_and_message():
    def outcome(detail: dict, final_url: str = "") -> PageOutcome:
        return parse_page(universal(detail), VIDEO_ID, final_url=final_url)

    def with_item(item: dict) -> dict:
        return {"statusCode": 0, "itemInfo": {"itemStruct": {"id": VIDEO_ID, **item}}}

    assert outcome({"statusCode": 12345, "statusMsg": "busy"}) == PageOutcome(
        "unavailable", "status_12345", 12345, permanent=False, status_msg="busy")
    assert outcome({"statusCode": 0, "statusMsg": "none"}) == PageOutcome(
        "unavailable", "empty_item", 0, permanent=False, status_msg="none")
    assert outcome(with_item({"id": "1"})) == PageOutcome("retry", "other_video", 0)
    assert outcome(with_item({"stats": {}, "createTime": 1})) == PageOutcome("retry", "login", 0)
    assert outcome(with_item({"stats": {"playCount": 1}, "createTime": " 0 "})).reason == "login"
    photo = {"id": VIDEO_ID, "imagePost": {"images": [1]}, "createTime": 1}
    assert outcome(with_item(photo)) == PageOutcome("unavailable", "photo_post", 0, photo)
    classified = {"id": VIDEO_ID, "isContentClassified": True, "createTime": 1}
    assert outcome(with_item(classified)) == PageOutcome("unavailable", "login_required", 0,
                                                         classified)
    silent = {"id": VIDEO_ID, "createTime": 1, "stats": {}, "statsV2": {"playCount": "1"}}
    assert outcome(with_item(silent)) == PageOutcome("unavailable", "no_video", 0, silent,
                                                     permanent=False)
    on_host = {"id": VIDEO_ID, "createTime": 1,
               "video": {"playAddr": "http://127.0.0.1:8765/aweme/v1/play/?video_id=1"}}
    assert outcome(with_item(on_host), "http://127.0.0.1:8765/@a/video/1").reason == "no_video"
    playable = {"id": VIDEO_ID, "createTime": 1, "video": {"playAddr": PLAY}}
    assert outcome(with_item(playable)) == PageOutcome("ok", "", 0, playable)
    without_code = with_item(playable)
    del without_code["statusCode"]
    assert outcome(without_code) == PageOutcome("ok", "", 0, playable)


def test_source_urls_in_every_shape_tiktok_uses():
    item = {"video": {
        "playAddr": [{"MainUrl": "http://v16.tiktokcdn.com/main"}, "ftp://x/y", {"src": 5}],
        "bitrateInfo": [{"GearName": "g", "CodecType": "H264",
                         "PlayAddr": {"UrlList": [GEAR]}},
                        {"GearName": "no_codec", "PlayAddr": {"UrlList": [GEAR + "&2"]}}]}}
    assert [(c.url, c.kind, c.codec) for c in candidates(item)] == [
        ("http://v16.tiktokcdn.com/main", "play_addr", None), (GEAR, "gear", "h264"),
        (GEAR + "&2", "gear", None)]


def sigi_page(payload: dict) -> str:
    return (f'<html><script id="SIGI_STATE" type="application/json">{json.dumps(payload)}'
            "</script></html>")


def test_a_legacy_page_carries_its_status_and_the_page_host():
    assert parse_page(sigi_page({"VideoPage": {"statusCode": 10231, "statusMsg": "region"}}),
                      VIDEO_ID) == PageOutcome("unavailable", "region_locked", 10231,
                                               permanent=False, status_msg="region")
    assert parse_page(sigi_page({"VideoPage": {"statusCode": 0}}), VIDEO_ID) == PageOutcome(
        "unavailable", "empty_item", 0, permanent=False, status_msg="")
    on_host = {"id": VIDEO_ID, "author": "maker", "createTime": 1,
               "video": {"playAddr": "http://127.0.0.1:8765/aweme/v1/play/?video_id=1"}}
    html = sigi_page({"ItemModule": {VIDEO_ID: on_host}})
    assert parse_page(html, VIDEO_ID).ok
    assert parse_page(html, VIDEO_ID, final_url="http://127.0.0.1:8765/@a/video/1").reason == (
        "no_video")


def test_http_errors_without_page_data():
    assert parse_page("<html></html>", VIDEO_ID, http_status=410) == PageOutcome(
        "unavailable", "deleted")
    for code in (429, 500):
        assert parse_page("<html></html>", VIDEO_ID, http_status=code) == PageOutcome(
            "retry", f"http_{code}")
    assert parse_page("<html></html>", VIDEO_ID, http_status=411).reason == "shell"
    assert parse_page(universal({"statusCode": 12345}), VIDEO_ID).status_msg == ""


def test_the_first_data_script_of_an_id_wins():
    first = universal({"statusCode": 10231})
    second = universal({"statusCode": 10216})
    assert parse_page(first + second, VIDEO_ID).reason == "region_locked"


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://v16-webapp-prime.tiktok.com/video/tos/a.mp4", True),
    ("https://v16m-default.tiktokcdn-us.com/a.mp4", True),
    ("https://tiktokcdn.com/a.mp4", True),
    ("https://TIKTOKCDN.COM/a.mp4", True),
    ("http://v16-webapp-prime.tiktok.com/a.mp4", False),  # https only on the CDN
    ("https://eviltiktokcdn.com/a.mp4", False),  # a suffix, not a subdomain
    ("https://tiktokcdn.com.evil.example/a.mp4", False),
    ("https://evil.example/a.mp4", False),
    ("http://127.0.0.1:8000/video/a.mp4", True),  # the local site named in tiktok.hosts
    ("http://127.0.0.1:8001/video/a.mp4", False),
    ("https://127.0.0.1:8000/video/a.mp4", False),
    ("http://169.254.169.254/latest/meta-data", False),
    ("file:///etc/passwd", False),
    ("ftp://tiktokcdn.com/a.mp4", False),
])
def test_source_hosts_allow_https_on_cdn_domains_and_http_on_the_local_site(url, allowed):
    from tiktok_research.download.item import SourceHosts

    hosts = SourceHosts(cdn=("tiktok.com", "tiktokcdn.com", "tiktokcdn-us.com"),
                        plain=("127.0.0.1:8000",))
    assert hosts.allows(url) is allowed


def test_candidates_leave_out_sources_on_hosts_not_allowed():
    from tiktok_research.download.item import DEFAULT_CDN_HOSTS, SourceHosts, candidates

    item = {"video": {
        "playAddr": "https://evil.example/play.mp4",
        "PlayAddrStruct": {"UrlList": ["https://v16-webapp-prime.tiktok.com/struct.mp4"]},
        "bitrateInfo": [{"GearName": "normal_540_0", "CodecType": "h264", "PlayAddr": {
            "UrlList": ["http://v19-webapp-prime.tiktok.com/gear.mp4",
                        "https://v19-webapp-prime.tiktok.com/gear.mp4"]}}],
        "downloadAddr": "https://v16m.tiktokcdn.com/download.mp4"}}
    found = candidates(item, hosts=SourceHosts(cdn=DEFAULT_CDN_HOSTS))
    assert [(c.kind, c.url) for c in found] == [
        ("play_addr_struct", "https://v16-webapp-prime.tiktok.com/struct.mp4"),
        ("gear", "https://v19-webapp-prime.tiktok.com/gear.mp4"),
        ("download_addr", "https://v16m.tiktokcdn.com/download.mp4")]
    assert len(candidates(item)) == 5  # without hosts: every source


def test_a_source_left_out_is_logged_with_its_kind_and_host(caplog, monkeypatch):
    import logging

    from tiktok_research.download.item import SourceHosts, candidates

    monkeypatch.setattr(logging.getLogger("tiktok_research"), "propagate", True)
    long_host = "a" * 120 + ".example"  # page data is the attacker's: the log takes 100
    item = {"video": {"playAddr": "https://evil.example:8443/play.mp4?token=secret",
                      "downloadAddr": f"https://{long_host}/d.mp4"}}
    with caplog.at_level(logging.WARNING, logger="tiktok_research"):
        assert candidates(item, hosts=SourceHosts()) == []
    assert [record.getMessage() for record in caplog.records] == [
        "play_addr source on a host outside tiktok.cdn_hosts skipped: evil.example:8443",
        f"download_addr source on a host outside tiktok.cdn_hosts skipped: {long_host[:100]}"]


def test_a_local_site_is_allowed_whatever_the_case_of_its_host():
    from tiktok_research.download.item import SourceHosts

    assert SourceHosts(plain=("localhost:8000",)).allows("http://LocalHost:8000/v.mp4")


@pytest.mark.parametrize(("value", "number", "integer"), [
    ("12100", 12100, 12100), ("12.5", 12.5, 12), (7.0, 7, 7), (-3, -3, -3),
    (float("nan"), None, None), (float("inf"), None, None), ("1e999", None, None),
    ("-1e999", None, None), (True, None, None), (None, None, None), ("abc", None, None),
    (2**63 - 1, 2**63 - 1, 2**63 - 1), (2**63, 2**63, None), (-(2**63), -(2**63), -(2**63)),
    (-(2**63) - 1, -(2**63) - 1, None),
])
def test_page_numbers_are_finite_and_ints_fit_64_bits(value, number, integer):
    from tiktok_research.download.item import as_int, as_number

    assert as_number(value) == number and as_int(value) == integer
    assert type(as_int(value)) is (int if integer is not None else type(None))
