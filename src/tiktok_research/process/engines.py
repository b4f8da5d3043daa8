"""The process stage's warm resources: the speech model and the OCR engine, opened once per
process and shared by its jobs while their settings stay the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tiktok_research.process.ocr import OcrEngine
from tiktok_research.process.ocr import load_engine as load_ocr_engine
from tiktok_research.process.transcribe import Transcriber
from tiktok_research.process.transcribe import load_engine as load_transcriber
from tiktok_research.registry import FREE, Host, Meter, Resource


def _transcriber_settings(config: dict[str, Any]) -> dict[str, Any]:
    return {"whisper_model": str(config.get("whisper_model") or "base"),
            "transcribe": config.get("transcribe") or {}}


def open_transcriber(config: dict[str, Any], host: Host) -> Transcriber:
    """The speech model; a host that runs several jobs at once gets that many model replicas
    (faster-whisper), so that they transcribe side by side instead of queueing."""
    settings = _transcriber_settings(config)
    return load_transcriber({**settings, "transcribe": {**settings["transcribe"],
                                                        "parallel": host.parallel}})


def _ocr_settings(config: dict[str, Any]) -> dict[str, Any]:
    return config.get("ocr") or {}


def open_ocr(config: dict[str, Any], host: Host) -> Callable[[Meter], OcrEngine]:
    """A function giving the OCR engine for one video's job (its meter): the local engine is
    shared; a Claude engine is made per video, because it counts that video's token usage and
    reports it to that job."""
    settings = _ocr_settings(config)
    if settings.get("engine", "local") != "local":
        return lambda meter=FREE: load_ocr_engine({"ocr": settings}, meter)
    engine = load_ocr_engine({"ocr": settings})
    return lambda meter=FREE: engine


TRANSCRIBER = Resource("transcriber", open_transcriber, settings=_transcriber_settings, warm=True)
OCR = Resource("ocr", open_ocr, settings=_ocr_settings, warm=True)
