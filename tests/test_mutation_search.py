"""The search stage as a run configures it, exactly (found by `make mutation`): the config's
market, language, page size and page count reach Serper; each entry names its query; the log
and the records say what happened in words a researcher can grep."""

from __future__ import annotations

import json
import logging

from test_search import QUERY, run_task, search_job, stage_config
from test_shortlinks import web  # noqa: F401 (the fixture)

from tiktok_research.errors import MissingSecret


def test_the_stage_sends_the_configs_market_language_and_page_size(fake_web, tmp_path,
                                                                   monkeypatch, caplog):
    monkeypatch.setenv("SERPER_API_KEY", "k")
    monkeypatch.setattr(logging.getLogger("tiktok_research"), "propagate", True)
    config = stage_config(fake_web, tmp_path, max_results=50,
                          serper={"gl": "jp", "hl": "ja", "page_size": 2, "max_pages": 1,
                                  "base_url": fake_web.base_url, "backoff_seconds": 0.01})
    urls = tmp_path / "out" / "queries" / "q" / "urls.json"
    with caplog.at_level(logging.INFO, logger="tiktok_research.search"):
        error, records = run_task(search_job(config, urls))
    assert error is None and records == []
    [sent] = fake_web.requests_to("serper")  # max_pages 1: one request
    assert sent.json() == {"q": QUERY["query"], "gl": "jp", "hl": "ja", "num": 2, "page": 1}
    entries = json.loads(urls.read_text())
    assert 1 <= len(entries) <= 2
    assert {(e["query_index"], e["query"]) for e in entries} == {(4, QUERY["query"])}
    assert [r.getMessage() for r in caplog.records] == [
        f"query {QUERY['query']!r}: {len(entries)} links (0 photo posts) after 1 requests"]


def test_a_search_without_links_is_recorded_in_words(fake_web, tmp_path, monkeypatch):
    monkeypatch.setenv("SERPER_API_KEY", "k")
    config = stage_config(fake_web, tmp_path, **{"tiktok.hosts": ["tiktok.invalid"]})
    _error, [record] = run_task(search_job(config, tmp_path / "urls.json"))
    assert record["error"] == "no TikTok video links in the results"


def test_a_missing_key_says_what_needs_it(fake_web, tmp_path, monkeypatch):
    monkeypatch.delenv("SERPER_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    error, _records = run_task(search_job(stage_config(fake_web, tmp_path),
                                          tmp_path / "urls.json"))
    assert isinstance(error, MissingSecret)
    assert str(error) == ("SERPER_API_KEY is not set (environment or .env); it is needed for "
                          "the search stage (Serper)")


def test_failure_details_keep_their_text_and_odd_stored_details_are_kept_too(tmp_path):
    import sqlite3
    from pathlib import Path

    from tiktok_research.database import open_database
    from tiktok_research.records import make_record, with_identity

    path = tmp_path / "r.sqlite"
    database = open_database({"database": {"backend": "sqlite", "sqlite_path": str(path)}})
    record = with_identity(make_record("download", "x", video_id="1",
                                       details={"city": "Zürich", "file": Path("/a/b")}))
    database.add_failures([record])
    with sqlite3.connect(path) as connection:
        [(stored,)] = connection.execute("SELECT details FROM pipeline_failures").fetchall()
        assert stored == '{"city": "Zürich", "file": "/a/b"}'  # readable UTF-8, paths as text
        connection.execute("INSERT INTO pipeline_failures (id, seq, timestamp, type, error, "
                           "details) VALUES ('a', 1, 't', 'download', 'odd', 'not json')")
        connection.execute("INSERT INTO pipeline_failures (id, seq, timestamp, type, error, "
                           "details) VALUES ('b', 2, 't', 'download', 'none', NULL)")
    details = {stored["error"]: stored["details"] for stored in database.failures()}
    database.close()
    assert details == {"x": {"city": "Zürich", "file": "/a/b"},
                       "odd": {"unparsed": "not json"}, "none": {}}


def test_a_short_link_whose_head_is_refused_costs_two_requests_as_facebookexternalhit(
        web, caplog):  # noqa: F811 (the fixture imported above)
    """HEAD refused with 501 (as with 405): the GET that follows counts too; both go out
    with yt-dlp's User-Agent; a link dropped later says why in one log line."""
    from test_shortlinks import expected, playable, resolver_for

    from tiktok_research.fakeweb import shortlinks
    from tiktok_research.search.links import ShortLink

    video = playable(web)
    link = shortlinks.short_link(web, video.video_id, "t")
    web.fail("shortlinks", 501, times=1)
    with resolver_for(web) as resolver:
        assert resolver.resolve(ShortLink(link)) == expected(web, video)
        assert resolver.requests_made == 2
    sent = web.requests_to("shortlinks")
    assert [r.method for r in sent] == ["HEAD", "GET"]
    assert {r.header("user-agent") for r in sent} == {"facebookexternalhit/1.1"}
    web.fail("shortlinks", 404, times=None)
    try:
        with caplog.at_level(logging.WARNING, "tiktok_research.search"), \
                resolver_for(web) as resolver:
            gone = shortlinks.short_link(web, "7000000000000000001", "vt")
            assert resolver.resolve(ShortLink(gone)) is None
    finally:
        web.clear_faults("shortlinks")
    assert [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()] == [
        f"short link {gone} dropped: {gone} answered 404 without a redirect"]
