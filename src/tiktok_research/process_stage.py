"""The process stage: audio, scene frames, transcript and on-screen text of a video.

`run_process_video` is the Snakemake job (called from `scripts/process_video.py`); it runs the
steps `run_extract_audio`, `run_detect_scenes`, `run_transcribe_audio` and `run_ocr_frames`,
each usable on its own outside Snakemake too. A step loads its model or OCR engine once, writes
its outputs atomically, validates them before finishing (so publishing never takes an invalid
file) and, when anything goes wrong, records a failure in `failures.json` (type `process`, or
`validate` for output that is there but not good enough) and raises, so Snakemake fails the job
and, with `retries: 1`, reprocesses once. Heavy libraries (OpenCV, the Anthropic SDK, the
engines) are imported by the step that needs them: every job is a fresh interpreter.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tiktok_research.audio import MediaError, NoAudioTrack, extract_audio
from tiktok_research.failures import record_failure
from tiktok_research.files import atomic_write_json, atomic_write_text
from tiktok_research.ocr import OcrAuthError, OcrEngine, ocr_frames
from tiktok_research.ocr import load_engine as load_ocr_engine
from tiktok_research.transcribe import Transcriber, write_transcript
from tiktok_research.transcribe import load_engine as load_transcriber
from tiktok_research.validate import ocr_problem, transcript_problem
from tiktok_research.workflow_support import queries_for_video

log = logging.getLogger("tiktok_research.process")


class OutputInvalid(RuntimeError):
    """A step produced output that fails validation (recorded as type `validate`)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _reason(error: BaseException) -> str:
    if isinstance(error, OutputInvalid):
        return error.reason
    if isinstance(error, NoAudioTrack):
        return "no_audio_track"
    if isinstance(error, MediaError):
        return "unreadable_video"
    if isinstance(error, OcrAuthError):
        return "authentication"
    return error.__class__.__name__


@contextmanager
def recorded(step: str, video_id: str, config: dict[str, Any], attempt: int) -> Iterator[None]:
    """Record any failure of `step` in failures.json, then let it propagate."""
    started = time.monotonic()
    try:
        yield
    except Exception as error:
        output_dir = Path(config.get("output_dir", "output"))
        queries = queries_for_video(output_dir, video_id)
        first = queries[0] if queries else {}
        record_failure(
            output_dir, "validate" if isinstance(error, OutputInvalid) else "process", error,
            video_id=video_id, query_index=first.get("query_index"), query=first.get("query"),
            attempt=attempt,
            details={"step": step, "reason": _reason(error),
                     "queries": [q.get("query_index") for q in queries]},
        )
        log.error("%s failed for %s (attempt %s): %s", step, video_id, attempt, error)
        raise
    seconds = time.monotonic() - started
    log.info("%s done for %s in %.2f s", step, video_id, seconds)
    write_step_time(config, step, video_id, seconds)


def write_step_time(config: dict[str, Any], step: str, video_id: str, seconds: float) -> None:
    """The step's wall time, as a one-row TSV shaped like Snakemake's benchmark files."""
    path = Path(config.get("output_dir", "output")) / "benchmarks" / "steps" / step
    atomic_write_text(path / f"{video_id}.tsv", f"s\n{seconds:.4f}\n")


def run_extract_audio(video_id: str, config: dict[str, Any], *, inputs: dict[str, Any],
                      outputs: dict[str, Any], attempt: int = 1) -> Path:
    with recorded("extract_audio", video_id, config, attempt):
        audio = extract_audio(Path(inputs["video"]), Path(outputs["audio"]))
        if audio.stat().st_size == 0:
            audio.unlink()
            raise OutputInvalid("audio.mp3 is empty", "empty_audio")
        return audio


def run_detect_scenes(video_id: str, config: dict[str, Any], *, inputs: dict[str, Any],
                      outputs: dict[str, Any], attempt: int = 1) -> list[Path]:
    with recorded("detect_scenes", video_id, config, attempt):
        from tiktok_research.scenes import write_scene_frames

        frames = write_scene_frames(Path(inputs["video"]), Path(outputs["frames"]),
                                    max_frames=int(config.get("max_frames", 20)))
        if not frames:
            raise OutputInvalid("no scene frames could be taken", "no_frames")
        return frames


@functools.cache
def _transcriber(engine: str, model: str, language: str | None, device: str,
                 compute_type: str) -> Transcriber:
    # Cached so a process that handles many videos (the benchmark) loads the model once.
    return load_transcriber({"whisper_model": model, "transcribe": {
        "engine": engine, "language": language, "device": device, "compute_type": compute_type}})


def transcriber_for(config: dict[str, Any]) -> Transcriber:
    settings = config.get("transcribe") or {}
    return _transcriber(settings.get("engine", "faster-whisper"),
                        str(config.get("whisper_model") or "base"), settings.get("language"),
                        settings.get("device", "cpu"), settings.get("compute_type", "int8"))


def run_transcribe_audio(video_id: str, config: dict[str, Any], *, inputs: dict[str, Any],
                         outputs: dict[str, Any], attempt: int = 1) -> dict[str, Any]:
    with recorded("transcribe_audio", video_id, config, attempt):
        result = transcriber_for(config).transcribe(Path(inputs["audio"]))
        minimum = int(config.get("min_transcript_chars", 3))
        if len(result.text) < minimum:
            # Nothing is written: the next rule must never take a transcript that fails.
            raise OutputInvalid(
                f"transcript has {len(result.text)} characters, fewer than "
                f"min_transcript_chars={minimum} (no speech recognised)", "empty_transcript")
        transcript, timestamps = Path(outputs["transcript"]), Path(outputs["timestamps"])
        write_transcript(result, transcript, timestamps)
        problem = transcript_problem(transcript, minimum)
        if problem:
            transcript.unlink(missing_ok=True)
            timestamps.unlink(missing_ok=True)
            raise OutputInvalid(problem, "empty_transcript")
        log.info("%s: language %s, %d segments, %d characters", video_id, result.language,
                 len(result.segments), len(result.text))
        return {"language": result.language, "characters": len(result.text)}


def ocr_engine_for(config: dict[str, Any]) -> OcrEngine:
    return load_ocr_engine(config)


def run_ocr_frames(video_id: str, config: dict[str, Any], *, inputs: dict[str, Any],
                   outputs: dict[str, Any], attempt: int = 1) -> dict[str, Any]:
    with recorded("ocr_frames", video_id, config, attempt):
        frames_dir = Path(inputs["frames"])
        document = ocr_frames(frames_dir, ocr_engine_for(config))
        if document["scenes"] == 0:
            raise OutputInvalid(f"{frames_dir} holds no frames", "no_frames")
        target = Path(outputs["ocr"])
        atomic_write_json(target, document)
        problem = ocr_problem(target)
        if problem:
            target.unlink(missing_ok=True)
            raise OutputInvalid(problem, "bad_ocr_file")
        return document


def run_process_video(video_id: str, config: dict[str, Any], *, video_path: str | Path,
                      outputs: dict[str, Any], attempt: int = 1) -> None:
    """All of processing for one video, each step checked before the next (SPEC §5.3).

    The first step that fails is recorded and ends the job, so nothing half-made is left
    for publishing; Snakemake's `retries: 1` on the rule reprocesses the video once.
    """
    run_extract_audio(video_id, config, inputs={"video": video_path},
                      outputs={"audio": outputs["audio"]}, attempt=attempt)
    run_detect_scenes(video_id, config, inputs={"video": video_path},
                      outputs={"frames": outputs["frames"]}, attempt=attempt)
    run_transcribe_audio(video_id, config, inputs={"audio": outputs["audio"]},
                         outputs={"transcript": outputs["transcript"],
                                  "timestamps": outputs["timestamps"]}, attempt=attempt)
    run_ocr_frames(video_id, config, inputs={"frames": outputs["frames"]},
                   outputs={"ocr": outputs["ocr"]}, attempt=attempt)
