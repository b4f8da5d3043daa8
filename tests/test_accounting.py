"""Run accounting: failure records from concurrent jobs, statuses from receipts."""

from __future__ import annotations

import json
import multiprocessing

import pytest

from tiktok_research.accounting.status import classify, query_status
from tiktok_research.accounting.summarise import collect_statuses, read_failures
from tiktok_research.config import load
from tiktok_research.errors import SearchError
from tiktok_research.files import atomic_write_json
from tiktok_research.queries import Query
from tiktok_research.records import make_record
from tiktok_research.registry import Job
from tiktok_research.runtime.host import RunServices


def _record_many(output_dir: str, worker: int, count: int) -> None:
    config = load({"output_dir": output_dir})
    services = RunServices()
    for number in range(count):
        job = Job(task="download", key=str(1000 * worker + number), config=config,
                  context={"video_id": str(1000 * worker + number), "query_index": worker,
                           "query": f"q{worker}", "details": {"worker": worker,
                                                             "number": number}})
        job.services = services
        job.record(SearchError(f"worker {worker} failure {number}"))


def test_eight_concurrent_jobs_lose_no_failure_record(tmp_path):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_record_many, args=(str(tmp_path), worker, 25))
               for worker in range(8)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
        assert process.exitcode == 0
    records = read_failures(load({"output_dir": str(tmp_path)}))
    assert len(records) == 200
    assert {(r["details"]["worker"], r["details"]["number"]) for r in records} == {
        (w, n) for w in range(8) for n in range(25)}
    # Each worker's records come back in the order it made them.
    for worker in range(8):
        numbers = [r["details"]["number"] for r in records if r["details"]["worker"] == worker]
        assert numbers == list(range(25))


def test_record_shape_and_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789")
    record = make_record("process", "boom\nwith sk-ant-test-0123456789 inside",
                         video_id="123", url="http://x/@a/video/123", query_index=3, query="q",
                         attempt=2, details={"header": "x-api-key: sk-ant-test-0123456789"})
    assert set(record) == {"timestamp", "type", "query_index", "query", "video_id", "url",
                           "attempt", "error", "details"}
    text = json.dumps(record)
    assert "sk-ant-test-0123456789" not in text
    assert "\n" not in record["error"]


def test_unknown_type_is_refused():
    with pytest.raises(ValueError):
        make_record("weird", "x")


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        (["published", "published"], "success"),
        (["published", "unavailable"], "partial_success"),
        (["published", "download_failed"], "partial_success"),
        ([], "search_failed"),
        (["download_failed", "unavailable"], "download_failed"),
        (["unavailable"], "download_failed"),
        (["processing_failed", "download_failed"], "processing_failed"),
        (["upload_failed", "processing_failed"], "upload_failed"),
        (["error"], "error"),
        (["pending", "download_failed"], "pending"),
    ],
)
def test_classify(outcomes, expected):
    assert classify(outcomes) == expected


def test_a_video_without_receipt_takes_its_last_failure():
    query = Query(0, "alpha")
    entries = [{"video_id": "11"}, {"video_id": "12"}, {"video_id": "13"}]
    receipts = {"11": {"outcome": "published"},
                "12": {"outcome": "processing_failed", "reason": "no_audio_track",
                       "error": "no audio"}}
    failures = [make_record("download", "first", video_id="13"),
                make_record("upload", "then the upload", video_id="13")]
    status = query_status(query, entries, receipts, failures)
    assert status["videos"] == {
        "11": {"outcome": "published"},
        "12": {"outcome": "processing_failed", "reason": "no_audio_track", "error": "no audio"},
        "13": {"outcome": "upload_failed", "error": "then the upload"},
    }
    assert status["status"] == "partial_success"
    assert status["counts"]["failed"] == 2


def test_statuses_of_queries_outside_the_slice(tmp_path):
    (tmp_path / "list.csv").write_text("query\nalpha\nbeta\ngamma\n")
    out = tmp_path / "out"
    config = load({"research_list": str(tmp_path / "list.csv"), "output_dir": str(out),
                   "start": 2, "count": 1})
    # A previous run found one video for "alpha" and published it.
    atomic_write_json(out / "queries" / "query_00000_alpha" / "urls.json",
                      [{"video_id": "11", "url": "u", "query_index": 0, "query": "alpha"}])
    atomic_write_json(out / "videos" / "11" / ".uploaded",
                      {"video_id": "11", "outcome": "published"})
    queries = [Query(0, "alpha"), Query(1, "beta"), Query(2, "gamma")]
    statuses, _videos = collect_statuses(config, queries)
    assert [s["status"] for s in statuses] == ["success", "pending", "pending"]
    assert statuses[0]["counts"]["published"] == 1
