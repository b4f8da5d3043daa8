"""`make demo`: the whole pipeline, offline, against the bundled demo site.

Starts the fake web (Serper, TikTok pages and CDN) on a local port, generates the demo videos
(ffmpeg + espeak-ng) once, runs the real workflow over the sample research list with local
storage and SQLite, then prints the status table and where everything is.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from tiktok_research import config as config_module
from tiktok_research.cli import print_status
from tiktok_research.config import PROJECT_ROOT, bundled_whisper_model, config_arguments
from tiktok_research.fakeweb.media import ensure_media
from tiktok_research.fakeweb.server import FakeWeb

DEMO_OUTPUT = "demo-output"
DEMO_PORT = int(os.environ.get("DEMO_PORT", "8765"))


def demo_overrides(web: FakeWeb, output_dir: str = DEMO_OUTPUT) -> dict:
    return {
        "output_dir": output_dir,
        "max_results": 3,
        "whisper_model": bundled_whisper_model(),
        "serper": {"base_url": web.base_url, "backoff_seconds": 0.5},
        # The local site has no rate limit to respect: no pace between page loads.
        "tiktok": {"hosts": [web.host], "backoff_seconds": 0.5, "min_page_interval_seconds": 0},
    }


def main() -> int:
    console = Console()
    web = FakeWeb(port=DEMO_PORT).start()
    try:
        playable = [v for v in web.catalog.videos.values() if v.kind in ("ok", "legacy")]
        console.print(f"[bold]Demo site[/bold] on {web.base_url}: {len(web.catalog.videos)} "
                      f"videos in its catalog; generating {len(playable)} demo videos "
                      "(first run only) ...")
        started = time.monotonic()
        ensure_media(playable, web.media_dir)
        console.print(f"  ready in {time.monotonic() - started:.0f} s")
        overrides = demo_overrides(web)
        # Progress lines only: the per-job blocks of a 100-job run drown what matters.
        command = [str(Path(sys.executable).with_name("snakemake")), "--cores", "2",
                   "--quiet", "rules", "--config", *config_arguments(overrides)]
        console.print("[bold]Running[/bold] snakemake --cores 2 over research_list.csv "
                      f"(max_results=3) → {DEMO_OUTPUT}/")
        env = {**os.environ, "SERPER_API_KEY": os.environ.get("DEMO_SERPER_KEY", "demo-key")}
        started = time.monotonic()
        result = subprocess.run(command, cwd=PROJECT_ROOT, env=env)
        elapsed = time.monotonic() - started
    finally:
        web.stop()
    config = config_module.load(overrides)
    console.print()
    print_status(config, console)
    output = PROJECT_ROOT / DEMO_OUTPUT
    console.print(f"\nWorkflow finished in {elapsed:.0f} s (exit code {result.returncode}; "
                  "non-zero means some videos failed after their retries and will be tried "
                  "again by the next run).")
    console.print(f"Report:   {output / 'report.html'}")
    console.print(f"Dataset:  {output / 'dataset.parquet'}, {output / 'dataset.csv'}, "
                  f"{output / 'dataset.sqlite'} (full-text search)")
    show_search(console, output / "dataset.sqlite")
    console.print(f"Videos:   {output / 'videos'}  (published copies: {output / 'bucket'})")
    console.print(f"Database: {output / 'research.sqlite'}   Failures: {output / 'failures.json'}"
                  f"   Costs: {output / 'costs.json'}")
    console.print(f"Status table again: make status OUTPUT={DEMO_OUTPUT}")
    console.print("By design the demo has a private video and a photo post (unavailable), and "
                  "a video without an audio track and one without speech (processing_failed "
                  "after one reprocessing): each ends in its receipt, so `make demo` again has "
                  "nothing to do.")
    return 0


def show_search(console: Console, dataset: Path) -> None:
    """How to search and browse the results, with a phrase the demo's videos really say."""
    import sqlite3

    from tiktok_research.accounting.search import hit_line, search

    if not dataset.is_file():
        return
    with contextlib.closing(sqlite3.connect(dataset)) as db:
        # a phrase said late in a video, so that its second shows
        spoken = db.execute("SELECT text FROM passages WHERE kind = 'speech' "
                            "ORDER BY start DESC, video_id LIMIT 1").fetchone()
    cli = ".venv/bin/tiktok-research"
    if spoken:
        phrase = " ".join(spoken[0].split()[:3])
        console.print(f'Search:   {cli} search "{phrase}" --kind speech --output-dir '
                      f"{DEMO_OUTPUT}   (without --kind: what is shown and captioned too)")
        for hit in search(dataset, phrase, limit=3, kind="speech"):
            console.print("          " + hit_line(hit), markup=False, highlight=False)
    console.print(f"Browse:   {cli} browse --output-dir {DEMO_OUTPUT}   (Datasette, with "
                  "canned queries: top hashtags per query, videos mentioning a term, on-screen "
                  "text by frame)")


if __name__ == "__main__":
    sys.exit(main())
