"""Unavailable videos are outcomes, not failures: private posts, private accounts, deleted
videos and photo posts end in their receipt in the first run, which exits 0 with every query's
status final; a second identical run has nothing to do."""

from __future__ import annotations

import json
import random

import pytest
from support.workflow import base_config, run_snakemake, write_research_list

from tiktok_research.fakeweb.catalog import Catalog, make_video
from tiktok_research.fakeweb.media import ensure_media
from tiktok_research.fakeweb.server import FakeWeb
from tiktok_research.queries import query_dir_name
from tiktok_research.records import utc_now

pytestmark = pytest.mark.slow

KINDS = {"cafes in lisbon": ["ok", "private", "deleted", "photo"],
         "night markets": ["private_account", "ok", "unavailable"]}
REASONS = {"private": "private_post", "private_account": "private_account",
           "deleted": "deleted", "photo": "photo_post", "unavailable": "item_not_found"}


def catalog() -> tuple[Catalog, dict[str, list]]:
    rng = random.Random(11)
    made = Catalog()
    videos = {query: [made.add(make_video(rng, "travel", kind=kind, scenes=2, duration=8.0))
                      for kind in kinds] for query, kinds in KINDS.items()}
    for query, group in videos.items():
        made.query_results[query] = [video.video_id for video in group]
    return made, videos


def test_unavailable_videos_end_the_first_run_cleanly(tmp_path):
    made, videos = catalog()
    ensure_media([v for group in videos.values() for v in group if v.kind == "ok"])
    write_research_list(tmp_path, list(KINDS))
    out = tmp_path / "output"
    with FakeWeb(made) as web:
        config = base_config(web.host)
        first = run_snakemake(tmp_path, config)
        assert first.returncode == 0, first.stderr[-3000:]
        page_visits = len(web.requests_to("tiktok"))
        for index, (query, group) in enumerate(videos.items()):
            status = json.loads((out / "queries" / query_dir_name(index, query) /
                                 "status.json").read_text())
            assert status["status"] == "partial_success"
            assert status["counts"]["published"] == 1
            assert status["counts"]["unavailable"] == len(group) - 1
            assert status["counts"]["pending"] == 0
            for video in group:
                receipt = json.loads((out / "videos" / video.video_id / ".uploaded").read_text())
                if video.kind == "ok":
                    assert receipt["outcome"] == "published"
                    assert status["videos"][video.video_id] == {"outcome": "published"}
                else:
                    assert (receipt["outcome"], receipt["reason"]) == (
                        "unavailable", REASONS[video.kind])
                    assert status["videos"][video.video_id]["outcome"] == "unavailable"
        progress = json.loads((out / "progress.json").read_text())
        assert progress["stats"]["partial_success"] == 2 and progress["stats"]["pending"] == 0
        assert progress["failed_videos"] == []
        # One record per unavailable video, from its only attempt.
        failures = json.loads((out / "failures.json").read_text())
        assert sorted((r["video_id"], r["attempt"], r["details"]["outcome"]) for r in failures) \
            == sorted((v.video_id, 1, "unavailable") for group in videos.values()
                      for v in group if v.kind != "ok")

        second = run_snakemake(tmp_path, config)
        assert second.returncode == 0, second.stderr[-3000:]
        assert "Nothing to be done" in second.stdout + second.stderr
        assert len(web.requests_to("tiktok")) == page_visits


def test_a_video_unavailable_for_now_is_tried_again_when_its_time_comes(tmp_path):
    """A region-locked video ends unavailable for now, with a time to try again: before it
    nothing is to be done; after it, the next run downloads that video alone, and when it has
    become available it is published and its query's summary follows."""
    rng = random.Random(12)
    made = Catalog()
    ok, locked = (made.add(make_video(rng, "travel", kind=kind, scenes=2, duration=8.0))
                  for kind in ("ok", "region_locked"))
    made.query_results["street food"] = [ok.video_id, locked.video_id]
    ensure_media([ok])
    write_research_list(tmp_path, ["street food"])
    qdir = tmp_path / "output" / "queries" / query_dir_name(0, "street food")
    with FakeWeb(made) as web:
        config = base_config(web.host)
        first = run_snakemake(tmp_path, config)
        assert first.returncode == 0, first.stderr[-3000:]
        summary = json.loads((qdir / "videos.json").read_text())
        entry = summary["videos"][locked.video_id]
        assert (entry["outcome"], entry["reason"]) == ("unavailable", "region_locked")
        assert entry["retry_after"] > utc_now()

        second = run_snakemake(tmp_path, config)  # its time has not come
        assert second.returncode == 0, second.stderr[-3000:]
        assert "Nothing to be done" in second.stdout + second.stderr

        locked.kind = "ok"  # the region lock is lifted
        ensure_media([locked])
        summary["videos"][locked.video_id]["retry_after"] = "2000-01-01T00:00:00Z"
        (qdir / "videos.json").write_text(json.dumps(summary))
        visits_before = {video.video_id: web.counters.get(f"tiktok_page:{video.video_id}", 0)
                         for video in (ok, locked)}
        third = run_snakemake(tmp_path, config)
        assert third.returncode == 0, third.stderr[-3000:]
        assert "1 video(s) unavailable for now are tried again" in third.stderr
        assert web.counters.get(f"tiktok_page:{ok.video_id}", 0) == visits_before[ok.video_id]
        assert web.counters.get(f"tiktok_page:{locked.video_id}", 0) \
            == visits_before[locked.video_id] + 1
        receipt = json.loads((tmp_path / "output" / "videos" / locked.video_id /
                              ".uploaded").read_text())
        assert receipt["outcome"] == "published"
        status = json.loads((qdir / "status.json").read_text())
        assert status["status"] == "success" and status["counts"]["published"] == 2
