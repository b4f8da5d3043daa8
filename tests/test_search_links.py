"""Link normalisation (pure): every link form of search results, on real-looking links.

The shapes are those of reference/external-apis.md ("Link forms in search results") and of
yt-dlp's TikTok extractor tests (`/t/ZTRC5xgJp`, `vm.tiktok.com/ZTR45GpSF/`,
`vt.tiktok.com/ZSe4FqkKd`, `m.tiktok.com/v/6606727368545406213.html`).
"""

from __future__ import annotations

import pytest

from tiktok_research.search.links import (
    ItemLink,
    ShortLink,
    canonical_origin,
    is_tiktok_host,
    links_from_response,
    parse_link,
)

HOSTS = ["tiktok.com", "www.tiktok.com", "m.tiktok.com"]
SHORT_HOSTS = ["vm.tiktok.com", "vt.tiktok.com"]
ID = "7603296357641735445"
USER = "dua_zahra014"
CANONICAL = f"https://www.tiktok.com/@{USER}/video/{ID}"


def item(url: str, author: str = USER, kind: str = "video", video_id: str = ID) -> ItemLink:
    return ItemLink(video_id, url, author, kind)


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        # /@user/video/ID, as is and with what search results add to it
        (CANONICAL, item(CANONICAL)),
        (f"{CANONICAL}?is_from_webapp=1&sender_device=pc", item(CANONICAL)),
        (f"{CANONICAL}/?is_from_webapp=1&sender_device=pc&web_id=7312", item(CANONICAL)),
        (f"{CANONICAL}?lang=en#comments", item(CANONICAL)),
        (f"https://WWW.TIKTOK.COM/@{USER}/video/{ID}", item(CANONICAL)),
        # other hosts and http: onto https://www.tiktok.com
        (f"https://m.tiktok.com/@{USER}/video/{ID}?_r=1&_t=8kZ", item(CANONICAL)),
        (f"https://tiktok.com/@{USER}/video/{ID}", item(CANONICAL)),
        (f"http://www.tiktok.com/@{USER}/video/{ID}", item(CANONICAL)),
        (f"http://m.tiktok.com/@{USER}/video/{ID}", item(CANONICAL)),
        ("https://www.tiktok.com/@u.ser_1/video/123", item(
            "https://www.tiktok.com/@u.ser_1/video/123", "u.ser_1", video_id="123")),
        # forms that do not name the user: @_ (yt-dlp's _create_url)
        (f"https://www.tiktok.com/share/video/{ID}",
         item(f"https://www.tiktok.com/@_/video/{ID}", "")),
        (f"https://m.tiktok.com/share/video/{ID}/?u_code=d8k",
         item(f"https://www.tiktok.com/@_/video/{ID}", "")),
        (f"https://www.tiktok.com/embed/v2/{ID}?lang=en-US",
         item(f"https://www.tiktok.com/@_/video/{ID}", "")),
        (f"https://www.tiktok.com/embed/{ID}", item(f"https://www.tiktok.com/@_/video/{ID}", "")),
        ("https://m.tiktok.com/v/6606727368545406213.html",
         item("https://www.tiktok.com/@_/video/6606727368545406213", "",
              video_id="6606727368545406213")),
        # a photo post: kept, with its own path and kind
        (f"https://www.tiktok.com/@{USER}/photo/{ID}?is_from_webapp=1",
         item(f"https://www.tiktok.com/@{USER}/photo/{ID}", kind="photo")),
        (f"http://m.tiktok.com/@{USER}/photo/{ID}",
         item(f"https://www.tiktok.com/@{USER}/photo/{ID}", kind="photo")),
        # short links: to resolve, query strings dropped
        ("https://www.tiktok.com/t/ZTRC5xgJp/", ShortLink("https://www.tiktok.com/t/ZTRC5xgJp/")),
        ("https://www.tiktok.com/t/ZTRC5xgJp", ShortLink("https://www.tiktok.com/t/ZTRC5xgJp")),
        ("https://vm.tiktok.com/ZTR45GpSF/", ShortLink("https://vm.tiktok.com/ZTR45GpSF/")),
        ("http://vm.tiktok.com/ZMhvqjqjQ/?k=1", ShortLink("http://vm.tiktok.com/ZMhvqjqjQ/")),
        ("https://vt.tiktok.com/ZSe4FqkKd", ShortLink("https://vt.tiktok.com/ZSe4FqkKd")),
        # not TikTok items, or not on the accepted hosts
        (f"https://www.tiktok.com/@{USER}", None),
        (f"https://www.tiktok.com/@{USER}/video/12ab", None),
        ("https://www.tiktok.com/tag/foryou", None),
        ("https://www.tiktok.com/t/", None),
        (f"https://vm.tiktok.com/@{USER}/video/{ID}", None),  # vm. serves short links only
        ("https://www.tiktok.com/ZTR45GpSF/", None),  # a bare code on a page host
        (f"https://evil.example/@{USER}/video/{ID}", None),
        (f"https://www.tiktok.com.evil.example/@{USER}/video/{ID}", None),
        ("https://evil.example/t/ZTRC5xgJp/", None),
        (f"https://user@www.tiktok.com/@{USER}/video/{ID}", None),
        (f"ftp://www.tiktok.com/@{USER}/video/{ID}", None),
        ("javascript:alert(1)", None),
        ("https://www.youtube.com/watch?v=abc", None),
        ("http://[::1", None),
        ("", None),
    ],
)
def test_parse_link(link, expected):
    assert parse_link(link, HOSTS, SHORT_HOSTS) == expected


def test_short_hosts_are_only_those_configured():
    assert parse_link("https://vm.tiktok.com/ZTR45GpSF/", HOSTS) is None
    assert parse_link("https://vm.tiktok.com/ZTR45GpSF/", HOSTS, ["vt.tiktok.com"]) is None


def test_canonical_origin_is_named_by_the_first_host():
    assert canonical_origin(HOSTS) == "https://www.tiktok.com"
    assert canonical_origin(["m.tiktok.com"]) == "https://www.tiktok.com"
    assert canonical_origin(["127.0.0.1:8765", "www.tiktok.com"]) == "http://127.0.0.1:8765"
    assert is_tiktok_host("tiktok.com:443") and not is_tiktok_host("nottiktok.com")
    with pytest.raises(ValueError):
        canonical_origin([])


def test_a_test_site_keeps_its_host_and_plain_http():
    hosts = ["127.0.0.1:8765", "127.0.0.2:9000"]
    assert parse_link(f"http://127.0.0.1:8765/@{USER}/video/{ID}?is_from_webapp=1", hosts) == \
        item(f"http://127.0.0.1:8765/@{USER}/video/{ID}")
    # The site's other host (the fake's m.tiktok.com) is written onto the first one.
    assert parse_link(f"http://127.0.0.2:9000/@{USER}/video/{ID}", hosts) == \
        item(f"http://127.0.0.1:8765/@{USER}/video/{ID}")
    assert parse_link(f"http://127.0.0.1:8765/share/video/{ID}", hosts) == \
        item(f"http://127.0.0.1:8765/@_/video/{ID}", "")
    assert parse_link("http://127.0.0.1:8765/t/ZTabcdefg/", hosts) == \
        ShortLink("http://127.0.0.1:8765/t/ZTabcdefg/")
    # TikTok's own links are not accepted unless listed.
    assert parse_link(CANONICAL, hosts) is None


def test_links_from_response_dedupes_and_keeps_order():
    payload = {"videos": [
        {"title": "a", "link": "https://www.tiktok.com/@a/video/1?is_from_webapp=1"},
        {"title": "yt", "link": "https://www.youtube.com/watch?v=x"},
        {"title": "a again", "link": "https://m.tiktok.com/@a/video/1"},
        {"title": "a shared", "link": "https://www.tiktok.com/share/video/1"},
        {"title": "b", "link": "http://m.tiktok.com/@b/video/2", "snippet": "s", "date": "d",
         "duration": "0:15"},
        {"title": "no link"},
        "garbage",
        {"title": "p", "link": "https://www.tiktok.com/@p/photo/3"},
    ]}
    links = links_from_response(payload, HOSTS, set(), first_position=1)
    assert [(link.video_id, link.position, link.title, link.kind) for link in links] == [
        ("1", 1, "a", "video"), ("2", 2, "b", "video"), ("3", 3, "p", "photo")]
    assert links[0].url == "https://www.tiktok.com/@a/video/1"
    assert links[0].source_url == "https://www.tiktok.com/@a/video/1?is_from_webapp=1"
    assert links[1].as_dict() == {
        "video_id": "2", "url": "https://www.tiktok.com/@b/video/2", "author": "b",
        "title": "b", "position": 2, "source_url": "http://m.tiktok.com/@b/video/2",
        "snippet": "s", "date": "d", "duration": "0:15", "kind": "video"}
    assert links[2].url == "https://www.tiktok.com/@p/photo/3"


def test_short_links_go_through_the_resolver():
    payload = {"videos": [
        {"title": "short", "link": "https://vm.tiktok.com/ZMhvqjqjQ/"},
        {"title": "dead", "link": "https://vt.tiktok.com/ZSdead000/"},
        {"title": "same item", "link": "https://www.tiktok.com/@a/video/1"},
        {"title": "t", "link": "https://www.tiktok.com/t/ZTRC5xgJp/"},
    ]}
    answers = {"https://vm.tiktok.com/ZMhvqjqjQ/": item("https://www.tiktok.com/@a/video/1",
                                                        "a", video_id="1"),
               "https://www.tiktok.com/t/ZTRC5xgJp/": item(
                   "https://www.tiktok.com/@b/photo/2", "b", "photo", video_id="2")}
    asked: list[str] = []

    def resolve(link: ShortLink) -> ItemLink | None:
        asked.append(link.url)
        return answers.get(link.url)

    links = links_from_response(payload, HOSTS, set(), 1, short_hosts=SHORT_HOSTS,
                                resolve=resolve)
    assert [(link.video_id, link.kind, link.position, link.source_url) for link in links] == [
        ("1", "video", 1, "https://vm.tiktok.com/ZMhvqjqjQ/"),
        ("2", "photo", 2, "https://www.tiktok.com/t/ZTRC5xgJp/")]
    assert len(asked) == 3
    # Without a resolver short links are skipped; past the limit they are never resolved.
    assert links_from_response(payload, HOSTS, set(), 1, short_hosts=SHORT_HOSTS) == [
        links_from_response(payload, HOSTS, set(), 1)[0]]
    asked.clear()
    assert len(links_from_response(payload, HOSTS, set(), 1, short_hosts=SHORT_HOSTS,
                                   resolve=resolve, limit=1)) == 1
    assert asked == ["https://vm.tiktok.com/ZMhvqjqjQ/"]
