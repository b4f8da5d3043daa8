"""On-screen text of the scene frames: engines behind one interface, chosen by `ocr.engine`.

    engine = load_engine(config)                      # loaded once per job
    document = ocr_frames(frames_dir, engine)         # the `ocr.json` payload

`local` is RapidOCR (offline, free); `claude` is the Anthropic Messages API. A new engine is one
module with a class that has `name`, `model`, `usage` and `read(image) -> [TextItem]`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tiktok_research.errors import OcrAuthError, OcrError
from tiktok_research.process.ocr.base import (
    FrameText,
    OcrEngine,
    TextItem,
    Usage,
    ocr_document,
)
from tiktok_research.registry import FREE, Meter

log = logging.getLogger("tiktok_research.ocr")
ENGINES = ("local", "claude")


def load_engine(config: dict[str, Any], meter: Meter = FREE) -> OcrEngine:
    """The engine `ocr.engine` names; a paid one asks `meter` before each request and reports
    what each cost."""
    settings = config.get("ocr") or {}
    name = settings.get("engine", "local")
    if name == "local":
        from tiktok_research.process.ocr.local import LocalOcrEngine

        return LocalOcrEngine(min_confidence=float(settings.get("min_confidence", 0.5)),
                              threads=int(settings.get("threads", 1)))
    if name == "claude":
        from tiktok_research.process.ocr.claude import DEFAULT_MODEL, ClaudeOcrEngine

        return ClaudeOcrEngine(
            settings.get("claude_model") or DEFAULT_MODEL,
            max_tokens=int(settings.get("max_tokens", 1024)),
            base_url=settings.get("base_url"),
            max_retries=int(settings.get("max_retries", 4)),
            meter=meter,
        )
    raise OcrError(f"ocr.engine: unknown engine {name!r} (one of {ENGINES})")


def ocr_frames(frames_dir: Path, engine: OcrEngine,
               check: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Read every frame of `frames_dir` with `engine`; the `ocr.json` document. `check` is
    called before each frame and raises when the step is over its timeout."""
    from tiktok_research.process.scenes import (
        list_frames,  # OpenCV and PySceneDetect: import on use
    )

    frames = []
    for path, _index, seconds in list_frames(Path(frames_dir)):
        check()
        frames.append(FrameText(path.name, seconds, engine.read(path)))
    log.info("%s: %d frames, %d text items", frames_dir, len(frames),
             sum(len(f.items) for f in frames))
    return ocr_document(frames, engine)


__all__ = ["ENGINES", "FrameText", "OcrAuthError", "OcrEngine", "OcrError", "TextItem", "Usage",
           "load_engine", "ocr_document", "ocr_frames"]
