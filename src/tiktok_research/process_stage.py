"""The process stage: audio, scene frames, transcript and on-screen text of a video.

`run_process_and_publish` is the Snakemake job after the download (run by
`python -m tiktok_research.job process`): `run_process_video`, then `publish.run_publish`.
`run_process_video` runs the steps `run_extract_audio`, `run_detect_scenes`,
`run_transcribe_audio` and `run_ocr_frames`, each usable on its own outside Snakemake too.
A step writes its outputs atomically, validates them before finishing (so publishing never
takes an invalid file) and, when anything goes wrong, records a failure in `failures.json`
(type `process`, or `validate` for output that is there but not good enough) and raises, so
Snakemake fails the job and, with `retries: 1`, reprocesses once. Models and OCR engines are
loaded once per process (the persistent worker handles many videos); heavy libraries (OpenCV,
the Anthropic SDK, the engines) are imported by the step that needs them.

The job owns the files it derives (only the receipt is a Snakemake output): a failed step
removes them all, so nothing half-made is left, while a failed publish keeps them, so the
retry only repeats the publishing. A derived file is reused only if it is valid, newer than
the video it was made from, and made under the same processing settings (`.derived-with`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
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


_MODEL_LOCK = threading.Lock()


# Videos this process may transcribe at the same time: 1 in a job of its own; the persistent
# worker, which runs several jobs in threads, raises it to its CPU count.
PARALLEL_VIDEOS = 1


@functools.cache
def _transcriber(settings: str, model: str, parallel: int) -> Transcriber:
    # Cached so a process that handles many videos (the worker, the benchmark) loads the
    # model once.
    return load_transcriber({"whisper_model": model,
                             "transcribe": {**json.loads(settings), "parallel": parallel}})


def transcriber_for(config: dict[str, Any]) -> Transcriber:
    settings = json.dumps(config.get("transcribe") or {}, sort_keys=True)
    with _MODEL_LOCK:  # two jobs of the worker starting at once load the model once
        return _transcriber(settings, str(config.get("whisper_model") or "base"),
                            PARALLEL_VIDEOS)


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


@functools.cache
def _local_ocr_engine(settings: str) -> OcrEngine:
    return load_ocr_engine({"ocr": json.loads(settings)})


def ocr_engine_for(config: dict[str, Any]) -> OcrEngine:
    """The local engine is cached by its settings, like the transcriber. A Claude engine is made
    per video: it counts the token usage of that video's requests (and reads its key then)."""
    settings = config.get("ocr") or {}
    if settings.get("engine", "local") != "local":
        return load_ocr_engine(config)
    with _MODEL_LOCK:
        return _local_ocr_engine(json.dumps(settings, sort_keys=True))


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


DERIVED_FILES = {"audio": "audio.mp3", "frames": "frames", "transcript": "transcript.txt",
                 "timestamps": "transcript_timestamps.json", "ocr": "ocr.json"}
# Removed after publishing unless `keep` (the video itself is Snakemake's temp()).
LARGE_INTERMEDIATES = ("audio", "frames")


def derived_paths(video_dir: str | Path) -> dict[str, Path]:
    return {name: Path(video_dir) / file_name for name, file_name in DERIVED_FILES.items()}


def remove_paths(paths: Iterable[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _reusable(video: Path, *outputs: Path) -> bool:
    """Outputs an earlier attempt of this job made from this very video file."""
    try:
        made_from = video.stat().st_mtime
        return all(output.stat().st_mtime >= made_from for output in outputs)
    except FileNotFoundError:
        return False


def run_process_video(video_id: str, config: dict[str, Any], *, video_path: str | Path,
                      outputs: dict[str, Any], attempt: int = 1, reuse: bool = False) -> None:
    """All of processing for one video, each step checked before the next (SPEC §5.3).

    The first step that fails is recorded and ends the job, so nothing half-made is left
    for publishing; Snakemake's `retries: 1` on the rule reprocesses the video once. With
    `reuse`, a step whose valid outputs an earlier attempt made from this video is skipped.
    """
    video = Path(video_path)
    paths = {name: Path(path) for name, path in outputs.items()}

    def redo(step: str, valid: Callable[[], bool], *step_outputs: Path) -> bool:
        if reuse and _reusable(video, *step_outputs) and valid():
            log.info("%s: %s reused from an earlier attempt", video_id, step)
            return False
        return True

    audio, frames = paths["audio"], paths["frames"]
    transcript, timestamps, ocr = paths["transcript"], paths["timestamps"], paths["ocr"]
    minimum = int(config.get("min_transcript_chars", 3))
    new_audio = redo("extract_audio", lambda: audio.stat().st_size > 0, audio)
    if new_audio:
        run_extract_audio(video_id, config, inputs={"video": video}, outputs={"audio": audio},
                          attempt=attempt)
    new_frames = redo("detect_scenes", lambda: any(frames.glob("*.jpg")), frames)
    if new_frames:
        run_detect_scenes(video_id, config, inputs={"video": video},
                          outputs={"frames": frames}, attempt=attempt)
    if new_audio or redo("transcribe_audio",
                         lambda: transcript_problem(transcript, minimum) is None,
                         transcript, timestamps):
        run_transcribe_audio(video_id, config, inputs={"audio": audio},
                             outputs={"transcript": transcript, "timestamps": timestamps},
                             attempt=attempt)
    if new_frames or redo("ocr_frames", lambda: ocr_problem(ocr) is None, ocr):
        run_ocr_frames(video_id, config, inputs={"frames": frames}, outputs={"ocr": ocr},
                       attempt=attempt)


# The settings the derived files depend on: files made under other settings are not reused.
PROCESS_SETTINGS = ("whisper_model", "transcribe", "ocr", "max_frames", "min_transcript_chars")
SETTINGS_MARK = ".derived-with"  # beside the derived files, from processing until published


def settings_digest(config: dict[str, Any]) -> str:
    chosen = {key: config.get(key) for key in PROCESS_SETTINGS}
    return hashlib.sha256(json.dumps(chosen, sort_keys=True, default=str).encode()).hexdigest()


def run_process_and_publish(video_id: str, config: dict[str, Any], *, video_path: str | Path,
                            meta_path: str | Path, receipt_path: str | Path,
                            attempt: int = 1) -> dict[str, Any]:
    """The job after the download: process the video, publish it, write its receipt.

    One job rather than two keeps the DAG at two jobs per video (SPEC §8's dry run of 20,000
    videos); the steps and their failure records are the same as when they were rules.
    """
    from tiktok_research.publish import run_publish

    video = Path(video_path)
    paths = derived_paths(video.parent)
    mark = video.parent / SETTINGS_MARK
    for staging in [*video.parent.glob(".audio-*"), *video.parent.glob(".frames-*")]:
        shutil.rmtree(staging, ignore_errors=True)  # left by a killed attempt
    digest = settings_digest(config)
    same_settings = mark.is_file() and mark.read_text(encoding="utf-8") == digest
    try:
        run_process_video(video_id, config, video_path=video, outputs=paths, attempt=attempt,
                          reuse=same_settings)
    except Exception:
        remove_paths([*paths.values(), mark])  # recorded already; nothing half-made is left
        raise
    atomic_write_text(mark, digest)
    inputs: dict[str, Any] = {"meta": Path(meta_path), **paths}
    if config.get("include_video"):
        inputs["video"] = video
    started = time.monotonic()
    receipt = run_publish(video_id, config, inputs=inputs, receipt_path=receipt_path,
                          attempt=attempt)
    write_step_time(config, "publish_video", video_id, time.monotonic() - started)
    remove_paths([mark] if config.get("keep") else
                 [mark, *(paths[name] for name in LARGE_INTERMEDIATES)])
    return receipt
