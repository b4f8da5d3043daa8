"""Short links resolved over real HTTP against the fake site, and the fake web's second
listener and proxy (absolute-form) requests that this needs."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest

from tiktok_research.fakeweb import shortlinks
from tiktok_research.fakeweb.server import FakeWeb
from tiktok_research.search.links import ItemLink, ShortLink, parse_link
from tiktok_research.search.shortlinks import ShortLinkResolver


@pytest.fixture
def web():
    fake = FakeWeb().start()
    fake.add_listener("127.0.0.2")
    yield fake
    fake.stop()


def playable(web: FakeWeb):
    return next(video for video in web.catalog.videos.values() if video.kind == "ok")


def resolver_for(web: FakeWeb, **kwargs) -> ShortLinkResolver:
    return ShortLinkResolver([web.host, web.second_host], [web.second_host],
                             **{"timeout": 10, **kwargs})


def expected(web: FakeWeb, video) -> ItemLink:
    return ItemLink(video.video_id, f"http://{web.host}{video.page_path}", video.author)


@pytest.mark.parametrize("form", ["t", "vm", "vt"])
def test_a_short_link_resolves_to_the_canonical_page(web, form):
    video = playable(web)
    link = shortlinks.short_link(web, video.video_id, form)
    assert link.startswith(f"http://{web.host}/t/Z" if form == "t" else
                           f"http://{web.second_host}/Z")
    parsed = parse_link(link, [web.host, web.second_host], [web.second_host])
    assert isinstance(parsed, ShortLink)
    with resolver_for(web) as resolver:
        assert resolver.resolve(parsed) == expected(web, video)
        assert resolver.requests_made == 1  # the item's page itself is not fetched
    [request] = web.requests_to("shortlinks")
    assert request.method == "HEAD"
    assert request.header("user-agent") == "facebookexternalhit/1.1"
    assert web.requests_to("tiktok") == []


def test_a_photo_post_short_link_resolves_to_the_photo(web):
    photo = next(video for video in web.catalog.videos.values() if video.kind == "photo")
    with resolver_for(web) as resolver:
        resolved = resolver.resolve(ShortLink(shortlinks.short_link(web, photo.video_id, "vm")))
    assert resolved == ItemLink(photo.video_id,
                                f"http://{web.host}/@{photo.author}/photo/{photo.video_id}",
                                photo.author, "photo")


def test_head_refused_falls_back_to_get(web):
    web.state["shortlinks_refuse_head"] = True
    video = playable(web)
    with resolver_for(web) as resolver:
        assert resolver.resolve(ShortLink(shortlinks.short_link(web, video.video_id, "t"))) \
            == expected(web, video)
    assert [request.method for request in web.requests_to("shortlinks")] == ["HEAD", "GET"]


def test_each_link_is_resolved_once(web):
    link = ShortLink(shortlinks.short_link(web, playable(web).video_id, "vt"))
    with resolver_for(web) as resolver:
        assert resolver.resolve(link) == resolver.resolve(link) is not None
    assert len(web.requests_to("shortlinks")) == 1


def test_a_redirect_to_another_short_link_is_followed(web):
    # http://vm.tiktok.com/CODE/ → https://vm.tiktok.com/CODE/ → the page: here, /t/ → vt.
    video = playable(web)
    web.fail("shortlinks", 301, headers={
        "Location": shortlinks.short_link(web, video.video_id, "vt")})
    with resolver_for(web) as resolver:
        assert resolver.resolve(ShortLink(shortlinks.short_link(web, video.video_id, "t"))) \
            == expected(web, video)
        assert resolver.requests_made == 2


def dropped(web, caplog, link: str, **kwargs) -> str:
    """Resolve a link that must be dropped; the log line that says why."""
    with caplog.at_level(logging.WARNING, "tiktok_research.search"), \
            resolver_for(web, **kwargs) as resolver:
        assert resolver.resolve(ShortLink(link)) is None
        assert resolver.dropped == [link]
    [record] = [r for r in caplog.records if "dropped" in r.getMessage()]
    return record.getMessage()


def test_an_unknown_code_is_dropped(web, caplog):
    link = shortlinks.short_link(web, playable(web).video_id, "t", dead=True)
    assert "answered 404 without a redirect" in dropped(web, caplog, link)


def test_a_redirect_off_the_accepted_hosts_is_not_followed(web, caplog):
    web.fail("shortlinks", 302, headers={"Location": "http://127.0.0.3:9/@x/video/1"})
    link = shortlinks.short_link(web, playable(web).video_id, "t")
    assert "redirects to http://127.0.0.3:9/@x/video/1, not to a TikTok item" in \
        dropped(web, caplog, link)
    assert len(web.requests_to("shortlinks")) == 1


def test_a_redirect_to_a_page_that_is_no_item_is_not_followed(web, caplog):
    web.fail("shortlinks", 301, headers={"Location": "/login?redirect_url=x"})
    link = shortlinks.short_link(web, playable(web).video_id, "t")
    assert "not to a TikTok item" in dropped(web, caplog, link)
    assert web.requests_to("tiktok") == []


def test_a_redirect_loop_ends(web, caplog):
    link = shortlinks.short_link(web, playable(web).video_id, "t")
    web.fail("shortlinks", 301, times=None, headers={"Location": link})
    assert "more than 3 redirects" in dropped(web, caplog, link, max_redirects=3)
    assert len(web.requests_to("shortlinks")) == 3


def test_a_slow_short_link_times_out(web, caplog):
    web.fail("shortlinks", 301, delay=2.0)
    link = shortlinks.short_link(web, playable(web).video_id, "t")
    assert "Timeout" in dropped(web, caplog, link, timeout=0.3)


def test_an_unreachable_short_link_host_is_dropped(web, caplog):
    assert "ConnectError" in dropped(web, caplog, f"http://{web.host.split(':')[0]}:9/t/ZTabc/")


def test_vm_links_through_the_fake_as_a_proxy(web, monkeypatch):
    # What Serper returns (vm.tiktok.com), answered by the fake acting as the HTTP proxy.
    monkeypatch.setenv("HTTP_PROXY", web.base_url)
    video = playable(web)
    code = shortlinks.short_code(video.video_id, "vm")
    with ShortLinkResolver([web.host], ["vm.tiktok.com", "vt.tiktok.com"],
                           timeout=10) as resolver:
        resolved = resolver.resolve(ShortLink(f"http://vm.tiktok.com/{code}/"))
    assert resolved == expected(web, video)
    [request] = web.requests_to("shortlinks")
    assert request.host == "vm.tiktok.com" and request.path == f"/{code}/"


def test_the_fake_web_answers_absolute_form_targets(web):
    # The request line a client sends to a proxy: routed on its path, its host kept.
    with socket.create_connection(web.host.split(":")) as connection:
        connection.sendall(b"GET http://google.serper.dev/_fake/health?x=1 HTTP/1.1\r\n"
                           b"Host: google.serper.dev\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := connection.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b'{"ok": true}')
    with httpx.Client(proxy=web.base_url) as client:
        response = client.post("http://google.serper.dev/videos", json={"q": "ramen"},
                               headers={"X-API-KEY": "k"})
    assert response.status_code == 200 and response.json()["videos"]
    [request] = web.requests_to("serper")
    assert request.host == "google.serper.dev" and request.path == "/videos"


def test_the_second_listener_serves_the_same_site():
    web = FakeWeb().start()
    try:
        assert web.second_host is None
        second = web.add_listener("127.0.0.2")
        assert second == web.second_host and second.startswith("127.0.0.2:")
        video = playable(web)
        page = httpx.get(f"http://{second}{video.page_path}")
        assert page.status_code == 200 and video.video_id in page.text
        assert web.requests_to("tiktok")[0].host == second
    finally:
        web.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{second}/_fake/health")
