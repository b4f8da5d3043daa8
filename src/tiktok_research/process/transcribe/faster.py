"""faster-whisper (CTranslate2) engine: int8 on CPU by default; a model name or a local dir.

One CPU thread per video by default (`transcribe.cpu_threads`): videos are transcribed side by
side, one per core, and more threads per video only make them compete (`make bench` measures
it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from tiktok_research.errors import TranscriptionError
from tiktok_research.process.transcribe.base import Segment, TranscriptionResult

log = logging.getLogger("tiktok_research.transcribe")


class FasterWhisperEngine:
    name = "faster-whisper"

    def __init__(self, model: str, *, language: str | None = None, device: str = "cpu",
                 compute_type: str = "int8", beam_size: int = 5, cpu_threads: int = 1,
                 parallel: int = 1) -> None:
        from faster_whisper import WhisperModel

        self.model_name = model
        self.language = language
        self.beam_size = beam_size
        try:
            # local_files_only: weights are never fetched by a job; a name must be cached.
            # num_workers: model replicas, so that `parallel` threads transcribing at once (the
            # persistent worker's jobs) run side by side instead of queueing for one replica.
            self.model = WhisperModel(model, device=device, compute_type=compute_type,
                                      cpu_threads=cpu_threads, num_workers=max(1, parallel),
                                      local_files_only=not Path(model).is_dir())
        except Exception as error:
            raise TranscriptionError(
                f"faster-whisper cannot load model {model!r}: {error}. Set whisper_model to a "
                "local CTranslate2 model directory or a model already in the Hugging Face cache"
            ) from error
        log.info("faster-whisper model %s loaded (%s, %s)", model, device, compute_type)

    def transcribe(self, audio: Path, check: Callable[[], None] = lambda: None,
                   ) -> TranscriptionResult:
        segments, info = self.model.transcribe(
            str(audio), language=self.language, beam_size=self.beam_size,
            vad_filter=True, condition_on_previous_text=False,
        )
        collected = []
        for segment in segments:  # decoding happens here, a window of audio at a time
            check()
            collected.append(Segment(segment.start, segment.end, segment.text))
        return TranscriptionResult(
            segments=collected, language=info.language,
            language_probability=info.language_probability, duration=info.duration,
            engine=self.name, model=self.model_name,
        )
