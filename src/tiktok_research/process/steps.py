"""Processing one video: its audio, scene frames, transcript and on-screen text.

Each step writes its outputs atomically and checks them before the next step starts, so
nothing that fails the check is ever taken by a later step or published. A step that fails
raises: `OutputInvalid` (the check failed: no speech, no frames), `NoAudioTrack`, or another
`ProcessError`. Heavy libraries (OpenCV, the engines) are imported by the step that needs them.

    timings = process_video(video, outputs, settings, transcriber, ocr_engine)
    timings = process_photo_post(video_id, images, outputs, settings, ocr_engine)  # slideshow
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tiktok_research.errors import OutputInvalid, PipelineError
from tiktok_research.files import atomic_write_json, atomic_write_text
from tiktok_research.isolated import Deadline, Limits, preload, run_isolated
from tiktok_research.privacy import pseudonymiser
from tiktok_research.process.audio import extract_audio
from tiktok_research.process.ocr import OcrEngine, ocr_frames
from tiktok_research.process.transcribe import Transcriber, write_transcript
from tiktok_research.process.validate import ocr_problem, transcript_problem

log = logging.getLogger("tiktok_research.process")

preload("av", "tiktok_research.process.audio", "tiktok_research.process.scenes",
        "tiktok_research.process.photos")

STEPS = ("extract_audio", "detect_scenes", "transcribe_audio", "ocr_frames")


@dataclass(frozen=True)
class ProcessOutputs:
    """Where the steps write: the audio and frames may be scratch files, the rest are kept."""

    audio: Path
    frames: Path
    transcript: Path
    timestamps: Path
    ocr: Path


# Seconds per step of one video (`process.timeouts`): generous for a 10-minute video on a slow
# core, so that only a file that makes a step hang runs over.
STEP_TIMEOUTS = {"extract_audio": 600.0, "detect_scenes": 600.0, "transcribe_audio": 1800.0,
                 "ocr_frames": 900.0, "read_images": 600.0}
DECODE_MEMORY_MB = 4096  # the address space of a child decoding one file


@dataclass(frozen=True)
class ProcessSettings:
    max_frames: int = 20
    min_transcript_chars: int = 3
    timeouts: Mapping[str, float] = field(default_factory=lambda: dict(STEP_TIMEOUTS))
    decode_memory_mb: int = DECODE_MEMORY_MB
    # A pseudonymised study's @-mentions → pseudonyms, for the on-screen text too: creators
    # write @handles on screen, and a watermarked rendition shows "TikTok @author".
    mentions: Callable[[str], str] | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ProcessSettings:
        process = config.get("process") or {}
        study = pseudonymiser(config)
        return cls(int(config.get("max_frames", 20)), int(config.get("min_transcript_chars", 3)),
                   {**STEP_TIMEOUTS, **(process.get("timeouts") or {})},
                   int(process.get("decode_memory_mb", DECODE_MEMORY_MB)),
                   mentions=None if study is None else study.mentions)

    def limits(self, step: str) -> Limits:
        """The timeout and memory limit of `step`, with the config key that sets the timeout."""
        return Limits(float(self.timeouts[step]), self.decode_memory_mb,
                      f"process.timeouts.{step}")


@contextmanager
def timed(step: str, video_id: str, timings: dict[str, float]) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    except Exception as error:
        if isinstance(error, PipelineError):
            error.details.setdefault("step", step)
        log.error("%s failed for %s: %s", step, video_id, error)
        raise
    timings[step] = round(time.monotonic() - started, 4)
    log.info("%s done for %s in %.2f s", step, video_id, timings[step])


DEFAULTS = ProcessSettings()


def step_extract_audio(video: Path, audio: Path,
                       limits: Limits | None = None) -> Path:
    extract_audio(video, audio, limits=limits or DEFAULTS.limits("extract_audio"))
    if audio.stat().st_size == 0:
        audio.unlink()
        raise OutputInvalid("audio.mp3 is empty", reason="empty_audio")
    return audio


def step_detect_scenes(video: Path, frames: Path, max_frames: int,
                       limits: Limits | None = None) -> list[Path]:
    """The scene frames, decoded in an isolated child (a crash, hang or runaway allocation on a
    hostile file fails this video alone)."""
    from tiktok_research.process.scenes import write_scene_frames

    written = run_isolated(write_scene_frames, (video, frames, max_frames),
                           limits or DEFAULTS.limits("detect_scenes"), video)
    if not written:
        raise OutputInvalid("no scene frames could be taken", reason="no_frames")
    return written


def step_read_images(images: Path, frames: Path, max_frames: int,
                     limits: Limits | None = None) -> list[Path]:
    """A photo post's images as its frames, decoded in an isolated child."""
    from tiktok_research.process.photos import write_image_frames

    written = run_isolated(write_image_frames, (images, frames, max_frames),
                           limits or DEFAULTS.limits("read_images"), images)
    if not written:
        raise OutputInvalid("the photo post has no images", reason="no_frames")
    return written


def step_transcribe(transcriber: Transcriber, audio: Path, transcript: Path, timestamps: Path,
                    min_chars: int,
                    limits: Limits | None = None) -> dict[str, Any]:
    deadline = Deadline(f"transcribing {audio.name}",
                        limits or DEFAULTS.limits("transcribe_audio"))
    result = transcriber.transcribe(audio, deadline.check)
    if len(result.text) < min_chars:
        # Nothing is written: a later step must never take a transcript that fails.
        raise OutputInvalid(
            f"transcript has {len(result.text)} characters, fewer than "
            f"min_transcript_chars={min_chars} (no speech recognised)", reason="empty_transcript")
    write_transcript(result, transcript, timestamps)
    problem = transcript_problem(transcript, min_chars)
    if problem:
        transcript.unlink(missing_ok=True)
        timestamps.unlink(missing_ok=True)
        raise OutputInvalid(problem, reason="empty_transcript")
    return {"language": result.language, "segments": len(result.segments),
            "characters": len(result.text)}


def step_ocr_frames(engine: OcrEngine, frames: Path, target: Path,
                    limits: Limits | None = None,
                    mentions: Callable[[str], str] | None = None) -> dict[str, Any]:
    deadline = Deadline(f"reading the text of {frames.name}",
                        limits or DEFAULTS.limits("ocr_frames"))
    document = ocr_frames(frames, engine, deadline.check)
    if document["scenes"] == 0:
        raise OutputInvalid(f"{frames} holds no frames", reason="no_frames")
    if mentions is not None:
        for item in document["items"]:
            item["text"] = mentions(item["text"])
    atomic_write_json(target, document)
    problem = ocr_problem(target)
    if problem:
        target.unlink(missing_ok=True)
        raise OutputInvalid(problem, reason="bad_ocr_file")
    return document


def process_video(video_id: str, video: Path, outputs: ProcessOutputs,
                  settings: ProcessSettings, transcriber: Callable[[], Transcriber],
                  ocr_engine: Callable[[], OcrEngine]) -> dict[str, float]:
    """Every step for one video, each checked before the next; the seconds each step took.

    The engines are asked for only when their step runs, so a video that fails early never
    loads a model."""
    timings: dict[str, float] = {}
    with timed("extract_audio", video_id, timings):
        step_extract_audio(video, outputs.audio, settings.limits("extract_audio"))
    with timed("detect_scenes", video_id, timings):
        step_detect_scenes(video, outputs.frames, settings.max_frames,
                           settings.limits("detect_scenes"))
    with timed("transcribe_audio", video_id, timings):
        info = step_transcribe(transcriber(), outputs.audio, outputs.transcript,
                               outputs.timestamps, settings.min_transcript_chars,
                               settings.limits("transcribe_audio"))
        log.info("%s: language %s, %d segments, %d characters", video_id, info["language"],
                 info["segments"], info["characters"])
    with timed("ocr_frames", video_id, timings):
        step_ocr_frames(ocr_engine(), outputs.frames, outputs.ocr, settings.limits("ocr_frames"),
                        settings.mentions)
    return timings


def process_photo_post(video_id: str, images: Path, outputs: ProcessOutputs,
                       settings: ProcessSettings,
                       ocr_engine: Callable[[], OcrEngine]) -> dict[str, float]:
    """A photo post: its images become its frames and are OCR'd. It has no video to take audio,
    scenes or speech from: the transcript is written empty, the timestamps without segments,
    and no audio file is made."""
    timings: dict[str, float] = {}
    with timed("read_images", video_id, timings):
        step_read_images(images, outputs.frames, settings.max_frames,
                         settings.limits("read_images"))
    with timed("ocr_frames", video_id, timings):
        step_ocr_frames(ocr_engine(), outputs.frames, outputs.ocr, settings.limits("ocr_frames"),
                        settings.mentions)
    atomic_write_text(outputs.transcript, "")
    atomic_write_json(outputs.timestamps, {"language": None, "segments": [],
                                           "post_type": "photo"})
    return timings
