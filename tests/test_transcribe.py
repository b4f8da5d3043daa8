"""Transcription on generated demo videos: accuracy against the spoken script, files, failures."""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict
from pathlib import Path

import jiwer
import pytest
from support import demo_media
from support.demo_media import DemoMedia, DemoSet, normalise_words
from support.workflow import bundled_whisper_model

from tiktok_research import config as config_module
from tiktok_research.errors import OutputInvalid, TranscriptionError
from tiktok_research.process.audio import extract_audio
from tiktok_research.process.steps import (
    ProcessOutputs,
    ProcessSettings,
    process_video,
    step_transcribe,
)
from tiktok_research.process.transcribe import load_engine
from tiktok_research.records import error_record

demo_set = demo_media.demo_set  # session fixtures
demo_catalog_media = demo_media.demo_catalog_media
MAX_WER = 0.15


def job_config(tmp_path: Path, **overrides: object) -> dict:
    return config_module.load({"output_dir": str(tmp_path / "output"),
                               "whisper_model": bundled_whisper_model(), **overrides})


def outputs_for(folder: Path) -> dict[str, Path]:
    return {"transcript": folder / "transcript.txt",
            "timestamps": folder / "transcript_timestamps.json"}


def transcribe(config: dict, audio: Path, outputs: dict[str, Path], engine=None) -> dict:
    """The process step `transcribe_audio` with the configured engine (loaded unless given)."""
    return step_transcribe(engine or load_engine(config), audio, outputs["transcript"],
                           outputs["timestamps"], config["min_transcript_chars"])


def test_tiny_en_transcripts_match_the_spoken_script(demo_catalog_media: list[DemoMedia],
                                                      tmp_path: Path) -> None:
    config = job_config(tmp_path)
    speaking = [media for media in demo_catalog_media if media.video.script]
    assert len(speaking) >= 10
    engine = load_engine(config)
    for media in speaking:
        folder = tmp_path / media.video.video_id
        audio = extract_audio(media.path, folder / "audio.mp3")
        outputs = outputs_for(folder)
        transcribe(config, audio, outputs, engine)

        transcript = outputs["transcript"].read_text(encoding="utf-8")
        error_rate = jiwer.wer(normalise_words(media.video.script), normalise_words(transcript))
        assert error_rate <= MAX_WER, (media.video.video_id, error_rate, transcript)

        timestamps = json.loads(outputs["timestamps"].read_text(encoding="utf-8"))
        assert timestamps["language"] == "en"
        assert timestamps["engine"] == "faster-whisper"
        segments = timestamps["segments"]
        assert segments
        for segment in segments:
            assert 0 <= segment["start"] <= segment["end"] <= media.video.duration, segment
        assert " ".join(s["text"] for s in segments) == transcript.strip()


def test_no_speech_is_a_validation_verdict_with_no_files(demo_set: DemoSet,
                                                         tmp_path: Path) -> None:
    config = job_config(tmp_path)
    media = demo_set.quiet
    folder = tmp_path / media.video.video_id
    audio = extract_audio(media.path, folder / "audio.mp3")
    with pytest.raises(OutputInvalid, match="min_transcript_chars") as caught:
        transcribe(config, audio, outputs_for(folder))
    assert sorted(p.name for p in folder.iterdir()) == ["audio.mp3"]
    error = caught.value
    assert (error.kind, error.reason, error.outcome) == (
        "validate", "empty_transcript", "processing_failed")
    assert not error.retryable
    # The record the runtime makes of it.
    record = error_record(error, {"video_id": media.video.video_id}, attempt=2,
                          default_type="process")
    assert record["type"] == "validate"
    assert record["video_id"] == media.video.video_id
    assert record["attempt"] == 2
    assert record["details"]["reason"] == "empty_transcript"
    assert record["details"]["outcome"] == "processing_failed"


def test_a_model_that_cannot_be_loaded_fails_clearly(demo_set: DemoSet, tmp_path: Path) -> None:
    config = job_config(tmp_path, whisper_model=str(tmp_path / "no-such-model"))
    with pytest.raises(TranscriptionError, match="cannot load model") as caught:
        load_engine(config)
    assert caught.value.kind == "process"
    assert str(tmp_path / "no-such-model") in str(caught.value)
    # Processing a video: the error names the step it failed in; no transcript is written.
    outputs = ProcessOutputs(tmp_path / "audio.mp3", tmp_path / "frames",
                             tmp_path / "transcript.txt", tmp_path / "transcript_timestamps.json",
                             tmp_path / "ocr.json")

    def no_ocr():
        raise AssertionError("the OCR engine is asked for after a failed transcription")

    with pytest.raises(TranscriptionError, match="cannot load model") as caught:
        process_video("123", demo_set.speaking[1].path, outputs,
                      ProcessSettings.from_config(config), transcriber=lambda: load_engine(config),
                      ocr_engine=no_ocr)
    assert caught.value.details["step"] == "transcribe_audio"
    assert not outputs.transcript.exists() and not outputs.timestamps.exists()


def write_random_whisper_checkpoint(path: Path) -> Path:
    """A tiny English-only Whisper with random weights, saved as openai-whisper saves models.

    The short text context keeps decoding of random weights quick.
    """
    import torch
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(0)
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2,
                           n_audio_layer=1, n_vocab=51864, n_text_ctx=32, n_text_state=64,
                           n_text_head=2, n_text_layer=1)
    torch.save({"dims": asdict(dims), "model_state_dict": Whisper(dims).state_dict()}, path)
    return path


def test_openai_whisper_engine_runs_end_to_end_on_a_random_checkpoint(demo_set: DemoSet,
                                                                      tmp_path: Path) -> None:
    """Proves the openai-whisper engine loads a checkpoint, decodes audio and writes both
    transcript files in the contract's shape. The weights are random (no real weights can be
    downloaded here), so this says nothing about accuracy: the text is gibberish or empty."""
    checkpoint = write_random_whisper_checkpoint(tmp_path / "tiny-random.pt")
    clip = tmp_path / "clip.mp3"  # 1.5 s: random weights decode slowly, window after window
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(demo_set.speaking[0].path),
                    "-t", "1.5", "-vn", "-ac", "1", str(clip)], check=True)
    config = job_config(tmp_path, whisper_model=str(checkpoint), min_transcript_chars=0,
                        transcribe={"engine": "openai-whisper"})
    outputs = outputs_for(tmp_path)
    transcribe(config, clip, outputs)

    timestamps = json.loads(outputs["timestamps"].read_text(encoding="utf-8"))
    assert timestamps["engine"] == "openai-whisper"
    assert timestamps["model"] == "tiny-random.pt"
    assert timestamps["language"] == "en"  # an English-only vocabulary (n_vocab 51864)
    assert isinstance(timestamps["segments"], list)
    for segment in timestamps["segments"]:
        assert 0 <= segment["start"] <= segment["end"] <= 1.5
    text = outputs["transcript"].read_text(encoding="utf-8")
    assert text.strip() == " ".join(s["text"] for s in timestamps["segments"])
