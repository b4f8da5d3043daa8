"""The process stage outside Snakemake: its steps on real demo videos, and the `process` task's
handling of a verdict about the video (no audio track) on its first and its second attempt."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from support import demo_media
from support.demo_media import DemoSet

from tiktok_research import config as config_module
from tiktok_research.errors import MediaError, NoAudioTrack, PipelineError
from tiktok_research.process.steps import step_detect_scenes, step_extract_audio
from tiktok_research.registry import Job, Services, load_task
from tiktok_research.runtime.host import execute

demo_set = demo_media.demo_set  # the session fixture
CORRUPT = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x13" * 20_000


def job_config(tmp_path: Path) -> dict:
    return config_module.load({"output_dir": str(tmp_path / "output")})


def duration(path: Path) -> float:
    result = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                             "-of", "csv=p=0", str(path)], capture_output=True, text=True,
                            check=True)
    return float(result.stdout)


def test_audio_is_extracted_as_mp3(demo_set: DemoSet, tmp_path: Path) -> None:
    media = demo_set.speaking[0]
    audio = step_extract_audio(media.path, tmp_path / "audio.mp3")
    assert audio.read_bytes()[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")
    assert abs(duration(audio) - media.video.duration) < 0.5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audio.mp3"]


def test_a_video_without_audio_track_is_a_verdict_about_the_video(demo_set: DemoSet,
                                                                  tmp_path: Path) -> None:
    with pytest.raises(NoAudioTrack, match="no audio track") as raised:
        step_extract_audio(demo_set.no_audio.path, tmp_path / "v" / "audio.mp3")
    assert not (tmp_path / "v" / "audio.mp3").exists()
    error = raised.value
    assert (error.kind, error.reason, error.retryable, error.outcome) == (
        "process", "no_audio_track", False, "processing_failed")


def test_a_corrupt_video_fails_both_media_steps_and_may_be_retried(tmp_path: Path) -> None:
    video = tmp_path / "video.mp4"
    video.write_bytes(CORRUPT)
    with pytest.raises(MediaError) as audio_error:
        step_extract_audio(video, tmp_path / "audio.mp3")
    assert not isinstance(audio_error.value, NoAudioTrack)
    assert audio_error.value.outcome is None and audio_error.value.retryable
    with pytest.raises(MediaError):
        step_detect_scenes(video, tmp_path / "frames", 20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["video.mp4"]


def test_detect_scenes_honours_max_frames(demo_set: DemoSet, tmp_path: Path) -> None:
    frames = step_detect_scenes(demo_set.speaking[0].path, tmp_path / "frames", 2)
    assert [p.parent.name for p in frames] == ["frames", "frames"]
    assert frames[0].name == "001_t0.0s.jpg"


def process_job(tmp_path: Path, video: Path, attempt: int) -> tuple[Job, Services]:
    folder = tmp_path / "output" / "videos" / "7000000000000000042"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metadata.json").write_text(json.dumps({"video_id": "7000000000000000042",
                                                      "url": "https://x/@a/video/1"}))
    outputs = {name: str(folder / file) for name, file in (
        ("transcript", "transcript.txt"), ("timestamps", "transcript_timestamps.json"),
        ("ocr", "ocr.json"), ("receipt", ".uploaded"))}
    job = Job(task="process", key="7000000000000000042", config=job_config(tmp_path),
              inputs={"video": str(video), "meta": str(folder / "metadata.json")},
              outputs=outputs, attempt=attempt)
    return job, Services()


def test_a_verdict_fails_the_first_try_and_ends_the_video_on_the_second(
        demo_set: DemoSet, tmp_path: Path) -> None:
    task = load_task("process")
    assert task.attempts == 2
    job, services = process_job(tmp_path, demo_set.no_audio.path, attempt=1)
    receipt = execute(job, task, services)  # both tries in the one job
    assert receipt["outcome"] == "processing_failed" and receipt["reason"] == "no_audio_track"
    assert receipt["attempt"] == 2
    assert json.loads(Path(job.outputs["receipt"]).read_text())["outcome"] == \
        "processing_failed"
    # Every declared output exists, empty: the video ended without them.
    assert Path(job.outputs["transcript"]).read_text() == ""
    assert json.loads(Path(job.outputs["ocr"]).read_text())["items"] == []
    assert [(r["type"], r["attempt"], r["video_id"], r["details"]["step"])
            for r in services.recorded] == [
        ("process", 1, "7000000000000000042", "extract_audio"),
        ("process", 2, "7000000000000000042", "extract_audio")]


def test_a_verdict_on_the_last_try_only_fails_the_job_before_it(
        demo_set: DemoSet, tmp_path: Path) -> None:
    # A job started at its last try (run by hand with --attempt 2) ends the video at once; one
    # at a try below VERDICT_ATTEMPT with no try left after it fails instead.
    from dataclasses import replace

    job, services = process_job(tmp_path, demo_set.no_audio.path, attempt=1)
    with pytest.raises(NoAudioTrack):
        execute(job, replace(load_task("process"), attempts=1), services)
    assert not Path(job.outputs["receipt"]).exists()
    assert [r["attempt"] for r in services.recorded] == [1]
    again, services_again = process_job(tmp_path, demo_set.no_audio.path, attempt=2)
    assert execute(again, load_task("process"), services_again)["outcome"] == \
        "processing_failed"
    assert [r["attempt"] for r in services_again.recorded] == [2]


def test_an_operational_failure_never_ends_the_video(tmp_path: Path) -> None:
    video = tmp_path / "video.mp4"
    video.write_bytes(CORRUPT)
    job, services = process_job(tmp_path, video, attempt=5)
    with pytest.raises(PipelineError):
        execute(job, load_task("process"), services)
    assert not Path(job.outputs["receipt"]).exists()
