"""The Serper client in detail, against the fake Serper (found by `make mutation`): every error
it can answer, in the words the run records; paging that stops exactly when it should; and the
client's own settings on the wire."""

from __future__ import annotations

import json
import logging

import pytest
from test_search import QUERY, run_task, search_job, stage_config

from tiktok_research.errors import SearchAuthError, SearchError
from tiktok_research.fakeweb import shortlinks
from tiktok_research.search.links import canonical_origin, is_tiktok_host, links_from_response
from tiktok_research.search.serper import SerperClient, search_videos

HOSTS = ["tiktok.com", "www.tiktok.com"]


def client_for(web, **settings) -> SerperClient:
    return SerperClient("key", web.base_url, **{"attempts": 2, "backoff_seconds": 0.01,
                                                "timeout": 10, **settings})


def asked(web, **settings) -> SearchError:
    with client_for(web, **settings) as client, pytest.raises(SearchError) as raised:
        client.search_page("q", 10, 1)
    return raised.value


# --- what each answer becomes ---------------------------------------------------------------
def test_a_refused_key_and_an_empty_account_say_what_to_fix(fake_web) -> None:
    fake_web.fail("serper", 403)
    error = asked(fake_web)
    assert isinstance(error, SearchAuthError) and (error.reason, error.retryable) == ("auth", False)
    assert str(error) == ("Serper answered 403 (Unauthorized.): the API key is missing or wrong; "
                          "check SERPER_API_KEY")
    fake_web.fail("serper", 400)
    error = asked(fake_web)
    assert isinstance(error, SearchAuthError) and error.reason == "no_credits"
    assert str(error) == ("Serper answered 400 (Not enough credits): the account behind "
                          "SERPER_API_KEY has no credits left")


@pytest.mark.parametrize(("body", "said"), [
    ({"message": "  Query too long  ", "statusCode": 400}, "Query too long"),
    ({"statusCode": 400}, '{"statusCode": 400}'),
    ([1, 2], "[1, 2]"),
    ("upstream broke " + "x" * 300, "upstream broke " + "x" * 185),
    ("", "Bad Request"),
])
def test_another_4xx_is_final_and_quotes_what_serper_said(fake_web, body, said) -> None:
    fake_web.fail("serper", 400, body=json.dumps(body) if not isinstance(body, str) else body)
    error = asked(fake_web)
    assert type(error) is SearchError
    assert str(error) == f"Serper answered 400 ({said})"
    assert (error.reason, error.retryable) == ("http_400", False)
    assert len(fake_web.requests_to("serper")) == 1


@pytest.mark.parametrize(("body", "said"), [
    ("<html>maintenance</html>", "Serper answered 200 with a body that is not JSON"),
    ([], "Serper answered 200 with JSON that is not an object"),
    ({"videos": {"a": 1}}, "Serper answered 200 with 'videos' as dict, not a list"),
])
def test_an_odd_200_is_retried_then_named(fake_web, body, said) -> None:
    fake_web.fail("serper", 200, times=None,
                  body=body if isinstance(body, str) else json.dumps(body))
    error = asked(fake_web)
    assert str(error) == f"{said} — gave up after 2 attempts"
    assert (error.reason, len(fake_web.requests_to("serper"))) == ("exhausted", 2)


def test_a_network_error_names_its_cause() -> None:
    with SerperClient("key", "http://127.0.0.1:9", attempts=1, timeout=10) as client, \
            pytest.raises(SearchError) as raised:
        client.search_page("q", 10, 1)
    assert str(raised.value).startswith("network error talking to Serper: ")
    assert "refused" in str(raised.value).lower()


def test_a_reply_slower_than_the_timeout_is_a_network_error(fake_web) -> None:
    fake_web.fail("serper", 200, times=None, delay=1.0)
    with client_for(fake_web, attempts=1, timeout=0.2) as client, \
            pytest.raises(SearchError, match="^network error talking to Serper: "):
        client.search_page("q", 10, 1)


def test_the_request_is_json_to_the_videos_endpoint_whatever_the_base_url(fake_web) -> None:
    with client_for(fake_web) as client:
        client.search_page("q", 10, 1)
    with SerperClient("key", fake_web.base_url + "/", timeout=10) as client:
        client.search_page("q", 10, 1)
    for request in fake_web.requests_to("serper"):
        assert (request.method, request.path) == ("POST", "/videos")
        assert request.header("content-type") == "application/json"
        assert request.header("x-api-key") == "key"


# --- paging ---------------------------------------------------------------------------------
def item(video_id: str, link: str | None = None) -> dict:
    return {"title": f"video {video_id}", "link": link or f"https://www.tiktok.com/@u/video/{video_id}"}


def serve_pages(web, *pages: list[dict]) -> None:
    for page in pages:
        web.fail("serper", 200, body=json.dumps({"videos": page}))


def test_paging_stops_as_soon_as_a_full_page_reaches_the_maximum(fake_web) -> None:
    serve_pages(fake_web, [item("1"), item("2")], [item("3"), item("4")])
    with client_for(fake_web) as client:
        links = search_videos(client, "q", HOSTS, 2, page_size=2, max_pages=5)
    assert [link.video_id for link in links] == ["1", "2"]
    assert len(fake_web.requests_to("serper")) == 1


def test_paging_stops_at_a_short_page_and_at_max_pages(fake_web) -> None:
    serve_pages(fake_web, [item("1"), item("2")], [item("3")])
    with client_for(fake_web) as client:
        links = search_videos(client, "q", HOSTS, 10, page_size=2, max_pages=5)
    assert [link.video_id for link in links] == ["1", "2", "3"]
    noise = [{"title": "elsewhere", "link": "https://www.youtube.com/watch?v=x"}] * 2
    serve_pages(fake_web, noise, noise, noise, noise)
    with client_for(fake_web) as client:
        assert search_videos(client, "q", HOSTS, 10, page_size=2, max_pages=3) == []
    pages = [request.json()["page"] for request in fake_web.requests_to("serper")]
    assert pages == [1, 2, 1, 2, 3]


def test_no_short_link_is_followed_once_the_maximum_is_reached(fake_web) -> None:
    followed: list[str] = []
    short = "https://vm.tiktok.com/ZMabcdef/"
    serve_pages(fake_web, [item("1"), item("2", short), item("3", short + "x")],
                [item("4"), item("5")], [item("6"), item("7", short)])
    with client_for(fake_web) as client:
        links = search_videos(client, "q", HOSTS, 1, page_size=3, max_pages=1,
                              short_hosts=["vm.tiktok.com"],
                              resolve=lambda link: followed.append(link.url))
        assert [link.video_id for link in links] == ["1"] and followed == []
        # On a later page too: the links still wanted, not the maximum, bound the page.
        links = search_videos(client, "q", HOSTS, 3, page_size=2, max_pages=2,
                              short_hosts=["vm.tiktok.com"],
                              resolve=lambda link: followed.append(link.url))
    assert [link.video_id for link in links] == ["4", "5", "6"] and followed == []


# --- links ----------------------------------------------------------------------------------
def test_a_result_without_text_fields_keeps_them_empty() -> None:
    [link] = links_from_response({"videos": [{"link": "https://www.tiktok.com/@u/video/9"}]},
                                 HOSTS, set(), first_position=1)
    assert (link.title, link.snippet, link.date, link.duration) == ("", "", "", "")


def test_the_canonical_origin_is_the_first_host_in_lower_case() -> None:
    assert canonical_origin([" LocalHost:8000 ", "tiktok.com"]) == "http://localhost:8000"
    assert canonical_origin(["WWW.TikTok.com"]) == "https://www.tiktok.com"
    with pytest.raises(ValueError, match="^tiktok.hosts is empty$"):
        canonical_origin([])
    assert is_tiktok_host("www.tiktok.com:443") and not is_tiktok_host("tiktok.com.evil:80")


# --- short links in the stage ---------------------------------------------------------------
def test_the_stage_gives_each_short_link_its_configured_time(fake_web, tmp_path, monkeypatch,
                                                             caplog) -> None:
    """A short link slower than `tiktok.short_link_timeout_seconds` is dropped and counted."""
    monkeypatch.setenv("SERPER_API_KEY", "k")
    monkeypatch.setattr(logging.getLogger("tiktok_research"), "propagate", True)
    video = next(v for v in fake_web.catalog.videos.values() if v.kind == "ok")
    slow = shortlinks.short_link(fake_web, video.video_id, "t")
    serve_pages(fake_web, [item("1", f"http://{fake_web.host}/@u/video/1"),
                           item(video.video_id, slow)])
    # The redirect itself is right, but comes after a second.
    fake_web.fail("shortlinks", 301, delay=1.0, times=None,
                  headers={"Location": f"http://{fake_web.host}{video.page_path}"})
    config = stage_config(fake_web, tmp_path, **{
        "tiktok.hosts": [fake_web.host], "tiktok.short_link_timeout_seconds": 0.2,
        "serper.page_size": 2, "serper.max_pages": 1})
    with caplog.at_level(logging.INFO, logger="tiktok_research.search"):
        error, _records = run_task(search_job(config, tmp_path / "urls.json"))
    assert error is None
    assert [e["video_id"] for e in json.loads((tmp_path / "urls.json").read_text())] == ["1"]
    assert (f"query {QUERY['query']!r}: 0 short links resolved, 1 dropped (unresolvable)"
            in [record.getMessage() for record in caplog.records])


# --- short links: what counts as a redirect -------------------------------------------------
@pytest.fixture
def short(fake_web):
    """A `t` short link of a playable video, and a resolver for the fake's host."""
    from tiktok_research.search.links import ShortLink
    from tiktok_research.search.shortlinks import ShortLinkResolver

    video = next(v for v in fake_web.catalog.videos.values() if v.kind == "ok")
    link = ShortLink(shortlinks.short_link(fake_web, video.video_id, "t"))
    with ShortLinkResolver([fake_web.host], [], timeout=10) as resolver:
        yield video, link, resolver


@pytest.mark.parametrize(("status", "location"), [
    (302, None), (200, "/@u/video/123"), (400, "/@u/video/123"), (404, "/@u/video/123")])
def test_only_a_3xx_with_a_location_is_followed(fake_web, short, caplog, status,
                                                location) -> None:
    _video, link, resolver = short
    fake_web.fail("shortlinks", status, headers={"Location": location} if location else {})
    with caplog.at_level(logging.WARNING, logger="tiktok_research.search"):
        assert resolver.resolve(link) is None
    [message] = [record.getMessage() for record in caplog.records]
    assert message == (f"short link {link.url} dropped: {link.url} answered {status} without a "
                       "redirect")


@pytest.mark.parametrize("status", [300, 399])
def test_a_relative_location_of_any_3xx_is_read_against_the_short_link(fake_web, short,
                                                                       status) -> None:
    _video, link, resolver = short
    fake_web.fail("shortlinks", status, headers={"Location": "/@someone/video/123"})
    resolved = resolver.resolve(link)
    assert (resolved.video_id, resolved.url) == ("123",
                                                 f"http://{fake_web.host}/@someone/video/123")


def test_the_stage_gives_serper_its_configured_time(fake_web, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SERPER_API_KEY", "k")
    # Every answer is right, but comes after a second.
    fake_web.fail("serper", 200, times=None, delay=1.0, body=json.dumps(
        {"videos": [item("1", f"http://{fake_web.host}/@u/video/1")]}))
    config = stage_config(fake_web, tmp_path, **{"serper.timeout_seconds": 0.2,
                                                 "serper.max_pages": 1})
    error, _records = run_task(search_job(config, tmp_path / "urls.json"))
    assert isinstance(error, SearchError)
    assert str(error).startswith("network error talking to Serper: ")
