"""What a study's paid calls cost, and whether its budget allows another.

A stage reports each paid call to its job (`job.spend("serper", credits=1)` after a Serper
reply, `job.spend("anthropic", model=..., input_tokens=..., output_tokens=...)` after a Claude
reply, `job.spend("storage", bytes=...)` after a video's upload). The runtime stores one cost
record per call in the run's database (table `pipeline_costs`), so the totals hold across
runs and across jobs running at once:

    {"timestamp": "2026-12-03T07:00:00Z", "run": "snakemake-123-...", "task": "search",
     "service": "serper", "model": null, "query_index": 3, "query": "...", "video_id": null,
     "requests": 1, "credits": 1, "input_tokens": 0, "output_tokens": 0, "bytes": 0}

Before each paid call a stage asks `job.check_budget(service)`: past `budget.serper_credits`
(Serper) or `budget.amount` (both services, in `costs.currency`), the call is not made and the
job fails with `BudgetExhausted`. The run summary writes `costs.json` from the stored records.
Amounts are estimates from the config's price table (`costs`), computed when read, so a
corrected price corrects every total.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tiktok_research.errors import BudgetExhausted
from tiktok_research.records import utc_now

SERVICES = ("serper", "anthropic", "storage")
COUNTS = ("requests", "credits", "input_tokens", "output_tokens", "bytes")
# The failure type of a job stopped by the budget before a call to the service.
SERVICE_KINDS = {"serper": "search", "anthropic": "process", "storage": "upload"}
MILLION = 1_000_000


def cost_record(service: str, *, run: str = "", task: str = "", model: str | None = None,
                context: dict[str, Any] | None = None, **counts: int) -> dict[str, Any]:
    """One paid call as a cost record; `counts` are among COUNTS (the rest are 0)."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")
    unknown = set(counts) - set(COUNTS)
    if unknown:
        raise ValueError(f"unknown cost counts {sorted(unknown)}")
    context = context or {}
    return {"timestamp": utc_now(), "run": run, "task": task, "service": service,
            "model": model, "query_index": context.get("query_index"),
            "query": context.get("query"), "video_id": context.get("video_id"),
            **{name: int(counts.get(name) or 0) for name in COUNTS}}


def group_costs(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cost records summed per (run, service, model), with each group's first and last time:
    what the database backends answer for `cost_totals()`."""
    groups: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    for record in records:
        key = (str(record.get("run") or ""), str(record.get("service")), record.get("model"))
        group = groups.setdefault(key, {"run": key[0], "service": key[1], "model": key[2],
                                        "first": record.get("timestamp"),
                                        "last": record.get("timestamp"),
                                        **dict.fromkeys(COUNTS, 0)})
        stamp = record.get("timestamp")
        if stamp:
            group["first"] = min(filter(None, (group["first"], stamp)))
            group["last"] = max(filter(None, (group["last"], stamp)))
        for name in COUNTS:
            group[name] += int(record.get(name) or 0)
    return list(groups.values())


def _prices(config: dict[str, Any]) -> dict[str, Any]:
    return config.get("costs") or {}


def summary(groups: Iterable[dict[str, Any]], config: dict[str, Any]) -> dict[str, Any]:
    """Totals of `groups` (from `group_costs` or a backend): per service, the estimated
    amount, and the Claude models the price table does not name (counted as 0)."""
    prices = _prices(config)
    token_prices = prices.get("anthropic_per_million_tokens") or {}
    serper = dict.fromkeys(("requests", "credits"), 0)
    anthropic: dict[str, Any] = {**dict.fromkeys(("requests", "input_tokens", "output_tokens"),
                                                 0), "by_model": {}}
    storage = dict.fromkeys(("requests", "bytes"), 0)
    amount, unpriced = 0.0, set()
    for group in groups:
        counts = {name: int(group.get(name) or 0) for name in COUNTS}
        if group["service"] == "serper":
            serper["requests"] += counts["requests"]
            serper["credits"] += counts["credits"]
            amount += counts["credits"] * float(prices.get("serper_per_credit") or 0)
        elif group["service"] == "anthropic":
            model = str(group.get("model") or "unknown")
            per_model = anthropic["by_model"].setdefault(
                model, dict.fromkeys(("requests", "input_tokens", "output_tokens"), 0))
            for name in ("requests", "input_tokens", "output_tokens"):
                per_model[name] += counts[name]
                anthropic[name] += counts[name]
            price = token_prices.get(model)
            if isinstance(price, dict):
                amount += (counts["input_tokens"] * float(price.get("input") or 0)
                           + counts["output_tokens"] * float(price.get("output") or 0)) / MILLION
            else:
                unpriced.add(model)
        elif group["service"] == "storage":
            storage["requests"] += counts["requests"]
            storage["bytes"] += counts["bytes"]
    return {"serper": serper, "anthropic": anthropic, "storage": storage,
            "amount": round(amount, 6), "currency": prices.get("currency") or "USD",
            "unpriced_models": sorted(unpriced)}


def budget_problem(totals: dict[str, Any], service: str, config: dict[str, Any]) -> str | None:
    """Why the budget allows no new call to `service`, in one line; None while it does."""
    budget = config.get("budget") or {}
    credits = budget.get("serper_credits")
    if service == "serper" and credits is not None \
            and totals["serper"]["credits"] >= credits:
        return (f"budget.serper_credits is used up: the study has used "
                f"{totals['serper']['credits']} of {credits} Serper credits")
    limit = budget.get("amount")
    if service in ("serper", "anthropic") and limit is not None and totals["amount"] >= limit:
        return (f"budget.amount is used up: the study has spent an estimated "
                f"{totals['amount']:.4f} of {limit} {totals['currency']}")
    return None


def has_budget(config: dict[str, Any]) -> bool:
    budget = config.get("budget") or {}
    return any(budget.get(name) is not None for name in ("serper_credits", "amount"))


def check_budget(groups: Iterable[dict[str, Any]], service: str,
                 config: dict[str, Any]) -> None:
    """Raise BudgetExhausted when the study's costs so far leave no budget for `service`."""
    problem = budget_problem(summary(groups, config), service, config)
    if problem:
        raise BudgetExhausted(f"{problem}; no new {service} calls are made (raise the budget "
                              "in the config to go on)", kind=SERVICE_KINDS[service])


def costs_document(groups: list[dict[str, Any]], config: dict[str, Any],
                   run: str) -> dict[str, Any]:
    """`costs.json`: the study's totals, this run's, each run's, and the budget's state."""
    runs = []
    for name in dict.fromkeys(group["run"] for group in sorted(
            groups, key=lambda group: str(group.get("first") or ""))):
        in_run = [group for group in groups if group["run"] == name]
        runs.append({"run": name,
                     "from": min(str(group.get("first") or "") for group in in_run),
                     "to": max(str(group.get("last") or "") for group in in_run),
                     **summary(in_run, config)})
    study = summary(groups, config)
    budget = config.get("budget") or {}
    problems = {service: budget_problem(study, service, config)
                for service in ("serper", "anthropic")}
    return {
        "currency": study["currency"],
        "study": study,
        "this_run": summary([group for group in groups if group["run"] == run], config),
        "run": run,
        "runs": runs,
        "budget": {"serper_credits": budget.get("serper_credits"),
                   "amount": budget.get("amount"),
                   "exhausted": {service: problem for service, problem in problems.items()
                                 if problem}},
        "prices": _prices(config),
    }


def one_line_summary(document: dict[str, Any]) -> str:
    """What `costs.json` says, for the end of a run and the status table."""
    study, run = document["study"], document.get("this_run") or {}
    parts = [f"{study['serper']['credits']} Serper credits",
             f"{study['anthropic']['input_tokens']}+{study['anthropic']['output_tokens']} "
             "Claude tokens (in+out)",
             f"{study['storage']['bytes'] / MILLION:.1f} MB published",
             f"≈ {study['amount']:.4f} {study['currency']}"]
    text = "Costs of the study: " + ", ".join(parts)
    if document.get("run"):
        text += f" (this run ≈ {run['amount']:.4f} {study['currency']})"
    exhausted = (document.get("budget") or {}).get("exhausted")
    if exhausted:
        # One limit can stop both services: said once.
        text += "; budget used up: " + "; ".join(dict.fromkeys(exhausted.values()))
    return text
