"""Validation of a video's derived files before they are published.

`validate_outputs` answers a list of problems, empty when everything is there: transcript of at
least `min_transcript_chars` characters, `ocr.json` valid JSON with an `items` array, audio and
metadata present (and, when given, a timestamps file with a `segments` array and a non-empty
frames directory). Keys of `paths` are the publish rule's input names: `transcript`, `ocr`,
`audio`, `meta`, optionally `timestamps` and `frames`. A photo post needs no transcript and no
audio, but its frames.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tiktok_research.paths import VIDEO_FILES

# Input name → the file's role in the video's folder.
REQUIRED = {"transcript": VIDEO_FILES["transcript"], "ocr": VIDEO_FILES["ocr"],
            "audio": VIDEO_FILES["audio"], "meta": VIDEO_FILES["metadata"]}
# A photo post's (no audio, no speech; its frames are its images).
PHOTO_POST_REQUIRED = ("ocr", "meta")


def _load_json(path: Path) -> tuple[Any, str | None]:
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, UnicodeDecodeError) as error:
        return None, f"cannot be read ({error.__class__.__name__})"
    except json.JSONDecodeError as error:
        return None, f"is not valid JSON ({error.msg} at line {error.lineno})"


def transcript_problem(path: Path, min_transcript_chars: int) -> str | None:
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        return f"transcript.txt cannot be read ({error.__class__.__name__})"
    if len(text) < min_transcript_chars:
        return (f"transcript.txt has {len(text)} characters, fewer than min_transcript_chars="
                f"{min_transcript_chars} (empty transcript: no speech recognised)")
    return None


def ocr_problem(path: Path) -> str | None:
    payload, error = _load_json(Path(path))
    if error:
        return f"ocr.json {error}"
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        return "ocr.json has no items array"
    return None


def timestamps_problem(path: Path) -> str | None:
    payload, error = _load_json(Path(path))
    if error:
        return f"transcript_timestamps.json {error}"
    if not isinstance(payload, dict) or not isinstance(payload.get("segments"), list):
        return "transcript_timestamps.json has no segments array"
    return None


def validate_outputs(paths: dict[str, Path], min_transcript_chars: int,
                     post_type: str = "video") -> list[str]:
    """Every problem that stops the video from being published; [] when it is complete.
    A photo post (`post_type` "photo") has no audio and no speech: it needs its metadata,
    `ocr.json` and frames (its images), no transcript or audio."""
    problems: list[str] = []
    photo = post_type == "photo"
    if photo:  # only what a photo post has is checked, and its frames must be there
        paths = {key: paths.get(key) for key in (*PHOTO_POST_REQUIRED, "frames")}
        if paths["frames"] is None:
            problems.append("frames/ has no frames")
    required = {key: REQUIRED[key] for key in PHOTO_POST_REQUIRED} if photo else REQUIRED
    for key, name in required.items():
        path = paths.get(key)
        if path is None or not Path(path).is_file():
            problems.append(f"{name} is missing")
        elif Path(path).stat().st_size == 0 and key in ("audio", "meta", "ocr"):
            problems.append(f"{name} is empty")
    present = {key: Path(path) for key, path in paths.items() if path is not None}
    if "transcript" in present and present["transcript"].is_file():
        problem = transcript_problem(present["transcript"], min_transcript_chars)
        if problem:
            problems.append(problem)
    if "ocr" in present and present["ocr"].is_file() and present["ocr"].stat().st_size:
        problem = ocr_problem(present["ocr"])
        if problem:
            problems.append(problem)
    if "timestamps" in present:
        if not present["timestamps"].is_file():
            problems.append("transcript_timestamps.json is missing")
        else:
            problem = timestamps_problem(present["timestamps"])
            if problem:
                problems.append(problem)
    if "frames" in present:
        frames = present["frames"]
        if not frames.is_dir() or not any(frames.glob("*.jpg")):
            problems.append("frames/ has no frames")
    return problems
