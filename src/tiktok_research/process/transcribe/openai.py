"""openai-whisper (PyTorch) engine: a model name from its cache or a local `.pt` checkpoint.

Optional: needs the `openai-whisper` extra (with `torch==2.13.0`, the CPU build).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from tiktok_research.errors import TranscriptionError
from tiktok_research.process.transcribe.base import Segment, TranscriptionResult

log = logging.getLogger("tiktok_research.transcribe")


class OpenAIWhisperEngine:
    name = "openai-whisper"

    def __init__(self, model: str, *, language: str | None = None, device: str = "cpu") -> None:
        try:
            import whisper
        except ImportError as error:
            raise TranscriptionError(
                "transcribe.engine=openai-whisper needs the optional extra: "
                "pip install 'tiktok-research[openai-whisper]'") from error
        if Path(model).is_dir():
            raise TranscriptionError(
                f"openai-whisper cannot load {model!r}: a directory (CTranslate2 models are for "
                "faster-whisper); give a model name or a .pt checkpoint")
        self.model_name = model
        self.language = language
        try:
            self.model = whisper.load_model(model, device=device)
        except Exception as error:
            raise TranscriptionError(f"openai-whisper cannot load model {model!r}: {error}") \
                from error
        # openai-whisper's decoder hooks a per-call cache into the shared model: two threads
        # (the persistent worker's jobs) decoding at once corrupt each other's tokens.
        self._decoding = threading.Lock()
        log.info("openai-whisper model %s loaded (%s)", model, device)

    def transcribe(self, audio: Path, check: Callable[[], None] = lambda: None,
                   ) -> TranscriptionResult:
        """(openai-whisper decodes in one call: `check` is asked once, after it.)"""
        import whisper

        samples = whisper.load_audio(str(audio))
        with self._decoding:
            try:
                result = self.model.transcribe(samples, language=self.language, fp16=False,
                                               condition_on_previous_text=False, verbose=None)
            except ValueError as error:
                # Whisper's temperature fallback samples from the logits; when its timestamp
                # rules mask every token they are all NaN and torch refuses them (openai-whisper
                # and stable-ts issues: "Expected parameter logits … found invalid values").
                # Greedy decoding alone (temperature 0) never samples.
                if "Expected parameter logits" not in str(error):
                    raise
                log.warning("openai-whisper: sampling hit NaN logits on %s; decoding it greedily",
                            audio.name)
                result = self.model.transcribe(samples, language=self.language, fp16=False,
                                               condition_on_previous_text=False, verbose=None,
                                               temperature=0.0)
        check()
        segments = [Segment(float(s["start"]), float(s["end"]), str(s["text"]))
                    for s in result.get("segments", [])]
        return TranscriptionResult(
            segments=segments, language=result.get("language"),
            duration=len(samples) / whisper.audio.SAMPLE_RATE,
            engine=self.name, model=self.model_name,
        )
