"""Local OCR with RapidOCR (ONNX Runtime; models ship with `rapidocr-onnxruntime`, offline).

Frames are shrunk to at most 736 px on their long side and text is detected at that size:
RapidOCR's default (`limit_type: min`) would scale the short side back up to 736, so a
portrait frame would be detected at several times the pixels without finding more text. The
180° angle classifier is skipped. ONNX Runtime gets one thread per session (`ocr.threads`):
videos are processed side by side, one per core.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tiktok_research.errors import OcrError
from tiktok_research.process.ocr.base import TextItem

log = logging.getLogger("tiktok_research.ocr")
MAX_SIDE = 736


class LocalOcrEngine:
    name = "local"
    model = "rapidocr-onnxruntime"
    usage = None

    def __init__(self, min_confidence: float = 0.5, threads: int = 1) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self.min_confidence = min_confidence
        self.engine = RapidOCR(det_limit_type="max", det_limit_side_len=MAX_SIDE,
                               intra_op_num_threads=threads, inter_op_num_threads=1)
        log.info("RapidOCR loaded (%d thread%s)", threads, "" if threads == 1 else "s")

    def read(self, image: Path) -> list[TextItem]:
        import cv2

        try:
            pixels = cv2.imread(str(image), cv2.IMREAD_COLOR)
            if pixels is None:
                raise OcrError(f"{Path(image).name} is not a readable image")
            height, width = pixels.shape[:2]
            scale = MAX_SIDE / max(height, width)
            if scale < 1:
                pixels = cv2.resize(pixels, (round(width * scale), round(height * scale)),
                                    interpolation=cv2.INTER_AREA)
            result, _elapsed = self.engine(pixels, use_cls=False)
        except OcrError:
            raise
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
        lines.sort(key=lambda line: (round(line[0] / 15), line[1]))
        return [item for _top, _left, item in lines]
