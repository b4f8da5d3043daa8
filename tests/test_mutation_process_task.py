"""The `process` task (`publish/job.py`) called on one job, and the dataset row it writes: what
each kind of downloaded video leaves in its receipt (found by `make mutation`: only the
workflow tests reached most of this, and they are not in its test list)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from support.processed import make_config

from tiktok_research.config import bundled_whisper_model
from tiktok_research.errors import OutputInvalid, ProcessError, PublishError
from tiktok_research.publish import job as job_module
from tiktok_research.publish.job import run_process_and_publish
from tiktok_research.publish.rows import METADATA_COLUMNS, captions_text, dataset_row
from tiktok_research.registry import Job, Services, load_task

VIDEO = "7319467787859053825"
URL = f"https://www.tiktok.com/@tester/video/{VIDEO}"
OUTPUTS = (("transcript", "transcript.txt"), ("timestamps", "transcript_timestamps.json"),
           ("ocr", "ocr.json"), ("receipt", ".uploaded"))


def clip(folder: Path, *, tone: bool) -> Path:
    """A one-second, one-scene video, with a tone or with no audio track at all."""
    path = folder / ("tone.mp4" if tone else "silent.mp4")
    audio = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-shortest", "-c:a", "aac"]
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=blue:s=160x120:d=1",
                    *(audio if tone else []), "-c:v", "libx264", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {"tone": clip(folder, tone=True), "silent": clip(folder, tone=False)}


@pytest.fixture(scope="module")
def services() -> Services:
    """One set of engines for the module's jobs, as the worker keeps them warm."""
    opened = Services()
    yield opened
    opened.close()


def process_job(out: Path, video: Path | None, metadata: object, services: Services, *,
                attempt: int = 1, keep: bool = False, captions: Path | None = None,
                **settings) -> Job:
    folder = out / "videos" / VIDEO
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    config = make_config(out, whisper_model=bundled_whisper_model(), min_transcript_chars=0,
                         **settings)
    outputs = {name: str(folder / file) for name, file in OUTPUTS}
    if keep:
        outputs.update(audio=str(folder / "audio.mp3"), frames=str(folder / "frames"))
    inputs = {"video": str(video) if video else str(folder / "video.mp4"),
              "meta": str(folder / "metadata.json")}
    if captions is not None:
        inputs["captions"] = str(captions)
    job = Job(task="process", key=VIDEO, config=config, attempt=attempt, inputs=inputs,
              outputs=outputs)
    return job.bind(load_task("process"), services)


def on_disk(job: Job) -> dict:
    return json.loads(Path(job.outputs["receipt"]).read_text(encoding="utf-8"))


def test_metadata_that_is_not_an_object_is_a_bad_metadata_error(tmp_path, services) -> None:
    job = process_job(tmp_path, None, ["a", "list"], services)
    with pytest.raises(ProcessError) as raised:
        run_process_and_publish(job)
    assert str(raised.value) == f"{job.inputs['meta']} is not a JSON object"
    assert raised.value.reason == "bad_metadata"
    assert job.context == {"video_id": VIDEO}


def test_an_unavailable_video_ends_with_what_the_page_said(tmp_path, services) -> None:
    unavailable = {"reason": "private_post", "status_code": 10222, "status_msg": "private",
                   "permanent": False, "retry_after": 3600}
    job = process_job(tmp_path, None, {"url": URL, "unavailable": unavailable}, services,
                      attempt=2)
    receipt = run_process_and_publish(job)
    assert on_disk(job) == receipt
    del receipt["decided_at"]
    assert receipt == {"video_id": VIDEO, "outcome": "unavailable", "reason": "private_post",
                       "status_code": 10222, "status_msg": "private", "permanent": False,
                       "retry_after": 3600, "url": URL, "attempt": 2}
    assert job.context == {"video_id": VIDEO, "url": URL}
    assert Path(job.outputs["transcript"]).read_text(encoding="utf-8") == ""

    # What a page leaves out: permanent unless it said otherwise, the reason as text.
    bare = process_job(tmp_path, None, {"unavailable": {"reason": 404}}, services)
    receipt = run_process_and_publish(bare)
    del receipt["decided_at"]
    assert receipt == {"video_id": VIDEO, "outcome": "unavailable", "reason": "404",
                       "status_code": None, "status_msg": None, "permanent": True,
                       "retry_after": None, "url": None, "attempt": 1}


def test_a_video_over_a_cap_ends_as_download_failed_naming_the_cap(tmp_path, services) -> None:
    refused = {"reason": "over_cap", "cap": "tiktok.max_video_bytes",
               "error": "the video is 9000000 bytes, over the cap of 1000"}
    job = process_job(tmp_path, None, {"url": URL, "refused": refused,
                                       "unavailable": "not an object"}, services)
    receipt = run_process_and_publish(job)
    del receipt["decided_at"]
    assert receipt == {"video_id": VIDEO, "outcome": "download_failed", "reason": "over_cap",
                       "cap": "tiktok.max_video_bytes", "error": refused["error"], "url": URL,
                       "attempt": 1}


def test_a_verdict_stands_only_on_the_second_attempt(tmp_path, clips, services) -> None:
    metadata = {"url": URL, "refused": "not an object"}
    first = process_job(tmp_path, clips["silent"], metadata, services)
    with pytest.raises(ProcessError) as raised:
        run_process_and_publish(first)
    assert raised.value.reason == "no_audio_track"
    assert not Path(first.outputs["receipt"]).exists() and services.recorded == []

    second = process_job(tmp_path, clips["silent"], metadata, services, attempt=2)
    receipt = run_process_and_publish(second)
    assert on_disk(second) == receipt
    del receipt["decided_at"]
    assert receipt == {"video_id": VIDEO, "outcome": "processing_failed",
                       "reason": "no_audio_track", "type": "process",
                       "error": str(raised.value), "url": URL, "attempt": 2}
    [record] = services.recorded
    assert (record["type"], record["video_id"], record["attempt"]) == ("process", VIDEO, 2)
    services.recorded.clear()


def test_a_published_receipt_has_the_row_the_timings_and_the_captions(tmp_path, clips,
                                                                      services) -> None:
    captions = tmp_path / "captions"
    captions.mkdir()
    (captions / "eng-US.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n",
                                         encoding="utf-8")
    metadata = {"url": URL, "author": "tester", "caption": "a caption", "hashtags": ["a", "b"],
                "download": {"seconds": 1.25}}
    job = process_job(tmp_path, clips["tone"], metadata, services, keep=True, captions=captions,
                      include_video=True)
    receipt = run_process_and_publish(job)
    assert on_disk(job) == receipt
    assert (receipt["outcome"], receipt["attempt"], receipt["video_id"]) == (
        "published", 1, VIDEO)
    assert receipt["timings"]["download"] == 1.25
    assert 0 <= receipt["timings"]["publish_video"] < 60
    assert set(receipt["timings"]) == {"download", "extract_audio", "detect_scenes",
                                       "transcribe_audio", "ocr_frames", "publish_video"}
    row = receipt["dataset_row"]
    assert (row["video_id"], row["url"], row["title"], row["hashtags"]) == (
        VIDEO, URL, "a caption", "#a #b")
    assert row["tiktok_captions"] == "[eng-US] Hello"
    language = json.loads(Path(job.outputs["timestamps"]).read_text())["language"]
    assert row["transcript_language"] == language == "en"
    # `keep`: the audio and the frames are the rule's outputs; include_video: the video too.
    assert Path(job.outputs["audio"]).stat().st_size > 0
    assert any(Path(job.outputs["frames"]).glob("*.jpg"))
    assert (tmp_path / "bucket" / "videos" / VIDEO / "video.mp4").exists()
    assert job.context == {"video_id": VIDEO, "url": URL}


def test_without_keep_the_audio_and_frames_live_in_a_scratch_folder_that_goes(
        tmp_path, clips, services, monkeypatch) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    job = process_job(tmp_path, clips["tone"], {"url": URL}, services)
    receipt = run_process_and_publish(job)
    assert receipt["outcome"] == "published" and "download" not in receipt["timings"]
    assert list(scratch.iterdir()) == []
    folder = tmp_path / "videos" / VIDEO
    assert not (folder / "audio.mp3").exists() and not (folder / "frames").exists()
    stored = tmp_path / "bucket" / "videos" / VIDEO
    assert (stored / "audio.mp3").stat().st_size > 0 and not (stored / "video.mp4").exists()


def test_outputs_that_fail_validation_are_an_output_invalid_error(tmp_path, clips, services,
                                                                 monkeypatch) -> None:
    asked = []
    monkeypatch.setattr(job_module, "validate_outputs",
                        lambda files, chars, post_type: asked.append(post_type) or ["a", "b"])
    job = process_job(tmp_path, clips["tone"], {"url": URL}, services)
    with pytest.raises(OutputInvalid) as raised:
        run_process_and_publish(job)
    assert str(raised.value) == f"video {VIDEO} failed validation: a; b"
    assert (raised.value.reason, raised.value.details) == ("validation", {"problems": ["a", "b"]})
    assert asked == ["video"]  # a video's checks: no post_type in its metadata


def test_a_fault_outside_the_backends_is_a_publish_error_naming_the_video(
        tmp_path, clips, services, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise TypeError("unexpected")

    monkeypatch.setattr(job_module, "publish_video", broken)
    job = process_job(tmp_path, clips["tone"], {"url": URL}, services)
    with pytest.raises(PublishError) as raised:
        run_process_and_publish(job)
    assert str(raised.value) == f"publishing video {VIDEO} failed: TypeError: unexpected"
    assert isinstance(raised.value.__cause__, TypeError)
    assert not Path(job.outputs["receipt"]).exists()


# --- the dataset row ------------------------------------------------------------------------
def test_the_dataset_row_adds_every_metadata_column_to_the_videos_row() -> None:
    metadata = {column: f"{column}!" for column in METADATA_COLUMNS}
    metadata.update(hashtags="#kept #as_text", rendition={"kind": "h264", "watermarked": False},
                    other="left out")
    row = dataset_row({"video_id": VIDEO, "title": "t"}, metadata, "de", "[de] Hallo")
    assert row == {"video_id": VIDEO, "title": "t",
                   **{column: metadata[column] for column in METADATA_COLUMNS},
                   "transcript_language": "de", "rendition": "h264", "watermarked": False,
                   "tiktok_captions": "[de] Hallo"}
    bare = dataset_row({}, {"hashtags": ["x"], "rendition": "h264"}, None)
    assert bare["hashtags"] == "#x" and bare["author_id"] is None
    assert (bare["rendition"], bare["watermarked"], bare["tiktok_captions"]) == (None, None, "")


def test_captions_text_is_every_track_after_its_language(tmp_path) -> None:
    assert captions_text(None) == captions_text(tmp_path / "missing") == ""
    (tmp_path / "fr.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nBonjour\n",
                                     encoding="utf-8")
    (tmp_path / "de.vtt").write_bytes(b"WEBVTT\n\n00:00.000 --> 00:01.000\nGr\xfc\xdfe\n")
    (tmp_path / "en.vtt").write_text("WEBVTT\n\n", encoding="utf-8")  # no words: left out
    (tmp_path / "notes.txt").write_text("not a track", encoding="utf-8")
    assert captions_text(tmp_path) == "[de] Gr\ufffd\ufffde\n[fr] Bonjour"
