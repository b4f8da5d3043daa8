"""Run accounting end to end: six queries that end six different ways, and a crash mid-run.

The real workflow runs against the fake web with real Chromium, ffmpeg, Whisper (tiny.en) and
RapidOCR; only the outside services are local stand-ins.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from support.workflow import REPO, SNAKEMAKE, base_config, run_snakemake, write_research_list

from tiktok_research.config import config_arguments
from tiktok_research.fakeweb.catalog import Catalog, make_video
from tiktok_research.fakeweb.media import ensure_media
from tiktok_research.fakeweb.server import FakeWeb
from tiktok_research.queries import query_dir_name

pytestmark = pytest.mark.slow

SCENARIOS = ["all good", "some private", "search broken", "downloads broken",
             "processing broken", "publishing broken"]


def short_video(rng, topic, **kwargs):
    return make_video(rng, topic, scenes=2, duration=10.0, **kwargs)


def scenario_catalog() -> tuple[Catalog, dict[str, list[str]]]:
    rng = random.Random(606)
    catalog = Catalog()
    videos = {
        "all good": [short_video(rng, "food"), short_video(rng, "travel")],
        "some private": [short_video(rng, "health"), short_video(rng, "health", kind="private")],
        "search broken": [short_video(rng, "food")],
        "downloads broken": [short_video(rng, "travel", kind="html_as_video"),
                             short_video(rng, "travel", kind="truncated")],
        "processing broken": [short_video(rng, "travel", has_audio=False)],
        "publishing broken": [short_video(rng, "food")],
    }
    for query, group in videos.items():
        for video in group:
            catalog.add(video)
        catalog.query_results[query] = [video.video_id for video in group]
    return catalog, {query: [v.video_id for v in group] for query, group in videos.items()}


@pytest.fixture(scope="module")
def scenario_web():
    catalog, ids = scenario_catalog()
    ensure_media([v for v in catalog.videos.values() if v.kind == "ok"])
    web = FakeWeb(catalog).start()
    web.state["serper_failing_queries"] = {"search broken": 500}
    yield web, ids
    web.stop()


def read(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_six_queries_six_outcomes(scenario_web, tmp_path):
    web, ids = scenario_web
    write_research_list(tmp_path, SCENARIOS)
    out = tmp_path / "output"
    # Storage refuses one video: a file stands where its folder must go.
    blocked = out / "bucket" / "videos" / ids["publishing broken"][0]
    blocked.parent.mkdir(parents=True)
    blocked.write_text("not a folder")
    config = base_config(web.host, storage={"local_dir": str(out / "bucket")},
                         database={"sqlite_path": str(out / "research.sqlite")})
    result = run_snakemake(tmp_path, config)
    assert result.returncode != 0  # some jobs failed, by design
    statuses = {
        query: read(out / "queries" / query_dir_name(index, query) / "status.json")
        for index, query in enumerate(SCENARIOS)
        if (out / "queries" / query_dir_name(index, query)).exists()
    }
    assert {q: s["status"] for q, s in statuses.items()} == {
        "all good": "success",
        "some private": "partial_success",
        "downloads broken": "download_failed",
        "processing broken": "processing_failed",
        "publishing broken": "upload_failed",
    }
    assert "search broken" not in statuses  # its folder was never made: no urls.json
    assert statuses["some private"]["counts"]["unavailable"] == 1
    assert statuses["all good"]["counts"]["published"] == 2

    progress = read(out / "progress.json")
    assert progress["stats"]["success"] == 1
    assert progress["stats"]["partial_success"] == 1
    assert progress["stats"]["search_failed"] == 1
    assert progress["stats"]["download_failed"] == 1
    assert progress["stats"]["processing_failed"] == 1
    assert progress["stats"]["upload_failed"] == 1
    assert sorted(progress["processed_queries"]) == sorted(
        f"{i}:{q}" for i, q in enumerate(SCENARIOS))

    failures = read(out / "failures.json")
    by_type = Counter(record["type"] for record in failures)
    assert by_type["search"] == 1
    # Two broken downloads, one private video (recorded once, never retried).
    download_ids = Counter(r["video_id"] for r in failures if r["type"] == "download")
    assert set(download_ids) == set(ids["downloads broken"]) | {ids["some private"][1]}
    assert download_ids[ids["some private"][1]] == 1
    # The video without audio ends in its verdict (that it is reprocessed exactly once first is
    # test_process_workflow's test_failed_videos_are_reprocessed_once_...).
    silent = ids["processing broken"][0]
    receipt = read(out / "videos" / silent / ".uploaded")
    assert (receipt["outcome"], receipt["reason"]) == ("processing_failed", "no_audio_track")
    # One record per try: two, both from the one job.
    process_ids = Counter(r["video_id"] for r in failures if r["type"] in ("process", "validate"))
    assert process_ids[silent] == 2, [r for r in failures if r.get("video_id") == silent]
    assert by_type["upload"] >= 1
    assert all("\n" not in record["error"] for record in failures)
    assert (out / "report.html").exists() and (out / "dataset.parquet").exists()


def snakemake_command(workdir: Path, config: dict) -> list[str]:
    return [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2",
            "--config", *config_arguments(config)]


def test_crash_and_resume(tmp_path):
    rng = random.Random(99)
    catalog = Catalog()
    videos = [catalog.add(short_video(rng, "food")) for _ in range(4)]
    catalog.query_results["crash course"] = [v.video_id for v in videos]
    ensure_media(videos)
    write_research_list(tmp_path, ["crash course"])
    out = tmp_path / "output"
    with FakeWeb(catalog) as web:
        config = base_config(web.host)
        env = {**os.environ, "SERPER_API_KEY": "test-serper-key"}
        process = subprocess.Popen(snakemake_command(tmp_path, config), cwd=tmp_path, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not list(out.glob("videos/*/.uploaded")):
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGKILL)  # Snakemake and every job it started
        process.wait()
        first_receipts = {p.parent.name: p.read_bytes() for p in out.glob("videos/*/.uploaded")}
        assert 1 <= len(first_receipts) < 4
        result = run_snakemake(tmp_path, config)
        assert result.returncode == 0, result.stderr[-3000:]
    receipts = {p.parent.name: p.read_bytes() for p in out.glob("videos/*/.uploaded")}
    assert set(receipts) == {v.video_id for v in videos}
    for video_id, content in first_receipts.items():
        assert receipts[video_id] == content  # published before the crash: not redone
    with sqlite3.connect(out / "research.sqlite") as db:
        counts = db.execute("select count(*), count(distinct video_id) from videos").fetchone()
        assert counts == (4, 4)
    objects = [p for p in (out / "bucket").rglob("*") if p.is_file()]
    assert len(objects) == len({p.relative_to(out / "bucket") for p in objects})
    assert not [p for p in out.rglob("*.part")]
    for video in videos:
        folder = out / "videos" / video.video_id
        assert read(folder / "metadata.json")["video_id"] == video.video_id
        assert read(folder / "ocr.json")["items"] is not None
        assert (folder / "transcript.txt").read_text().strip()
    status = read(out / "queries" / query_dir_name(0, "crash course") / "status.json")
    assert status["status"] == "success"
