"""The benchmark's pieces with tiny sizes: catalog, dry-run seeding and job count, figures.

Timings themselves are never asserted (SPEC §8: performance is measured by `make bench`).
"""

from __future__ import annotations

import json
from pathlib import Path

from tiktok_research import bench
from tiktok_research.queries import read_query_list

JOB_STATS = """Building DAG of jobs...
Job stats:
job                  count
-----------------  -------
all                      1
download_video          15
link_query_videos        5
total                   21

Reasons:
"""


def test_bench_catalog_spreads_long_speaking_videos_over_queries():
    catalog, queries = bench.bench_catalog(videos=10, queries=4)
    assert len(catalog.videos) == 10 and len(queries) == 4
    found = [vid for query in queries for vid in catalog.results_for(query)]
    assert sorted(found) == sorted(catalog.videos)  # every video found, by exactly one query
    for video in catalog.videos.values():
        assert video.kind == "ok" and video.script and video.has_audio
        assert bench.MIN_SECONDS <= video.duration <= bench.MAX_SECONDS
        assert len(video.scenes) >= 2


def test_seeded_dry_run_layout(tmp_path: Path):
    videos = bench.seed_dry_run(tmp_path, queries=5, videos_per_query=3)
    assert videos == 15
    queries = read_query_list(tmp_path / "research_list.csv")
    assert len(queries) == 5
    ids = set()
    for query in queries:
        entries = json.loads((tmp_path / "output/queries" / query.dirname / "urls.json")
                             .read_text(encoding="utf-8"))
        assert [entry["position"] for entry in entries] == [1, 2, 3]
        for entry in entries:
            assert entry["video_id"].isdigit() and entry["video_id"] in entry["url"]
            assert entry["query_index"] == query.index and entry["query"] == query.text
            ids.add(entry["video_id"])
    assert len(ids) == 15


def test_parse_job_stats():
    assert bench.parse_job_stats(JOB_STATS) == {
        "all": 1, "download_video": 15, "link_query_videos": 5, "total": 21}
    assert bench.parse_job_stats("Nothing to be done.") == {}


def test_dry_run_of_a_seeded_study_plans_every_video(tmp_path: Path):
    dry = bench.run_dry_run(tmp_path / "dry", queries=5, videos_per_query=3, timeout=120)
    assert dry.returncode == 0, dry.output_tail
    assert dry.videos == 15
    assert dry.jobs["link_query_videos"] == 5
    assert "search_videos" not in dry.jobs  # the seeded urls.json files stand
    assert any(count == 15 for rule, count in dry.jobs.items() if rule != "total")
    assert dry.jobs["total"] >= 15 + 5
    text = "\n".join(bench.format_figure(f) for f in bench.dry_run_figures(dry, 5, 3))
    assert "5 queries × 3 videos" in text and "target ≤ 60.00 s" in text


def test_format_figure_names_target_ratio_and_verdict():
    met = bench.format_figure(bench.Figure("wall time per video", 1.5, "s", 2.0, "old 45 s"))
    assert "1.50 s" in met and "target ≤ 2.00 s" in met and "0.75×" in met
    assert met.rstrip().endswith("[old 45 s]") and "OK" in met
    missed = bench.format_figure(bench.Figure("pipeline / floor", 3.0, "×", 1.5))
    assert "3.00×" in missed and "2.00× of target" in missed and "MISSED" in missed
    plain = bench.format_figure(bench.Figure("peak memory", 1234.4, "MiB"))
    assert "1,234 MiB" in plain and "target" not in plain


def test_stage_times_from_benchmark_files(tmp_path: Path):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    rows = {("download", "1"): "2.0\t0:00:02\t1\t1\t1\t1\t0\t0\t50\t1.5\n",
            ("download", "2"): "4.0\t0:00:04\t1\t1\t1\t1\t0\t0\t50\t2.5\n",
            ("publish", "1"): "0.5\t0:00:00\t1\t1\t1\t1\t0\t0\t50\t0.2\n",
            ("publish", "2"): "0.5\t0:00:00\t1\t1\t1\t1\t0\t0\t50\tNA\n"}
    for (stage, key), row in rows.items():
        path = tmp_path / "benchmarks" / stage / f"{key}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + row, encoding="utf-8")
    (tmp_path / "benchmarks" / "publish" / "broken.tsv").write_text("s\n", encoding="utf-8")
    times = bench.read_stage_times(tmp_path)
    assert times["download"]["2"] == bench.JobTime(4.0, 2.5)
    assert times["publish"]["2"].cpu is None and set(times["publish"]) == {"1", "2"}
    figures, notes = bench.stage_figures(times, videos=2, wall=5.0, cores=2)
    assert figures[0].label.startswith("download: 3.00 s/video") and figures[0].value == 6.0
    assert "CPU 2.00 s/job" in figures[0].against
    assert figures[-1].label == "sum of all job times" and figures[-1].value == 7.0
    assert "70% of it" in figures[-1].against and notes


def test_tree_memory_sampler_sees_this_process():
    import os

    sampler = bench.TreeMemorySampler(os.getpid())
    assert sampler.sample() > 10 * 2**20
    assert sampler.peak_bytes > 0 and sampler.peak_processes >= 1
