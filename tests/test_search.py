"""Search stage: link filtering (pure) and the Serper client against the fake Serper."""

from __future__ import annotations

import json

import httpx
import pytest

from tiktok_research.errors import MissingSecret, SearchAuthError, SearchError
from tiktok_research.registry import Job, Services, load_task
from tiktok_research.runtime.host import execute
from tiktok_research.search.job import run_search
from tiktok_research.search.links import links_from_response, video_link
from tiktok_research.search.serper import SerperClient, search_videos

HOSTS = ["tiktok.com", "www.tiktok.com", "m.tiktok.com"]


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://www.tiktok.com/@user/video/7603296357641735445",
         ("7603296357641735445", "https://www.tiktok.com/@user/video/7603296357641735445",
          "user")),
        ("https://www.tiktok.com/@u.ser_1/video/123?is_from_webapp=1&sender_device=pc",
         ("123", "https://www.tiktok.com/@u.ser_1/video/123", "u.ser_1")),
        ("https://m.tiktok.com/@user/video/55/#comments",
         ("55", "https://m.tiktok.com/@user/video/55", "user")),
        ("https://WWW.TIKTOK.COM/@user/video/9",
         ("9", "https://www.tiktok.com/@user/video/9", "user")),
        ("https://www.tiktok.com/@user", None),
        ("https://www.tiktok.com/@user/photo/123", None),
        ("https://www.tiktok.com/@user/video/12ab", None),
        ("https://evil.example/@user/video/123", None),
        ("https://www.tiktok.com.evil.example/@user/video/123", None),
        ("javascript:alert(1)", None),
        ("https://www.youtube.com/watch?v=abc", None),
        ("", None),
    ],
)
def test_video_link(link, expected):
    assert video_link(link, HOSTS) == expected


def test_links_from_response_dedupes_and_keeps_order():
    payload = {"videos": [
        {"title": "a", "link": "https://www.tiktok.com/@a/video/1?is_from_webapp=1"},
        {"title": "yt", "link": "https://www.youtube.com/watch?v=x"},
        {"title": "a again", "link": "https://www.tiktok.com/@a/video/1"},
        {"title": "b", "link": "https://m.tiktok.com/@b/video/2"},
        {"title": "no link"},
        "garbage",
    ]}
    links = links_from_response(payload, HOSTS, set(), first_position=1)
    assert [(link.video_id, link.position, link.title) for link in links] == [
        ("1", 1, "a"), ("2", 2, "b")]
    assert links[0].url == "https://www.tiktok.com/@a/video/1"


def client_for(web, key="test-key", attempts=4):
    return SerperClient(key, web.base_url, attempts=attempts, backoff_seconds=0.01)


def test_paging_until_max_results(fake_web):
    with client_for(fake_web) as client:
        links = search_videos(client, "tokyo ramen spots", [fake_web.host], max_results=3,
                              page_size=2)
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
        links = search_videos(client, "tokyo ramen spots", [fake_web.host], max_results=50)
    assert 0 < len(links) < 50


def test_two_429_then_success(fake_web):
    fake_web.fail("serper", 429, times=2)
    with client_for(fake_web) as client:
        links = search_videos(client, "lisbon hidden gems", [fake_web.host], max_results=3)
        assert client.requests_made == 3
    assert links


def test_403_is_not_retried_and_names_the_key(fake_web):
    with client_for(fake_web, key="invalid") as client:
        with pytest.raises(SearchAuthError, match="SERPER_API_KEY") as caught:
            search_videos(client, "x", [fake_web.host], max_results=3)
        assert client.requests_made == 1
    assert "403" in str(caught.value)


def test_no_credits_is_clear(fake_web):
    fake_web.state["serper_credits"] = 0
    with client_for(fake_web) as client:
        with pytest.raises(SearchAuthError, match="no credits") as caught:
            search_videos(client, "x", [fake_web.host], max_results=3)
        assert client.requests_made == 1
    assert "Not enough credits" in str(caught.value)


def test_500_until_retries_run_out(fake_web):
    fake_web.fail("serper", 500, times=None)
    with client_for(fake_web, attempts=4) as client:
        with pytest.raises(SearchError, match="gave up after 4 attempts"):
            search_videos(client, "x", [fake_web.host], max_results=3)
        assert client.requests_made == 4


def test_network_error_is_retried():
    client = SerperClient("k", "http://127.0.0.1:9", attempts=2, backoff_seconds=0.01)
    with client, pytest.raises(SearchError, match="network error"):
        search_videos(client, "x", HOSTS, max_results=3)
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
    monkeypatch.setenv("SERPER_API_KEY", "invalid")  # the fake's bad key
    config = stage_config(fake_web, tmp_path)
    error, records = run_task(search_job(config, tmp_path / "urls.json"))
    assert isinstance(error, SearchAuthError) and not error.retryable
    [record] = records
    assert record["type"] == "search" and record["details"]["reason"] == "auth"
    text = json.dumps(records)
    assert "SERPER_API_KEY" in text  # the record names the key ...
    assert "invalid" not in text  # ... never its value
