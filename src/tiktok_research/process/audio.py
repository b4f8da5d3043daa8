"""Audio extraction: the video's sound track as `audio.mp3` (ffmpeg), or a clear error.

The streams are listed with PyAV (FFmpeg's libavformat, which faster-whisper reads audio with)
in an isolated child (`isolated.run_isolated`, forked from a server that has imported PyAV),
which costs less than an ffprobe process. ffmpeg itself runs under the same memory limit and
the step's timeout; a signal that kills it is a decoder crash.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tiktok_research.errors import MediaError, NoAudioTrack, StepFailed
from tiktok_research.isolated import Limits, over_time, run_isolated

# A hostile or broken file can make ffmpeg spin; an unattended run must not hang on it.
PROBE_TIMEOUT_SECONDS = 60
EXTRACT_LIMITS = Limits(600, 4096, "process.timeouts.extract_audio")


def _run_media_tool(args: list[str], limits: Limits, what: str) -> subprocess.CompletedProcess:
    if limits.memory_mb and shutil.which("prlimit"):
        args = ["prlimit", f"--as={limits.memory_mb * 1024 * 1024}", "--", *args]
    try:
        done = subprocess.run(args, capture_output=True, text=True, check=False,
                              timeout=limits.seconds)
    except subprocess.TimeoutExpired:
        raise over_time(what, limits) from None
    if done.returncode < 0:
        raise StepFailed(f"{what}: ffmpeg crashed (killed by "
                         f"{signal.Signals(-done.returncode).name})", reason="decoder_crashed")
    return done


def probe(video: Path) -> dict[str, Any]:
    """The file's streams, in ffprobe's shape (`{"streams": [{"index": 0, "codec_type":
    "video"}, ...]}`); MediaError when it cannot be read or has no video stream."""
    import av  # imported on use, as the other media libraries are

    video = Path(video)
    try:
        # FFmpeg's interrupt callback gives up on a hostile file, as the ffmpeg timeout does.
        with av.open(str(video), timeout=PROBE_TIMEOUT_SECONDS) as container:
            streams = [{"index": stream.index, "codec_type": stream.type}
                       for stream in container.streams]
    except (av.FFmpegError, OSError) as error:
        raise MediaError(f"cannot read {video.name}: {error}") from error
    if not any(stream["codec_type"] == "video" for stream in streams):
        raise MediaError(f"{video.name} has no video stream")
    return {"streams": streams}


def has_audio_stream(info: dict[str, Any]) -> bool:
    return any(stream.get("codec_type") == "audio" for stream in info.get("streams", []))


def extract_audio(video: Path, audio: Path, bitrate: str = "64k",
                  limits: Limits = EXTRACT_LIMITS) -> Path:
    """Write the sound track of `video` to `audio` (mono MP3) atomically."""
    video, audio = Path(video), Path(audio)
    info = run_isolated(probe, (video,), limits, video)
    if not has_audio_stream(info):
        raise NoAudioTrack(f"{video.name} has no audio track")
    audio.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".audio-", dir=audio.parent) as tmp:
        partial = Path(tmp) / audio.name
        result = _run_media_tool(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(video),
             "-map", "0:a:0", "-vn", "-ac", "1", "-ar", "22050", "-c:a", "libmp3lame",
             "-b:a", bitrate, "-f", "mp3", str(partial)],
            limits, f"audio extraction from {video.name}",
        )
        if result.returncode != 0 or not partial.exists() or partial.stat().st_size == 0:
            reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise MediaError(f"ffmpeg could not extract audio from {video.name}: {reason}")
        partial.replace(audio)
    return audio
