"""Cost accounting: every paid call is a cost record in the run's database, `costs.json` sums
them per run and for the study, and a `budget` stops new paid calls with a recorded reason."""

from __future__ import annotations

import json
import random

import pytest
from rich.console import Console
from support.workflow import base_config, run_snakemake, write_research_list

from tiktok_research import config as config_module
from tiktok_research import costs
from tiktok_research.cli import print_status
from tiktok_research.database import open_database
from tiktok_research.database import supabase as supabase_backend
from tiktok_research.errors import BudgetExhausted
from tiktok_research.fakeweb.catalog import Catalog, make_video
from tiktok_research.fakeweb.media import ensure_media
from tiktok_research.fakeweb.server import FakeWeb
from tiktok_research.process.ocr.claude import ClaudeOcrEngine
from tiktok_research.records import with_identity
from tiktok_research.registry import Job, Services

pytest_plugins = ["support.postgres"]  # the fixtures

PRICES = {"currency": "EUR", "serper_per_credit": 0.001,
          "anthropic_per_million_tokens": {"claude-haiku-4-5": {"input": 1.0, "output": 5.0}}}


def records() -> list[dict]:
    """Two runs: a Serper search in each, Claude requests of two models, one upload."""
    made = [
        costs.cost_record("serper", run="run-1", task="search", credits=1, requests=1,
                          context={"query_index": 0, "query": "ramen"}),
        costs.cost_record("anthropic", run="run-1", task="process", model="claude-haiku-4-5",
                          requests=1, input_tokens=1500, output_tokens=100,
                          context={"video_id": "7"}),
        costs.cost_record("anthropic", run="run-1", task="process", model="claude-haiku-4-5",
                          requests=1, input_tokens=500, output_tokens=20),
        costs.cost_record("storage", run="run-1", task="process", requests=5, bytes=2_500_000),
        costs.cost_record("serper", run="run-2", task="search", credits=2, requests=1),
        costs.cost_record("anthropic", run="run-2", task="process", model="claude-new",
                          requests=1, input_tokens=1000, output_tokens=1000),
    ]
    base = 1_767_000_000_000_000_000
    return [dict(with_identity(record), seq=base + index) for index, record in enumerate(made)]


def test_costs_json_sums_each_run_and_the_study_and_prices_the_tokens():
    document = costs.costs_document(costs.group_costs(records()), {"costs": PRICES}, "run-2")
    study = document["study"]
    assert study["serper"] == {"requests": 2, "credits": 3}
    assert study["anthropic"]["input_tokens"] == 3000
    assert study["anthropic"]["output_tokens"] == 1120
    assert study["anthropic"]["by_model"]["claude-haiku-4-5"] == {
        "requests": 2, "input_tokens": 2000, "output_tokens": 120}
    assert study["storage"] == {"requests": 5, "bytes": 2_500_000}
    # 3 credits × 0.001 + (2000 × 1 + 120 × 5) / 1e6; claude-new has no price: counted as 0.
    assert study["amount"] == pytest.approx(0.003 + 0.0026)
    assert study["unpriced_models"] == ["claude-new"] and study["currency"] == "EUR"
    assert document["this_run"]["serper"]["credits"] == 2
    assert document["this_run"]["amount"] == pytest.approx(0.002)
    assert [run["run"] for run in document["runs"]] == ["run-1", "run-2"]
    assert document["runs"][0]["amount"] == pytest.approx(0.001 + 0.0026)
    assert document["budget"]["exhausted"] == {}
    line = costs.one_line_summary(document)
    assert "3 Serper credits" in line and "3000+1120 Claude tokens" in line
    assert "2.5 MB published" in line and "this run" in line


def test_a_used_up_budget_names_its_key_and_stops_only_what_it_covers():
    groups = costs.group_costs(records())
    by_credits = {"costs": PRICES, "budget": {"serper_credits": 3, "amount": None}}
    with pytest.raises(BudgetExhausted) as stopped:
        costs.check_budget(groups, "serper", by_credits)
    assert stopped.value.kind == "search" and stopped.value.reason == "budget_exhausted"
    assert not stopped.value.retryable
    assert "budget.serper_credits" in str(stopped.value) and "3 of 3" in str(stopped.value)
    costs.check_budget(groups, "anthropic", by_credits)  # credits say nothing about Claude
    costs.check_budget(groups, "serper", {**by_credits, "budget": {"serper_credits": 4}})
    by_amount = {"costs": PRICES, "budget": {"serper_credits": None, "amount": 0.005}}
    with pytest.raises(BudgetExhausted) as stopped:
        costs.check_budget(groups, "anthropic", by_amount)
    assert stopped.value.kind == "process" and "budget.amount" in str(stopped.value)
    costs.check_budget(groups, "storage", by_amount)  # uploads are never stopped
    document = costs.costs_document(groups, by_amount, "run-2")
    assert set(document["budget"]["exhausted"]) == {"serper", "anthropic"}
    assert "budget used up" in costs.one_line_summary(document)


def test_every_figure_of_costs_json_adds_up_across_runs_and_has_its_default():
    """Pinned field by field: the document a researcher (and a later run) reads."""
    prices = {"currency": "EUR", "anthropic_per_million_tokens": {
        "claude-haiku-4-5": {"input": 0.8, "output": 4.0}}}  # no Serper price: counted as 0
    made = [dict(record, timestamp=stamp) for record, stamp in zip(records(), (
        "2026-12-01T10:00:00Z", "2026-12-01T10:05:00Z", "2026-12-01T09:59:00Z",
        "2026-12-01T10:01:00Z", "2026-12-02T08:00:00Z", "2026-12-02T08:30:00Z"), strict=True)]
    made += [dict(costs.cost_record("anthropic", run="run-2", model="claude-haiku-4-5",
                                    requests=1, input_tokens=100, output_tokens=10),
                  timestamp="2026-12-02T08:10:00Z"),
             dict(costs.cost_record("storage", run="run-2", requests=2, bytes=500),
                  timestamp="2026-12-02T08:20:00Z"),
             {"run": "run-2", "service": "anthropic", "model": None, "requests": 1,
              "timestamp": "2026-12-02T08:01:00Z"}]
    groups = costs.group_costs(made)
    first_run = [group for group in groups if group["run"] == "run-1"]
    assert {group["service"]: (group["first"], group["last"]) for group in first_run} == {
        "serper": ("2026-12-01T10:00:00Z",) * 2, "storage": ("2026-12-01T10:01:00Z",) * 2,
        "anthropic": ("2026-12-01T09:59:00Z", "2026-12-01T10:05:00Z")}
    config = {"costs": prices, "budget": {"serper_credits": 10, "amount": None}}
    document = costs.costs_document(groups[::-1], config, "run-2")  # runs in time order
    study = document["study"]
    assert study["anthropic"]["by_model"] == {
        "claude-haiku-4-5": {"requests": 3, "input_tokens": 2100, "output_tokens": 130},
        "claude-new": {"requests": 1, "input_tokens": 1000, "output_tokens": 1000},
        "unknown": {"requests": 1, "input_tokens": 0, "output_tokens": 0}}
    assert study["storage"] == {"requests": 7, "bytes": 2_500_500}
    assert study["unpriced_models"] == ["claude-new", "unknown"]
    assert study["amount"] == round((2100 * 0.8 + 130 * 4.0) / 1e6, 6) == 0.0022
    assert (document["currency"], document["run"], document["prices"]) == ("EUR", "run-2",
                                                                           prices)
    assert [(run["run"], run["from"], run["to"]) for run in document["runs"]] == [
        ("run-1", "2026-12-01T09:59:00Z", "2026-12-01T10:05:00Z"),
        ("run-2", "2026-12-02T08:00:00Z", "2026-12-02T08:30:00Z")]
    assert document["budget"] == {"serper_credits": 10, "amount": None, "exhausted": {}}
    assert costs.summary([], {})["currency"] == "USD"
    line = costs.one_line_summary(document)
    assert line.startswith("Costs of the study: 3 Serper credits, 3100+1130 Claude tokens")
    spent = costs.costs_document(groups, {"costs": prices, "budget": {"amount": 0.0022}}, "")
    assert spent["budget"]["amount"] == 0.0022
    assert costs.one_line_summary(spent) == line.split(" (this run")[0] + (
        "; budget used up: budget.amount is used up: the study has spent an estimated 0.0022 of "
        "0.0022 EUR")  # once, though it stops both services
    assert "this run" not in costs.one_line_summary(spent)


def test_a_job_checks_the_budget_only_when_one_is_set():
    """Either limit alone is a budget; none at all costs no reading."""
    for budget in ({"serper_credits": 1}, {"amount": 0.001}):
        job = Job(task="search", key="q", config={"costs": PRICES, "budget": budget}).bind(
            None, Services())  # type: ignore[arg-type]
        job.check_budget("serper")
        job.spend("serper", requests=1, credits=1)
        with pytest.raises(BudgetExhausted, match="raise the budget in the config to go on"):
            job.check_budget("serper")
    unlimited = Job(task="search", key="q", config={"budget": {}}).bind(
        None, Services())  # type: ignore[arg-type]
    unlimited.services.spent.append({"service": "serper"})  # unreadable: never read
    unlimited.check_budget("serper")


def check_costs_round_trip(open_backend) -> None:
    """Stored out of order and one record twice; summed per run, service and model."""
    made = records()
    database = open_backend()
    assert database.cost_totals() == []
    database.add_costs(made[3:])
    database.add_costs(made[:4])  # made[3] again: stored once
    expected = sorted(costs.group_costs(made), key=lambda g: (g["run"], g["service"],
                                                              str(g["model"])))
    database.close()
    again = open_backend()
    stored = sorted(again.cost_totals(), key=lambda g: (g["run"], g["service"], str(g["model"])))
    again.close()
    assert stored == expected
    assert stored[0]["first"] <= stored[0]["last"]


def test_sqlite_costs_round_trip(tmp_path):
    config = {"database": {"backend": "sqlite", "sqlite_path": str(tmp_path / "r.sqlite")}}
    check_costs_round_trip(lambda: open_database(config))


def test_postgres_costs_round_trip(postgres_dsn, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", postgres_dsn)
    check_costs_round_trip(lambda: open_database({"database": {"backend": "postgres"}}))


def test_supabase_costs_round_trip_page_by_page(supabase, monkeypatch):
    monkeypatch.setattr(supabase_backend, "PAGE_ROWS", 2)
    check_costs_round_trip(lambda: open_database({"database": {"backend": "supabase"}}))


def test_claude_asks_the_budget_before_each_request_and_reports_each_reply(fake_web, tmp_path,
                                                                             monkeypatch):
    """A Claude engine on a job's meter: each reply's tokens are a cost record of the job; once
    the budget is used up the next frame is not sent."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-anthropic-key")
    frame = tmp_path / "frame.jpg"
    frame.write_bytes(make_jpeg())
    config = {"costs": PRICES, "budget": {"serper_credits": None, "amount": 0.0005}}
    job = Job(task="process", key="7", config=config, run="run-9",
              context={"video_id": "7"}).bind(None, Services())  # type: ignore[arg-type]
    engine = ClaudeOcrEngine(base_url=fake_web.base_url, max_retries=0, meter=job)
    engine.read(frame)
    [spent] = job.services.spent
    billed = fake_web.state["anthropic_usage"]
    assert (spent["service"], spent["model"], spent["video_id"], spent["run"]) == (
        "anthropic", "claude-haiku-4-5", "7", "run-9")
    assert (spent["input_tokens"], spent["output_tokens"]) == (
        billed["input_tokens"], billed["output_tokens"])
    for _ in range(50):  # each request costs about 0.0001: a few more fit
        try:
            engine.read(frame)
        except BudgetExhausted as error:
            assert error.kind == "process"
            break
    else:
        pytest.fail("50 requests and the budget never stopped one")
    assert billed["requests"] == len(job.services.spent)
    spent_amount = costs.summary(costs.group_costs(job.services.spent), config)["amount"]
    assert spent_amount >= 0.0005
    assert spent_amount - spent["input_tokens"] / 1e6 - 5 * spent["output_tokens"] / 1e6 < 0.0005


def make_jpeg() -> bytes:
    import cv2
    import numpy as np

    image = np.full((120, 200, 3), 255, dtype=np.uint8)
    cv2.putText(image, "SALE", (20, 70), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 0, 0), 3)
    return cv2.imencode(".jpg", image)[1].tobytes()


# --- the workflow: costs.json against what the fakes served, and a budget stopping it -----------
QUERIES = ["cost query one", "cost query two", "cost query three"]


def study_catalog() -> Catalog:
    rng = random.Random(23)
    made = Catalog()
    for query in QUERIES:
        group = [made.add(make_video(rng, "food", kind="ok", scenes=2, duration=6.0))
                 for _ in range(2)]
        made.query_results[query] = [video.video_id for video in group]
    return made


def read_json(path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_costs_json_matches_what_the_fakes_served_and_a_budget_stops_new_calls(tmp_path):
    made = study_catalog()
    ensure_media(list(made.videos.values()))
    out = tmp_path / "output"
    env = {"ANTHROPIC_API_KEY": "test-anthropic-key"}
    with FakeWeb(made) as web:
        config = base_config(web.host, max_results=2,
                             ocr={"engine": "claude", "base_url": web.base_url},
                             costs=PRICES)
        # Run 1: two queries, no budget. costs.json says what the fakes billed.
        write_research_list(tmp_path, QUERIES[:2])
        first = run_snakemake(tmp_path, config, env=env)
        assert first.returncode == 0, first.stderr[-3000:]
        billed = dict(web.state["anthropic_usage"])
        credits_served = web.state["serper_credits_used"]
        document = read_json(out / "costs.json")
        study = document["study"]
        assert study["serper"]["credits"] == credits_served == 2
        assert study["anthropic"]["requests"] == billed["requests"] > 0
        assert study["anthropic"]["input_tokens"] == billed["input_tokens"]
        assert study["anthropic"]["output_tokens"] == billed["output_tokens"]
        published = sum(obj["size"] for video_id in made.videos
                        if (out / "videos" / video_id / ".uploaded").exists()
                        for obj in read_json(out / "videos" / video_id / ".uploaded")["objects"])
        assert study["storage"]["bytes"] == published > 0
        assert document["this_run"] == study and len(document["runs"]) == 1
        assert study["currency"] == "EUR" and study["amount"] > 0.002

        # Run 2: a third query, the Serper credits used up. No search is sent; the search job
        # fails with the reason recorded; nothing else is touched.
        write_research_list(tmp_path, QUERIES)
        limited = {**config, "budget": {"serper_credits": credits_served}}
        second = run_snakemake(tmp_path, limited, "--keep-going", env=env)
        assert second.returncode != 0
        assert "budget.serper_credits is used up" in second.stderr
        assert "tiktok-research: Costs of the study: 2 Serper credits" in second.stderr
        assert web.state["serper_credits_used"] == credits_served
        failures = read_json(out / "failures.json")
        stopped = [r for r in failures if r["details"].get("reason") == "budget_exhausted"]
        assert [(r["type"], r["query"]) for r in stopped] == [("search", QUERIES[2])]
        document = read_json(out / "costs.json")
        assert "serper" in document["budget"]["exhausted"]
        assert document["study"] == study  # nothing spent

        # Run 3: credits unlimited, the amount just above what was spent: the search (0.001)
        # goes through and leaves nothing for Claude, so the new videos are not OCR'd.
        amount = {**config, "budget": {"serper_credits": None,
                                       "amount": study["amount"] + 0.0005}}
        third = run_snakemake(tmp_path, amount, "--keep-going", env=env)
        assert third.returncode != 0
        assert web.state["serper_credits_used"] == credits_served + 1
        assert web.state["anthropic_usage"] == billed  # no new Claude request
        failures = read_json(out / "failures.json")
        stopped = [r for r in failures if r["details"].get("reason") == "budget_exhausted"
                   and r["type"] == "process"]
        new_videos = set(made.query_results[QUERIES[2]])
        assert {r["video_id"] for r in stopped} == new_videos
        assert all("budget.amount is used up" in r["error"] for r in stopped)
        document = read_json(out / "costs.json")
        assert document["study"]["serper"]["credits"] == 3
        assert "anthropic" in document["budget"]["exhausted"]
        assert len(document["runs"]) == 2  # run 2 spent nothing, so it has no costs
        assert document["this_run"]["serper"]["credits"] == 1
        for video_id in new_videos:
            assert not (out / "videos" / video_id / ".uploaded").exists()
        # The report and the status table say so too.
        report = (out / "report.html").read_text(encoding="utf-8")
        assert "<h2>Costs</h2>" in report and "budget.amount is used up" in report
        console = Console(record=True, width=300)
        print_status(config_module.load({**amount, "output_dir": str(out),
                                         "research_list": str(tmp_path / "research_list.csv")}),
                     console)
        status = console.export_text()
        assert "Costs of the study: 3 Serper credits" in status
        assert "budget used up: budget.amount is used up" in status
