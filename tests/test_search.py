"""Search stage: the Serper client against the fake Serper, and the search job over every link
form of search results (the pure parsing: test_search_links.py; short links: test_shortlinks.py)."""

from __future__ import annotations

import json
import logging
import threading
import time

import httpx
import pytest

from tiktok_research.errors import MissingSecret, SearchAuthError, SearchError
from tiktok_research.registry import Job, Services, load_task
from tiktok_research.runtime.host import execute
from tiktok_research.search.job import run_search
from tiktok_research.search.serper import SerperClient, search_videos

HOSTS = ["tiktok.com", "www.tiktok.com", "m.tiktok.com"]


def client_for(web, key="test-key", attempts=4):
    return SerperClient(key, web.base_url, attempts=attempts, backoff_seconds=0.01, timeout=10)


def test_paging_until_max_results(fake_web):
    with client_for(fake_web) as client:
        links = search_videos(client, "tokyo ramen spots", [fake_web.host], max_results=3,
                              page_size=2, max_pages=5)
    assert len(links) == 3
    assert len({link.video_id for link in links}) == 3
    assert all(link.url.startswith(f"http://{fake_web.host}/@") for link in links)
    assert all("?" not in link.url for link in links)
    sent = fake_web.requests_to("serper")
    assert len(sent) >= 2
    first = sent[0]
    assert first.header("x-api-key") == "test-key"
    assert first.json() == {"q": "tokyo ramen spots", "gl": "us", "hl": "en", "num": 2, "page": 1}


def test_results_run_out(fake_web):
    with client_for(fake_web) as client:
        links = search_videos(client, "tokyo ramen spots", [fake_web.host], max_results=50,
                              page_size=10, max_pages=5)
    assert 0 < len(links) < 50


def test_two_429_then_success(fake_web):
    fake_web.fail("serper", 429, times=2)
    with client_for(fake_web) as client:
        links = search_videos(client, "lisbon hidden gems", [fake_web.host], max_results=3,
                              page_size=10, max_pages=5)
        assert client.requests_made == 3
    assert links


def test_403_is_not_retried_and_names_the_key(fake_web):
    with client_for(fake_web, key="invalid") as client:
        with pytest.raises(SearchAuthError, match="SERPER_API_KEY") as caught:
            search_videos(client, "x", [fake_web.host], max_results=3,
                          page_size=10, max_pages=5)
        assert client.requests_made == 1
    assert "403" in str(caught.value)


def test_no_credits_is_clear(fake_web):
    fake_web.state["serper_credits"] = 0
    with client_for(fake_web) as client:
        with pytest.raises(SearchAuthError, match="no credits") as caught:
            search_videos(client, "x", [fake_web.host], max_results=3,
                          page_size=10, max_pages=5)
        assert client.requests_made == 1
    assert "Not enough credits" in str(caught.value)


def test_500_until_retries_run_out(fake_web):
    fake_web.fail("serper", 500, times=None)
    with client_for(fake_web, attempts=4) as client:
        with pytest.raises(SearchError, match="gave up after 4 attempts"):
            search_videos(client, "x", [fake_web.host], max_results=3,
                          page_size=10, max_pages=5)
        assert client.requests_made == 4


@pytest.fixture
def recorded_waits(monkeypatch):
    """The waits between the client's tries, recorded instead of slept: tenacity sleeps with
    time.sleep. Other threads (the fake web's) still sleep."""
    waits: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        if threading.current_thread() is threading.main_thread():
            waits.append(seconds)
        else:
            real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    return waits


def test_client_defaults_are_four_attempts_2_4_8_seconds_apart(fake_web, recorded_waits):
    fake_web.fail("serper", 429, times=None)
    with SerperClient("k", fake_web.base_url, timeout=10) as client:
        with pytest.raises(SearchError, match="gave up after 4 attempts"):
            client.search_page("x", 10, 1)
        assert client.requests_made == 4
    assert len(fake_web.requests_to("serper")) == 4
    assert recorded_waits == [2, 4, 8]


def test_stage_retries_with_the_default_config(fake_web, tmp_path, monkeypatch,
                                               recorded_waits):
    # The stage as a run builds it: the client's own attempts, serper.backoff_seconds from
    # config.yaml (no test override here).
    from tiktok_research.config import load

    monkeypatch.setenv("SERPER_API_KEY", "k")
    fake_web.fail("serper", 503, times=None)
    config = load({"output_dir": str(tmp_path / "out"), "serper.base_url": fake_web.base_url,
                   "tiktok.hosts": [fake_web.host]})
    error, records = run_task(search_job(config, tmp_path / "urls.json"))
    assert isinstance(error, SearchError) and error.reason == "exhausted"
    assert "gave up after 4 attempts" in str(error)
    assert len(fake_web.requests_to("serper")) == 4
    assert recorded_waits == [2, 4, 8]
    [record] = records
    assert record["details"]["reason"] == "exhausted"


def test_network_error_is_retried():
    client = SerperClient("k", "http://127.0.0.1:9", attempts=2, backoff_seconds=0.01,
                          timeout=10)
    with client, pytest.raises(SearchError, match="network error"):
        search_videos(client, "x", HOSTS, max_results=3,
                      page_size=10, max_pages=5)
    assert client.requests_made == 2


def test_query_string_form_is_accepted(fake_web):
    response = httpx.post(f"{fake_web.base_url}/videos?q=tokyo+ramen+spots&num=5",
                          headers={"X-API-KEY": "k"})
    assert response.status_code == 200
    assert response.json()["searchParameters"]["num"] == 5


def stage_config(web, tmp_path, **overrides):
    from tiktok_research.config import load

    return load({"output_dir": str(tmp_path / "out"), "serper.base_url": web.base_url,
                 "serper.backoff_seconds": 0.01, "tiktok.hosts": [web.host], **overrides})


QUERY = {"index": 4, "query": "vegan meal prep for beginners", "meta": {}}


def search_job(config, urls_path, attempt=1):
    return Job(task="search", key="q", config=config, outputs={"urls": str(urls_path)},
               params={"query": QUERY}, attempt=attempt)


def run_task(job):
    """The job as the runtime runs it: (what it raised or None, the failure records)."""
    services = Services()
    try:
        execute(job, load_task("search"), services)
    except Exception as error:  # noqa: BLE001 - the test looks at what was raised
        return error, services.recorded
    finally:
        services.close()
    return None, services.recorded


def test_stage_writes_urls_json(fake_web, tmp_path, monkeypatch):
    monkeypatch.setenv("SERPER_API_KEY", "k")
    config = stage_config(fake_web, tmp_path, max_results=2)
    urls_path = tmp_path / "out" / "queries" / "q" / "urls.json"
    run_search(search_job(config, urls_path))
    entries = json.loads(urls_path.read_text())
    assert len(entries) == 2
    assert {"video_id", "url", "title", "position", "query_index", "query"} <= set(entries[0])
    assert entries[0]["query_index"] == 4


def test_stage_records_exhausted_search(fake_web, tmp_path, monkeypatch):
    monkeypatch.setenv("SERPER_API_KEY", "k")
    fake_web.fail("serper", 500, times=None)
    config = stage_config(fake_web, tmp_path)
    urls_path = tmp_path / "out" / "queries" / "q" / "urls.json"
    error, records = run_task(search_job(config, urls_path, attempt=2))
    assert isinstance(error, SearchError)
    assert error.kind == "search" and error.retryable and error.reason == "exhausted"
    assert not urls_path.exists()
    [record] = records
    assert record["type"] == "search" and record["attempt"] == 2
    assert record["query_index"] == 4 and record["query"] == QUERY["query"]
    assert record["details"]["reason"] == "exhausted"
    assert "500" in record["error"] and "\n" not in record["error"]


def test_stage_records_a_search_without_links(fake_web, tmp_path, monkeypatch):
    # Results on hosts the config does not accept: zero links is a result, and is recorded.
    monkeypatch.setenv("SERPER_API_KEY", "k")
    config = stage_config(fake_web, tmp_path, **{"tiktok.hosts": ["tiktok.invalid"]})
    urls_path = tmp_path / "out" / "queries" / "q" / "urls.json"
    error, records = run_task(search_job(config, urls_path))
    assert error is None
    assert json.loads(urls_path.read_text()) == []
    [record] = records
    assert record["type"] == "search" and record["details"]["reason"] == "no_results"
    assert record["details"]["requests"] >= 1
    assert record["query_index"] == 4 and record["query"] == QUERY["query"]


def test_stage_without_key_names_it_and_keeps_it_secret(fake_web, tmp_path, monkeypatch):
    monkeypatch.delenv("SERPER_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    config = stage_config(fake_web, tmp_path)
    error, records = run_task(search_job(config, tmp_path / "urls.json"))
    assert isinstance(error, MissingSecret) and not error.retryable
    assert "SERPER_API_KEY" in str(error)
    [record] = records
    assert "SERPER_API_KEY" in record["error"]
    assert fake_web.requests_to("serper") == []


def test_secret_never_reaches_failure_records(fake_web, tmp_path, monkeypatch):
    # Serper's reply quotes the key back, so the error the client raises carries it: the
    # record names the key, never its value.
    key = "serper-key-7d1e90c4"
    monkeypatch.setenv("SERPER_API_KEY", key)
    fake_web.fail("serper", 403, body={"message": f"Unauthorized. Key {key} is not valid.",
                                       "statusCode": 403})
    config = stage_config(fake_web, tmp_path)
    error, records = run_task(search_job(config, tmp_path / "urls.json"))
    assert isinstance(error, SearchAuthError) and not error.retryable
    assert key in str(error)  # the secret did reach the code that records the failure
    [record] = records
    assert record["type"] == "search" and record["details"]["reason"] == "auth"
    assert "Key *** is not valid" in record["error"]
    assert "SERPER_API_KEY" in record["error"]
    assert key not in json.dumps(records)


def test_failed_requests_cost_no_credits(fake_web):
    fake_web.state["serper_credits"] = 2
    fake_web.state["serper_failing_queries"] = {"always failing": 503}
    url = f"{fake_web.base_url}/videos"
    failed = [
        httpx.post(url, json={"q": "x"}, headers={"X-API-KEY": "invalid"}),  # 403
        httpx.post(url, content=b"{not json", headers={"X-API-KEY": "k"}),  # 400
        httpx.post(url, json={"q": " "}, headers={"X-API-KEY": "k"}),  # 400: no query
        httpx.post(url, json={"q": "always failing"}, headers={"X-API-KEY": "k"}),  # 503
    ]
    fake_web.fail("serper", 429)
    failed.append(httpx.post(url, json={"q": "x"}, headers={"X-API-KEY": "k"}))
    assert [response.status_code for response in failed] == [403, 400, 400, 503, 429]
    assert fake_web.state["serper_credits"] == 2
    for left in (1, 0):
        assert httpx.post(url, json={"q": "x"}, headers={"X-API-KEY": "k"}).status_code == 200
        assert fake_web.state["serper_credits"] == left
    response = httpx.post(url, json={"q": "x"}, headers={"X-API-KEY": "k"})
    assert response.status_code == 400 and response.json()["message"] == "Not enough credits"
    assert fake_web.state["serper_credits"] == 0


# Every link form of search results, one video each (and a second vm link that leads nowhere);
# the first is not the plain page link, so the plain duplicate of it that the fake adds is a
# second form of the same item.
EVERY_FORM = ["share", "canonical", "mobile", "http", "vm", "embed", "photo", "t", "vm", "vt"]
DEAD = 4  # the first vm link


@pytest.fixture
def every_form_web():
    import random

    from tiktok_research.fakeweb.catalog import LINK_FORMS, Catalog, make_video
    from tiktok_research.fakeweb.server import FakeWeb
    from tiktok_research.fakeweb.shortlinks import short_code

    assert sorted(set(EVERY_FORM)) == sorted(LINK_FORMS)
    rng, catalog = random.Random(13), Catalog()
    videos = []
    for form in EVERY_FORM:
        video = catalog.add(make_video(rng, "food", kind="photo" if form == "photo" else "ok"))
        video.link_form = form
        videos.append(video)
    catalog.query_results[QUERY["query"]] = [video.video_id for video in videos]
    web = FakeWeb(catalog).start()
    web.add_listener("127.0.0.2")
    web.fail("shortlinks", 404, times=None, match=short_code(videos[DEAD].video_id, "vm"))
    yield web, videos
    web.stop()


def test_stage_normalises_every_link_form(every_form_web, tmp_path, monkeypatch, caplog):
    web, videos = every_form_web
    monkeypatch.setenv("SERPER_API_KEY", "k")
    config = stage_config(web, tmp_path, max_results=50, **{
        "tiktok.hosts": [web.host, web.second_host],
        "tiktok.short_link_hosts": [web.second_host]})
    urls_path = tmp_path / "out" / "queries" / "q" / "urls.json"
    with caplog.at_level(logging.INFO, "tiktok_research.search"):
        error, records = run_task(search_job(config, urls_path))
    assert error is None and records == []
    entries = json.loads(urls_path.read_text())

    origin = f"http://{web.host}"

    def entry(index, user=None, kind="video"):
        video = videos[index]
        user = video.author if user is None else user
        return {"video_id": video.video_id, "kind": kind, "author": "" if user == "_" else user,
                "url": f"{origin}/@{user}/{kind}/{video.video_id}"}

    expected = [entry(0, "_"), entry(1), entry(2), entry(3), entry(5, "_"),
                entry(6, kind="photo"), entry(7), entry(8), entry(9)]
    assert [{key: e[key] for key in ("video_id", "kind", "author", "url")}
            for e in entries] == expected
    assert [e["position"] for e in entries] == list(range(1, len(expected) + 1))
    assert all(e["query_index"] == 4 and e["title"] for e in entries)
    # Where each came from: the link as found.
    sources = [e["source_url"] for e in entries]
    assert sources[0] == f"{origin}/share/video/{videos[0].video_id}"
    assert sources[1].endswith("?is_from_webapp=1&sender_device=pc")
    assert sources[2].startswith(f"http://{web.second_host}/@")
    assert sources[4] == f"{origin}/embed/v2/{videos[5].video_id}"
    assert sources[6].startswith(f"{origin}/t/ZT")
    assert sources[7].startswith(f"http://{web.second_host}/ZM")
    assert sources[8].startswith(f"http://{web.second_host}/ZS")
    # The dead short link: dropped, counted, logged; the search did not fail.
    messages = [record.getMessage() for record in caplog.records]
    assert any("dropped" in m and "answered 404" in m for m in messages)
    assert any("3 short links resolved, 1 dropped" in m for m in messages)
    assert any("9 links (1 photo posts)" in m for m in messages)
