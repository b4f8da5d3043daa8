"""The search job: one query → its `urls.json` (the checkpoint `search_videos`)."""

from __future__ import annotations

import logging
from typing import Any

from tiktok_research.config import require_secret
from tiktok_research.errors import SearchError
from tiktok_research.files import atomic_write_json
from tiktok_research.registry import Job, Task
from tiktok_research.search.serper import SerperClient, search_videos

log = logging.getLogger("tiktok_research.search")


def run_search(job: Job) -> list[dict[str, Any]]:
    """Search the query `job.params["query"]` and write its links to `job.outputs["urls"]`.

    Zero links is a result (the query's status becomes search_failed) and is recorded; an error
    after the client's retries fails the job."""
    query, config = job.params["query"], job.config
    serper = config["serper"]
    job.context.update(query_index=query["index"], query=query["query"])
    api_key = require_secret("SERPER_API_KEY", "the search stage (Serper)")
    with SerperClient(api_key, serper["base_url"], gl=serper["gl"], hl=serper["hl"],
                      backoff_seconds=serper["backoff_seconds"]) as client:
        links = search_videos(client, query["query"], config["tiktok"]["hosts"],
                              config["max_results"], page_size=serper["page_size"],
                              max_pages=serper["max_pages"])
        requests_made = client.requests_made
    entries = [dict(link.as_dict(), query_index=query["index"], query=query["query"])
               for link in links]
    atomic_write_json(job.outputs["urls"], entries)
    log.info("query %r: %d video links after %d requests", query["query"], len(entries),
             requests_made)
    if not entries:
        job.record(SearchError("no TikTok video links in the results", reason="no_results",
                               details={"requests": requests_made}))
    return entries


TASK = Task("search", run_search, failure_type="search")
