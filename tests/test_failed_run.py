"""A run whose videos fail for good says which: the last words of a failed `snakemake` run name
each failed video, and failures.json and progress.json list them."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from support.processed import write_downloaded
from support.workflow import base_config, run_snakemake, write_research_list

from tiktok_research.fakeweb.catalog import Catalog, make_video
from tiktok_research.fakeweb.server import FakeWeb
from tiktok_research.queries import query_dir_name

pytestmark = pytest.mark.slow

QUERY = "failed run check"
# Two videos whose download left a file no tool can read: extract_audio fails on both tries.
CORRUPT = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x13" * 50_000
FAILED = ["7000000000000000011", "7000000000000000012"]


def write_urls(workdir: Path, urls: dict[str, str]) -> Path:
    """The research list and the urls.json of one query, as the search leaves them."""
    output = workdir / "output"
    write_research_list(workdir, [QUERY])
    query_dir = output / "queries" / query_dir_name(0, QUERY)
    query_dir.mkdir(parents=True)
    entries = [{"video_id": video_id, "url": url, "title": video_id, "position": position,
                "query_index": 0, "query": QUERY}
               for position, (video_id, url) in enumerate(urls.items(), start=1)]
    (query_dir / "urls.json").write_text(json.dumps(entries), encoding="utf-8")
    return output


def failed_run_summary(stderr: str) -> tuple[int, list[str], str]:
    """The count, the video ids and the failures file the run's last line of its own names."""
    ours = [line for line in stderr.splitlines() if line.startswith("tiktok-research:")]
    assert ours, stderr[-3000:]
    summary = re.fullmatch(r"tiktok-research: (\d+) video\(s\) failed after their retries: "
                           r"(.+); see (\S+) and (\S+)", ours[-1])
    assert summary, ours[-1]
    return int(summary[1]), summary[2].split(", "), summary[3]


def test_a_run_whose_processing_fails_names_the_failed_videos(tmp_path: Path) -> None:
    output = write_urls(tmp_path, {video_id: f"https://www.tiktok.com/@demo/video/{video_id}"
                                   for video_id in FAILED})
    for video_id in FAILED:
        write_downloaded(output, video_id, CORRUPT, {"video_id": video_id})
    result = run_snakemake(tmp_path, base_config(), "--keep-going")
    assert result.returncode != 0, result.stderr[-3000:]

    count, named, failures_file = failed_run_summary(result.stderr)
    assert (count, named) == (len(FAILED), FAILED)
    assert Path(failures_file).name == "failures.json"

    failures = json.loads((output / "failures.json").read_text())
    assert sorted({record["video_id"] for record in failures}) == FAILED
    assert {(record["type"], record["details"]["reason"]) for record in failures} == {
        ("process", "unreadable_video")}
    progress = json.loads((output / "progress.json").read_text())
    assert progress["failed_videos"] == FAILED


def test_a_run_whose_download_fails_names_the_failed_video(tmp_path: Path) -> None:
    """One video downloads, one gets an HTML page for its bytes on every try."""
    rng = random.Random(16)
    catalog = Catalog()
    good = catalog.add(make_video(rng, "travel", scenes=2, duration=10.0))
    bad = catalog.add(make_video(rng, "travel", kind="html_as_video", scenes=2, duration=10.0))
    with FakeWeb(catalog) as web:
        output = write_urls(tmp_path, {video.video_id: f"{web.base_url}{video.page_path}"
                                       for video in (good, bad)})
        targets = [f"output/videos/{video.video_id}/metadata.json" for video in (good, bad)]
        result = run_snakemake(tmp_path, base_config(web.host), "--keep-going", *targets)
    assert result.returncode != 0, result.stderr[-3000:]
    assert (output / "videos" / good.video_id / "video.mp4").stat().st_size > 0

    count, named, _ = failed_run_summary(result.stderr)
    assert (count, named) == (1, [bad.video_id])
    failures = json.loads((output / "failures.json").read_text())
    assert {record["video_id"] for record in failures} == {bad.video_id}
    assert {record["type"] for record in failures} == {"download"}
    assert json.loads((output / "progress.json").read_text())["failed_videos"] == [bad.video_id]
