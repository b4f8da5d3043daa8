"""OCR with Claude (Anthropic Messages API via the `anthropic` SDK): one frame per request.

Haiku by default (`ocr.claude_model`). The SDK retries 429 and 529 (and other 5xx) with
exponential backoff, honouring `retry-after`; a 401 is not retried and ends the job with one
message naming ANTHROPIC_API_KEY. Token usage of every request is summed, and reported to the
engine's meter, which is asked before each request (a used-up budget stops it). The base URL comes
from `ocr.base_url`, else the SDK's own `ANTHROPIC_BASE_URL`, else api.anthropic.com.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path
from typing import Any

import anthropic

from tiktok_research.config import require_secret
from tiktok_research.errors import OcrAuthError, OcrError
from tiktok_research.process.ocr.base import TextItem, Usage
from tiktok_research.registry import FREE, Meter

log = logging.getLogger("tiktok_research.ocr")

DEFAULT_MODEL = "claude-haiku-4-5"
API_VERSION = "2023-06-01"
PROMPT = (
    "This image is a frame from a short vertical video. Transcribe all text that is visible "
    "in it (captions, overlays, signs), exactly as written, in reading order. Answer with JSON "
    'only, no commentary: {"items": [{"text": "..."}]} with one item per separate block of '
    'text. If there is no readable text, answer {"items": []}.'
)


def parse_answer(text: str) -> list[TextItem]:
    """Text items from the model's answer: the JSON asked for, tolerating code fences and
    prose around it; failing that, one item per non-empty line."""
    match = re.search(r"\{.*\}", text, flags=re.DOTALL)
    if match:
        try:
            payload = json.loads(match.group(0))
        except json.JSONDecodeError:
            payload = None
        if isinstance(payload, dict):
            if not isinstance(payload.get("items"), list):
                raise OcrError("the model's answer is JSON without a list of items ('items' "
                               f"is {type(payload.get('items')).__name__})",
                               reason="bad_answer")
            items = []
            for entry in payload["items"]:
                value = entry.get("text") if isinstance(entry, dict) else entry
                if isinstance(value, str) and value.strip():
                    items.append(TextItem(" ".join(value.split())))
            return items
    lines = [line.strip(" -*`") for line in text.splitlines()]
    return [TextItem(line) for line in lines if line and not line.lower().startswith("no ")]


class ClaudeOcrEngine:
    name = "claude"

    def __init__(self, model: str = DEFAULT_MODEL, *, max_tokens: int = 1024,
                 base_url: str | None = None, max_retries: int = 4,
                 timeout: float = 60.0, meter: Meter = FREE) -> None:
        api_key = require_secret("ANTHROPIC_API_KEY", "ocr.engine=claude")
        self.model = model
        self.max_tokens = max_tokens
        self.usage = Usage()
        self.meter = meter
        # base_url None lets the SDK read ANTHROPIC_BASE_URL itself. The headers pin the
        # documented wire format (x-api-key, anthropic-version 2023-06-01): recent SDK releases
        # default to a Bearer Authorization header and a newer version string.
        self.client = anthropic.Anthropic(
            api_key=api_key, base_url=base_url or None, max_retries=max_retries,
            timeout=timeout,
            default_headers={"Authorization": anthropic.Omit(), "x-api-key": api_key,
                             "anthropic-version": API_VERSION},
        )

    def request_body(self, image: Path) -> dict[str, Any]:
        data = base64.standard_b64encode(Path(image).read_bytes()).decode("ascii")
        return {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": [{"role": "user", "content": [
                {"type": "image",
                 "source": {"type": "base64", "media_type": "image/jpeg", "data": data}},
                {"type": "text", "text": PROMPT},
            ]}],
        }

    def read(self, image: Path) -> list[TextItem]:
        self.meter.check_budget("anthropic")
        try:
            message = self.client.messages.create(**self.request_body(image))
        except anthropic.AuthenticationError as error:
            raise OcrAuthError(
                "Anthropic rejected ANTHROPIC_API_KEY (401 authentication_error): set a valid "
                "key in the environment or .env") from error
        except anthropic.APIStatusError as error:
            raise OcrError(f"Anthropic answered {error.status_code} for {Path(image).name} "
                           f"after retries: {_error_type(error)}") from error
        except anthropic.APIConnectionError as error:
            raise OcrError(f"cannot reach the Anthropic API: {error}") from error
        except ValueError as error:  # a 200 whose body is not JSON
            raise OcrError(f"Anthropic answered 200 for {Path(image).name} with a body that "
                           f"is not JSON ({type(error).__name__})", reason="bad_reply") from None
        input_tokens, output_tokens = _tokens(message)
        self.usage.requests += 1  # billed, whatever its answer is
        self.usage.input_tokens += input_tokens
        self.usage.output_tokens += output_tokens
        self.meter.spend("anthropic", model=self.model, requests=1, input_tokens=input_tokens,
                         output_tokens=output_tokens)
        return parse_answer(_answer_text(message))


def _tokens(message: Any) -> tuple[int, int]:
    """A Messages reply's (input, output) tokens; a reply without them is not one: an OcrError a
    retry may get past."""
    usage = getattr(message, "usage", None)
    tokens = (getattr(usage, "input_tokens", None), getattr(usage, "output_tokens", None))
    if not all(isinstance(count, int) for count in tokens):
        raise OcrError(f"Anthropic answered 200 with a reply that is not a Messages response "
                       f"(no usage; a {type(message).__name__})", reason="bad_reply")
    return tokens[0], tokens[1]


def _answer_text(message: Any) -> str:
    """The text blocks of a Messages reply, joined; content of another shape is an OcrError."""
    content = getattr(message, "content", None)
    if not isinstance(content, list):
        raise OcrError(f"Anthropic answered 200 with a reply that is not a Messages response "
                       f"(content: {type(content).__name__})", reason="bad_reply")
    texts = [getattr(block, "text", None) for block in content
             if getattr(block, "type", None) == "text"]
    if not all(isinstance(text, str) for text in texts):
        raise OcrError("Anthropic answered 200 with a text block whose text is not a string",
                       reason="bad_reply")
    return "".join(texts)


def _error_type(error: anthropic.APIStatusError) -> str:
    body = error.body if isinstance(error.body, dict) else {}
    detail = body.get("error") if isinstance(body.get("error"), dict) else body
    return str(detail.get("type") or "error") if isinstance(detail, dict) else "error"
