"""Fault injection (issue 14): the demo workflow with three bad videos among good ones.

- one crashes the decoder: the test hook kills the child decoding it with SIGKILL;
- one is over the duration cap (`tiktok.max_duration_seconds`);
- one has hostile page JSON: its sources point at a local file, a cloud metadata address and
  plain http, its numbers are absurd.

The good video publishes. Each bad one is a recorded failure with its cause. The rerun (the
hostile page has since become a normal one) tries only what may succeed: the page video, not
the crashing or the over-cap one.
"""

from __future__ import annotations

import json
import random

import pytest
from support.workflow import base_config, run_snakemake, write_research_list

from tiktok_research.fakeweb.catalog import Catalog, make_video
from tiktok_research.fakeweb.media import ensure_media
from tiktok_research.fakeweb.server import FakeWeb
from tiktok_research.isolated import CRASH_HOOK
from tiktok_research.queries import query_dir_name

pytestmark = pytest.mark.slow

QUERY = "fault injection"
HOSTILE = {"video": {"playAddr": "file:///etc/passwd", "bitrateInfo": "x", "PlayAddrStruct": 5,
                     "downloadAddr": "http://169.254.169.254/latest/meta-data"},
           "createTime": 10 ** 20, "stats": [1, 2]}


def catalog() -> tuple[Catalog, dict]:
    rng = random.Random(14)
    made = Catalog()
    videos = {name: made.add(make_video(rng, "travel", kind="ok", scenes=2, duration=seconds))
              for name, seconds in (("good", 8.0), ("crash", 8.0), ("long", 16.0),
                                    ("hostile", 8.0))}
    made.query_results[QUERY] = [video.video_id for video in videos.values()]
    return made, videos


def test_three_bad_videos_fail_alone_and_the_rerun_tries_only_what_may_succeed(tmp_path):
    made, videos = catalog()
    ensure_media(list(videos.values()))
    write_research_list(tmp_path, [QUERY])
    out = tmp_path / "output"
    ids = {name: video.video_id for name, video in videos.items()}
    env = {CRASH_HOOK: f"{ids['crash']}/video.mp4"}
    videos["hostile"].item_patch = HOSTILE
    with FakeWeb(made) as web:
        config = base_config(web.host, tiktok={"max_duration_seconds": 12})
        first = run_snakemake(tmp_path, config, "--keep-going", env=env)
        assert first.returncode != 0, first.stderr[-3000:]

        def receipt(name: str) -> dict:
            return json.loads((out / "videos" / ids[name] / ".uploaded").read_text())

        assert receipt("good")["outcome"] == "published"
        crashed = receipt("crash")
        assert (crashed["outcome"], crashed["reason"]) == ("processing_failed", "decoder_crashed")
        assert "killed by SIGKILL" in crashed["error"]
        over = receipt("long")
        assert (over["outcome"], over["cap"]) == ("download_failed",
                                                  "tiktok.max_duration_seconds")
        assert not (out / "videos" / ids["hostile"] / ".uploaded").exists()

        failures = json.loads((out / "failures.json").read_text())
        causes = {}
        for record in failures:
            causes.setdefault(record["video_id"], []).append((record["type"], record["error"]))
        assert [kind for kind, _ in causes[ids["crash"]]] == ["process", "process"]
        assert all("decoder crashed" in error for _, error in causes[ids["crash"]])
        [(kind, error)] = causes[ids["long"]]
        assert kind == "download" and "tiktok.max_duration_seconds" in error
        assert {kind for kind, _ in causes[ids["hostile"]]} == {"download"}
        assert all("no source on an allowed host" in error
                   for _, error in causes[ids["hostile"]])
        assert ids["good"] not in causes
        # The server was never asked for anything the hostile page pointed at.
        assert not [r for _, r in web.requests if "passwd" in r.path or "meta-data" in r.path]

        status = json.loads((out / "queries" / query_dir_name(0, QUERY) /
                             "status.json").read_text())
        assert status["status"] == "partial_success"
        assert status["videos"][ids["crash"]]["outcome"] == "processing_failed"
        assert status["videos"][ids["long"]]["outcome"] == "download_failed"
        assert status["videos"][ids["hostile"]]["outcome"] == "download_failed"

        videos["hostile"].item_patch = {}
        visited = len(web.requests_to("tiktok"))
        second = run_snakemake(tmp_path, config, "--keep-going", env=env)
        assert second.returncode == 0, second.stderr[-3000:]
        pages = [r.path for r in web.requests_to("tiktok")[visited:] if "/video/" in r.path
                 and "@" in r.path]
        assert pages and all(ids["hostile"] in path for path in pages), pages
        assert receipt("hostile")["outcome"] == "published"
        assert receipt("crash")["outcome"] == "processing_failed"
        assert len(json.loads((out / "failures.json").read_text())) == len(failures)
