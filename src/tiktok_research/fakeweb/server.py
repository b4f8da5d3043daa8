"""The local fake web with every fake service: Serper, TikTok's pages and CDN, the Anthropic
Messages API and Supabase's PostgREST (`services.SERVICES`), on one threaded HTTP server. The
demo and the tests start it; faults are injected with `web.fail(...)`."""

from __future__ import annotations

from pathlib import Path

from tiktok_research.fakeweb.catalog import Catalog
from tiktok_research.fakeweb.services import SERVICES
from tiktok_research.fakeweb.web import Fault, Request, Response, Web, fault_response


class FakeWeb(Web):
    def __init__(self, catalog: Catalog | None = None, host: str = "127.0.0.1", port: int = 0,
                 media_dir: Path | None = None) -> None:
        super().__init__(catalog, host, port, media_dir, services=SERVICES)


__all__ = ["Fault", "FakeWeb", "Request", "Response", "fault_response"]
