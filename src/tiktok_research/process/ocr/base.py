"""The OCR interface shared by the engines, and the `ocr.json` document built from its results.

`ocr.json` = `{"items": [{"frame": "002_t5.0s.jpg", "t": 5.0, "text": "Track your",
"confidence": 0.98}], "scenes": N, "engine": "local", "model": ..., "usage": {...}}`: one item
per block (line) of text found, in frame order then reading order. A photo post's frames are its
images (`001_img.jpg`): their items have `"t": null`. `confidence` is the engine's
score in 0..1, or null when the engine gives none (Claude). `usage` carries token counts for
paid engines (`input_tokens`, `output_tokens`, `requests`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class TextItem:
    text: str
    confidence: float | None = None


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "requests": self.requests}


class OcrEngine(Protocol):
    name: str
    model: str | None
    usage: Usage | None

    def read(self, image: Path) -> list[TextItem]: ...


@dataclass
class FrameText:
    frame: str
    t: float | None  # None: a photo post's image, which has no time
    items: list[TextItem] = field(default_factory=list)


def ocr_document(frames: list[FrameText], engine: OcrEngine) -> dict[str, Any]:
    items = [
        {"frame": frame.frame, "t": frame.t, "text": item.text,
         "confidence": None if item.confidence is None else round(item.confidence, 4)}
        for frame in frames for item in frame.items if item.text.strip()
    ]
    document: dict[str, Any] = {"items": items, "scenes": len(frames), "engine": engine.name}
    if engine.model:
        document["model"] = engine.model
    if engine.usage is not None:
        document["usage"] = engine.usage.as_dict()
    return document
