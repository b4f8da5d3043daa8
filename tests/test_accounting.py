"""Run accounting: failure records under concurrency, statuses from files on disk."""

from __future__ import annotations

import json
import multiprocessing

import pytest

from tiktok_research.accounting import classify, write_run_status
from tiktok_research.failures import make_record, read_failures, record_failure
from tiktok_research.files import atomic_write_json


def _append_many(output_dir: str, worker: int, count: int) -> None:
    for number in range(count):
        record_failure(output_dir, "download", f"worker {worker} failure {number}",
                       video_id=str(1000 * worker + number), query_index=worker, query=f"q{worker}",
                       attempt=1, details={"worker": worker, "number": number})


def test_eight_concurrent_writers_lose_nothing(tmp_path):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(str(tmp_path), worker, 25))
               for worker in range(8)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
        assert process.exitcode == 0
    records = json.loads((tmp_path / "failures.json").read_text())
    assert len(records) == 200
    assert {(r["details"]["worker"], r["details"]["number"]) for r in records} == {
        (w, n) for w in range(8) for n in range(25)}


def test_record_shape_and_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789")
    record_failure(tmp_path, "process", "boom\nwith sk-ant-test-0123456789 inside",
                   video_id="123", url="http://x/@a/video/123", query_index=3, query="q",
                   attempt=2, details={"header": "x-api-key: sk-ant-test-0123456789"})
    [record] = read_failures(tmp_path)
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
        ({"1": "published", "2": "published"}, "success"),
        ({"1": "published", "2": "unavailable"}, "partial_success"),
        ({"1": "published", "2": "download_failed"}, "partial_success"),
        ({}, "search_failed"),
        ({"1": "download_failed", "2": "unavailable"}, "download_failed"),
        ({"1": "unavailable"}, "download_failed"),
        ({"1": "processing_failed", "2": "download_failed"}, "processing_failed"),
        ({"1": "upload_failed", "2": "processing_failed"}, "upload_failed"),
        ({"1": "error"}, "error"),
        ({"1": "pending", "2": "download_failed"}, "pending"),
    ],
)
def test_classify(outcomes, expected):
    assert classify(outcomes) == expected


def test_status_for_queries_outside_the_slice(tmp_path):
    (tmp_path / "list.csv").write_text("query\nalpha\nbeta\ngamma\n")
    out = tmp_path / "out"
    from tiktok_research.config import load

    config = load({"research_list": str(tmp_path / "list.csv"), "output_dir": str(out),
                   "start": 2, "count": 1})
    # A previous run finished "alpha": one video published.
    atomic_write_json(out / "queries" / "query_00000_alpha" / "urls.json",
                      [{"video_id": "11", "url": "u", "query_index": 0, "query": "alpha"}])
    atomic_write_json(out / "videos" / "11" / ".uploaded", {"video_id": "11"})
    progress = write_run_status(config)
    assert progress["processed_queries"] == ["0:alpha"]
    assert progress["stats"]["success"] == 1
    status = json.loads((out / "queries" / "query_00000_alpha" / "status.json").read_text())
    assert status["status"] == "success"
    assert status["counts"]["published"] == 1
