"""The benchmark's pieces (benchmark/bench.py) with tiny sizes: catalog, dry-run seeding, the
minimal DAG of our shape, job counts, stage and step times, figures.

Timings themselves are never asserted: performance is measured by `make bench`.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from tiktok_research.queries import read_query_list

ROOT = Path(__file__).resolve().parents[1]


def _load_bench():
    """benchmark/bench.py is a script of the checkout, not a module of the package."""
    name = "tiktok_research_benchmark"
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmark" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


bench = _load_bench()

JOB_STATS = """Building DAG of jobs...
Job stats:
job                          count
-------------------------  -------
all                              1
download_video                  15
process_and_publish_video       15
summarise_query                  5
summarise_run                    1
total                           37

Reasons:
"""
SMALL_JOBS = {"all": 1, "download_video": 6, "process_and_publish_video": 6,
              "summarise_query": 3, "summarise_run": 1, "total": 17}


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
    assert [query.dirname for query in queries] == bench.dry_run_query_dirs(5)
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
        "all": 1, "download_video": 15, "process_and_publish_video": 15, "summarise_query": 5,
        "summarise_run": 1, "total": 37}
    assert bench.parse_job_stats("Nothing to be done.") == {}


def test_dry_run_of_a_seeded_study_plans_every_video(tmp_path: Path):
    dry = bench.run_dry_run(tmp_path / "dry", queries=5, videos_per_query=3, timeout=120)
    assert dry.returncode == 0, dry.output_tail
    assert dry.videos == 15 and len(dry.runs) == 1 and dry.seconds == dry.runs[0]
    assert dry.jobs == {"all": 1, "download_video": 15, "process_and_publish_video": 15,
                        "summarise_query": 5, "summarise_run": 1, "total": 37}
    text = "\n".join(bench.format_figure(f) for f in bench.dry_run_figures(dry, 5, 3))
    assert "5 queries × 3 videos" in text and "target ≤ 60.00 s" in text and "37 jobs" in text


def test_minimal_snakefile_has_our_rules_and_paths():
    text = bench.minimal_snakefile("output")
    for rule in bench.DAG_RULES:
        assert f"rule {rule}:" in text or f"checkpoint {rule}:" in text
    assert "checkpoint search_videos:" in text and "checkpoints.search_videos.get(" in text
    assert "'output/videos/{video_id}/.uploaded'" in text
    assert "'output/queries/{qdir}/urls.json'" in text
    # shell rules that only touch their outputs (mkdir a folder output): nothing else runs
    commands = re.findall(r"shell:\n\s+(.*)", text)
    assert len(commands) == len(bench.DAG_RULES) - 1
    assert all(re.fullmatch(r'"(touch|mkdir -p)( \{output(\.\w+)?\})+'
                            r'( && (touch|mkdir -p)( \{output(\.\w+)?\})+)*"', command)
               for command in commands), commands
    assert "script:" not in text and "params:" not in text and "resources:" not in text


def test_minimal_dag_dry_runs_with_our_job_counts(tmp_path: Path):
    comparison = bench.compare_dry_runs(tmp_path / "dry", queries=3, videos_per_query=2,
                                        repeats=1, timeout=120)
    assert comparison.real.returncode == 0, comparison.real.output_tail
    assert comparison.minimal.returncode == 0, comparison.minimal.output_tail
    assert comparison.real.jobs == SMALL_JOBS
    assert comparison.minimal.jobs == SMALL_JOBS
    assert comparison.job_mismatch() == {}
    assert comparison.minimal_snakefile.is_file()
    assert (comparison.minimal_snakefile.parent / "profiles/default/config.yaml").is_file()
    queries = (comparison.minimal_snakefile.parent / "queries.txt").read_text().split()
    assert queries == bench.dry_run_query_dirs(3)
    assert comparison.real.seconds > 0 and comparison.minimal.seconds > 0
    assert comparison.ratio == comparison.real.seconds / comparison.minimal.seconds


def test_minimal_dag_has_our_jobs_and_edges(tmp_path: Path):
    assert bench.check_shape(tmp_path / "shape", queries=3, videos_per_query=2) == []


def test_alternated_runs_ours_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    order = []

    def fake_time(command, workdir, timeout=1800):
        order.append(Path(workdir).name)
        seconds = 10.0 if Path(workdir).name == "real" else 5.0
        return bench.TimedRun(seconds + len(order), seconds, 0,
                              JOB_STATS if Path(workdir).name == "real" else "")

    monkeypatch.setattr(bench, "time_dry_run", fake_time)
    comparison = bench.compare_dry_runs(tmp_path / "dry", 2, 1, repeats=3)
    assert order == ["real", "minimal"] * 3
    assert comparison.real.runs == [11, 13, 15] and comparison.real.seconds == 13
    assert comparison.minimal.runs == [7, 9, 11] and comparison.minimal.seconds == 9
    assert comparison.cpu_ratio == 2.0
    assert comparison.job_mismatch()["download_video"] == (15, 0)


def test_shape_differences_name_what_one_dag_lacks():
    ours = bench.parse_dot('''digraph snakemake_dag {
	0[label = "all", color = "0.00 0.6 0.85", style="rounded"];
	1[label = "search_videos\\nqdir: q1", color = "0.33 0.6 0.85", style="rounded,dashed"];
	2[label = "download_video\\nvideo_id: 7", color = "0.11 0.6 0.85", style="rounded"];
	1 -> 2
	2 -> 0
}''')
    assert ours.jobs[("search_videos qdir: q1", False)] == 1
    assert ours.jobs[("download_video video_id: 7", True)] == 1
    assert ours.edges == {("search_videos qdir: q1", "download_video video_id: 7"): 1,
                          ("download_video video_id: 7", "all"): 1}
    assert bench.shape_differences(ours, ours) == []
    minimal = bench.DagShape(ours.jobs.copy(), ours.edges.copy())
    del minimal.edges[("search_videos qdir: q1", "download_video video_id: 7")]
    assert bench.shape_differences(ours, minimal) == [
        "edge only in ours: ('search_videos qdir: q1', 'download_video video_id: 7')"]
    assert bench.shape_differences(bench.DagShape(), bench.DagShape()) == [
        "our DAG has no jobs"]


def test_summary_outputs_per_rule():
    outputs = bench.parse_summary(
        "output_file\tdate\trule\tlog-file(s)\tstatus\tplan\n"
        "output/progress.json\t-\tsummarise_run\t-\tmissing\tupdate pending\n"
        "output/videos/7/.uploaded\t-\tprocess_and_publish_video\t-\tmissing\tupdate pending\n")
    assert outputs == {("summarise_run", "output/progress.json"): 1,
                       ("process_and_publish_video", "output/videos/7/.uploaded"): 1}
    fewer = bench.DagShape(outputs=Counter({("summarise_run", "output/progress.json"): 1}))
    ours = bench.DagShape(jobs=Counter({("all", True): 1}), outputs=outputs)
    assert bench.shape_differences(ours, fewer) == [
        "job only in ours: ('all', True)",
        "output only in ours: ('process_and_publish_video', 'output/videos/7/.uploaded')"]


def _comparison(real: float, minimal: float, minimal_jobs: dict[str, int] | None = None):
    jobs = {"download_video": 20_000, "total": 41_002}
    return bench.DryRunComparison(
        bench.DryRun(real, 0, jobs, 20_000, runs=[real], cpu=real),
        bench.DryRun(minimal, 0, minimal_jobs or dict(jobs), 20_000, runs=[minimal],
                     cpu=minimal),
        Path("minimal/Snakefile"))


def test_comparison_figures_print_both_times_and_the_ratio():
    met = [bench.format_figure(f) for f in bench.comparison_figures(_comparison(36.0, 30.0))]
    assert "30.00 s" in met[0] and "41,002 jobs" in met[0] and "same jobs per rule" in met[0]
    assert "1.20×" in met[1] and "target ≤ 1.30×" in met[1] and met[1].count("OK") == 1
    assert "0.92× of target" in met[1] and "36.00 s / 30.00 s" in met[1]
    assert "1.20×" in met[2] and "target" not in met[2]
    missed = [bench.format_figure(f) for f in
              bench.comparison_figures(_comparison(45.0, 30.0, {"download_video": 10}))]
    assert "1.50×" in missed[1] and "1.15× of target" in missed[1] and "MISSED" in missed[1]
    assert "job counts differ: download_video 20,000 vs 10" in missed[0]


def test_format_figure_names_target_ratio_and_verdict():
    met = bench.format_figure(bench.Figure("wall time per video", 1.5, "s", 2.0, "old 45 s"))
    assert "1.50 s" in met and "target ≤ 2.00 s" in met and "0.75×" in met
    assert met.rstrip().endswith("[old 45 s]") and "OK" in met
    missed = bench.format_figure(bench.Figure("pipeline / floor", 3.0, "×", 1.5))
    assert "3.00×" in missed and "2.00× of target" in missed and "MISSED" in missed
    plain = bench.format_figure(bench.Figure("peak memory", 1234.4, "MiB"))
    assert "1,234 MiB" in plain and "target" not in plain


def _write_run(output: Path) -> None:
    """Benchmark TSVs of the four rules and three receipts (two published, one unavailable)."""
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    rows = {("summarise", "run"): "1.0\t0:00:01\t1\t1\t1\t1\t0\t0\t50\t0.4\n",
            ("process", "1"): "3.0\t0:00:03\t1\t1\t1\t1\t0\t0\t50\t0.2\n",
            ("process", "2"): "5.0\t0:00:05\t1\t1\t1\t1\t0\t0\t50\tNA\n",
            ("download", "1"): "2.0\t0:00:02\t1\t1\t1\t1\t0\t0\t50\t1.5\n",
            ("download", "2"): "4.0\t0:00:04\t1\t1\t1\t1\t0\t0\t50\t2.5\n",
            ("search", "query_00000_a"): "1.0\t0:00:01\t1\t1\t1\t1\t0\t0\t50\t0.5\n"}
    for (rule, key), row in rows.items():
        path = output / "benchmarks" / rule / f"{key}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + row, encoding="utf-8")
    (output / "benchmarks" / "process" / "broken.tsv").write_text("s\n", encoding="utf-8")
    receipts = {
        "1": {"outcome": "published", "timings": {
            "publish_video": 0.5, "ocr_frames": 1.0, "transcribe_audio": 2.0,
            "detect_scenes": 0.5, "extract_audio": 0.25, "download": 1.5}},
        "2": {"outcome": "published", "timings": {
            "download": 2.5, "extract_audio": 0.75, "detect_scenes": 0.5,
            "transcribe_audio": 4.0, "ocr_frames": 2.0, "publish_video": 0.5}},
        "3": {"outcome": "unavailable", "reason": "private"},
    }
    for video_id, receipt in receipts.items():
        path = output / "videos" / video_id / ".uploaded"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(receipt), encoding="utf-8")
    (output / "videos" / "4").mkdir()
    (output / "videos" / "4" / ".uploaded").write_text("{not json", encoding="utf-8")


def test_stage_times_from_benchmark_files_and_receipts(tmp_path: Path):
    _write_run(tmp_path)
    times = bench.read_stage_times(tmp_path)
    assert list(times.jobs) == ["search", "download", "process", "summarise"]  # pipeline order
    assert times.jobs["download"]["2"] == bench.JobTime(4.0, 2.5)
    assert times.jobs["process"]["2"].cpu is None and set(times.jobs["process"]) == {"1", "2"}
    assert list(times.steps) == list(bench.RECEIPT_STEPS)  # pipeline order, not receipt order
    assert times.steps["transcribe_audio"] == {"1": 2.0, "2": 4.0}
    assert "3" not in times.steps["download"]  # an unavailable video has no timings

    figures, notes = bench.stage_figures(times.jobs, videos=2, wall=10.0, cores=2)
    assert [f.label.split(":")[0] for f in figures[:-1]] == ["search", "download", "process",
                                                             "summarise"]
    assert figures[1].label.startswith("download: 3.00 s/video") and figures[1].value == 6.0
    assert "CPU 2.00 s/job" in figures[1].against
    assert figures[-1].label == "sum of all job times" and figures[-1].value == 16.0
    assert "80% of it" in figures[-1].against and notes

    figures, notes = bench.step_figures(times.steps, videos=2)
    assert figures[0].label == "download: 2.00 s/video" and figures[0].value == 4.0
    assert figures[3].label.startswith("transcribe_audio: 3.00 s/video")
    assert "2 videos: mean 3.00 s" in figures[3].against
    assert figures[-1].label == "sum of all step times" and figures[-1].value == 16.0
    assert notes
    assert bench.step_figures({}, videos=2)[0] == []


def test_published_count_reads_the_receipts(tmp_path: Path):
    _write_run(tmp_path)
    assert bench.read_receipt(tmp_path / "videos/3/.uploaded")["outcome"] == "unavailable"
    assert bench.read_receipt(tmp_path / "videos/4/.uploaded") is None


def test_startup_probes_name_modules_that_exist():
    for label, setup, code in bench.STARTUP_PROBES:
        compile(setup, label, "exec")
        compile(code, label, "exec")
        for line in (setup + "\n" + code).splitlines():
            words = line.replace(";", " ").split()
            if words[:1] == ["import"] and words[1].startswith("tiktok_research"):
                assert importlib.util.find_spec(words[1]), label
            if words[:1] == ["from"] and words[1].startswith("tiktok_research"):
                module = importlib.import_module(words[1])
                for name in " ".join(words[3:]).replace(",", " ").split():
                    assert hasattr(module, name), f"{label}: {words[1]}.{name}"


def test_tree_memory_sampler_sees_this_process():
    pytest.importorskip("psutil")
    import os

    sampler = bench.TreeMemorySampler(os.getpid())
    assert sampler.sample() > 10 * 2**20
    assert sampler.peak_bytes > 0 and sampler.peak_processes >= 1


def test_tree_memory_sampler_without_psutil(monkeypatch: pytest.MonkeyPatch):
    import os

    monkeypatch.setattr(bench.TreeMemorySampler, "available", False)
    with bench.TreeMemorySampler(os.getpid()) as sampler:
        assert sampler.sample() == 0
    assert sampler.peak_bytes == 0 and sampler.cpu_by_kind() == {}


def test_make_mutation_mutates_only_the_selected_modules_files() -> None:
    """`MUTATION_ARGS="--module publish"` mutates publish's own files, not storage's too (a
    pattern's * crosses "/"): every mutated file is one the report counts."""
    name = "tiktok_research_mutation"
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmark" / "mutation.py")
    mutation = importlib.util.module_from_spec(spec)
    sys.modules[name] = mutation  # dataclasses look their module up by name
    spec.loader.exec_module(mutation)
    publish = mutation.mutated_files(ROOT, ["publish"])
    assert "src/tiktok_research/publish/job.py" in publish
    assert not [path for path in publish if "/storage/" in path]
    both = mutation.mutated_files(ROOT, ["publish", "storage"])
    assert "src/tiktok_research/publish/storage/gcs.py" in both
    assert set(publish) < set(both)
    every = mutation.mutated_files(ROOT, list(mutation.MODULES))
    assert {mutation.module_of(path) for path in every} == set(mutation.MODULES)
