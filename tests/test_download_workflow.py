"""The download rule end to end: real `snakemake`, real Chromium, the fake TikTok site.

Downstream rules are not involved: after a search-only run, the videos' `metadata.json` files
are requested as targets. Browsers are told apart from any other Chromium on the machine by an
environment marker that the job, Chromium and its helper processes all inherit.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.workflow import REPO, SNAKEMAKE, base_config, run_snakemake

from tiktok_research.config import config_arguments
from tiktok_research.fakeweb.media import ensure_media
from tiktok_research.fakeweb.server import FakeWeb

pytestmark = pytest.mark.slow

def marked_processes(marker: str) -> list[tuple[int, str]]:
    """(pid, "exe cmdline") of live processes whose environment carries the marker."""
    found = []
    needle = f"DOWNLOAD_TEST_MARK={marker}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            exe = os.readlink(entry / "exe")
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            continue
        found.append((int(entry.name), f"{exe} {cmdline}"))
    return found


def chromium_processes(marker: str) -> list[tuple[int, str]]:
    return [(pid, cmd) for pid, cmd in marked_processes(marker) if "chromium" in cmd]


def browser_pids(marker: str) -> list[int]:
    """Chromium browser (main) processes, one per running download: the real binary (not the
    launcher script) whose parent is not Chromium (a just-forked helper still has the browser's
    command line)."""
    pids = []
    for pid, cmd in chromium_processes(marker):
        if not cmd.startswith("/usr/lib/chromium/") or "--type=" in cmd:
            continue
        try:
            parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
            if os.readlink(f"/proc/{parent}/exe").startswith("/usr/lib/chromium/"):
                continue
        except OSError:
            continue
        pids.append(pid)
    return pids


def browser_count(marker: str) -> int:
    return len(browser_pids(marker))


class BrowserSampler(threading.Thread):
    """Samples the number of marked browsers until stopped; keeps the maximum."""

    def __init__(self, marker: str) -> None:
        super().__init__(daemon=True)
        self.marker = marker
        self.maximum = 0
        self.samples = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            pids = browser_pids(self.marker)
            self.maximum = max(self.maximum, len(pids))
            self.samples += 1
            self._done.wait(0.05)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.maximum


def wait_until_gone(marker: str, seconds: float = 30) -> list[tuple[int, str]]:
    """The marked Chromium processes still alive once they had `seconds` to exit."""
    deadline = time.monotonic() + seconds
    while chromium_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    return chromium_processes(marker)


def search_first(web: FakeWeb, workdir: Path, **overrides) -> tuple[dict, list[str]]:
    """A search-only run of queries 0 and 1 of the project's research list; the config for the
    download run and the video ids found."""
    shutil.copy(REPO / "research_list.csv", workdir / "research_list.csv")
    config = base_config(web.host, start=0, count=2, **overrides)
    searched = run_snakemake(workdir, {**config, "search_only": True})
    assert searched.returncode == 0, searched.stderr[-3000:]
    ids: list[str] = []
    for urls in sorted((workdir / "output" / "queries").glob("*/urls.json")):
        for entry in json.loads(urls.read_text()):
            if entry["video_id"] not in ids:
                ids.append(entry["video_id"])
    return config, ids


def metadata_targets(ids: list[str]) -> list[str]:
    return [f"output/videos/{video_id}/metadata.json" for video_id in ids]


def iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def marker() -> str:
    return uuid.uuid4().hex


def test_workflow_downloads_every_available_video(fake_web, tmp_path, marker):
    config, ids = search_first(fake_web, tmp_path, workers=2)
    videos = [fake_web.catalog.videos[video_id] for video_id in ids]
    ensure_media([v for v in videos if v.kind in ("ok", "legacy")])
    sampler = BrowserSampler(marker)
    sampler.start()
    started = datetime.now(UTC).replace(microsecond=0)
    result = run_snakemake(tmp_path, config, "--keep-going", *metadata_targets(ids),
                           env={"DOWNLOAD_TEST_MARK": marker})
    assert 1 <= sampler.stop() <= 2
    available = [v for v in videos if v.kind in ("ok", "legacy")]
    unavailable = [v for v in videos if v not in available]
    assert available and len(ids) >= 4
    assert unavailable  # the demo's first queries find a photo post
    # An unavailable video is an outcome, not a failed job.
    assert result.returncode == 0, result.stderr[-3000:]
    for video in available:
        folder = tmp_path / "output" / "videos" / video.video_id
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
             "stream=codec_type,width,height:format=duration", "-of", "json",
             str(folder / "video.mp4")], capture_output=True, text=True, check=True)
        info = json.loads(probe.stdout)
        assert info["streams"][0]["codec_type"] == "video"
        assert float(info["format"]["duration"]) > 0
        metadata = json.loads((folder / "metadata.json").read_text())
        assert metadata == {
            "video_id": video.video_id,
            "url": f"http://{fake_web.host}{video.page_path}",
            "author": video.author,
            "author_id": video.author_id,
            "author_nickname": video.nickname,
            "author_sec_uid": video.sec_uid,
            "caption": video.desc,
            "hashtags": video.hashtags,
            "create_time": iso(video.create_time),
            "duration": int(video.duration),
            "width": video.width,
            "height": video.height,
            "play_count": video.stats["playCount"],
            "like_count": video.stats["diggCount"],
            "comment_count": video.stats["commentCount"],
            "share_count": video.stats["shareCount"],
            "collect_count": video.stats["collectCount"],
            "music_title": video.music["title"],
            "music_author": video.music["authorName"],
            "location": video.location,
            "stickers": [video.scenes[0].text],
            "downloaded_at": metadata["downloaded_at"],
            "rendition": {"kind": "play_addr", "gear": None, "codec": "h264",
                          "width": video.width, "height": video.height, "watermarked": False,
                          "has_audio": video.has_audio, "host": fake_web.host.split(":")[0],
                          "fetched_by": "page"},
            "captions": [{"language": language,
                          "source": video.caption_source if index == 0 else "MT",
                          "format": "webvtt", "file": f"captions/{language}.vtt"}
                         for index, language in enumerate(video.captions)],
            "download": {"bytes": (folder / "video.mp4").stat().st_size,
                         "page_visits": 1, "seconds": metadata["download"]["seconds"]},
        }
        downloaded_at = datetime.strptime(metadata["downloaded_at"], "%Y-%m-%dT%H:%M:%SZ")
        assert started <= downloaded_at.replace(tzinfo=UTC) <= datetime.now(UTC)
        assert 0 < metadata["download"]["seconds"] < 120
        for track in metadata["captions"]:
            assert (folder / track["file"]).read_text(encoding="utf-8").startswith("WEBVTT")
    for video in unavailable:
        folder = tmp_path / "output" / "videos" / video.video_id
        assert (folder / "video.mp4").stat().st_size == 0
        reason = json.loads((folder / "metadata.json").read_text())["unavailable"]["reason"]
        assert reason == {"private": "private_post", "photo": "photo_post"}[video.kind]
    assert wait_until_gone(marker) == []


@pytest.mark.parametrize(("victim", "signum"), [
    ("job", signal.SIGKILL), ("job", signal.SIGTERM), ("snakemake", signal.SIGKILL)])
def test_workers_cap_browsers_and_a_killed_run_leaves_no_browser(fake_web, tmp_path, marker,
                                                                 victim, signum):
    config, ids = search_first(fake_web, tmp_path, max_results=2, workers=1)
    ids = [i for i in ids if fake_web.catalog.videos[i].kind == "ok"][:3]
    ensure_media([fake_web.catalog.videos[i] for i in ids])
    sampler = BrowserSampler(marker)
    sampler.start()
    command = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
               "--cores", "2", "--keep-going", *metadata_targets(ids),
               "--config", *config_arguments(config)]
    env = {**os.environ, "SERPER_API_KEY": "test-serper-key", "DOWNLOAD_TEST_MARK": marker}
    run = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and run.poll() is None:
        browsers = browser_pids(marker)
        if browsers:
            job = int(Path(f"/proc/{browsers[0]}/stat").read_text().rsplit(")", 1)[1].split()[1])
            killed = job if victim == "job" else run.pid
            os.kill(killed, signum)
        time.sleep(0.02)
    output, _ = run.communicate(timeout=600)
    assert killed is not None, output[-3000:]
    assert wait_until_gone(marker) == []
    assert sampler.stop() == 1  # seen, and never two at once
    if victim == "snakemake":
        # Nothing ran after the orphaned job. The same command again (its lock left behind by
        # the kill) finishes every download.
        assert run.returncode == -signal.SIGKILL
        rerun = run_snakemake(tmp_path, config, "--keep-going", *metadata_targets(ids),
                              env={"DOWNLOAD_TEST_MARK": marker})
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert wait_until_gone(marker) == []
    else:
        # The killed attempt failed; Snakemake's retry downloaded the video after all.
        assert run.returncode == 0, output[-3000:]
    for video_id in ids:
        folder = tmp_path / "output" / "videos" / video_id
        assert sorted(p.name for p in folder.iterdir()) == ["captions", "metadata.json",
                                                            "video.mp4"]
