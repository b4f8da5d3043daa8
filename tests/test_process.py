"""Process-stage job functions outside Snakemake: audio extraction, frames, failure records."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from support import demo_media
from support.demo_media import DemoSet

from tiktok_research import config as config_module
from tiktok_research.audio import MediaError, NoAudioTrack
from tiktok_research.failures import read_failures
from tiktok_research.process_stage import run_detect_scenes, run_extract_audio

demo_set = demo_media.demo_set  # the session fixture
CORRUPT = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x13" * 20_000


def job_config(tmp_path: Path) -> dict:
    return config_module.load({"output_dir": str(tmp_path / "output")})


def duration(path: Path) -> float:
    result = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                             "-of", "csv=p=0", str(path)], capture_output=True, text=True,
                            check=True)
    return float(result.stdout)


def write_query(output: Path, video_id: str) -> None:
    folder = output / "queries" / "query_00003_street_food"
    folder.mkdir(parents=True)
    (folder / "urls.json").write_text(json.dumps([
        {"video_id": video_id, "url": "u", "position": 1, "query_index": 3,
         "query": "street food"}]), encoding="utf-8")


def test_audio_is_extracted_as_mp3(demo_set: DemoSet, tmp_path: Path) -> None:
    media = demo_set.speaking[0]
    audio = run_extract_audio(media.video.video_id, job_config(tmp_path),
                              inputs={"video": media.path},
                              outputs={"audio": tmp_path / "audio.mp3"})
    assert audio.read_bytes()[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")
    assert abs(duration(audio) - media.video.duration) < 0.5
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["audio.mp3"]
    assert (tmp_path / "output" / "benchmarks" / "steps" / "extract_audio").is_dir()


def test_a_video_without_audio_track_is_a_distinct_recorded_failure(demo_set: DemoSet,
                                                                    tmp_path: Path) -> None:
    media = demo_set.no_audio
    config = job_config(tmp_path)
    write_query(tmp_path / "output", media.video.video_id)
    with pytest.raises(NoAudioTrack, match="no audio track"):
        run_extract_audio(media.video.video_id, config, inputs={"video": media.path},
                          outputs={"audio": tmp_path / "v" / "audio.mp3"}, attempt=1)
    assert not (tmp_path / "v" / "audio.mp3").exists()
    [record] = read_failures(tmp_path / "output")
    assert record["type"] == "process"
    assert (record["query_index"], record["query"]) == (3, "street food")
    assert record["details"] == {"step": "extract_audio", "reason": "no_audio_track",
                                 "queries": [3]}


def test_a_corrupt_video_fails_both_media_steps(tmp_path: Path) -> None:
    video = tmp_path / "video.mp4"
    video.write_bytes(CORRUPT)
    config = job_config(tmp_path)
    with pytest.raises(MediaError) as audio_error:
        run_extract_audio("7000000000000000002", config, inputs={"video": video},
                          outputs={"audio": tmp_path / "audio.mp3"})
    assert not isinstance(audio_error.value, NoAudioTrack)
    with pytest.raises(MediaError):
        run_detect_scenes("7000000000000000002", config, inputs={"video": video},
                          outputs={"frames": tmp_path / "frames"}, attempt=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["output", "video.mp4"]
    records = read_failures(tmp_path / "output")
    assert [(r["details"]["step"], r["attempt"], r["details"]["reason"]) for r in records] == [
        ("extract_audio", 1, "unreadable_video"), ("detect_scenes", 2, "unreadable_video")]


def test_detect_scenes_honours_max_frames(demo_set: DemoSet, tmp_path: Path) -> None:
    media = demo_set.speaking[0]
    config = {**job_config(tmp_path), "max_frames": 2}
    frames = run_detect_scenes(media.video.video_id, config, inputs={"video": media.path},
                               outputs={"frames": tmp_path / "frames"})
    assert [p.parent.name for p in frames] == ["frames", "frames"]
    assert frames[0].name == "001_t0.0s.jpg"


@pytest.mark.parametrize("same_settings", [True, False])
def test_derived_files_are_reused_only_under_the_same_settings(tmp_path: Path,
                                                               same_settings: bool) -> None:
    """After a failed publish the derived files stay for the retry; a retry under other
    processing settings (here max_frames) makes them again instead of publishing stale ones.
    The video here is not decodable, so making them again fails visibly."""
    from support.processed import make_processed_video
    from support.processed import write_query as write_urls

    from tiktok_research.process_stage import SETTINGS_MARK, run_process_and_publish

    config = job_config(tmp_path)
    video_id = "7000000000000000042"
    write_urls(Path(config["output_dir"]), 0, "q", [video_id])
    folder = make_processed_video(Path(config["output_dir"]), video_id, frames=3,
                                  settings=config)
    if not same_settings:
        config = {**config, "max_frames": config["max_frames"] + 1}
    receipt = folder / ".uploaded"
    kwargs = {"video_path": folder / "video.mp4", "meta_path": folder / "metadata.json",
              "receipt_path": receipt}
    if same_settings:
        run_process_and_publish(video_id, config, **kwargs)
        assert receipt.is_file() and not (folder / SETTINGS_MARK).exists()
        assert not (folder / "audio.mp3").exists()  # removed once published (keep is false)
    else:
        with pytest.raises(MediaError):
            run_process_and_publish(video_id, config, **kwargs)
        assert not receipt.exists() and not (folder / "transcript.txt").exists()
