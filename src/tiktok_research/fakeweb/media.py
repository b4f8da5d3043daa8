"""Demo media: MP4 files generated from the catalog's ground truth with ffmpeg and espeak-ng.

Each demo video is vertical 9:16 (576x1024), as long as the catalog says, one solid-colour
background per scene with that scene's overlay text drawn large, spoken English narration of
the script (silence when there is none, no audio stream at all when `has_audio` is False).
Files are cached under `.cache/demo-media`, keyed by a hash of the ground truth, generated
under a file lock (two processes may ask at once) and renamed into place only when complete.
Beside each `{video_id}.mp4` lies `{video_id}.truth.json` with what the process stage must find.

The real site's other renditions are derived from that file, cached the same way
(`ensure_rendition`): the video-only and audio-only streams of a DASH gear (`-an`/`-vn -c copy`)
and the watermarked `downloadAddr` file (re-encoded with a "TikTok @author" overlay). The
captions TikTok serves are WebVTT made from the script with plausible timings (`webvtt`).
A photo post's images are JPEGs, one per scene, with that scene's text (`ensure_photo`).
"""

from __future__ import annotations

import hashlib
import json
import random
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


# --- derived renditions and captions ----------------------------------------------------------
# Bump when a rendition's making changes, so cached ones are regenerated.
RENDITION_VERSION = 1
RENDITIONS = {
    "video_only": ".video.mp4",  # a DASH video gear: the video stream alone
    "audio_only": ".audio.m4a",  # its bitrateAudioInfo stream: the audio alone
    "watermarked": ".watermarked.mp4",  # downloadAddr: a burned-in "TikTok @author" mark
    "bytevc2": ".bytevc2.mp4",  # a bytevc2 gear: a valid MP4 layout no player can decode
}
WATERMARK_FONT_SIZE = 30


def _rendition_args(video: DemoVideo, kind: str, source: Path, target: Path,
                    workdir: Path) -> list[str]:
    base = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(source)]
    if kind == "video_only":
        return [*base, "-map", "0:v:0", "-an", "-c", "copy", "-movflags", "+faststart",
                "-f", "mp4", str(target)]
    if kind == "audio_only":
        return [*base, "-map", "0:a:0", "-vn", "-c", "copy", "-movflags", "+faststart",
                "-f", "mp4", str(target)]
    # TikTok's download watermark: the logo word and the handle, top left for the first half,
    # bottom right for the second.
    mark = workdir / "watermark.txt"
    mark.write_text(f"TikTok\n@{video.author}", encoding="utf-8")
    half = f"{video.duration / 2:.3f}"
    overlay = (f"drawtext=fontfile={FONT}:textfile={mark}:fontsize={WATERMARK_FONT_SIZE}"
               f":fontcolor=white@0.85:borderw=2:bordercolor=black@0.6:line_spacing=6"
               f":x='if(lt(t,{half}),24,w-tw-24)':y='if(lt(t,{half}),48,h-th-96)'")
    return [*base, "-map", "0:v:0", "-map", "0:a?", "-vf", overlay, "-c:v", "libx264",
            "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "copy",
            "-movflags", "+faststart", "-f", "mp4", str(target)]


def ensure_rendition(video: DemoVideo, kind: str, media_dir: Path | None = None) -> Path:
    """The cached `kind` rendition (one of RENDITIONS) of `video`'s demo file, made from it
    when missing or when the demo file changed."""
    if kind not in RENDITIONS:
        raise ValueError(f"unknown rendition {kind!r}")
    if kind == "audio_only" and not video.has_audio:
        raise ValueError(f"video {video.video_id} has no audio stream to split off")
    directory = Path(media_dir) if media_dir is not None else DEFAULT_MEDIA_DIR
    source = ensure_media([video], directory)[video.video_id]
    target = directory / f"{video.video_id}{RENDITIONS[kind]}"
    stamp_path = directory / f"{video.video_id}.{kind}.json"
    stamp = {"source": truth_hash(ground_truth(video)), "kind": kind,
             "version": RENDITION_VERSION, "author": video.author}

    def fresh() -> bool:
        return target.exists() and read_json(stamp_path) == stamp

    if fresh():
        return target
    with FileLock(str(directory / f".{video.video_id}.{kind}.lock")):
        if fresh():
            return target
        partial = directory / f".{video.video_id}.{kind}.part{target.suffix}"
        try:
            if kind == "bytevc2":
                partial.write_bytes(undecodable_copy(source.read_bytes(), video.video_id))
            else:
                with tempfile.TemporaryDirectory(prefix="demo-rendition-") as tmp:
                    _run(_rendition_args(video, kind, source, partial, Path(tmp)))
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        atomic_write_json(stamp_path, stamp)
    return target


# --- photo posts ------------------------------------------------------------------------------
PHOTO_VERSION = 1


def ensure_photo(video: DemoVideo, index: int, media_dir: Path | None = None) -> Path:
    """The JPEG of image `index` of a photo post: its scene's colour with its scene's text drawn
    large (what the process stage's OCR must read), made once and cached."""
    scene = video.scenes[index]
    directory = Path(media_dir) if media_dir is not None else DEFAULT_MEDIA_DIR
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{video.video_id}.photo{index}.jpeg"
    stamp_path = directory / f"{video.video_id}.photo{index}.json"
    stamp = {"text": scene.text, "color": scene.color, "size": [video.width, video.height],
             "version": PHOTO_VERSION}

    def fresh() -> bool:
        return target.exists() and read_json(stamp_path) == stamp

    if fresh():
        return target
    with FileLock(str(directory / f".{video.video_id}.photo{index}.lock")):
        if fresh():
            return target
        partial = directory / f".{video.video_id}.photo{index}.part.jpeg"
        try:
            with tempfile.TemporaryDirectory(prefix="demo-photo-") as tmp:
                text_file = Path(tmp) / "text.txt"
                text_file.write_text("\n".join(textwrap.wrap(scene.text, WRAP_CHARS)),
                                     encoding="utf-8")
                _run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                      "-i", f"color=c={scene.color}:s={video.width}x{video.height}:d=1",
                      "-vf", f"drawtext=fontfile={FONT}:textfile={text_file}:fontsize={FONT_SIZE}"
                             ":fontcolor=white:line_spacing=18:x=(w-text_w)/2:y=(h-text_h)/2",
                      "-frames:v", "1", "-q:v", "3", "-f", "image2", str(partial)])
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        atomic_write_json(stamp_path, stamp)
    return target


def _boxes(data: bytes) -> list[tuple[int, int, bytes]]:
    """(offset, size, type) of an MP4's top-level boxes."""
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset:offset + 4], "big")
        kind = data[offset + 4:offset + 8]
        if size == 1:
            size = int.from_bytes(data[offset + 8:offset + 16], "big")
        elif size == 0:
            size = len(data) - offset
        if size < 8:
            break
        boxes.append((offset, size, kind))
        offset += size
    return boxes


def undecodable_copy(data: bytes, seed: str) -> bytes:
    """`data` (an MP4) as a bytevc2 gear looks to a common player: the same box layout, its
    video sample entries renamed to the unknown codec `bvc2`, and its media data replaced by
    noise of the same length. The boxes check out; nothing decodes."""
    out = bytearray(data)
    for offset, size, kind in _boxes(data):
        if kind == b"moov":
            out[offset:offset + size] = data[offset:offset + size].replace(b"avc1", b"bvc2")
        elif kind == b"mdat":
            header = 16 if int.from_bytes(data[offset:offset + 4], "big") == 1 else 8
            noise = random.Random(f"bytevc2:{seed}").randbytes(size - header)
            out[offset + header:offset + size] = noise
    return bytes(out)


def caption_cues(video: DemoVideo, words_per_cue: int = 7) -> list[tuple[float, float, str]]:
    """(start, end, text) cues over the narration: a few words each, timed at the narration's
    speaking rate from its 0.3 s lead-in, squeezed to end before the video does."""
    words = video.script.split()
    if not words or not video.has_audio:
        return []
    lead_in = 0.3
    seconds_per_word = 60.0 / SPEECH_WPM
    span = len(words) * seconds_per_word
    room = max(0.5, video.duration - 0.5 - lead_in)
    if span > room:
        seconds_per_word = room / len(words)
    cues = []
    for first in range(0, len(words), words_per_cue):
        chunk = words[first:first + words_per_cue]
        start = lead_in + first * seconds_per_word
        end = start + len(chunk) * seconds_per_word
        cues.append((round(start, 3), round(min(end, video.duration), 3), " ".join(chunk)))
    return cues


def _timestamp(seconds: float) -> str:
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def webvtt(video: DemoVideo) -> str:
    """The WebVTT caption track TikTok would serve for `video` (its script, timed)."""
    lines = ["WEBVTT", ""]
    for start, end, text in caption_cues(video):
        lines += [f"{_timestamp(start)} --> {_timestamp(end)}", text, ""]
    return "\n".join(lines)
