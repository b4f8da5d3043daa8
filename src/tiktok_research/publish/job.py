"""The job after the download (the rule `process_and_publish_video`): process the video,
publish it, and write its receipt — the file that says how the video ended.

One job rather than two keeps the DAG at two jobs per video. The receipt (`.uploaded`) is
written last, for every outcome:

- published: where every file went, with checksums, the row, the step times, and what is said,
  shown and captioned in it with its time (`passages`, for the searchable dataset). A photo
  post (`include_photo_posts`) is published too: its images are its frames, OCR'd, and it has
  no audio and no transcript;
- unavailable: the download found the video private, deleted or not a video;
- download_failed: the video is over a cap (`metadata.json` names it);
- processing_failed: a verdict about the video itself (no audio track, no speech) that stood
  after it was reprocessed once. A retry cannot change it, so it is not tried again.

For the last two, the transcript, timestamps and ocr.json are written empty, so that every
output of the rule exists. Any other failure fails the job: Snakemake retries it, and the next
run tries it again.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tiktok_research.errors import OutputInvalid, PipelineError, ProcessError, PublishError
from tiktok_research.files import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    read_json,
)
from tiktok_research.paths import VIDEO_FILES
from tiktok_research.process.engines import OCR, TRANSCRIBER
from tiktok_research.process.steps import (
    ProcessOutputs,
    ProcessSettings,
    process_photo_post,
    process_video,
)
from tiktok_research.process.validate import validate_outputs
from tiktok_research.publish.publish import PublishedFiles, publish_video
from tiktok_research.publish.rows import captions_text, dataset_row, passages
from tiktok_research.records import one_line, utc_now
from tiktok_research.registry import Job, Task

log = logging.getLogger("tiktok_research.publish")

# A verdict about the video stands from this attempt on: it was processed, then reprocessed.
VERDICT_ATTEMPT = 2


@contextmanager
def work_paths(job: Job) -> Iterator[ProcessOutputs]:
    """Where processing writes: the rule's outputs, and a scratch folder for the audio and the
    frames unless `keep` makes them outputs too."""
    outputs = {name: Path(path) for name, path in job.outputs.items()}
    if "audio" in outputs and "frames" in outputs:
        yield ProcessOutputs(outputs["audio"], outputs["frames"], outputs["transcript"],
                             outputs["timestamps"], outputs["ocr"])
        return
    with tempfile.TemporaryDirectory(prefix=f"tiktok-research-{job.key}-") as scratch:
        yield ProcessOutputs(Path(scratch) / VIDEO_FILES["audio"],
                             Path(scratch) / VIDEO_FILES["frames"],
                             outputs["transcript"], outputs["timestamps"], outputs["ocr"])


def write_empty_outputs(job: Job, outcome: str) -> None:
    """Every output the rule declares that processing did not make, empty: the video ended
    without them."""
    empty: dict[str, Any] = {
        "transcript": lambda path: atomic_write_text(path, ""),
        "timestamps": lambda path: atomic_write_json(path, {"language": None, "segments": [],
                                                            "outcome": outcome}),
        "ocr": lambda path: atomic_write_json(path, {"items": [], "scenes": 0, "engine": None,
                                                     "outcome": outcome}),
        "audio": lambda path: atomic_write_bytes(path, b""),
        "frames": lambda path: path.mkdir(parents=True, exist_ok=True),
    }
    for name, write in empty.items():
        path = job.outputs.get(name)
        if path is not None and not Path(path).exists():
            write(Path(path))


def end_without_publishing(job: Job, outcome: str, reason: str, **facts: Any) -> dict[str, Any]:
    write_empty_outputs(job, outcome)
    receipt = {"video_id": job.key, "outcome": outcome, "reason": reason, **facts,
               "attempt": job.attempt, "decided_at": utc_now()}
    atomic_write_json(job.outputs["receipt"], receipt)
    log.info("video %s ended %s (%s)", job.key, outcome, reason)
    return receipt


def run_process_and_publish(job: Job) -> dict[str, Any]:
    video_id, config = job.key, job.config
    job.context.update(video_id=video_id)
    metadata = read_json(job.inputs["meta"])
    if not isinstance(metadata, dict):
        raise ProcessError(f"{job.inputs['meta']} is not a JSON object", reason="bad_metadata")
    job.context.update(url=metadata.get("url"))
    unavailable = metadata.get("unavailable")
    if isinstance(unavailable, dict):
        return end_without_publishing(job, "unavailable", str(unavailable.get("reason")),
                                      status_code=unavailable.get("status_code"),
                                      status_msg=unavailable.get("status_msg"),
                                      permanent=unavailable.get("permanent", True),
                                      retry_after=unavailable.get("retry_after"),
                                      url=metadata.get("url"))
    refused = metadata.get("refused")
    if isinstance(refused, dict):
        return end_without_publishing(job, "download_failed", str(refused.get("reason")),
                                      cap=refused.get("cap"), error=refused.get("error"),
                                      url=metadata.get("url"))
    settings = ProcessSettings.from_config(config)
    timings: dict[str, float] = {}
    if isinstance(metadata.get("download"), dict) and "seconds" in metadata["download"]:
        timings["download"] = metadata["download"]["seconds"]
    post_type = "photo" if metadata.get("post_type") == "photo" else "video"
    with work_paths(job) as paths:
        try:
            if post_type == "photo":
                if not job.inputs.get("images"):
                    raise ProcessError(f"video {video_id} is a photo post, but the job was "
                                       "given no images (include_photo_posts)",
                                       retryable=False, reason="no_images")
                timings.update(process_photo_post(
                    video_id, Path(job.inputs["images"]), paths, settings,
                    ocr_engine=lambda: job.resource(OCR.name)(job)))
            else:
                timings.update(process_video(
                    video_id, Path(job.inputs["video"]), paths, settings,
                    transcriber=lambda: job.resource(TRANSCRIBER.name),
                    ocr_engine=lambda: job.resource(OCR.name)(job)))
            problems = validate_outputs(
                {"transcript": paths.transcript, "ocr": paths.ocr, "audio": paths.audio,
                 "meta": Path(job.inputs["meta"]), "timestamps": paths.timestamps,
                 "frames": paths.frames}, settings.min_transcript_chars, post_type)
            if problems:
                raise OutputInvalid(f"video {video_id} failed validation: {'; '.join(problems)}",
                                    reason="validation", details={"problems": problems})
        except PipelineError as error:
            if error.outcome is None or job.attempt < VERDICT_ATTEMPT:
                raise
            job.record(error)
            return end_without_publishing(job, error.outcome, error.reason, type=error.kind,
                                          error=one_line(error), url=metadata.get("url"))
        started = time.monotonic()
        captions = Path(job.inputs["captions"]) if job.inputs.get("captions") else None
        files = PublishedFiles(Path(job.inputs["meta"]), paths.transcript, paths.timestamps,
                               paths.ocr, paths.audio, paths.frames,
                               Path(job.inputs["video"]) if config.get("include_video")
                               and post_type == "video" else None, captions, post_type)
        try:
            published = publish_video(video_id, files, config)
        except PipelineError:
            raise
        except Exception as error:  # a fault outside the backends' own errors
            raise PublishError(f"publishing video {video_id} failed: "
                               f"{type(error).__name__}: {error}") from error
        timings["publish_video"] = round(time.monotonic() - started, 4)
        job.spend("storage", requests=len(published["objects"]),
                  bytes=sum(int(obj.get("size") or 0) for obj in published["objects"]))
        timestamps = read_json(paths.timestamps, {}) or {}
        pieces = passages(timestamps, read_json(paths.ocr, {}) or {}, captions)
    if post_type == "photo":
        write_empty_outputs(job, "photo_post")  # the audio, when `keep` declares it
    receipt = {"video_id": video_id, "outcome": "published", **published,
               "dataset_row": dataset_row(published["row"], metadata,
                                          timestamps.get("language"), captions_text(captions)),
               "passages": pieces, "timings": timings, "attempt": job.attempt}
    atomic_write_json(job.outputs["receipt"], receipt)
    return receipt


# One reprocessing: a video that fails its checks (or any step) is processed once more, and a
# verdict about the video stands after it.
TASK = Task("process", run_process_and_publish, failure_type="process",
            resources=(TRANSCRIBER, OCR), attempts=VERDICT_ATTEMPT)
