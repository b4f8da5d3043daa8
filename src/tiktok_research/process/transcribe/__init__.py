"""Speech to text: engines behind one small interface, chosen by `transcribe.engine`.

    engine = load_engine(config)        # the model is loaded here, once per job
    result = engine.transcribe(audio_path)
    write_transcript(result, transcript_txt, timestamps_json)

Adding an engine is one module with a class that has `name` and `transcribe()`, registered in
`ENGINES`.
"""

from __future__ import annotations

from typing import Any

from tiktok_research.errors import TranscriptionError
from tiktok_research.process.transcribe.base import (
    Segment,
    Transcriber,
    TranscriptionResult,
    timestamps_payload,
    write_transcript,
)

ENGINES = ("faster-whisper", "openai-whisper")


def load_engine(config: dict[str, Any]) -> Transcriber:
    """The engine `config["transcribe"]["engine"]` with its model `config["whisper_model"]`."""
    settings = config.get("transcribe") or {}
    name = settings.get("engine", "faster-whisper")
    model = str(config.get("whisper_model") or "base")
    language = settings.get("language")
    if name == "faster-whisper":
        from tiktok_research.process.transcribe.faster import FasterWhisperEngine

        return FasterWhisperEngine(model, language=language,
                                   device=settings.get("device", "cpu"),
                                   compute_type=settings.get("compute_type", "int8"),
                                   cpu_threads=int(settings.get("cpu_threads", 1)),
                                   parallel=int(settings.get("parallel", 1)))
    if name == "openai-whisper":
        from tiktok_research.process.transcribe.openai import OpenAIWhisperEngine

        return OpenAIWhisperEngine(model, language=language, device=settings.get("device", "cpu"))
    raise TranscriptionError(f"transcribe.engine: unknown engine {name!r} (one of {ENGINES})")


__all__ = ["ENGINES", "Segment", "Transcriber", "TranscriptionError", "TranscriptionResult",
           "load_engine", "timestamps_payload", "write_transcript"]
