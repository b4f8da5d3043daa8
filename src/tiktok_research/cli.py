"""`tiktok-research`: the package's command line (status table, report, export, stage helpers)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from tiktok_research import config as config_module

STATUS_STYLE = {"success": "green", "partial_success": "yellow", "search_failed": "red",
                "download_failed": "red", "processing_failed": "red", "upload_failed": "red",
                "error": "bold red", "pending": "dim"}
COLUMNS = ("found", "downloaded", "processed", "published", "unavailable", "failed")
HEADINGS = ("found", "down", "proc", "pub", "unav", "fail")  # fits an 80-column terminal


def status_table(statuses: list[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0),
                  caption="videos: found, downloaded, processed, published, unavailable, failed")
    table.add_column("#", justify="right")
    table.add_column("query", overflow="ellipsis", no_wrap=True, max_width=28)
    table.add_column("status", no_wrap=True)
    for heading in HEADINGS:
        table.add_column(heading, justify="right", min_width=len(heading))
    totals = dict.fromkeys(COLUMNS, 0)
    for status in statuses:
        counts = status["counts"]
        for name in COLUMNS:
            totals[name] += counts.get(name, 0)
        style = STATUS_STYLE.get(status["status"], "")
        table.add_row(str(status["index"]), status["query"],
                      f"[{style}]{status['status']}[/{style}]" if style else status["status"],
                      *(str(counts.get(name, 0)) for name in COLUMNS))
    table.add_section()
    table.add_row("", f"{len(statuses)} queries", "", *(str(totals[name]) for name in COLUMNS),
                  style="bold")
    return table


def print_status(config: dict[str, Any], console: Console | None = None) -> list[dict]:
    from tiktok_research.accounting.status import (
        not_published,
        progress_summary,
        renditions,
        unique_videos,
        with_captions,
    )
    from tiktok_research.accounting.summarise import collect_statuses, read_costs
    from tiktok_research.costs import one_line_summary
    from tiktok_research.queries import all_queries

    console = console or Console()
    if not (Path(config["output_dir"]) / "queries").is_dir():
        console.print(f"No run in {config['output_dir']} yet (it has no queries/ folder).")
        return []
    statuses, videos = collect_statuses(config, all_queries(config))
    shown = [s for s in statuses if s["status"] != "pending" or s["counts"].get("found")]
    console.print(status_table(shown or statuses))
    stats = progress_summary(statuses)["stats"]
    summary = ", ".join(f"{name} {count}" for name, count in stats.items() if count)
    console.print(f"Totals: {summary}")
    costs = read_costs(config, "")
    if costs is not None:
        console.print(one_line_summary(costs), markup=False, highlight=False)
    unique = unique_videos(videos)
    sources = renditions(unique)
    if sources:
        console.print("Sources of the published files: " + ", ".join(
            f"{count} {kind}{' (watermarked)' if watermarked == 'yes' else ''}"
            for kind, watermarked, count in sources))
    captioned = with_captions(unique)
    if captioned:
        console.print(f"TikTok's own captions: {len(captioned)} published video(s) "
                      f"({', '.join(captioned[:5])}{', ...' if len(captioned) > 5 else ''}), "
                      "as captions/<language>.vtt beside each video's files and "
                      "`tiktok_captions` in the dataset")
    rows = not_published(unique_videos(statuses))
    if rows:
        console.print("Not published: " + "; ".join(
            f"{count} {outcome} ({reason or 'no reason given'}, {again})"
            for outcome, reason, again, count in rows))
    return statuses


def load_config(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if args.output_dir:
        overrides["output_dir"] = args.output_dir
    if args.research_list:
        overrides["research_list"] = args.research_list
    return config_module.load(overrides)


def read_dataset(args: argparse.Namespace, config: dict[str, Any]) -> int:
    """`search` and `browse`: both read the run's dataset.sqlite."""
    from tiktok_research.paths import OutputTree

    path = Path(OutputTree(config["output_dir"]).dataset("sqlite"))
    if not path.is_file():
        print(f"tiktok-research: {path} does not exist: it is written by a run's summary "
              "(snakemake), or by `tiktok-research export`", file=sys.stderr)
        return 2
    if args.command == "browse":
        from tiktok_research.accounting.browse import browse

        browse(path, args.host, args.port, args.open)
    from tiktok_research.accounting.search import hit_line, search

    hits = search(path, args.words, max(1, args.limit), args.kind)
    for hit in hits:
        print(hit_line(hit))
    if not hits:
        print(f"no published video says, shows or captions {args.words!r}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tiktok-research", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("status", "print a table of every query's status"),
                            ("report", "write the HTML run report"),
                            ("export", "write the dataset (Parquet, CSV, searchable SQLite)")):
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--output-dir", help="the run's output directory (default: output)")
        command.add_argument("--research-list", help="the query CSV (default: research_list.csv)")
    finder = sub.add_parser("search", help="find words said, shown or captioned in the published "
                                           "videos (dataset.sqlite)")
    finder.add_argument("words", help="every word must be in one passage; case and accents "
                                      "do not matter")
    finder.add_argument("--limit", type=int, default=20, help="hits at most (default: 20)")
    finder.add_argument("--kind", choices=("speech", "screen", "caption"),
                        help="only what is said, shown or captioned")
    viewer = sub.add_parser("browse", help="open dataset.sqlite in Datasette")
    viewer.add_argument("--host", default="127.0.0.1", help="address to serve on (default: "
                                                            "127.0.0.1, this machine only)")
    viewer.add_argument("--port", type=int, default=8001, help="port (default: 8001)")
    viewer.add_argument("--open", action="store_true", help="open it in a web browser too")
    for command in (finder, viewer):
        command.add_argument("--output-dir", help="the run's output directory (default: output)")
        command.add_argument("--research-list", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        config = load_config(args)
    except config_module.ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    if args.command == "status":
        print_status(config)
        return 0
    if args.command in ("search", "browse"):
        return read_dataset(args, config)
    from tiktok_research.accounting.export import export_dataset
    from tiktok_research.accounting.report import write_report
    from tiktok_research.accounting.search import write_search_database
    from tiktok_research.accounting.summarise import collect_statuses, read_failures
    from tiktok_research.paths import OutputTree
    from tiktok_research.queries import all_queries

    tree = OutputTree(config["output_dir"])
    statuses, videos = collect_statuses(config, all_queries(config))
    if args.command == "report":
        print(write_report(tree.report(), config["output_dir"], statuses, videos,
                           read_failures(config)))
    elif args.command == "export":
        for path in export_dataset(videos, tree.dataset("parquet"), tree.dataset("csv")):
            print(path)
        print(write_search_database(videos, tree.dataset("sqlite")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
