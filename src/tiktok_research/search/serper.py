"""Serper's Google video search over HTTP: requests with retries, paging until enough links.

Parsing the replies is `search.links` (pure).
"""

from __future__ import annotations

from typing import Any

import httpx
import tenacity

from tiktok_research.config import redact
from tiktok_research.errors import SearchAuthError, SearchError
from tiktok_research.registry import FREE, Meter
from tiktok_research.search.links import Hosts, Resolve, VideoLink, links_from_response

RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class RetryableSearchError(SearchError):
    """429, 5xx or a network error: worth another try (the client's own retries)."""


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
        message = body.get("message") if isinstance(body, dict) else None
    except ValueError:
        message = None
    return str(message or response.text[:200] or response.reason_phrase).strip()


class SerperClient:
    """POST {base_url}/videos with retries (tenacity) on 429, 5xx and network errors.

    Each search asks `meter` first (a used-up budget stops it before any request) and reports
    the credits its answer says it cost (`"credits"`; 1 when the answer does not say)."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        gl: str = "us",
        hl: str = "en",
        attempts: int = 4,
        backoff_seconds: float = 2.0,
        timeout: float,
        meter: Meter = FREE,
    ) -> None:
        self.meter = meter
        self.gl, self.hl = gl, hl
        self.attempts, self.backoff_seconds = attempts, backoff_seconds
        self.requests_made = 0
        self._http = httpx.Client(
            base_url=base_url,  # httpx joins "/videos" onto it with or without a final "/"
            headers={"X-API-KEY": api_key},  # and a JSON body's Content-Type
            timeout=timeout,
        )

    def __enter__(self) -> SerperClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.close()

    def _request_once(self, query: str, num: int, page: int) -> dict[str, Any]:
        self.requests_made += 1
        body = {"q": query, "gl": self.gl, "hl": self.hl, "num": num, "page": page}
        try:
            response = self._http.post("/videos", json=body)
        except httpx.HTTPError as error:
            raise RetryableSearchError(
                f"network error talking to Serper: {redact(str(error))}"
            ) from None
        if response.status_code == 403:
            raise SearchAuthError(
                f"Serper answered 403 ({_error_message(response)}): "
                "the API key is missing or wrong; check SERPER_API_KEY", reason="auth"
            )
        if response.status_code == 400 and "credit" in _error_message(response).lower():
            raise SearchAuthError(
                f"Serper answered 400 ({_error_message(response)}): the account behind "
                "SERPER_API_KEY has no credits left", reason="no_credits"
            )
        if response.status_code in RETRYABLE_STATUS:
            raise RetryableSearchError(
                f"Serper answered {response.status_code} ({_error_message(response)})"
            )
        if response.status_code != 200:
            raise SearchError(
                f"Serper answered {response.status_code} ({_error_message(response)})",
                retryable=False, reason=f"http_{response.status_code}"
            )
        try:
            payload = response.json()
        except ValueError:
            raise RetryableSearchError("Serper answered 200 with a body that is not JSON") from None
        if not isinstance(payload, dict):
            raise RetryableSearchError("Serper answered 200 with JSON that is not an object")
        videos = payload.get("videos")
        if videos is not None and not isinstance(videos, list):
            raise RetryableSearchError(f"Serper answered 200 with 'videos' as "
                                       f"{type(videos).__name__}, not a list")
        credits = payload.get("credits")
        valid = isinstance(credits, int) and not isinstance(credits, bool) and credits >= 0
        self.meter.spend("serper", requests=1, credits=credits if valid else 1)
        return payload

    def search_page(self, query: str, num: int, page: int) -> dict[str, Any]:
        self.meter.check_budget("serper")
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(RetryableSearchError),
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=tenacity.wait_exponential(multiplier=self.backoff_seconds),  # b, 2b, 4b
            reraise=True,
        )
        try:
            return retrying(self._request_once, query, num, page)
        except RetryableSearchError as error:
            raise SearchError(f"{error} — gave up after {self.attempts} attempts",
                              reason="exhausted") from None


def search_videos(
    client: SerperClient,
    query: str,
    hosts: Hosts,
    max_results: int,
    *,
    page_size: int,
    max_pages: int,
    short_hosts: Hosts = (),
    resolve: Resolve | None = None,
) -> list[VideoLink]:
    """Page through results until `max_results` unique item links or the results run out.

    Short links are resolved with `resolve` (`search.shortlinks`); without it they are
    skipped."""
    seen: set[str] = set()
    links: list[VideoLink] = []
    for page in range(1, max_pages + 1):
        payload = client.search_page(query, page_size, page)
        videos = payload.get("videos") or []
        links.extend(links_from_response(payload, hosts, seen, first_position=len(links) + 1,
                                         short_hosts=short_hosts, resolve=resolve,
                                         limit=max_results - len(links)))
        if len(links) >= max_results or len(videos) < page_size:
            break
    return links[:max_results]
