"""Audio extraction: the video's sound track as `audio.mp3` (ffmpeg), or a clear error."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any


class MediaError(RuntimeError):
    """The video cannot be read (corrupt, truncated, not a video)."""


class NoAudioTrack(MediaError):
    """The video has no audio stream at all (as opposed to silence)."""


def probe(video: Path) -> dict[str, Any]:
    """ffprobe's view of the file: streams and format; MediaError when it cannot be read."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(video)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["unreadable"])[-1]
        raise MediaError(f"ffprobe cannot read {video.name}: {reason}")
    info = json.loads(result.stdout or "{}")
    if not any(s.get("codec_type") == "video" for s in info.get("streams", [])):
        raise MediaError(f"{video.name} has no video stream")
    return info


def has_audio_stream(info: dict[str, Any]) -> bool:
    return any(stream.get("codec_type") == "audio" for stream in info.get("streams", []))


def extract_audio(video: Path, audio: Path, bitrate: str = "64k") -> Path:
    """Write the sound track of `video` to `audio` (mono MP3) atomically."""
    video, audio = Path(video), Path(audio)
    info = probe(video)
    if not has_audio_stream(info):
        raise NoAudioTrack(f"{video.name} has no audio track")
    audio.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".audio-", dir=audio.parent) as tmp:
        partial = Path(tmp) / audio.name
        result = subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(video),
             "-map", "0:a:0", "-vn", "-ac", "1", "-ar", "22050", "-c:a", "libmp3lame",
             "-b:a", bitrate, "-f", "mp3", str(partial)],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0 or not partial.exists() or partial.stat().st_size == 0:
            reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise MediaError(f"ffmpeg could not extract audio from {video.name}: {reason}")
        partial.replace(audio)
    return audio
