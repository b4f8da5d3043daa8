"""The download's last check (`verify_video`) on MP4 files that are whole and well-formed but
are not a usable video: audio only, or a video stream that lasts no time. Real ffmpeg makes
each file, so the boxes are right and only the streams are wrong."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tiktok_research.download.verify import check_mp4_boxes, verify_video
from tiktok_research.errors import BadVideo

BLACK_FRAMES = ["-f", "lavfi", "-i", "color=c=black:s=64x64:r=10"]
ONE_FRAME = ["-frames:v", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p"]


def ffmpeg(path: Path, *arguments: str) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *arguments, str(path)], check=True,
                   capture_output=True)
    return path


@pytest.fixture
def audio_only(tmp_path: Path) -> Path:
    return ffmpeg(tmp_path / "audio.mp4", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                  "-c:a", "aac")


@pytest.fixture
def zero_duration(tmp_path: Path) -> Path:
    # One frame lasting 0.1 s in a track whose clock ticks once a second: ffmpeg writes a
    # video stream with one frame and a duration of 0 in every header.
    return ffmpeg(tmp_path / "zero.mp4", *BLACK_FRAMES, *ONE_FRAME,
                  "-video_track_timescale", "1")


def test_one_frame_video_passes(tmp_path: Path) -> None:
    # The control: the same recipe with ffmpeg's own timescale is a valid (short) video.
    info = verify_video(ffmpeg(tmp_path / "one.mp4", *BLACK_FRAMES, *ONE_FRAME))
    assert (info.width, info.height, info.codec) == (64, 64, "h264")
    assert info.duration == pytest.approx(0.1)


def test_audio_only_mp4_is_rejected(audio_only: Path) -> None:
    check_mp4_boxes(audio_only)  # well-formed: the boxes are whole
    with pytest.raises(BadVideo, match="^no video stream in the file$"):
        verify_video(audio_only)


def test_zero_duration_mp4_is_rejected(zero_duration: Path) -> None:
    check_mp4_boxes(zero_duration)
    with pytest.raises(BadVideo, match="^the video has no duration$"):
        verify_video(zero_duration)
