"""Generated demo media: shape of the files, ground truth beside them, cache behaviour; the
audio step refusing a file that is not a video."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from tiktok_research.errors import MediaError
from tiktok_research.fakeweb.catalog import demo_catalog
from tiktok_research.fakeweb.media import ensure_media, load_truth
from tiktok_research.process.audio import extract_audio


def probe(path: Path) -> dict:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )
    return json.loads(result.stdout)


def test_generated_videos_match_their_ground_truth(tmp_path: Path) -> None:
    catalog = demo_catalog()
    speaking = next(v for v in catalog.videos.values() if v.script and v.kind == "ok")
    no_track = next(v for v in catalog.videos.values() if not v.has_audio)
    paths = ensure_media([speaking, no_track], tmp_path)

    info = probe(paths[speaking.video_id])
    kinds = {s["codec_type"]: s for s in info["streams"]}
    assert kinds["video"]["codec_name"] == "h264"
    assert (kinds["video"]["width"], kinds["video"]["height"]) == (576, 1024)
    assert kinds["audio"]["codec_name"] == "aac"
    assert abs(float(info["format"]["duration"]) - speaking.duration) < 0.2
    truth = load_truth(paths[speaking.video_id])
    assert truth["script"] == speaking.script
    assert [s["text"] for s in truth["scenes"]] == [s.text for s in speaking.scenes]

    silent_info = probe(paths[no_track.video_id])
    assert [s["codec_type"] for s in silent_info["streams"]] == ["video"]


def test_cached_files_are_reused_and_stale_ones_regenerated(tmp_path: Path) -> None:
    video = next(iter(demo_catalog().videos.values()))
    path = ensure_media([video], tmp_path)[video.video_id]
    first = path.stat().st_mtime_ns
    assert ensure_media([video], tmp_path)[video.video_id].stat().st_mtime_ns == first

    video.scenes[0].text = "Changed overlay"
    ensure_media([video], tmp_path)
    assert load_truth(path)["scenes"][0]["text"] == "Changed overlay"
    assert not list(tmp_path.glob(".*.part.mp4"))


def _generate(media_dir: str) -> str:
    video = next(iter(demo_catalog().videos.values()))
    return str(ensure_media([video], Path(media_dir))[video.video_id])


def test_two_processes_asking_at_once_get_one_complete_file(tmp_path: Path) -> None:
    with ProcessPoolExecutor(max_workers=2) as pool:
        first, second = pool.map(_generate, [str(tmp_path)] * 2)
    assert first == second
    video = next(iter(demo_catalog().videos.values()))
    assert abs(float(probe(Path(first))["format"]["duration"]) - video.duration) < 0.2
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        f"{video.video_id}.mp4", f"{video.video_id}.truth.json"]


def test_audio_extraction_refuses_a_file_without_a_video_stream(tmp_path: Path) -> None:
    video = next(v for v in demo_catalog().videos.values() if v.has_audio)
    sound_only = tmp_path / "sound.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(ensure_media([video])[video.video_id]),
                    "-vn", "-c:a", "copy", str(sound_only)], check=True)
    with pytest.raises(MediaError, match="no video stream"):
        extract_audio(sound_only, tmp_path / "audio.mp3")
    assert not (tmp_path / "audio.mp3").exists()
