"""`make bench`: measure the pipeline against its performance targets.

Run from the checkout as `python benchmark/bench.py` (`make bench`). Four measurements, each
printed beside the target it is judged against:

1. The whole pipeline (search → publish, local storage + SQLite) over N generated demo videos
   (15–30 s, speech and on-screen text) served by the fake web, from an empty working directory
   (`bench-output/pipeline/`, wiped first, including Snakemake's own `.snakemake/` state):
   wall time end to end and per video, peak memory, each rule's job times (Snakemake's
   `benchmark:` TSV files) and each processing step's time (the `timings` of every video's
   receipt, `.uploaded`).
2. The compute floor: decoding (audio extraction, scene detection and frame writing), speech
   recognition and OCR of the same files, run alone in this one process with the pipeline's own
   steps and engines (`tiktok_research.process`), each model loaded once, one video at a time
   and then one video per core at a time (threads sharing the models, like the pipeline's
   worker); the ratio pipeline / floor is judged against the second, the machine's real floor.
3. The fixed costs of a job: interpreter start, imports, model loads, a browser start.
4. `snakemake -n` over 1000 queries × 20 videos with seeded `urls.json` files (20,000 videos),
   and the same over a minimal workflow of the same shape (same rules, checkpoint, edges and
   outputs per rule; shell rules that only touch their outputs) written to the bench's scratch
   folder: both wall times, alternated in one invocation, their job counts and their ratio.

    python benchmark/bench.py                                   # all of it, 20 videos
    python benchmark/bench.py --videos 8 --skip-dry-run
    python benchmark/bench.py --skip-pipeline --skip-floor --skip-startup --dry-run-repeats 2
    BENCH_VIDEOS=40 make bench

Video generation (ffmpeg + espeak-ng, cached under `.cache/demo-media`) happens before any
clock starts; the fake web runs in this process and is not counted in memory figures. Memory
and per-process CPU figures need psutil (the `bench` extra: pip install -e '.[bench]').
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tiktok_research.config import bundled_whisper_model, config_arguments
from tiktok_research.fakeweb.catalog import TOPICS, Catalog, DemoVideo, make_video
from tiktok_research.queries import QUERY_DIR_PATTERN, VIDEO_ID_PATTERN, query_dir_name

ROOT = Path(__file__).resolve().parents[1]  # the checkout this bench measures
BENCH_DIR = ROOT / "bench-output"
SNAKEFILE = ROOT / "Snakefile"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
DEFAULT_VIDEOS = 20
DEFAULT_QUERIES = 4
DEFAULT_SEED = 8
MIN_SECONDS, MAX_SECONDS = 15, 30
DRY_RUN_QUERIES, DRY_RUN_VIDEOS = 1000, 20

# The targets, on a 2-core machine: a video costs at most 2 s of wall time end to end; the
# whole run at most 1.5× the compute floor of the same videos; `snakemake -n` over 1000
# queries × 20 videos at most 60 s, and at most 1.3× the dry run of a minimal DAG of the same
# shape, both measured in the same invocation.
TARGET_WALL_PER_VIDEO = 2.0  # seconds, end to end
TARGET_FLOOR_RATIO = 1.5  # pipeline wall / compute floor
TARGET_DRY_RUN = 60.0  # seconds for 1000 queries × 20 videos
TARGET_DAG_RATIO = 1.3  # our dry run / the minimal DAG's
# The hand-rolled script the pipeline replaces took 45–80 s per video.
OLD_SCRIPT_PER_VIDEO = (45.0, 80.0)
SAMPLE_INTERVAL = 0.2  # seconds between RSS samples of the process tree
HAVE_PSUTIL = importlib.util.find_spec("psutil") is not None
NO_PSUTIL = "psutil is not installed (the `bench` extra: pip install -e '.[bench]')"


# --- figures ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Figure:
    """One measured number and what it is judged against (an upper bound, or just context)."""

    label: str
    value: float
    unit: str
    target: float | None = None
    against: str = ""

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.value <= self.target


def _number(value: float, unit: str) -> str:
    if unit == "×":
        return f"{value:.2f}×"
    if unit == "MiB":
        return f"{value:,.0f} MiB"
    if unit in ("jobs", "videos", "queries"):
        return f"{value:,.0f} {unit}"
    if unit == "s":
        return f"{value:,.2f} s" if value < 100 else f"{value:,.0f} s"
    return f"{value:,.2f} {unit}".strip()


def format_figure(figure: Figure, width: int = 44) -> str:
    """`label ........ value   target ≤ x (ratio) OK|MISSED   against`, one line."""
    line = f"  {figure.label:<{width}} {_number(figure.value, figure.unit):>14}"
    if figure.target is not None:
        ratio = figure.value / figure.target if figure.target else float("inf")
        verdict = "OK" if figure.met else "MISSED"
        line += (f"   target ≤ {_number(figure.target, figure.unit)}"
                 f" ({ratio:.2f}× of target) {verdict}")
    if figure.against:
        line += f"   [{figure.against}]"
    return line


def print_section(title: str, figures: Iterable[Figure], notes: Iterable[str] = ()) -> None:
    print(f"\n== {title}")
    for figure in figures:
        print(format_figure(figure))
    for note in notes:
        print(f"  · {note}")
    sys.stdout.flush()


# --- the bench catalog -----------------------------------------------------------------------
def bench_catalog(videos: int, queries: int, seed: int = DEFAULT_SEED
                  ) -> tuple[Catalog, list[str]]:
    """`videos` playable demo videos (15–30 s, speech, on-screen text) spread over `queries`
    queries that find disjoint sets of them, so each video is downloaded exactly once."""
    if videos < 1 or queries < 1:
        raise ValueError("need at least one video and one query")
    queries = min(queries, videos)
    rng = random.Random(seed)
    topics = list(TOPICS)
    catalog = Catalog()
    made: list[DemoVideo] = []
    for index in range(videos):
        duration = float(rng.randint(MIN_SECONDS, MAX_SECONDS))
        made.append(catalog.add(make_video(rng, topics[index % len(topics)], speech=True,
                                           duration=duration)))
    texts = [f"bench {topics[index % len(topics)]} query {index + 1}" for index in range(queries)]
    for index, text in enumerate(texts):
        catalog.query_results[text] = [video.video_id for video in made[index::queries]]
    return catalog, texts


def write_research_list(path: Path, queries: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["query,topic"] + [f'"{text}",bench' for text in queries]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def bench_overrides(base_url: str | None = None, host: str | None = None,
                    max_results: int = DRY_RUN_VIDEOS) -> dict[str, Any]:
    """Config for a bench run in its own working directory (paths relative to it)."""
    overrides: dict[str, Any] = {
        "research_list": "research_list.csv",
        "output_dir": "output",
        "max_results": max_results,
        "whisper_model": bundled_whisper_model(),
        "storage": {"backend": "local", "local_dir": "output/bucket"},
        "database": {"backend": "sqlite", "sqlite_path": "output/research.sqlite"},
        "serper": {"backoff_seconds": 0.5},
        # The local site has no rate limit to respect: no pace between page loads.
        "tiktok": {"backoff_seconds": 0.5, "profiles_dir": "browser_profiles",
                   "min_page_interval_seconds": 0},
    }
    if base_url and host:
        overrides["serper"]["base_url"] = base_url
        overrides["tiktok"]["hosts"] = [host]
    return overrides


def snakemake_command(workdir: Path, overrides: dict[str, Any], *extra: str,
                      cores: int = 2, snakefile: Path = SNAKEFILE) -> list[str]:
    return [str(SNAKEMAKE), "-s", str(snakefile), "-d", str(workdir), "--cores", str(cores),
            *extra, "--config", *config_arguments(overrides)]


def snakemake_env() -> dict[str, str]:
    return {**os.environ, "SERPER_API_KEY": os.environ.get("BENCH_SERPER_KEY", "bench-key")}


# --- memory ------------------------------------------------------------------------------------
class TreeMemorySampler:
    """Peak summed RSS of a process and all its descendants, sampled on a thread (psutil).

    Descendants that outlive their parent (the persistent worker, started by a job) are
    re-parented to this process (`become_subreaper`), so they are counted as this process's
    children; this process itself (the fake web) is not. Without psutil nothing is sampled
    (`available` is false) and every figure stays 0."""

    available = HAVE_PSUTIL

    def __init__(self, pid: int, interval: float = SAMPLE_INTERVAL) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_bytes = 0
        self.peak_processes = 0
        self.root_cpu = 0.0  # CPU seconds of the root process itself, as last seen
        self.samples = 0
        self._cpu_by_pid: dict[int, tuple[str, float]] = {}  # pid → (kind, CPU s last seen)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemorySampler:
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def sample(self) -> int:
        if not self.available:
            return 0
        import psutil

        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
            processes += [child for child in psutil.Process().children(recursive=True)
                          if child not in processes]
            times = root.cpu_times()
            self.root_cpu = times.user + times.system
        except psutil.Error:
            return 0
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
                times = process.cpu_times()
                kind = (self._cpu_by_pid[process.pid][0] if process.pid in self._cpu_by_pid
                        else process_kind(process, self.pid))
                self._cpu_by_pid[process.pid] = (kind, times.user + times.system)
            except psutil.Error:
                continue  # it ended between listing and reading
        self.samples += 1
        if total > self.peak_bytes:
            self.peak_bytes, self.peak_processes = total, len(processes)
        return total

    def cpu_by_kind(self) -> dict[str, float]:
        """CPU seconds per kind of process, as last seen (short-lived ones are missed)."""
        kinds: dict[str, float] = {}
        for kind, cpu in self._cpu_by_pid.values():
            kinds[kind] = kinds.get(kind, 0.0) + cpu
        return kinds

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)


def process_kind(process: Any, root_pid: int) -> str:
    """What a process of the run is: snakemake, the worker, Chromium, ffmpeg or a job (its
    command or script)."""
    if process.pid == root_pid:
        return "snakemake"
    command = " ".join(process.cmdline())
    if "tiktok_research.runtime.worker" in command:
        return "worker"
    if "chrom" in process.name().lower():
        return "chromium"
    if process.name() in ("ffmpeg", "ffprobe"):
        return "ffmpeg"
    return "jobs"


def become_subreaper() -> bool:
    """Orphaned descendants (the persistent worker once the job that started it ends) become
    this process's children, so their CPU time and memory are counted (Linux prctl)."""
    import ctypes

    PR_SET_CHILD_SUBREAPER = 36
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reap_children(seconds: float = 30.0) -> None:
    """Wait for every child (the worker stops when the run ends) so getrusage counts it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)


def children_max_rss_bytes() -> int:
    """Largest single finished child process so far (getrusage RUSAGE_CHILDREN; KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def cpu_seconds(who: int) -> float:
    """User + system CPU seconds of `resource.RUSAGE_SELF` or `RUSAGE_CHILDREN` so far."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


# --- 1. the pipeline ---------------------------------------------------------------------------
# The workflow's rules by the folder their `benchmark:` files go to, in pipeline order.
RULE_FOLDERS = ("search", "download", "process", "summarise")
# The step times each published video's receipt carries (`timings`), in pipeline order: the
# download (from metadata.json), the four processing steps, the publishing.
RECEIPT_STEPS = ("download", "extract_audio", "detect_scenes", "transcribe_audio", "ocr_frames",
                 "publish_video")


@dataclass(frozen=True)
class JobTime:
    seconds: float  # column `s`: the job's wall clock
    cpu: float | None = None  # column `cpu_time`: its CPU seconds (None when not recorded)


@dataclass
class StageTimes:
    """What a finished run says about its time: each job as Snakemake timed it, and each step
    of each video as the worker timed it."""

    jobs: dict[str, dict[str, JobTime]] = field(default_factory=dict)  # rule → key → time
    steps: dict[str, dict[str, float]] = field(default_factory=dict)  # step → video → seconds


@dataclass
class PipelineRun:
    workdir: Path
    wall: float
    returncode: int
    peak_tree_bytes: int
    peak_tree_processes: int
    max_child_bytes: int
    log_path: Path
    cpu: float = 0.0  # every process of the run, worker included (getrusage RUSAGE_CHILDREN)
    scheduler_cpu: float = 0.0  # the snakemake process itself
    cpu_by_kind: dict[str, float] = field(default_factory=dict)  # psutil, as last seen
    published: int = 0
    stage_times: StageTimes = field(default_factory=StageTimes)


def run_pipeline(workdir: Path, overrides: dict[str, Any], queries: list[str], cores: int = 2,
                 extra: Iterable[str] = (), snakefile: Path = SNAKEFILE) -> PipelineRun:
    """One `snakemake` run from a `workdir` holding only the research list, timed, its process
    tree's memory sampled."""
    if workdir.exists():
        shutil.rmtree(workdir)
    write_research_list(workdir / "research_list.csv", queries)
    log_path = workdir / "snakemake.log"
    command = snakemake_command(workdir, overrides, *extra, cores=cores, snakefile=snakefile)
    with log_path.open("w", encoding="utf-8") as log:
        cpu_before = cpu_seconds(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=workdir, env=snakemake_env(), stdout=log,
                                   stderr=subprocess.STDOUT)
        with TreeMemorySampler(process.pid) as sampler:
            returncode = process.wait()
            wall = time.monotonic() - started
            reap_children()
    output_dir = workdir / overrides["output_dir"]
    run = PipelineRun(workdir, wall, returncode, sampler.peak_bytes, sampler.peak_processes,
                      children_max_rss_bytes(), log_path,
                      cpu=cpu_seconds(resource.RUSAGE_CHILDREN) - cpu_before,
                      scheduler_cpu=sampler.root_cpu, cpu_by_kind=sampler.cpu_by_kind())
    run.published = sum(1 for receipt in output_dir.glob("videos/*/.uploaded")
                        if (read_receipt(receipt) or {}).get("outcome") == "published")
    run.stage_times = read_stage_times(output_dir)
    return run


def read_receipt(path: Path) -> dict[str, Any] | None:
    try:
        receipt = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return receipt if isinstance(receipt, dict) else None


def read_job_times(output_dir: Path) -> dict[str, dict[str, JobTime]]:
    """{rule folder: {job key: JobTime}} from `{output_dir}/benchmarks/{rule}/{key}.tsv` (its
    last row), the workflow's rules first in pipeline order, any other folder after them."""
    times: dict[str, dict[str, JobTime]] = {}
    for path in sorted(Path(output_dir).glob("benchmarks/*/*.tsv")):
        try:
            with path.open(encoding="utf-8") as handle:
                row = list(csv.DictReader(handle, delimiter="\t"))[-1]
            cpu = row.get("cpu_time")
            job = JobTime(float(row["s"]), float(cpu) if cpu not in (None, "", "NA") else None)
        except (OSError, KeyError, IndexError, ValueError):
            continue
        times.setdefault(path.parent.name, {})[path.stem] = job
    order = {rule: index for index, rule in enumerate(RULE_FOLDERS)}
    return dict(sorted(times.items(), key=lambda item: (order.get(item[0], len(order)),
                                                        item[0])))


def read_step_times(output_dir: Path) -> dict[str, dict[str, float]]:
    """{step: {video id: seconds}} from the `timings` of every receipt
    `{output_dir}/videos/{id}/.uploaded` (published videos only: the others have none), the
    known steps in pipeline order, any other step after them."""
    steps: dict[str, dict[str, float]] = {}
    for path in sorted(Path(output_dir).glob("videos/*/.uploaded")):
        timings = (read_receipt(path) or {}).get("timings")
        if not isinstance(timings, dict):
            continue
        for step, seconds in timings.items():
            if isinstance(seconds, int | float) and not isinstance(seconds, bool):
                steps.setdefault(str(step), {})[path.parent.name] = float(seconds)
    order = {step: index for index, step in enumerate(RECEIPT_STEPS)}
    return dict(sorted(steps.items(), key=lambda item: (order.get(item[0], len(order)),
                                                        item[0])))


def read_stage_times(output_dir: Path) -> StageTimes:
    """The jobs' times (benchmark TSVs, per rule) and the steps' times (receipts, per video)."""
    return StageTimes(read_job_times(output_dir), read_step_times(output_dir))


def stage_figures(job_times: dict[str, dict[str, JobTime]], videos: int,
                  wall: float, cores: int) -> tuple[list[Figure], list[str]]:
    """One figure per rule (pipeline order), then the sum over all jobs."""
    figures, notes = [], []
    total = total_cpu = 0.0
    for rule, jobs in job_times.items():
        values = [job.seconds for job in jobs.values()]
        cpu = sum(job.cpu or 0.0 for job in jobs.values())
        total += sum(values)
        total_cpu += cpu
        figures.append(Figure(
            f"{rule}: {sum(values) / max(videos, 1):.2f} s/video", sum(values), "s",
            against=f"{len(values)} jobs: mean {statistics.mean(values):.2f} s, "
                    f"median {statistics.median(values):.2f} s, max {max(values):.2f} s; "
                    f"CPU {cpu / len(values):.2f} s/job"))
    if job_times:
        figures.append(Figure(
            "sum of all job times", total, "s",
            against=f"{total / max(videos, 1):.2f} s/video, CPU {total_cpu:.0f} s; wall × cores "
                    f"= {wall * cores:.0f} s → jobs fill {total / (wall * cores):.0%} of it"))
        notes.append("job time = columns s and cpu_time of each job's benchmark TSV (the job's "
                     "command or script: process, Python start-up and imports included); "
                     "download and process jobs hand their work to the persistent worker, so "
                     "their CPU column is the job's own and the work's CPU is in the run's "
                     "total above")
    return figures, notes


def step_figures(step_times: dict[str, dict[str, float]], videos: int
                 ) -> tuple[list[Figure], list[str]]:
    """One figure per step of the videos' receipts (pipeline order), then their sum."""
    figures: list[Figure] = []
    total = 0.0
    for step, by_video in step_times.items():
        values = list(by_video.values())
        total += sum(values)
        figures.append(Figure(
            f"{step}: {sum(values) / max(videos, 1):.2f} s/video", sum(values), "s",
            against=f"{len(values)} videos: mean {statistics.mean(values):.2f} s, "
                    f"median {statistics.median(values):.2f} s, max {max(values):.2f} s"))
    if not step_times:
        return figures, ["no receipt carries step times (no video was published)"]
    figures.append(Figure("sum of all step times", total, "s",
                          against=f"{total / max(videos, 1):.2f} s/video"))
    return figures, ["step time = the `timings` of each published video's receipt "
                     "(`.uploaded`): the download as metadata.json has it, each processing "
                     "step and the publishing as the worker timed them"]


# --- 2. the compute floor ----------------------------------------------------------------------
@dataclass
class FloorResult:
    videos: int
    parallel: int = 1  # videos at a time (threads of this one process)
    wall: float = 0.0  # the whole batch, first decode to last OCR
    decode: float = 0.0  # audio extraction + scene detection + frame writing (summed over videos)
    transcribe: float = 0.0
    ocr: float = 0.0
    load_models: float = 0.0  # once, not part of the floor per video
    frames: int = 0
    cpu: float = 0.0  # CPU seconds of the three steps (this process and its ffmpeg children)

    @property
    def total(self) -> float:
        return self.wall


def compute_floor(video_paths: list[Path], config: dict[str, Any], scratch: Path,
                  parallel: int = 1) -> FloorResult:
    """Decode, transcribe and OCR `video_paths` in this process with the pipeline's own steps
    and engines, `parallel` videos at a time (threads sharing the models, opened for a host
    that runs `parallel` jobs at once, as the pipeline's worker does)."""
    from concurrent.futures import ThreadPoolExecutor

    from tiktok_research.process.engines import open_ocr, open_transcriber
    from tiktok_research.process.steps import (
        ProcessSettings,
        step_detect_scenes,
        step_extract_audio,
        step_ocr_frames,
        step_transcribe,
    )
    from tiktok_research.registry import Host

    settings = ProcessSettings.from_config(config)
    host = Host(parallel=parallel)
    result = FloorResult(videos=len(video_paths), parallel=parallel)
    started = time.perf_counter()
    speech = open_transcriber(config, host)
    reader = open_ocr(config, host)
    result.load_models = time.perf_counter() - started
    lock = threading.Lock()

    def one(path: Path) -> None:
        folder = scratch / path.stem
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        audio = step_extract_audio(path, folder / "audio.mp3")
        frames = step_detect_scenes(path, folder / "frames", settings.max_frames)
        decoded = time.perf_counter()
        step_transcribe(speech, audio, folder / "transcript.txt",
                        folder / "transcript_timestamps.json", settings.min_transcript_chars)
        transcribed = time.perf_counter()
        step_ocr_frames(reader(), folder / "frames", folder / "ocr.json")
        with lock:
            result.decode += decoded - started
            result.transcribe += transcribed - decoded
            result.ocr += time.perf_counter() - transcribed
            result.frames += len(frames)

    cpu_before = cpu_seconds(resource.RUSAGE_SELF) + cpu_seconds(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, video_paths))
    result.wall = time.perf_counter() - started
    result.cpu = (cpu_seconds(resource.RUSAGE_SELF) + cpu_seconds(resource.RUSAGE_CHILDREN)
                  - cpu_before)
    return result


# --- per-job fixed costs ------------------------------------------------------------------------
# What a job pays before it does its work, each measured in fresh interpreters the way a job
# starts: (label, untimed setup, timed code). The config is the bench config.
STARTUP_PROBES: list[tuple[str, str, str]] = [
    ("interpreter start (python -c pass)", "", ""),
    ("job command (import runtime.job)", "",
     "import tiktok_research.runtime.job"),
    ("script: preamble (import snakemake.script)", "", "import snakemake.script"),
    ("import download stage (download.job)", "", "import tiktok_research.download.job"),
    ("import process stage (publish.job)", "", "import tiktok_research.publish.job"),
    ("import process steps alone (process.steps)", "",
     "import tiktok_research.process.steps"),
    ("import scene detection (cv2, scenedetect)", "", "import tiktok_research.process.scenes"),
    ("load whisper model (+ import faster_whisper)",
     "from tiktok_research.process.engines import open_transcriber\n"
     "from tiktok_research.registry import Host",
     "open_transcriber(CONFIG, Host())"),
    ("load OCR engine (+ import RapidOCR)",
     "from tiktok_research.process.engines import open_ocr\n"
     "from tiktok_research.registry import Host",
     "open_ocr(CONFIG, Host())()"),
    ("browser start + stop (Chromium via zendriver)",
     "import asyncio, tempfile; from pathlib import Path\n"
     "from tiktok_research.download.session import BrowserSession, BrowserSettings\n"
     "PROFILE = Path(tempfile.mkdtemp(prefix='bench-browser-'))\n"
     "async def cycle():\n"
     "    session = BrowserSession(BrowserSettings.from_config(CONFIG), PROFILE)\n"
     "    await session.start()\n"
     "    await session.stop()",
     "asyncio.run(cycle())"),
]
PROBE_HARNESS = """
import json, resource, sys, time
start = time.perf_counter()
from tiktok_research import config as _config
CONFIG = _config.load(json.loads(sys.argv[1]))
exec(compile(sys.argv[2], "setup", "exec"))
before_cpu = resource.getrusage(resource.RUSAGE_SELF)
before = time.perf_counter()
exec(compile(sys.argv[3], "probe", "exec"))
after = time.perf_counter()
after_cpu = resource.getrusage(resource.RUSAGE_SELF)
cpu = (after_cpu.ru_utime - before_cpu.ru_utime) + (after_cpu.ru_stime - before_cpu.ru_stime)
print(json.dumps({"wall": after - before, "cpu": cpu}))
"""


@dataclass(frozen=True)
class Probe:
    label: str
    wall: float  # median over the repeats
    cpu: float  # median CPU seconds (user + sys) of the probing process itself
    error: str = ""


def run_probe(label: str, setup: str, code: str, overrides: dict[str, Any],
              repeats: int = 3) -> Probe:
    """Median wall and CPU of `code` in `repeats` fresh interpreters (a whole `python -c pass`
    for the interpreter probe, whose CPU includes the children's)."""
    walls, cpus = [], []
    for _ in range(repeats):
        if not code:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            walls.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            continue
        result = subprocess.run(
            [sys.executable, "-c", PROBE_HARNESS, json.dumps(overrides), setup, code],
            capture_output=True, text=True, check=False)
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["failed"])[-1]
            return Probe(label, 0.0, 0.0, reason)
        measured = json.loads(result.stdout.strip().splitlines()[-1])
        walls.append(measured["wall"])
        cpus.append(measured["cpu"])
    return Probe(label, statistics.median(walls), statistics.median(cpus))


def startup_probes(overrides: dict[str, Any], repeats: int = 3) -> list[Probe]:
    return [run_probe(label, setup, code, overrides, repeats)
            for label, setup, code in STARTUP_PROBES]


def probe_figures(probes: list[Probe]) -> list[Figure]:
    return [Figure(probe.label, probe.wall, "s",
                   against=f"CPU {probe.cpu:.2f} s" if not probe.error
                   else f"not measured: {probe.error[:80]}")
            for probe in probes]


# --- 3. the dry run at scale -------------------------------------------------------------------
def dry_run_texts(queries: int) -> list[str]:
    return [f"dry run query {index}" for index in range(queries)]


def dry_run_query_dirs(queries: int) -> list[str]:
    """The query folders `seed_dry_run` makes, in order."""
    return [query_dir_name(index, text) for index, text in enumerate(dry_run_texts(queries))]


def seed_dry_run(workdir: Path, queries: int, videos_per_query: int,
                 output_dir: str = "output", seed: int = DEFAULT_SEED) -> int:
    """A research list of `queries` queries, each with a `urls.json` of distinct videos, as the
    search checkpoint would have left them. Returns the number of videos."""
    rng = random.Random(seed)
    texts = dry_run_texts(queries)
    write_research_list(workdir / "research_list.csv", texts)
    seen: set[str] = set()
    for index, text in enumerate(texts):
        entries = []
        for position in range(1, videos_per_query + 1):
            video_id = str(rng.randrange(7_200_000_000_000_000_000, 7_600_000_000_000_000_000))
            while video_id in seen:
                video_id = str(rng.randrange(7_200_000_000_000_000_000,
                                             7_600_000_000_000_000_000))
            seen.add(video_id)
            entries.append({"video_id": video_id,
                            "url": f"https://www.tiktok.com/@bench/video/{video_id}",
                            "title": f"video {position} of {text}", "position": position,
                            "query_index": index, "query": text})
        folder = workdir / output_dir / "queries" / query_dir_name(index, text)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "urls.json").write_text(json.dumps(entries), encoding="utf-8")
    return len(seen)


# The minimal DAG of the same shape as the workflow's (rules/*.smk): the same rules, the same
# checkpoint, the same edges and the same number of outputs per rule (process_and_publish_video
# with `keep` false), over the same paths; shell rules that only touch their outputs; no
# config, no params, resources, logs or benchmark files, and no input functions but those the
# checkpoint's edges need (a query's receipts; a download's urls.json). Its queries are listed
# in `queries.txt` beside it.
MINIMAL_SNAKEFILE = '''\
# A minimal DAG of the same shape as the pipeline's, written by benchmark/bench.py.
import json

QDIRS = open(workflow.basedir + "/queries.txt", encoding="utf-8").read().split()
URLS = {urls!r}
RECEIPT = {receipt!r}
FOUND_IN = {{}}  # video id → the first query whose urls.json lists it

wildcard_constraints:
    video_id={video_id_pattern!r},
    qdir={qdir_pattern!r},


rule all:
    input:
        expand([{status!r}, {links!r}, {videos!r}, {destination!r}], qdir=QDIRS),
        {progress!r},
    default_target: True


checkpoint search_videos:
    output:
        urls={urls!r},
    shell:
        "touch {{output}}"


def found_videos(qdir):
    urls = checkpoints.search_videos.get(qdir=qdir).output.urls
    with open(urls, encoding="utf-8") as handle:
        video_ids = [entry["video_id"] for entry in json.load(handle)]
    for video_id in video_ids:
        FOUND_IN.setdefault(video_id, qdir)
    return video_ids


def found_in(wildcards):
    for qdir in QDIRS:
        if wildcards.video_id in FOUND_IN:
            break
        found_videos(qdir)
    return URLS.format(qdir=FOUND_IN[wildcards.video_id])


def receipts(wildcards):
    return [RECEIPT.format(video_id=video_id) for video_id in found_videos(wildcards.qdir)]


rule download_video:
    input:
        urls=found_in,
    output:
        video={video!r},
        meta={meta!r},
        captions=directory({captions!r}),
    shell:
        "touch {{output.video}} {{output.meta}} && mkdir -p {{output.captions}}"


rule process_and_publish_video:
    input:
        video={video!r},
        meta={meta!r},
    output:
        transcript={transcript!r},
        timestamps={timestamps!r},
        ocr={ocr!r},
        receipt={receipt!r},
    shell:
        "touch {{output}}"


rule summarise_query:
    input:
        urls={urls!r},
        receipts=receipts,
    output:
        status={status!r},
        links={links!r},
        videos={videos!r},
        destination={destination!r},
    shell:
        "touch {{output}}"


rule summarise_run:
    input:
        statuses=expand({status!r}, qdir=QDIRS),
        videos=expand({videos!r}, qdir=QDIRS),
    output:
        progress={progress!r},
        failures={failures!r},
        costs={costs!r},
        report={report!r},
        parquet={parquet!r},
        csv={csv!r},
        sqlite={sqlite!r},
    shell:
        "touch {{output}}"
'''
# The rules both DAGs have (the target rule `all` included).
DAG_RULES = ("all", "search_videos", "download_video", "process_and_publish_video",
             "summarise_query", "summarise_run")


def minimal_snakefile(output_dir: str = "output") -> str:
    """The minimal workflow's Snakefile, its paths those of the pipeline's output tree."""
    from tiktok_research.paths import OutputTree
    from tiktok_research.publish.destination import destination_key

    tree = OutputTree(output_dir)
    key = destination_key({"output_dir": output_dir})  # the default storage and database
    return MINIMAL_SNAKEFILE.format(
        destination=tree.destination_note("{qdir}", key),
        video_id_pattern=VIDEO_ID_PATTERN, qdir_pattern=QUERY_DIR_PATTERN,
        urls=tree.urls("{qdir}"), status=tree.status("{qdir}"), links=tree.links("{qdir}"),
        videos=tree.query_videos("{qdir}"),
        video=tree.video("{video_id}"), meta=tree.metadata("{video_id}"),
        captions=tree.video_file("{video_id}", "captions"),
        transcript=tree.video_file("{video_id}", "transcript"),
        timestamps=tree.video_file("{video_id}", "timestamps"),
        ocr=tree.video_file("{video_id}", "ocr"), receipt=tree.receipt("{video_id}"),
        progress=tree.progress(), failures=tree.failures(), costs=tree.costs(),
        report=tree.report(),
        parquet=tree.dataset("parquet"), csv=tree.dataset("csv"),
        sqlite=tree.dataset("sqlite"))


def write_minimal_workflow(folder: Path, query_dirs: list[str], output_dir: str = "output",
                           profile_from: Path = SNAKEFILE) -> Path:
    """The minimal workflow in `folder` (its Snakefile, `queries.txt`, and a copy of the
    workflow's own default profile, so both dry runs run with the same settings); its
    Snakefile."""
    folder.mkdir(parents=True, exist_ok=True)
    snakefile = folder / "Snakefile"
    snakefile.write_text(minimal_snakefile(output_dir), encoding="utf-8")
    (folder / "queries.txt").write_text("".join(f"{qdir}\n" for qdir in query_dirs),
                                        encoding="utf-8")
    profile = profile_from.parent / "profiles" / "default"
    if profile.is_dir():
        shutil.copytree(profile, folder / "profiles" / "default", dirs_exist_ok=True)
    return snakefile


JOB_ROW = re.compile(r"^(?P<rule>[A-Za-z_][A-Za-z0-9_]*)\s+(?P<count>\d+)\s*$")


def parse_job_stats(text: str) -> dict[str, int]:
    """{rule: count, "total": n} from the "Job stats:" table Snakemake prints."""
    counts: dict[str, int] = {}
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Job stats:")
    except StopIteration:
        return counts
    for line in lines[start + 1:]:
        match = JOB_ROW.match(line.strip())
        if match:
            counts[match["rule"]] = int(match["count"])
            if match["rule"] == "total":
                break
        elif counts and not line.strip():
            break
    return counts


@dataclass
class DryRun:
    seconds: float  # the median of `runs`
    returncode: int  # the first non-zero one, else 0
    jobs: dict[str, int]
    videos: int
    output_tail: str = ""
    runs: list[float] = field(default_factory=list)  # each timed `snakemake -n`, in order
    cpu: float = 0.0  # the median CPU seconds (user + sys) of those runs


DRY_RUN_FLAGS = ("-n", "--quiet", "rules")


def dry_run_command(workdir: Path, snakefile: Path, real: bool, videos_per_query: int,
                    flags: Iterable[str] = DRY_RUN_FLAGS) -> list[str]:
    """`snakemake -n` (or other `flags`) in `workdir`: the workflow with the bench config, or
    the minimal one."""
    if real:
        return snakemake_command(workdir, bench_overrides(max_results=videos_per_query),
                                 *flags, snakefile=snakefile)
    return [str(SNAKEMAKE), "-s", str(snakefile), "-d", str(workdir), "--cores", "2", *flags]


DOT_NODE = re.compile(r'^\s*(?P<id>\d+)\[label = "(?P<label>[^"]*)".*style="(?P<style>[^"]*)"')
DOT_EDGE = re.compile(r"^\s*(?P<source>\d+) -> (?P<target>\d+)\s*$")


@dataclass
class DagShape:
    """A DAG as `snakemake --dag` draws it, without its node numbers: each job as its label
    (rule, and the wildcards Snakemake shows) and whether it is to run, each edge as the labels
    of its two ends; and each output file of its jobs with its rule (`snakemake --summary`)."""

    jobs: Counter[tuple[str, bool]] = field(default_factory=Counter)
    edges: Counter[tuple[str, str]] = field(default_factory=Counter)
    outputs: Counter[tuple[str, str]] = field(default_factory=Counter)


def parse_dot(text: str) -> DagShape:
    labels: dict[str, str] = {}
    shape = DagShape()
    for line in text.splitlines():
        if node := DOT_NODE.match(line):
            labels[node["id"]] = node["label"].replace("\\n", " ")
            shape.jobs[(labels[node["id"]], "dashed" not in node["style"])] += 1
        elif edge := DOT_EDGE.match(line):
            shape.edges[(labels.get(edge["source"], edge["source"]),
                         labels.get(edge["target"], edge["target"]))] += 1
    return shape


def parse_summary(text: str) -> Counter[tuple[str, str]]:
    """(rule, output file) of every row of `snakemake --summary`."""
    outputs: Counter[tuple[str, str]] = Counter()
    for line in text.splitlines()[1:]:
        columns = line.split("\t")
        if len(columns) >= 3:
            outputs[(columns[2], columns[0])] += 1
    return outputs


def shape_differences(ours: DagShape, minimal: DagShape, limit: int = 5) -> list[str]:
    """What one DAG has that the other has not (jobs, edges, then outputs), at most `limit` of
    each."""
    differences = []
    for kind, mine, theirs in (("job", ours.jobs, minimal.jobs),
                               ("edge", ours.edges, minimal.edges),
                               ("output", ours.outputs, minimal.outputs)):
        for name, extra in (("ours", mine - theirs), ("minimal", theirs - mine)):
            items = sorted(extra.elements(), key=str)
            differences += [f"{kind} only in {name}: {item}" for item in items[:limit]]
            if len(items) > limit:
                differences.append(f"… {len(items) - limit} more {kind}s only in {name}")
    if not ours.jobs:
        differences.append("our DAG has no jobs")
    return differences


def check_shape(folder: Path, queries: int = 3, videos_per_query: int = 2,
                snakefile: Path = SNAKEFILE, timeout: float = 300) -> list[str]:
    """Seed a small case twice, draw both DAGs (`snakemake --dag`, `--summary`) and compare
    their jobs, edges and output files: the differences (none when the minimal DAG has our
    shape), or why it could not."""
    if folder.exists():
        shutil.rmtree(folder)
    minimal = write_minimal_workflow(folder / "minimal-workflow", dry_run_query_dirs(queries),
                                     profile_from=snakefile)
    shapes = []
    for name, workflow in (("real", snakefile), ("minimal", minimal)):
        workdir = folder / name
        workdir.mkdir(parents=True)
        seed_dry_run(workdir, queries, videos_per_query)
        printed = {}
        for flag in ("--dag", "--summary"):
            command = dry_run_command(workdir, workflow, name == "real", videos_per_query,
                                      (flag,))
            result = subprocess.run(command, cwd=workdir, env=snakemake_env(),
                                    capture_output=True, text=True, timeout=timeout,
                                    check=False)
            if result.returncode != 0:
                tail = " | ".join(result.stderr.strip().splitlines()[-3:])
                return [f"snakemake {flag} ({name}) failed ({result.returncode}): {tail}"]
            printed[flag] = result.stdout
        shape = parse_dot(printed["--dag"])
        shape.outputs = parse_summary(printed["--summary"])
        shapes.append(shape)
    return shape_differences(*shapes)


@dataclass(frozen=True)
class TimedRun:
    seconds: float  # wall clock
    cpu: float  # CPU seconds (user + sys) of the process and its children
    returncode: int
    output: str


def time_dry_run(command: list[str], workdir: Path, timeout: float = 1800) -> TimedRun:
    """One `snakemake -n`, timed."""
    cpu_before = cpu_seconds(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(command, cwd=workdir, env=snakemake_env(), capture_output=True,
                            text=True, timeout=timeout, check=False)
    return TimedRun(time.monotonic() - started, cpu_seconds(resource.RUSAGE_CHILDREN)
                    - cpu_before, result.returncode, result.stdout + result.stderr)


def _dry_run(runs: list[TimedRun], videos: int) -> DryRun:
    failed = [run for run in runs if run.returncode != 0]
    returncode, output = (failed[0].returncode, failed[0].output) if failed else (0,
                                                                                 runs[-1].output)
    return DryRun(statistics.median(run.seconds for run in runs), returncode,
                  parse_job_stats(output), videos, "\n".join(output.strip().splitlines()[-15:]),
                  [run.seconds for run in runs], statistics.median(run.cpu for run in runs))


def run_dry_run(workdir: Path, queries: int, videos_per_query: int,
                timeout: float = 1800, snakefile: Path = SNAKEFILE) -> DryRun:
    """Seed `workdir` afresh and time `snakemake -n` of the workflow over it, once."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    videos = seed_dry_run(workdir, queries, videos_per_query)
    command = dry_run_command(workdir, snakefile, True, videos_per_query)
    return _dry_run([time_dry_run(command, workdir, timeout)], videos)


@dataclass
class DryRunComparison:
    real: DryRun  # the workflow
    minimal: DryRun  # the minimal DAG of the same shape
    minimal_snakefile: Path

    @property
    def ratio(self) -> float:
        return self.real.seconds / self.minimal.seconds if self.minimal.seconds else float("inf")

    @property
    def cpu_ratio(self) -> float:
        return self.real.cpu / self.minimal.cpu if self.minimal.cpu else float("inf")

    def job_mismatch(self) -> dict[str, tuple[int, int]]:
        """{rule: (ours, minimal)} for every rule whose job count differs."""
        rules = sorted(set(self.real.jobs) | set(self.minimal.jobs))
        return {rule: (self.real.jobs.get(rule, 0), self.minimal.jobs.get(rule, 0))
                for rule in rules
                if self.real.jobs.get(rule, 0) != self.minimal.jobs.get(rule, 0)}


def compare_dry_runs(folder: Path, queries: int, videos_per_query: int, repeats: int = 1,
                     timeout: float = 1800, snakefile: Path = SNAKEFILE) -> DryRunComparison:
    """Seed two working directories alike (`folder/real`, `folder/minimal`), write the minimal
    workflow (`folder/minimal-workflow`), and time `snakemake -n` of each `repeats` times,
    alternated: ours, minimal, ours, minimal, …"""
    if folder.exists():
        shutil.rmtree(folder)
    workdirs = {"real": folder / "real", "minimal": folder / "minimal"}
    videos = 0
    for workdir in workdirs.values():
        workdir.mkdir(parents=True)
        videos = seed_dry_run(workdir, queries, videos_per_query)
    minimal = write_minimal_workflow(folder / "minimal-workflow", dry_run_query_dirs(queries),
                                     profile_from=snakefile)
    commands = {"real": dry_run_command(workdirs["real"], snakefile, True, videos_per_query),
                "minimal": dry_run_command(workdirs["minimal"], minimal, False,
                                           videos_per_query)}
    runs: dict[str, list[TimedRun]] = {"real": [], "minimal": []}
    for _ in range(max(repeats, 1)):
        for name in ("real", "minimal"):
            runs[name].append(time_dry_run(commands[name], workdirs[name], timeout))
    return DryRunComparison(_dry_run(runs["real"], videos), _dry_run(runs["minimal"], videos),
                            minimal)


def _runs(dry: DryRun) -> str:
    if len(dry.runs) < 2:
        return "one run"
    return (f"median of {len(dry.runs)} alternated runs: "
            + ", ".join(f"{seconds:.1f}" for seconds in dry.runs) + " s")


def dry_run_figures(dry: DryRun, queries: int, videos_per_query: int) -> list[Figure]:
    total = dry.jobs.get("total", 0)
    per_rule = ", ".join(f"{rule} {count:,}" for rule, count in dry.jobs.items()
                         if rule != "total")
    return [
        Figure(f"snakemake -n, {queries} queries × {videos_per_query} videos", dry.seconds, "s",
               TARGET_DRY_RUN, f"{dry.videos:,} videos, seeded urls.json; {_runs(dry)}"),
        Figure("jobs in that DAG", total, "jobs",
               against=f"{total / max(dry.videos, 1):.2f} jobs/video; {per_rule}"),
        Figure("dry-run time per job", 1000 * dry.seconds / max(total, 1), "ms",
               against="the issue's toy DAG: ~1 ms/job"),
    ]


def comparison_figures(comparison: DryRunComparison) -> list[Figure]:
    """The minimal DAG's dry run beside ours, and the ratio ours / minimal."""
    real, minimal = comparison.real, comparison.minimal
    mismatch = comparison.job_mismatch()
    same = ("the same jobs per rule" if not mismatch else
            "job counts differ: " + ", ".join(f"{rule} {ours:,} vs {theirs:,}"
                                              for rule, (ours, theirs) in mismatch.items()))
    return [
        Figure("snakemake -n, minimal DAG of the same shape", minimal.seconds, "s",
               against=f"{minimal.jobs.get('total', 0):,} jobs, {same}; {_runs(minimal)}"),
        Figure("dry run, ours / minimal DAG", comparison.ratio, "×", TARGET_DAG_RATIO,
               f"{real.seconds:.2f} s / {minimal.seconds:.2f} s, wall, same invocation"),
        Figure("  in CPU time, ours / minimal DAG", comparison.cpu_ratio, "×",
               against=f"{real.cpu:.2f} CPU-s / {minimal.cpu:.2f} CPU-s: less skewed by "
                       "other work on the machine"),
    ]


def model_label(config: dict[str, Any]) -> str:
    """The whisper model as a reader knows it: its name, or the bundled model's folder."""
    path = Path(config["whisper_model"])
    return "/".join(path.parts[-2:]) if path.is_absolute() else str(path)


def load_note(own_jobs: bool = False) -> str:
    """Other work on the machine skews every wall time below: say how busy it was."""
    one, five, _ = os.getloadavg()
    if own_jobs:  # right after a run, the load average still counts the run's own jobs
        return (f"Load average {one:.1f} (1 min), {five:.1f} (5 min) after the run, its own "
                f"{os.cpu_count()} busy CPUs included")
    return (f"Load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"
            + ("" if one < 0.5 * (os.cpu_count() or 1) else
               " — the machine is busy; wall times are inflated, CPU times less so"))


# --- main --------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python benchmark/bench.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int,
                        default=int(os.environ.get("BENCH_VIDEOS", DEFAULT_VIDEOS)),
                        help="demo videos in the pipeline run (env BENCH_VIDEOS; default 20)")
    parser.add_argument("--queries", type=int,
                        default=int(os.environ.get("BENCH_QUERIES", DEFAULT_QUERIES)),
                        help="queries the videos are spread over (default 4)")
    parser.add_argument("--cores", type=int, default=int(os.environ.get("BENCH_CORES", 2)))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--snakefile", type=Path, default=SNAKEFILE,
                        help="the workflow to measure (default: this checkout's; a copy with "
                             "other rules can be compared against it)")
    parser.add_argument("--output", type=Path, default=BENCH_DIR,
                        help="where the bench works (wiped per part; default bench-output/)")
    parser.add_argument("--dry-run-queries", type=int, default=DRY_RUN_QUERIES,
                        help=f"queries of the seeded dry run (default {DRY_RUN_QUERIES})")
    parser.add_argument("--dry-run-videos", type=int, default=DRY_RUN_VIDEOS,
                        help=f"videos per query of the seeded dry run (default {DRY_RUN_VIDEOS})")
    parser.add_argument("--dry-run-repeats", type=int,
                        default=int(os.environ.get("BENCH_DRY_RUN_REPEATS", 1)),
                        help="timed dry runs of each DAG, ours and the minimal one alternated "
                             "(env BENCH_DRY_RUN_REPEATS; default 1 each)")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument("--skip-dry-run", action="store_true")
    parser.add_argument("--skip-startup", action="store_true",
                        help="skip the per-job fixed costs (imports, model loads, browser)")
    return parser.parse_args(argv)


def bench_pipeline(args: argparse.Namespace, catalog: Catalog, queries: list[str]
                   ) -> tuple[PipelineRun, bool]:
    """Part 1: the run, its figures printed; (the run, whether it published every video)."""
    from tiktok_research.fakeweb.server import FakeWeb

    videos = len(catalog.videos)
    web = FakeWeb(catalog=catalog).start()
    try:
        overrides = bench_overrides(web.base_url, web.host,
                                    max_results=max(len(ids) for ids in
                                                    catalog.query_results.values()))
        pipeline = run_pipeline(args.output / "pipeline", overrides, queries, args.cores,
                                snakefile=args.snakefile.resolve())
    finally:
        web.stop()
    per_video = pipeline.wall / videos
    jobs = sum(len(rule) for rule in pipeline.stage_times.jobs.values())
    sampled = "" if TreeMemorySampler.available else f"not measured: {NO_PSUTIL}"
    figures = [
        Figure("wall time, end to end", pipeline.wall, "s",
               against=f"search → publish of {videos} videos, empty output dir"),
        Figure("wall time per video", per_video, "s", TARGET_WALL_PER_VIDEO,
               f"old script {OLD_SCRIPT_PER_VIDEO[0]:.0f}–{OLD_SCRIPT_PER_VIDEO[1]:.0f} s → "
               f"{OLD_SCRIPT_PER_VIDEO[0] / per_video:.0f}× faster than its best"),
        Figure("videos published", pipeline.published, "videos",
               against=f"of {videos}; snakemake exit code {pipeline.returncode}"),
        Figure("peak memory, whole process tree", pipeline.peak_tree_bytes / 2**20, "MiB",
               against=sampled or
               f"summed RSS of snakemake + every descendant (the worker too), psutil every "
               f"{SAMPLE_INTERVAL} s; {pipeline.peak_tree_processes} processes at the peak"),
        Figure("peak memory, largest single process", pipeline.max_child_bytes / 2**20, "MiB",
               against="getrusage(RUSAGE_CHILDREN).ru_maxrss, /usr/bin/time -v style"),
        Figure("CPU time, every process of the run", pipeline.cpu, "s",
               against=f"{pipeline.cpu / videos:.2f} CPU-s/video, user + sys, "
                       "getrusage(RUSAGE_CHILDREN)"),
        Figure("  of which the snakemake process itself", pipeline.scheduler_cpu, "s",
               against=sampled or
               f"parse, DAG, scheduling, benchmark sampling; "
               f"{1000 * pipeline.scheduler_cpu / max(jobs, 1):.0f} ms per benchmarked job "
               f"({jobs}); psutil, last sample"),
    ]
    seen = pipeline.cpu_by_kind
    for kind in ("worker", "chromium", "jobs", "ffmpeg"):
        if kind in seen:
            figures.append(Figure(f"  of which {kind}", seen[kind], "s",
                                  against=f"psutil, as last seen every {SAMPLE_INTERVAL} s"))
    if TreeMemorySampler.available:
        figures.append(Figure("  of which short-lived processes, unseen",
                              max(pipeline.cpu - sum(seen.values()), 0.0), "s",
                              against="the rest of the run's total: mostly job commands and "
                                      "ffmpeg that ended between samples"))
    print_section("Pipeline (snakemake, local storage + SQLite)", figures,
                  [f"log: {pipeline.log_path}"])
    complete = pipeline.returncode == 0 and pipeline.published >= videos
    if not complete:
        print("  · the run did not publish every video; the tail of its log:")
        tail = pipeline.log_path.read_text(encoding="utf-8").strip().splitlines()[-25:]
        print("\n".join(f"    {line}" for line in tail))
    figures, notes = stage_figures(pipeline.stage_times.jobs, videos, pipeline.wall, args.cores)
    print_section("Per-rule job times (benchmark: TSV files, column s)", figures, notes)
    figures, notes = step_figures(pipeline.stage_times.steps, videos)
    print_section("Per-step times (each video's receipt, timings)", figures, notes)
    print(load_note(own_jobs=True))
    return pipeline, complete


def bench_floor(args: argparse.Namespace, media: list[Path],
                pipeline: PipelineRun | None) -> None:
    """Part 2: the compute floor of the same files, its figures printed."""
    from tiktok_research import config as config_module

    config = config_module.load(bench_overrides())
    floors = []
    for parallel in sorted({1, args.cores}):
        with tempfile.TemporaryDirectory(prefix="bench-floor-") as scratch:
            floors.append(compute_floor(media, config, Path(scratch), parallel))
    videos = len(media)
    figures = []
    for floor in floors:
        at_once = "1 video" if floor.parallel == 1 else f"{floor.parallel} videos"
        figures += [
            Figure(f"compute floor, {at_once} at a time", floor.wall, "s",
                   against=f"{floor.wall / videos:.2f} s/video, one process"
                           + (", one video per core as in the pipeline"
                              if floor.parallel > 1 else "")
                           + f", models loaded once (not counted); CPU {floor.cpu:.0f} s"),
            Figure("  decode: audio + scenes + frames", floor.decode, "s",
                   against=f"{floor.decode / videos:.2f} s/video; {floor.frames} "
                           "frames (summed over videos)"),
            Figure("  transcription", floor.transcribe, "s",
                   against=f"{floor.transcribe / videos:.2f} s/video, "
                           f"{config['transcribe']['engine']} {model_label(config)}"),
            Figure("  OCR", floor.ocr, "s",
                   against=f"{floor.ocr / max(floor.frames, 1):.3f} s/frame, "
                           f"{config['ocr']['engine']}"),
        ]
    floor = floors[-1]  # the machine's floor: every core busy
    figures += [
        Figure("model loading (once)", floor.load_models, "s",
               against="paid once per run by the pipeline's worker"),
        Figure("floor CPU time", floor.cpu, "s",
               against=f"{floor.cpu / videos:.2f} CPU-s/video, this process + ffmpeg"),
    ]
    if pipeline is not None:
        figures.append(Figure("pipeline / floor", pipeline.wall / floor.wall, "×",
                              TARGET_FLOOR_RATIO,
                              f"{pipeline.wall:.1f} s / {floor.wall:.1f} s, the floor with "
                              f"{floor.parallel} videos at a time"))
        if len(floors) > 1:
            figures.append(Figure("pipeline / floor one video at a time",
                                  pipeline.wall / floors[0].wall, "×",
                                  against=f"{pipeline.wall:.1f} s / {floors[0].wall:.1f} s"))
        figures.append(Figure("pipeline CPU / floor CPU", pipeline.cpu / max(floor.cpu, 1e-9),
                              "×", against="load-independent view of the overhead: "
                              f"{pipeline.cpu:.0f} CPU-s / {floor.cpu:.0f} CPU-s"))
    print_section("Compute floor (same files, same steps and engines, one process)", figures)


def bench_dry_run(args: argparse.Namespace) -> bool:
    """Part 4: our dry run at scale beside the minimal DAG's, printed; whether both ran and the
    minimal DAG has our shape (the same jobs and edges on a small case, the same job counts at
    scale)."""
    differences = check_shape(args.output / "dryrun-shape", snakefile=args.snakefile.resolve())
    comparison = compare_dry_runs(args.output / "dryrun", args.dry_run_queries,
                                  args.dry_run_videos, repeats=args.dry_run_repeats,
                                  snakefile=args.snakefile.resolve())
    figures = (dry_run_figures(comparison.real, args.dry_run_queries, args.dry_run_videos)
               + comparison_figures(comparison))
    shape = ("the same jobs, edges and output files as ours on 3 queries × 2 videos "
             "(snakemake --dag, --summary)" if not differences else
             "NOT our shape on 3 queries × 2 videos (snakemake --dag, --summary):")
    print_section("Dry run at scale, ours and a minimal DAG of the same shape", figures,
                  [f"minimal DAG: {comparison.minimal_snakefile}: the same rules, checkpoint, "
                   "edges and outputs per rule; shell rules that only touch their outputs; the "
                   f"same default profile; {shape}",
                   "both dry runs alternate in this one invocation (ours first); each time is "
                   "the median of its runs"])
    ok = not differences
    for difference in differences:
        print(f"    {difference}")
    for name, dry in (("ours", comparison.real), ("minimal", comparison.minimal)):
        if dry.returncode != 0:
            ok = False
            print(f"  · snakemake -n ({name}) failed ({dry.returncode}):\n{dry.output_tail}")
    if comparison.job_mismatch():
        ok = False
        print("  · the two DAGs do not plan the same jobs: the minimal DAG is not of our shape")
    return ok


def main(argv: list[str] | None = None) -> int:
    from tiktok_research.fakeweb.media import ensure_media

    args = parse_args(argv)
    become_subreaper()
    print(f"Benchmark on {os.cpu_count()} CPUs, {args.cores} Snakemake cores. Targets: "
          f"≤ {TARGET_WALL_PER_VIDEO:.0f} s/video, ≤ {TARGET_FLOOR_RATIO}× the compute floor, "
          f"dry run ≤ {TARGET_DRY_RUN:.0f} s and ≤ {TARGET_DAG_RATIO}× a minimal DAG's. "
          f"The old script: {OLD_SCRIPT_PER_VIDEO[0]:.0f}–{OLD_SCRIPT_PER_VIDEO[1]:.0f} s/video.")
    print(load_note())
    if not TreeMemorySampler.available:
        print(f"Memory and per-process CPU figures: {NO_PSUTIL}")
    failed = False
    pipeline: PipelineRun | None = None
    if not (args.skip_pipeline and args.skip_floor):
        catalog, queries = bench_catalog(args.videos, args.queries, args.seed)
        videos = list(catalog.videos.values())
        started = time.monotonic()
        media = ensure_media(videos)
        seconds_of_media = sum(video.duration for video in videos)
        print(f"{len(videos)} demo videos ({seconds_of_media:.0f} s of media, "
              f"{MIN_SECONDS}–{MAX_SECONDS} s each, speech + on-screen text) over "
              f"{len(queries)} queries; generated or found in cache in "
              f"{time.monotonic() - started:.0f} s (not timed below)")
        if not args.skip_pipeline:
            pipeline, complete = bench_pipeline(args, catalog, queries)
            failed = failed or not complete
        if not args.skip_floor:
            bench_floor(args, [media[video.video_id] for video in videos], pipeline)

    if not args.skip_startup:
        print_section("Per-job fixed costs (fresh interpreters, median of 3)",
                      probe_figures(startup_probes(bench_overrides())),
                      ["every per-video job pays the interpreter and the job command "
                       "(`python -m tiktok_research.runtime.job`, a shell: rule); the search "
                       "and summary jobs pay the script: preamble instead; the stage imports, "
                       "model loads and browser starts are paid once per run by the persistent "
                       "worker (or by every job with persistent_worker=false)",
                       "each probe runs after `tiktok_research.config` is imported (the probe "
                       "needs the config; the job command imports it too); CPU excludes child "
                       "processes (Chromium)"])

    if not args.skip_dry_run:
        failed = not bench_dry_run(args) or failed
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
