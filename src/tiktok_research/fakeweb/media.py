"""Demo media: MP4 files generated from the catalog's ground truth with ffmpeg and espeak-ng.

Each demo video is vertical 9:16 (576x1024), as long as the catalog says, one solid-colour
background per scene with that scene's overlay text drawn large, spoken English narration of
the script (silence when there is none, no audio stream at all when `has_audio` is False).
Files are cached under `.cache/demo-media`, keyed by a hash of the ground truth, generated
under a file lock (two processes may ask at once) and renamed into place only when complete.
Beside each `{video_id}.mp4` lies `{video_id}.truth.json` with what the process stage must find.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from filelock import FileLock

from tiktok_research.config import PROJECT_ROOT
from tiktok_research.fakeweb.catalog import DemoVideo
from tiktok_research.files import atomic_write_json, read_json

DEFAULT_MEDIA_DIR = PROJECT_ROOT / ".cache" / "demo-media"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
FPS = 15
FONT_SIZE = 60
WRAP_CHARS = 13  # DejaVu Sans Bold at 60 px: ~13 characters fit comfortably in 576 px
# Measured with faster-whisper tiny.en over the demo scripts: the Klatt voice at 120 wpm with a
# short gap between words gives ~6% WER; espeak-ng's default voice at 150 wpm gives ~18%.
SPEECH_VOICE = "en-us+klatt"
SPEECH_WPM = 120
SPEECH_WORD_GAP = 4  # in units of 10 ms
MAX_SPEECH_WPM = 220
# Bump when the rendering changes, so cached files are regenerated.
GENERATOR_VERSION = 2


def ground_truth(video: DemoVideo) -> dict[str, Any]:
    """What the generated file contains: the process stage's tests compare against this."""
    return {
        "video_id": video.video_id,
        "duration": video.duration,
        "width": video.width,
        "height": video.height,
        "fps": FPS,
        "voice": f"{SPEECH_VOICE} {SPEECH_WPM} wpm",
        "has_audio": video.has_audio,
        "script": video.script,
        "scenes": [
            {"start": s.start, "end": s.end, "text": s.text, "color": s.color}
            for s in video.scenes
        ],
    }


def truth_hash(truth: dict[str, Any]) -> str:
    canonical = json.dumps({"truth": truth, "version": GENERATOR_VERSION}, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _run(args: list[str]) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"{args[0]} failed ({result.returncode}): " + " | ".join(tail))


def _wav_seconds(path: Path) -> float:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    )
    return float(result.stdout.strip())


def _speak(script: str, duration: float, wav: Path) -> None:
    """espeak-ng narration that fits in the video: sped up (within reason) when too long."""
    speed = SPEECH_WPM
    while True:
        _run(["espeak-ng", "-v", SPEECH_VOICE, "-s", str(speed), "-g", str(SPEECH_WORD_GAP),
              "-w", str(wav), script])
        spoken = _wav_seconds(wav)
        if spoken <= duration - 0.5 or speed >= MAX_SPEECH_WPM:
            return
        speed = min(MAX_SPEECH_WPM, int(speed * spoken / (duration - 0.8)) + 5)


def _video_filter(video: DemoVideo, workdir: Path) -> tuple[str, str]:
    """A filter graph with one coloured, captioned segment per scene, concatenated."""
    parts = []
    for index, scene in enumerate(video.scenes):
        text_file = workdir / f"scene{index}.txt"
        text_file.write_text("\n".join(textwrap.wrap(scene.text, WRAP_CHARS)), encoding="utf-8")
        seconds = scene.end - scene.start
        parts.append(
            f"color=c={scene.color}:s={video.width}x{video.height}:r={FPS}:d={seconds:.3f},"
            f"drawtext=fontfile={FONT}:textfile={text_file}:fontsize={FONT_SIZE}"
            f":fontcolor=white:line_spacing=18:x=(w-text_w)/2:y=(h-text_h)/2[v{index}]"
        )
    labels = "".join(f"[v{index}]" for index in range(len(video.scenes)))
    parts.append(f"{labels}concat=n={len(video.scenes)}:v=1:a=0,format=yuv420p[vout]")
    return ";".join(parts), "[vout]"


def render_video(video: DemoVideo, target: Path) -> None:
    """Render one demo video to `target` (not atomic by itself; see `ensure_media`)."""
    with tempfile.TemporaryDirectory(prefix="demo-media-") as tmp:
        workdir = Path(tmp)
        graph, video_label = _video_filter(video, workdir)
        args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
        audio_args: list[str] = []
        if video.has_audio:
            if video.script.strip():
                wav = workdir / "speech.wav"
                _speak(video.script, video.duration, wav)
                # Short lead-in so speech does not start on the very first sample.
                args += ["-i", str(wav)]
                graph += ";[0:a]adelay=300:all=1,apad,aresample=44100[aout]"
            else:
                args += ["-f", "lavfi", "-i", "anullsrc=r=44100:cl=mono"]
                graph += ";[0:a]anull[aout]"
            audio_args = ["-map", "[aout]", "-c:a", "aac", "-b:a", "64k", "-ac", "1"]
        else:
            audio_args = ["-an"]
        args += ["-filter_complex", graph, "-map", video_label, *audio_args,
                 "-c:v", "libx264", "-preset", "ultrafast", "-tune", "stillimage",
                 "-pix_fmt", "yuv420p", "-r", str(FPS), "-t", f"{video.duration:.3f}",
                 "-movflags", "+faststart", "-f", "mp4", str(target)]
        _run(args)


def ensure_video(video: DemoVideo, media_dir: Path) -> Path:
    """The cached MP4 of `video`, generated when missing or out of date."""
    media_dir.mkdir(parents=True, exist_ok=True)
    target = media_dir / f"{video.video_id}.mp4"
    truth_path = media_dir / f"{video.video_id}.truth.json"
    truth = ground_truth(video)
    digest = truth_hash(truth)

    def fresh() -> bool:
        return target.exists() and (read_json(truth_path) or {}).get("hash") == digest

    if fresh():
        return target
    with FileLock(str(media_dir / f".{video.video_id}.lock")):
        if fresh():  # another process made it while we waited
            return target
        partial = media_dir / f".{video.video_id}.part.mp4"
        try:
            render_video(video, partial)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        atomic_write_json(truth_path, {**truth, "hash": digest})
    return target


def ensure_media(videos: Iterable[DemoVideo], media_dir: Path | None = None) -> dict[str, Path]:
    """`{video_id: path}` of every video's MP4, generating the ones not cached yet."""
    missing = [tool for tool in ("ffmpeg", "ffprobe", "espeak-ng") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError("demo media needs " + ", ".join(missing) + " (Debian packages)")
    directory = Path(media_dir) if media_dir is not None else DEFAULT_MEDIA_DIR
    return {video.video_id: ensure_video(video, directory) for video in videos}


def load_truth(media_path: Path) -> dict[str, Any]:
    """The ground truth written beside a generated MP4."""
    return json.loads(media_path.with_suffix(".truth.json").read_text(encoding="utf-8"))
