"""Running the `download` task in this process against the fake site, as the runtime runs it,
and looking at what it leaves: files, records, browsers."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from tiktok_research.fakeweb.catalog import Catalog, DemoVideo, make_video
from tiktok_research.fakeweb.server import FakeWeb
from tiktok_research.files import atomic_write_json
from tiktok_research.registry import Job, Services, load_task
from tiktok_research.runtime.host import execute


def case_catalog(cases: dict[str, tuple[str, dict[str, Any]]], seed: int,
                 duration: float) -> tuple[Catalog, dict[str, DemoVideo]]:
    """One short travel video per case: its name → (kind, catalog fields to set on it)."""
    rng = random.Random(seed)
    catalog = Catalog()
    videos = {}
    for name, (kind, fields) in cases.items():
        video = make_video(rng, "travel", kind=kind, scenes=2, duration=duration)
        for key, value in fields.items():
            setattr(video, key, value)
        videos[name] = catalog.add(video)
    return catalog, videos


def urls_path(workdir: Path) -> Path:
    return workdir / "output" / "queries" / "query_00000_test" / "urls.json"


def setup_run(web: FakeWeb, video: DemoVideo, workdir: Path, **tiktok: object) -> dict:
    """A config and a urls.json listing the video, as the search stage leaves them; `tiktok`:
    more settings of the tiktok section."""
    output = workdir / "output"
    atomic_write_json(urls_path(workdir), [
        {"video_id": "1", "url": f"{web.base_url}/@someone/video/1", "position": 1,
         "query_index": 0, "query": "test"},
        {"video_id": video.video_id, "url": f"{web.base_url}{video.page_path}",
         "author": video.author, "title": video.desc, "position": 2,
         "query_index": 0, "query": "test"},
    ])
    return {
        "output_dir": str(output), "workers": 1,
        "tiktok": {"chromium": "/usr/bin/chromium", "headless": True, "hosts": [web.host],
                   "page_timeout_seconds": 30, "backoff_seconds": 0.05,
                   "profiles_dir": str(workdir / "profiles"), "min_page_interval_seconds": 0,
                   **tiktok},
    }


def run_job(video_id: str, config: dict, workdir: Path, records: list | None = None,
            attempt: int = 1, outputs: dict | None = None, run: str = "",
            **params: str) -> dict:
    """One try (number `attempt`) of the `download` task as the runtime runs it, in this process
    (its browser pool opened for the job and closed at its end); the failure records go to
    `records`. (A job gets the task's `attempts`; its next try is this same code again.)"""
    folder = Path(config["output_dir"]) / "videos" / video_id
    job = Job(task="download", key=video_id, config=config,
              inputs={"urls": str(urls_path(workdir))},
              outputs=outputs or {"video": str(folder / "video.mp4"),
                                  "meta": str(folder / "metadata.json")},
              params=params, attempt=attempt, run=run)
    services = Services()
    try:
        return execute(job, replace(load_task("download"), attempts=attempt), services)
    finally:
        services.close()
        if records is not None:
            records.extend(services.recorded)


def download(web: FakeWeb, video: DemoVideo, workdir: Path,
             records: list | None = None) -> tuple[dict, Path]:
    config = setup_run(web, video, workdir)
    metadata = run_job(video.video_id, config, workdir, records)
    return metadata, Path(config["output_dir"]) / "videos" / video.video_id


def visits(web: FakeWeb, video: DemoVideo) -> int:
    return web.counters.get(f"tiktok_page:{video.video_id}", 0)


def browsers_on(profiles_dir: Path) -> list[int]:
    """Live (not zombie) processes whose command line names a profile under `profiles_dir`."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(profiles_dir.resolve()) in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def no_browser_left(profiles_dir: Path) -> bool:
    """True once no browser runs on the profiles (a SIGKILLed group may take a moment to go)."""
    deadline = time.monotonic() + 15
    while browsers_on(profiles_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not browsers_on(profiles_dir)


def no_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*")) if folder.exists() else []
