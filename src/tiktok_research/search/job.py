"""The search job: one query → its `urls.json` (the checkpoint `search_videos`)."""

from __future__ import annotations

import logging
from typing import Any

from tiktok_research.config import require_secret
from tiktok_research.errors import SearchError
from tiktok_research.files import atomic_write_json
from tiktok_research.privacy import pseudonymiser
from tiktok_research.registry import Job, Task
from tiktok_research.search.serper import SerperClient, search_videos
from tiktok_research.search.shortlinks import ShortLinkResolver

log = logging.getLogger("tiktok_research.search")


def run_search(job: Job) -> list[dict[str, Any]]:
    """Search the query `job.params["query"]` and write its links to `job.outputs["urls"]`:
    one entry per item, its URL normalised (`search.links`), short links resolved (those that
    cannot be are dropped and counted in the log), photo posts kept with `"kind": "photo"`.
    In a pseudonymised study (`privacy.pseudonymise`) the entries name nobody
    (`Pseudonymiser.link`).

    Zero links is a result (the query's status becomes search_failed) and is recorded; an error
    after the client's retries fails the job."""
    query, config = job.params["query"], job.config
    serper, tiktok = config["serper"], config["tiktok"]
    job.context.update(query_index=query["index"], query=query["query"])
    api_key = require_secret("SERPER_API_KEY", "the search stage (Serper)")
    study = pseudonymiser(config)
    with (SerperClient(api_key, serper["base_url"], gl=serper["gl"], hl=serper["hl"],
                       backoff_seconds=serper["backoff_seconds"],
                       timeout=serper["timeout_seconds"], meter=job) as client,
          ShortLinkResolver(tiktok["hosts"], tiktok["short_link_hosts"],
                            timeout=tiktok["short_link_timeout_seconds"]) as resolver):
        links = search_videos(client, query["query"], tiktok["hosts"], config["max_results"],
                              page_size=serper["page_size"], max_pages=serper["max_pages"],
                              short_hosts=tiktok["short_link_hosts"], resolve=resolver.resolve)
        requests_made = client.requests_made
    if resolver.results:
        log.info("query %r: %d short links resolved, %d dropped (unresolvable)", query["query"],
                 len(resolver.results) - len(resolver.dropped), len(resolver.dropped))
    entries = [dict(link.as_dict(), query_index=query["index"], query=query["query"])
               for link in links]
    if study is not None:
        entries = [study.link(entry) for entry in entries]
    atomic_write_json(job.outputs["urls"], entries)
    photos = sum(entry["kind"] == "photo" for entry in entries)
    log.info("query %r: %d links (%d photo posts) after %d requests", query["query"],
             len(entries), photos, requests_made)
    if not entries:
        job.record(SearchError("no TikTok video links in the results", reason="no_results",
                               details={"requests": requests_made}))
    return entries


TASK = Task("search", run_search, failure_type="search")
