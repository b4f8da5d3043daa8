"""The run report renders in headless Chromium with its plots; the export has every video."""

from __future__ import annotations

import asyncio
import json

import pandas as pd
import zendriver

from tiktok_research.accounting.summarise import summarise_after_failure
from tiktok_research.config import load
from tiktok_research.database import open_database
from tiktok_research.files import atomic_write_json
from tiktok_research.publish.rows import dataset_row, video_row
from tiktok_research.queries import all_queries
from tiktok_research.records import make_record, with_identity

CHROMIUM_FLAGS = ["--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]


def make_run(tmp_path):
    """A finished run's files: one query published, one with a failure, benchmarks."""
    (tmp_path / "list.csv").write_text("query\nramen tokyo\nlisbon cafes\n")
    out = tmp_path / "out"
    config = load({"research_list": str(tmp_path / "list.csv"), "output_dir": str(out)})
    atomic_write_json(out / "queries" / "query_00000_ramen_tokyo" / "urls.json",
                      [{"video_id": "101", "url": "http://h/@a/video/101", "query_index": 0,
                        "query": "ramen tokyo", "position": 1}])
    atomic_write_json(out / "queries" / "query_00001_lisbon_cafes" / "urls.json",
                      [{"video_id": "202", "url": "http://h/@b/video/202", "query_index": 1,
                        "query": "lisbon cafes", "position": 1}])
    video = out / "videos" / "101"
    metadata = {"video_id": "101", "url": "http://h/@a/video/101", "author": "a",
                "caption": "Ramen #food", "hashtags": ["food"],
                "create_time": "2024-01-02T03:04:05Z", "play_count": 10}
    atomic_write_json(video / "metadata.json", metadata)
    (video / "transcript.txt").write_text("The broth simmers for twelve hours.\n")
    ocr = {"items": [
        {"frame": "002_t3.0s.jpg", "t": 3.0, "text": "Noodles", "confidence": 0.9},
        {"frame": "001_t0.0s.jpg", "t": 0.0, "text": "Rich broth", "confidence": 0.9}],
        "scenes": 2, "engine": "local"}
    atomic_write_json(video / "ocr.json", ocr)
    row = video_row("101", metadata, "The broth simmers for twelve hours.\n", ocr,
                    "file:///b/videos/101/", 2, "2024-05-01T00:00:00Z")
    atomic_write_json(video / ".uploaded", {
        "video_id": "101", "outcome": "published",
        "storage": {"backend": "local", "prefix": "file:///b/videos/101/"},
        "frames": {"available": 2, "published": 2}, "processed_at": "2024-05-01T00:00:00Z",
        "row": row, "dataset_row": dataset_row(row, metadata, "en"),
        "timings": {"download": 2.5, "transcribe_audio": 0.75, "ocr_frames": 0.5}})
    database = open_database(config)
    database.add_failures([with_identity(make_record(
        "download", "CDN answered 403", query_index=1, query="lisbon cafes", video_id="202",
        url="http://h/@b/video/202"))])
    database.close()
    return config, out


def summarise(config):
    return summarise_after_failure(config, all_queries(config))


def test_status_report_and_export(tmp_path):
    config, out = make_run(tmp_path)
    summarise(config)
    progress = json.loads((out / "progress.json").read_text())
    assert progress["stats"]["success"] == 1
    assert progress["stats"]["download_failed"] == 1
    status = json.loads((out / "queries" / "query_00001_lisbon_cafes" / "status.json").read_text())
    assert status["status"] == "download_failed"
    assert status["videos"]["202"] == {"outcome": "download_failed", "error": "CDN answered 403"}
    frame = pd.read_parquet(out / "dataset.parquet")
    assert list(frame["video_id"]) == ["101"]
    row = frame.iloc[0]
    assert row["ocr_text"] == "Rich broth\nNoodles"  # time order
    assert row["frame_count"] == 2 and row["author"] == "a" and row["hashtags"] == "#food"
    assert row["queries"] == "ramen tokyo" and row["transcript_language"] == "en"
    assert len(pd.read_csv(out / "dataset.csv")) == 1
    failures = json.loads((out / "failures.json").read_text())
    assert [(f["type"], f["video_id"], f["error"]) for f in failures] == [
        ("download", "202", "CDN answered 403")]


async def render(path):
    browser = await zendriver.start(browser_executable_path="/usr/bin/chromium", headless=True,
                                    sandbox=False, browser_args=CHROMIUM_FLAGS)
    try:
        tab = await browser.get(path.as_uri())
        for _ in range(50):
            plots = await tab.evaluate("document.querySelectorAll('.plotly .main-svg').length")
            if plots:
                break
            await asyncio.sleep(0.1)
        errors = await tab.evaluate("JSON.stringify(window.reportErrors)")
        title = await tab.evaluate("document.title")
        return plots, json.loads(errors), title
    finally:
        await browser.stop()


def test_report_renders_in_headless_chromium(tmp_path):
    config, out = make_run(tmp_path)
    summarise(config)
    plots, errors, title = asyncio.run(render(out / "report.html"))
    assert errors == []
    assert plots >= 3  # outcomes per query, failures by type, time per step
    assert "run report" in title
    text = (out / "report.html").read_text()
    assert "Slowest videos" in text and "CDN answered 403" in text
    assert "transcribe_audio" in text and "ocr_frames" in text  # the steps of each video


def test_status_command_prints_a_row_per_query_and_totals(tmp_path):
    from rich.console import Console

    from tiktok_research.cli import main, print_status

    config, out = make_run(tmp_path)
    console = Console(record=True, width=120)
    print_status(config, console)
    text = console.export_text()
    assert "ramen tokyo" in text and "success" in text
    assert "lisbon cafes" in text and "download_failed" in text
    assert "2 queries" in text
    assert main(["status", "--output-dir", str(tmp_path / "none")]) == 0


def test_the_report_says_why_videos_were_not_published_and_where_files_came_from():
    from tiktok_research.accounting.status import not_published, renditions, unique_videos

    documents = [
        {"videos": {
            "1": {"outcome": "published", "rendition": "play_addr",
                  "dataset_row": {"watermarked": False}},
            "2": {"outcome": "published", "rendition": "download_addr",
                  "dataset_row": {"watermarked": True}},
            "3": {"outcome": "unavailable", "reason": "region_locked",
                  "retry_after": "2026-12-03T10:00:00Z"},
            "4": {"outcome": "unavailable", "reason": "private_post", "retry_after": None}}},
        {"videos": {
            "1": {"outcome": "published", "rendition": "play_addr",
                  "dataset_row": {"watermarked": False}},  # found by two queries: once
            "5": {"outcome": "unavailable", "reason": "region_locked",
                  "retry_after": "2026-12-02T10:00:00Z"},
            "6": {"outcome": "processing_failed", "reason": "no_audio_track"},
            "8": {"outcome": "download_failed", "error": "CDN answered 403"},
            "7": {"outcome": "pending"}}},
    ]
    videos = unique_videos(documents)
    assert not_published(videos) == [
        ["download_failed", "", "tried again next run", 1],
        ["processing_failed", "no_audio_track", "for good", 1],
        ["unavailable", "private_post", "for good", 1],
        ["unavailable", "region_locked", "tried again after 2026-12-02T10:00:00Z", 2]]
    assert renditions(videos) == [["download_addr", "yes", 1], ["play_addr", "no", 1]]
