"""The run report: one self-contained HTML file a researcher opens in the morning.

Videos per query by outcome, the study's costs, failures by type, the time of each step per
video (from the videos' receipts), and the slowest videos. Plotly's JavaScript is embedded
once, so the file opens offline.
"""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from tiktok_research.accounting.status import (
    VIDEO_OUTCOMES,
    not_published,
    progress_summary,
    renditions,
    unique_videos,
)
from tiktok_research.files import atomic_write_text
from tiktok_research.records import utc_now

OUTCOME_COLOURS = {"published": "#2e7d32", "unavailable": "#9e9e9e", "download_failed": "#c62828",
                   "processing_failed": "#ef6c00", "upload_failed": "#6a1b9a", "error": "#212121",
                   "pending": "#90caf9"}
STEP_ORDER = ("download", "extract_audio", "detect_scenes", "transcribe_audio", "ocr_frames",
              "publish_video")


def step_times(videos: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """{step: {video id: seconds}} from the videos' receipts (a video several queries found
    counts once)."""
    timings: dict[str, dict[str, float]] = {}
    for document in videos:
        for video_id, video in (document.get("videos") or {}).items():
            for step, seconds in (video.get("timings") or {}).items():
                if isinstance(seconds, (int, float)):
                    timings.setdefault(step, {})[video_id] = float(seconds)
    return timings


def _figure_html(figure: go.Figure, first: bool) -> str:
    figure.update_layout(margin={"l": 40, "r": 20, "t": 40, "b": 40}, height=380,
                         template="plotly_white")
    return figure.to_html(full_html=False, include_plotlyjs="inline" if first else False)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def costs_section(costs: dict[str, Any] | None) -> str:
    """The study's and this run's costs (`costs.json`), and the budget's state."""
    if not costs:
        return "<h2>Costs</h2><p>No costs could be read.</p>"
    rows = []
    for name, totals in (("study (all runs)", costs["study"]), ("this run", costs["this_run"])):
        rows.append([name, totals["serper"]["credits"], totals["anthropic"]["requests"],
                     totals["anthropic"]["input_tokens"], totals["anthropic"]["output_tokens"],
                     f"{totals['storage']['bytes'] / 1_000_000:.1f}",
                     f"{totals['amount']:.4f} {totals['currency']}"])
    text = _table(["", "Serper credits", "Claude requests", "input tokens", "output tokens",
                   "MB published", "estimated amount"], rows)
    budget = costs.get("budget") or {}
    limits = [f"{name} {budget[name]}" for name in ("serper_credits", "amount")
              if budget.get(name) is not None]
    if limits:
        text += f"<p>Budget: {html.escape(', '.join(limits))}.</p>"
    for problem in dict.fromkeys((budget.get("exhausted") or {}).values()):
        text += f"<p><strong>Budget used up:</strong> {html.escape(problem)}</p>"
    unpriced = costs["study"].get("unpriced_models")
    if unpriced:
        text += (f"<p>No price in the config for {html.escape(', '.join(unpriced))}: counted "
                 "as 0.</p>")
    return "<h2>Costs</h2>" + text


def build_report(output_dir: str | Path, statuses: list[dict[str, Any]],
                 videos: list[dict[str, Any]], failures: list[dict[str, Any]],
                 costs: dict[str, Any] | None = None) -> str:
    statuses = [s for s in statuses if s["status"] != "pending" or s["counts"].get("found")]
    progress = progress_summary(statuses)
    timings = step_times(videos)
    sections: list[str] = []
    figures = 0

    def add_figure(figure: go.Figure) -> None:
        nonlocal figures
        sections.append(_figure_html(figure, first=figures == 0))
        figures += 1

    # Overview.
    stats = progress["stats"]
    sections.append("<h2>Overview</h2>" + _table(
        ["queries finished", *[name for name, count in stats.items() if count and name != "total"]],
        [[stats["total"], *[count for name, count in stats.items() if count and name != "total"]]],
    ))
    sections.append(_table(["videos", *progress["videos"].keys()],
                           [["unique", *progress["videos"].values()]]))
    sections.append(costs_section(costs))

    # Videos per query by outcome.
    sections.append("<h2>Videos per query by outcome</h2>")
    labels = [f"{s['index']}: {s['query'][:40]}" for s in statuses]
    figure = go.Figure()
    for outcome in VIDEO_OUTCOMES:
        values = [sum(v["outcome"] == outcome for v in s["videos"].values()) for s in statuses]
        if any(values):
            figure.add_bar(name=outcome, y=labels, x=values, orientation="h",
                           marker_color=OUTCOME_COLOURS.get(outcome))
    figure.update_layout(barmode="stack", height=max(300, 28 * len(labels) + 120),
                         yaxis={"autorange": "reversed"})
    if statuses:
        add_figure(figure)
    sections.append(_table(
        ["#", "query", "status", "found", "downloaded", "processed", "published", "unavailable",
         "failed"],
        [[s["index"], s["query"], s["status"], *(s["counts"].get(name, 0) for name in (
            "found", "downloaded", "processed", "published", "unavailable", "failed"))]
         for s in statuses],
    ))

    # Videos not published, and the sources of those that were.
    unique = unique_videos(videos)
    sections.append("<h2>Videos not published</h2>")
    rows = not_published(unique_videos(statuses))
    sections.append(_table(["outcome", "reason", "again?", "videos"], rows) if rows
                    else "<p>Every video found was published.</p>")
    rows = renditions(unique)
    if rows:
        sections.append("<h2>Sources of the published files</h2><p>play_addr, "
                        "play_addr_struct and gear are TikTok's clean renditions; download_addr "
                        "carries the burned-in TikTok watermark.</p>"
                        + _table(["source", "watermarked", "videos"], rows))

    # Failures by type and stage.
    sections.append("<h2>Failures</h2>")
    if failures:
        by_type = Counter(f["type"] for f in failures)
        add_figure(go.Figure(go.Bar(x=list(by_type), y=list(by_type.values()),
                                    marker_color="#c62828")).update_layout(
            title="failure records by type (one per failed attempt)"))
        reasons = Counter((f["type"], f["error"][:120]) for f in failures)
        sections.append(_table(["type", "error", "records"],
                               [[t, e, n] for (t, e), n in reasons.most_common(30)]))
    else:
        sections.append("<p>No failures recorded.</p>")

    # Time per step.
    sections.append("<h2>Time per step</h2>")
    steps = [step for step in STEP_ORDER if step in timings] + sorted(
        set(timings) - set(STEP_ORDER))
    if steps:
        figure = go.Figure()
        for step in steps:
            figure.add_box(y=list(timings[step].values()), name=step, boxpoints="all")
        figure.update_layout(yaxis_title="seconds per video")
        add_figure(figure)
        rows = []
        for step in steps:
            values = sorted(timings[step].values())
            rows.append([step, len(values), f"{sum(values):.1f}",
                         f"{values[len(values) // 2]:.2f}", f"{values[-1]:.2f}"])
        sections.append(_table(["step", "videos", "total s", "median s", "max s"], rows))
        per_video: dict[str, float] = {}
        for step in steps:
            for video_id, seconds in timings[step].items():
                per_video[video_id] = per_video.get(video_id, 0.0) + seconds
        slowest = sorted(per_video.items(), key=lambda item: item[1], reverse=True)[:10]
        sections.append("<h2>Slowest videos</h2>" + _table(
            ["video", "seconds (all steps)", *steps],
            [[video_id, f"{total:.1f}",
              *(f"{timings[s].get(video_id, 0):.1f}" for s in steps)]
             for video_id, total in slowest],
        ))
    else:
        sections.append("<p>No step times yet (no video has a receipt).</p>")

    style = ("body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px}"
             "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ddd;"
             "padding:4px 8px;font-size:14px;text-align:left}th{background:#f5f5f5}")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>TikTok research run report</title><style>{style}</style>"
        # Collects script errors, so a test (or a curious reader) can see the page is sound.
        "<script>window.reportErrors=[];window.addEventListener('error',"
        "function(e){window.reportErrors.push(String(e.message))});</script></head><body>"
        f"<h1>Run report</h1><p>Output: {html.escape(str(Path(output_dir).resolve()))} — written "
        f"{utc_now()}</p>" + "\n".join(sections) + "</body></html>"
    )


def write_report(path: str | Path, output_dir: str | Path, statuses: list[dict[str, Any]],
                 videos: list[dict[str, Any]], failures: list[dict[str, Any]],
                 costs: dict[str, Any] | None = None) -> Path:
    atomic_write_text(path, build_report(output_dir, statuses, videos, failures, costs))
    return Path(path)
