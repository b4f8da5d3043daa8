"""The transcription interface shared by the engines, and the transcript files it produces.

`transcript_timestamps.json` is `{"language": "en", "language_probability": 0.98,
"duration": 18.0, "engine": "faster-whisper", "model": "tiny.en", "segments": [{"start": 0.3,
"end": 4.1, "text": "..."}]}`; `transcript.txt` is the segments' text joined by single spaces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tiktok_research.files import atomic_write_json, atomic_write_text


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


@dataclass
class TranscriptionResult:
    segments: list[Segment]
    language: str | None
    language_probability: float | None = None
    duration: float | None = None
    engine: str = ""
    model: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())


class Transcriber(Protocol):
    name: str

    def transcribe(self, audio: Path, check: Callable[[], None] = lambda: None,
                   ) -> TranscriptionResult:
        """The transcript of `audio`; `check` is called between pieces of the work and raises
        when the step is over its timeout."""
        ...


def model_label(model: str) -> str:
    """A model name as it may be published: a local directory is shown by its name only."""
    path = Path(model)
    return path.name if path.is_absolute() or path.exists() else model


def timestamps_payload(result: TranscriptionResult) -> dict[str, Any]:
    def seconds(value: float) -> float:
        return round(float(value), 2)

    limit = result.duration
    segments = []
    for segment in result.segments:
        text = segment.text.strip()
        if not text:
            continue
        start, end = max(0.0, segment.start), max(segment.start, segment.end)
        if limit is not None:  # decoders may round a segment end past the last sample
            start, end = min(start, limit), min(end, limit)
        segments.append({"start": seconds(start), "end": seconds(end), "text": text})
    return {
        "language": result.language,
        "language_probability": (round(result.language_probability, 3)
                                 if result.language_probability is not None else None),
        "duration": seconds(limit) if limit is not None else None,
        "engine": result.engine,
        "model": model_label(result.model),
        "segments": segments,
    }


def write_transcript(result: TranscriptionResult, transcript: Path, timestamps: Path) -> None:
    """Both transcript files, each written atomically (timestamps last)."""
    atomic_write_text(transcript, result.text + "\n" if result.text else "")
    atomic_write_json(timestamps, timestamps_payload(result))
