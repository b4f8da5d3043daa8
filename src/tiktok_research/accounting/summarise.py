"""The run's accounting, as two jobs of the workflow and one fallback.

- `summarise_query` (one job per query, once every video it found has its receipt): the query's
  `status.json`, its `links.json`, and `videos.json` (each video's outcome, step times and
  dataset row); it writes the query → video rows to the database, their only writer.
- `summarise_run` (the last job): `progress.json`, `failures.json` (from the failure records in
  the database), `costs.json` (from the cost records there), `report.html` and the dataset
  export, over every query that has a summary.
- `summarise_after_failure`: when a job failed for good, Snakemake runs no job that depends on
  it, so the run's end handler writes the same files from what the run left on this machine.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from tiktok_research.accounting.export import export_dataset
from tiktok_research.accounting.report import write_report
from tiktok_research.accounting.search import write_search_database
from tiktok_research.accounting.status import PENDING, progress_summary, query_status
from tiktok_research.costs import costs_document, one_line_summary
from tiktok_research.database import LINKS_TABLE, open_database
from tiktok_research.files import atomic_write_json, read_json
from tiktok_research.paths import OutputTree
from tiktok_research.publish.publish import publish_links
from tiktok_research.publish.republish import publish_to_destination
from tiktok_research.queries import Query
from tiktok_research.records import one_line, utc_now
from tiktok_research.registry import Job, Task
from tiktok_research.runtime.run import RUN_ENV

log = logging.getLogger("tiktok_research.accounting")


def _query(data: dict[str, Any]) -> Query:
    return Query(int(data["index"]), str(data["query"]), dict(data.get("meta") or {}))


def receipts_by_video(paths: list[str]) -> dict[str, dict[str, Any] | None]:
    """Each receipt by the video id its folder is named after."""
    return {Path(path).parent.name: read_json(path) for path in paths}


def query_videos(query: Query, entries: list[dict[str, Any]],
                 receipts: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """`videos.json`: for each video the query found, its outcome, position, step times and
    (published) dataset row."""
    videos = {}
    for entry in entries:
        video_id = str(entry.get("video_id"))
        receipt = receipts.get(video_id) or {}
        videos[video_id] = {
            "outcome": receipt.get("outcome", "published" if receipt else PENDING),
            "position": entry.get("position"),
            "reason": receipt.get("reason"),
            "retry_after": receipt.get("retry_after"),
            "rendition": ((receipt.get("dataset_row") or {}).get("rendition")),
            "timings": receipt.get("timings") or {},
            "dataset_row": receipt.get("dataset_row"),
            "passages": receipt.get("passages"),
            "gcs_prefix": (receipt.get("storage") or {}).get("prefix"),
        }
    return {"query_index": query.index, "query": query.text, "videos": videos}


def run_summarise_query(job: Job) -> dict[str, Any]:
    query = _query(job.params["query"])
    job.context.update(query_index=query.index, query=query.text)
    entries = read_json(job.inputs["urls"])
    if not isinstance(entries, list):
        raise ValueError(f"{job.inputs['urls']} is not a JSON list")
    receipts = receipts_by_video(list(job.inputs.get("receipts") or []))
    note = publish_to_destination(job.config, receipts)
    if note["copied"]:
        log.info("query %r: %d finished video(s) published before to another destination are "
                 "now published to this run's (%s, %s database) too, without processing them "
                 "again", query.text, len(note["copied"]), note["destination"]["storage"]["where"],
                 note["destination"]["database"]["backend"])
    status = query_status(query, entries, receipts, [])
    videos = query_videos(query, entries, receipts)
    published = [{"video_id": video_id, "position": video["position"],
                  "gcs_prefix": video["gcs_prefix"]}
                 for video_id, video in videos["videos"].items()
                 if video["outcome"] == "published" and video_id not in note["missing"]]
    rows = [{"query_index": query.index, "query": query.text, "video_id": item["video_id"],
             "position": item["position"]} for item in published]
    if rows:
        publish_links(job.config, rows)
    links = {"query_index": query.index, "query": query.text, "table": LINKS_TABLE,
             "links": published,
             "not_published": [video_id for video_id, video in videos["videos"].items()
                               if video["outcome"] != "published"],
             "linked_at": utc_now()}
    atomic_write_json(job.outputs["videos"], videos)
    atomic_write_json(job.outputs["links"], links)
    atomic_write_json(job.outputs["status"], status)
    if "destination" in job.outputs:
        atomic_write_json(job.outputs["destination"], note)
    log.info("query %r: %s, %d of %d videos published", query.text, status["status"],
             len(published), len(entries))
    return status


# The due time of a photo post that an earlier run skipped (without include_photo_posts): due
# as soon as the key is on.
PHOTO_POST_DUE = "00000000T000000Z"


def due_again(output_dir: str, query_dirs: list[str], now: str | None = None,
              photo_posts: bool = False) -> dict[str, str]:
    """Videos that a query's summary lists as unavailable for now (region locked, not found,
    an empty item) and whose time to be tried again has come: {video id: that time as
    20261203T100000Z}. With `photo_posts` (include_photo_posts), also the photo posts an earlier
    run skipped (reason photo_post), due at PHOTO_POST_DUE."""
    tree, now = OutputTree(output_dir), now or utc_now()
    due: dict[str, str] = {}
    for qdir in query_dirs:
        summary = read_json(tree.query_videos(qdir))
        videos = summary.get("videos") if isinstance(summary, dict) else None
        for video_id, video in (videos if isinstance(videos, dict) else {}).items():
            if not isinstance(video, dict) or video.get("outcome") != "unavailable":
                continue
            retry_after = video.get("retry_after")
            if isinstance(retry_after, str) and retry_after <= now:
                due.setdefault(video_id, re.sub(r"[^0-9TZ]", "", retry_after))
            elif photo_posts and video.get("reason") == "photo_post":
                due.setdefault(video_id, PHOTO_POST_DUE)
    return due


def pending_status(query: Query) -> dict[str, Any]:
    return {"index": query.index, "query": query.text, "meta": query.meta, "status": PENDING,
            "counts": {"found": 0}, "videos": {}, "last_error": None, "updated_at": utc_now()}


def read_failures(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Every failure record of the run's database (oldest first); none if it cannot be read."""
    database = None
    try:
        database = open_database(config)
        return database.failures()
    except Exception as error:
        log.error("failure records could not be read from the database: %s", one_line(error))
        return []
    finally:
        if database is not None:
            database.close()


def read_costs(config: dict[str, Any], run: str) -> dict[str, Any] | None:
    """`costs.json`'s document from the cost records of the run's database; None (and the
    reason in the log) if they cannot be read."""
    database = None
    try:
        database = open_database(config)
        return costs_document(database.cost_totals(), config, run)
    except Exception as error:
        log.error("cost records could not be read from the database: %s", one_line(error))
        return None
    finally:
        if database is not None:
            database.close()


def with_queries(failures: list[dict[str, Any]],
                 statuses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of a video's jobs, which know no query, with the queries that found the
    video: the first one in list order, and all of them in `details.queries`."""
    found_by: dict[str, list[tuple[int, str]]] = {}
    for status in sorted(statuses, key=lambda s: s["index"]):
        for video_id in status.get("videos") or {}:
            found_by.setdefault(video_id, []).append((status["index"], status["query"]))
    enriched = []
    for record in failures:
        queries = found_by.get(str(record.get("video_id")))
        if queries and record.get("query_index") is None:
            record = {**record, "query_index": queries[0][0], "query": queries[0][1],
                      "details": {**(record.get("details") or {}),
                                  "queries": [index for index, _text in queries]}}
        enriched.append(record)
    return enriched


def _write_costs(path: str, costs: dict[str, Any] | None) -> None:
    if costs is None:
        raise RuntimeError("the cost records could not be read (see the log)")
    atomic_write_json(path, costs)
    log.info("%s", one_line_summary(costs))


def write_summary(config: dict[str, Any], outputs: dict[str, str],
                  statuses: list[dict[str, Any]], videos: list[dict[str, Any]],
                  run: str = "") -> dict:
    """progress.json, failures.json, costs.json, the report and the export, each tried even if
    another fails (a broken report never hides the status)."""
    failures = with_queries(read_failures(config), statuses)
    costs = read_costs(config, run)
    progress = progress_summary(statuses)
    steps = (
        ("progress", lambda: atomic_write_json(outputs["progress"], progress)),
        ("failures", lambda: atomic_write_json(outputs["failures"], failures)),
        ("costs", lambda: _write_costs(outputs["costs"], costs)),
        ("report", lambda: write_report(outputs["report"], config["output_dir"], statuses,
                                        videos, failures, costs)),
        ("dataset", lambda: export_dataset(videos, outputs["parquet"], outputs["csv"])),
        ("searchable dataset", lambda: write_search_database(videos, outputs["sqlite"])),
    )
    problems = []
    for name, step in steps:
        try:
            step()
        except Exception as error:
            log.exception("writing %s failed", name)
            problems.append(f"{name}: {one_line(error)}")
    if problems:
        raise RuntimeError("; ".join(problems))
    return progress


def run_summarise_run(job: Job) -> dict[str, Any]:
    """The run summary over every query of the list: those with a summary (this run's and
    earlier runs'), the rest pending."""
    by_index = {}
    for path in job.inputs.get("statuses") or []:
        status = read_json(path)
        if isinstance(status, dict):
            by_index[(status.get("index"), status.get("query"))] = status
    statuses = []
    for data in job.params["queries"]:
        query = _query(data)
        statuses.append(by_index.get((query.index, query.text)) or pending_status(query))
    videos = [doc for doc in (read_json(path) for path in job.inputs.get("videos") or [])
              if isinstance(doc, dict)]
    return write_summary(job.config, job.outputs, statuses, videos, job.run)


def summary_outputs(tree: OutputTree) -> dict[str, str]:
    return {"progress": tree.progress(), "failures": tree.failures(), "costs": tree.costs(),
            "report": tree.report(),
            "parquet": tree.dataset("parquet"), "csv": tree.dataset("csv"),
            "sqlite": tree.dataset("sqlite")}


def collect_statuses(config: dict[str, Any], queries: list[Query]
                     ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Statuses and videos documents of `queries` from the files in the output folder: a
    query's summary where it is complete, else what its urls.json and its videos' receipts
    say, with the failure records for videos that have no receipt."""
    tree = OutputTree(config["output_dir"])
    failures = read_failures(config)
    statuses, videos = [], []
    for query in queries:
        summary = read_json(tree.status(query.dirname))
        document = read_json(tree.query_videos(query.dirname))
        if Path(tree.links(query.dirname)).exists() and isinstance(summary, dict) \
                and isinstance(document, dict):
            statuses.append(summary)
            videos.append(document)
            continue
        entries = read_json(tree.urls(query.dirname))
        entries = entries if isinstance(entries, list) else None
        receipts = {str(entry.get("video_id")): read_json(tree.receipt(str(entry.get("video_id"))))
                    for entry in entries or []}
        statuses.append(query_status(query, entries, receipts, failures))
        videos.append(query_videos(query, entries or [], receipts))
    return statuses, videos


def summarise_after_failure(config: dict[str, Any], queries: list[Query]) -> dict[str, Any]:
    """The run summary when a job failed for good: from the files on this machine, the status
    of each query whose summary job did not run written too."""
    tree = OutputTree(config["output_dir"])
    statuses, videos = collect_statuses(config, queries)
    for status in statuses:
        query = Query(status["index"], status["query"])
        if Path(tree.query_dir(query.dirname)).is_dir() \
                and not Path(tree.links(query.dirname)).exists():
            atomic_write_json(tree.status(query.dirname), status)
    return write_summary(config, summary_outputs(tree), statuses, videos,
                         os.environ.get(RUN_ENV, ""))


SUMMARISE_QUERY = Task("summarise_query", run_summarise_query, failure_type="upload")
SUMMARISE_RUN = Task("summarise_run", run_summarise_run, failure_type="error")
