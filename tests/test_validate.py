"""Validation before publishing: every problem named, nothing flagged on complete output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tiktok_research.process.validate import validate_outputs


@pytest.fixture
def complete(tmp_path: Path) -> dict[str, Path]:
    paths = {"meta": tmp_path / "metadata.json", "audio": tmp_path / "audio.mp3",
             "transcript": tmp_path / "transcript.txt",
             "timestamps": tmp_path / "transcript_timestamps.json",
             "ocr": tmp_path / "ocr.json", "frames": tmp_path / "frames"}
    paths["meta"].write_text('{"video_id": "1"}', encoding="utf-8")
    paths["audio"].write_bytes(b"ID3\x03" + b"\x00" * 64)
    paths["transcript"].write_text("Hello there.\n", encoding="utf-8")
    paths["timestamps"].write_text(json.dumps(
        {"language": "en", "segments": [{"start": 0, "end": 1, "text": "Hello there."}]}))
    paths["ocr"].write_text(json.dumps({"items": [], "scenes": 1, "engine": "local"}))
    paths["frames"].mkdir()
    (paths["frames"] / "001_t0.0s.jpg").write_bytes(b"\xff\xd8\xff")
    return paths


def test_complete_output_has_no_problems(complete: dict[str, Path]) -> None:
    assert validate_outputs(complete, 3) == []
    required_only = {key: complete[key] for key in ("meta", "audio", "transcript", "ocr")}
    assert validate_outputs(required_only, 3) == []


def test_short_transcript(complete: dict[str, Path]) -> None:
    complete["transcript"].write_text(" ok \n", encoding="utf-8")
    [problem] = validate_outputs(complete, 3)
    assert "transcript.txt has 2 characters" in problem and "min_transcript_chars=3" in problem
    assert validate_outputs(complete, 2) == []


@pytest.mark.parametrize("content, expected", [
    ("{not json", "ocr.json is not valid JSON"),
    ('{"scenes": 2}', "ocr.json has no items array"),
    ('{"items": {"a": 1}}', "ocr.json has no items array"),
    ("", "ocr.json is empty"),
])
def test_bad_ocr_file(complete: dict[str, Path], content: str, expected: str) -> None:
    complete["ocr"].write_text(content, encoding="utf-8")
    [problem] = validate_outputs(complete, 3)
    assert problem.startswith(expected)


@pytest.mark.parametrize("key, name", [("audio", "audio.mp3"), ("meta", "metadata.json"),
                                       ("transcript", "transcript.txt"), ("ocr", "ocr.json")])
def test_missing_required_file(complete: dict[str, Path], key: str, name: str) -> None:
    complete[key].unlink()
    assert validate_outputs(complete, 3) == [f"{name} is missing"]
    del complete[key]
    assert validate_outputs(complete, 3) == [f"{name} is missing"]


def test_missing_frames_and_bad_timestamps(complete: dict[str, Path]) -> None:
    (complete["frames"] / "001_t0.0s.jpg").unlink()
    complete["timestamps"].write_text('{"language": "en"}', encoding="utf-8")
    assert validate_outputs(complete, 3) == [
        "transcript_timestamps.json has no segments array", "frames/ has no frames"]


@pytest.mark.parametrize("key, name", [("audio", "audio.mp3"), ("meta", "metadata.json")])
def test_empty_required_file(complete: dict[str, Path], key: str, name: str) -> None:
    complete[key].write_bytes(b"")
    assert validate_outputs(complete, 3) == [f"{name} is empty"]


def test_timestamps_named_but_not_written(complete: dict[str, Path]) -> None:
    complete["timestamps"].unlink()
    assert validate_outputs(complete, 3) == ["transcript_timestamps.json is missing"]
