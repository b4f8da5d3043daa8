"""Local OCR with RapidOCR (ONNX Runtime; models ship with `rapidocr-onnxruntime`, offline)."""

from __future__ import annotations

import logging
from pathlib import Path

from tiktok_research.ocr.base import OcrError, TextItem

log = logging.getLogger("tiktok_research.ocr")


class LocalOcrEngine:
    name = "local"
    model = "rapidocr-onnxruntime"
    usage = None

    def __init__(self, min_confidence: float = 0.5) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self.min_confidence = min_confidence
        self.engine = RapidOCR()
        log.info("RapidOCR loaded")

    def read(self, image: Path) -> list[TextItem]:
        try:
            result, _elapsed = self.engine(str(image))
        except Exception as error:
            raise OcrError(f"RapidOCR cannot read {Path(image).name}: {error}") from error
        lines = []
        for box, text, score in result or []:
            if float(score) < self.min_confidence or not str(text).strip():
                continue
            top = min(point[1] for point in box)
            left = min(point[0] for point in box)
            lines.append((top, left, TextItem(str(text).strip(), float(score))))
        # Reading order: top to bottom, then left to right (boxes on one line share a top ±).
        lines.sort(key=lambda line: (round(line[0] / 20), line[1]))
        return [item for _top, _left, item in lines]
