"""The search job: one query → `urls.json`, failures recorded in `failures.json`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tiktok_research.config import MissingSecret, require_secret
from tiktok_research.failures import record_failure
from tiktok_research.files import atomic_write_json
from tiktok_research.search import SearchAuthError, SearchError, SerperClient, search_videos

log = logging.getLogger("tiktok_research.search")


def run_search(query: dict[str, Any], config: dict[str, Any], urls_path: str | Path,
               attempt: int = 1) -> list[dict[str, Any]]:
    """Search one query and write its links atomically; on failure record it and re-raise."""
    serper = config["serper"]
    fields = {"query_index": query["index"], "query": query["query"], "attempt": attempt}
    try:
        api_key = require_secret("SERPER_API_KEY", "the search stage (Serper)")
        with SerperClient(
            api_key,
            serper["base_url"],
            gl=serper["gl"],
            hl=serper["hl"],
            backoff_seconds=serper["backoff_seconds"],
        ) as client:
            links = search_videos(
                client,
                query["query"],
                config["tiktok"]["hosts"],
                config["max_results"],
                page_size=serper["page_size"],
                max_pages=serper["max_pages"],
            )
            requests_made = client.requests_made
    except (MissingSecret, SearchAuthError, SearchError) as error:
        kind = "auth" if isinstance(error, (MissingSecret, SearchAuthError)) else "exhausted"
        record_failure(config["output_dir"], "search", error, details={"cause": kind}, **fields)
        log.error("search failed for %r: %s", query["query"], error)
        raise
    entries = [dict(link.as_dict(), query_index=query["index"], query=query["query"])
               for link in links]
    atomic_write_json(urls_path, entries)
    log.info("query %r: %d video links after %d requests", query["query"], len(entries),
             requests_made)
    if not entries:
        record_failure(config["output_dir"], "search", "no TikTok video links in the results",
                       details={"cause": "no_results", "requests": requests_made}, **fields)
    return entries
