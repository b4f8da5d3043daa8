"""The run report: one self-contained HTML file a researcher opens in the morning.

Videos per query by outcome, failures by type and stage, per-stage timing from the rules'
`benchmark:` files, and the slowest videos. Plotly's JavaScript is embedded once, so the
file opens offline.
"""

from __future__ import annotations

import csv
import html
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from tiktok_research.accounting import VIDEO_OUTCOMES, collect_statuses, progress_summary
from tiktok_research.failures import read_failures, utc_now
from tiktok_research.files import atomic_write_text

OUTCOME_COLOURS = {"published": "#2e7d32", "unavailable": "#9e9e9e", "download_failed": "#c62828",
                   "processing_failed": "#ef6c00", "upload_failed": "#6a1b9a", "error": "#212121",
                   "pending": "#90caf9"}
STAGE_ORDER = ("search", "download", "process", "publish", "link")
STEP_ORDER = ("extract_audio", "detect_scenes", "transcribe_audio", "ocr_frames", "publish_video")


def read_benchmarks(folder: Path) -> dict[str, dict[str, float]]:
    """{stage: {job key (video id or query dir): wall seconds}} from benchmark TSVs: Snakemake's
    per job (benchmarks/), or the process job's own per step (benchmarks/steps/)."""
    timings: dict[str, dict[str, float]] = defaultdict(dict)
    for path in sorted(folder.glob("*/*.tsv")):
        try:
            with path.open(encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle, delimiter="\t"))
            timings[path.parent.name][path.stem] = float(rows[-1]["s"])
        except (OSError, KeyError, IndexError, ValueError):
            continue
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


def build_report(config: dict[str, Any],
                 statuses: list[dict[str, Any]] | None = None) -> str:
    output_dir = Path(config["output_dir"])
    if statuses is None:
        statuses = collect_statuses(config)
    statuses = [s for s in statuses if s["status"] != "pending"
                or s["counts"].get("found")]
    progress = progress_summary(statuses)
    failures = read_failures(output_dir)
    timings = read_benchmarks(output_dir / "benchmarks")
    steps = read_benchmarks(output_dir / "benchmarks" / "steps")
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

    # Per-stage timing.
    sections.append("<h2>Time per stage</h2>")
    stages = [stage for stage in STAGE_ORDER if stage in timings] + sorted(
        set(timings) - set(STAGE_ORDER))
    if stages:
        figure = go.Figure()
        for stage in stages:
            figure.add_box(y=list(timings[stage].values()), name=stage, boxpoints="all")
        figure.update_layout(yaxis_title="seconds per job")
        add_figure(figure)
        rows = []
        for stage in stages:
            values = sorted(timings[stage].values())
            rows.append([stage, len(values), f"{sum(values):.1f}",
                         f"{values[len(values) // 2]:.2f}", f"{values[-1]:.2f}"])
        sections.append(_table(["stage", "jobs", "total s", "median s", "max s"], rows))
        if steps:
            rows = []
            for step in [s for s in STEP_ORDER if s in steps]:
                values = sorted(steps[step].values())
                rows.append([step, len(values), f"{sum(values):.1f}",
                             f"{values[len(values) // 2]:.2f}", f"{values[-1]:.2f}"])
            sections.append("<h3>Inside process_and_publish_video, per step</h3>"
                            + _table(["step", "videos", "total s", "median s", "max s"], rows))
        video_stages = [stage for stage in stages if stage not in ("search", "link")]
        per_video: dict[str, float] = defaultdict(float)
        for stage in video_stages:  # search and link are per query, not per video
            for key, seconds in timings[stage].items():
                per_video[key] += seconds
        slowest = sorted(per_video.items(), key=lambda item: item[1], reverse=True)[:10]
        sections.append("<h2>Slowest videos</h2>" + _table(
            ["video", "seconds (all stages)", *video_stages],
            [[video_id, f"{total:.1f}",
              *(f"{timings[s].get(video_id, 0):.1f}" for s in video_stages)]
             for video_id, total in slowest],
        ))
    else:
        sections.append("<p>No benchmark files yet.</p>")

    style = ("body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px}"
             "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ddd;"
             "padding:4px 8px;font-size:14px;text-align:left}th{background:#f5f5f5}")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>TikTok research run report</title><style>{style}</style>"
        # Collects script errors, so a test (or a curious reader) can see the page is sound.
        "<script>window.reportErrors=[];window.addEventListener('error',"
        "function(e){window.reportErrors.push(String(e.message))});</script></head><body>"
        f"<h1>Run report</h1><p>Output: {html.escape(str(output_dir.resolve()))} — written "
        f"{utc_now()}</p>" + "\n".join(sections) + "</body></html>"
    )


def write_report(config: dict[str, Any],
                 statuses: list[dict[str, Any]] | None = None) -> Path:
    path = Path(config["output_dir"]) / "report.html"
    atomic_write_text(path, build_report(config, statuses))
    return path
