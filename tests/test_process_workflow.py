"""The process job under the real workflow: good videos become research data and are published;
a video without an audio track and a video without speech end as processing failures after
exactly one reprocessing (a verdict a rerun cannot change); a corrupt video fails its job twice
and is tried again by the next run; nothing half-written is left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import demo_media
from support.demo_media import DemoSet
from support.processed import write_downloaded
from support.workflow import base_config, run_snakemake, write_research_list

from tiktok_research.accounting.summarise import read_failures
from tiktok_research.config import load
from tiktok_research.process.validate import validate_outputs
from tiktok_research.queries import query_dir_name

demo_set = demo_media.demo_set  # the session fixture
QUERY = "process stage check"
CORRUPT_ID = "7000000000000000001"


def prepare(workdir: Path, videos: dict[str, bytes | Path]) -> Path:
    """What search and download leave behind: urls.json, then video.mp4 + metadata.json."""
    output = workdir / "output"
    write_research_list(workdir, [QUERY])
    query_dir = output / "queries" / query_dir_name(0, QUERY)
    query_dir.mkdir(parents=True)
    entries = [{"video_id": video_id, "url": f"https://www.tiktok.com/@demo/video/{video_id}",
                "title": video_id, "position": position, "query_index": 0, "query": QUERY}
               for position, video_id in enumerate(videos, start=1)]
    (query_dir / "urls.json").write_text(json.dumps(entries), encoding="utf-8")
    for video_id, source in videos.items():
        write_downloaded(output, video_id, source, {"video_id": video_id})
    return output


def video_paths(output: Path, video_id: str) -> dict[str, Path]:
    folder = output / "videos" / video_id
    return {"meta": folder / "metadata.json", "audio": folder / "audio.mp3",
            "transcript": folder / "transcript.txt",
            "timestamps": folder / "transcript_timestamps.json", "ocr": folder / "ocr.json",
            "frames": folder / "frames"}


@pytest.mark.slow
def test_failed_videos_are_reprocessed_once_and_leave_no_partial_outputs(
        demo_set: DemoSet, tmp_path: Path) -> None:
    good, quiet, no_audio = demo_set.speaking[1], demo_set.quiet, demo_set.no_audio
    corrupt = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x13" * 50_000
    output = prepare(tmp_path, {good.video.video_id: good.path,
                                quiet.video.video_id: quiet.path,
                                no_audio.video.video_id: no_audio.path,
                                CORRUPT_ID: corrupt})
    ids = [good.video.video_id, quiet.video.video_id, no_audio.video.video_id, CORRUPT_ID]
    targets = [f"output/videos/{video_id}/.uploaded" for video_id in ids]
    # Each job in its own process here (the other workflow tests use the persistent worker).
    config = base_config(keep=True, persistent_worker=False)
    result = run_snakemake(tmp_path, config, "--keep-going", *targets)
    assert result.returncode != 0, result.stderr[-3000:]

    # The good video is complete, valid and published.
    assert (output / "videos" / good.video.video_id / ".uploaded").is_file()
    assert validate_outputs(video_paths(output, good.video.video_id), 3) == []
    frames = sorted((output / "videos" / good.video.video_id / "frames").glob("*.jpg"))
    assert len(frames) == len(good.video.scenes)

    failures = read_failures(load({**config, "output_dir": str(output)}))
    attempts: dict[tuple[str, str], list[int]] = {}
    for record in failures:
        key = (record["video_id"], record["details"]["step"])
        attempts.setdefault(key, []).append(record["attempt"])
    # Every failing step ran twice (first try + one reprocessing), never a third time.
    assert {key: sorted(value) for key, value in attempts.items()} == {
        (no_audio.video.video_id, "extract_audio"): [1, 2],
        (CORRUPT_ID, "extract_audio"): [1, 2],
        (quiet.video.video_id, "transcribe_audio"): [1, 2],
    }
    reasons = {(r["video_id"], r["type"], r["details"]["reason"]) for r in failures}
    assert reasons == {
        (no_audio.video.video_id, "process", "no_audio_track"),
        (CORRUPT_ID, "process", "unreadable_video"),
        (quiet.video.video_id, "validate", "empty_transcript"),
    }
    assert any("no audio track" in r["error"] for r in failures)

    # The verdicts end their videos: a receipt says why; the derived files are empty.
    for media, reason in ((no_audio, "no_audio_track"), (quiet, "empty_transcript")):
        folder = output / "videos" / media.video.video_id
        receipt = json.loads((folder / ".uploaded").read_text())
        assert (receipt["outcome"], receipt["reason"], receipt["attempt"]) == (
            "processing_failed", reason, 2)
        assert (folder / "transcript.txt").read_text() == ""
        assert validate_outputs(video_paths(output, media.video.video_id), 3)
    # The corrupt video's job failed: Snakemake removed whatever it had made.
    corrupt_folder = output / "videos" / CORRUPT_ID
    assert sorted(p.name for p in corrupt_folder.iterdir()) == ["captions", "metadata.json",
                                                                "video.mp4"]
    assert not (tmp_path / ".snakemake" / "log" / "tiktok-research-worker.log").exists()
    for folder in (output / "videos").iterdir():
        assert not [p.name for p in folder.iterdir()
                    if p.name.startswith(".") and p.name != ".uploaded"], folder

    # A rerun takes up the corrupt video alone: the good one is done, the verdicts stand.
    dry = run_snakemake(tmp_path, config, "-n", *targets)
    assert dry.returncode == 0, dry.stderr[-3000:]
    planned = dry.stdout + dry.stderr
    assert f"video_id={CORRUPT_ID}" in planned
    for video_id in (good.video.video_id, no_audio.video.video_id, quiet.video.video_id):
        assert f"video_id={video_id}" not in planned
