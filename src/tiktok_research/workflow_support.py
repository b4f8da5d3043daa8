"""What the Snakefile asks at parse time: the queries of this run and each query's videos.

Parse-time work stays file-system only: every job re-parses the workflow.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tiktok_research.files import atomic_write_text
from tiktok_research.queries import Query, QueryListError, select_queries

UNAVAILABLE_MARKER = "unavailable.json"


def selected_queries(config: dict[str, Any]) -> list[Query]:
    try:
        return select_queries(config)
    except QueryListError as error:
        sys.exit(str(error))


def video_ids(urls_path: str | Path) -> list[str]:
    with open(urls_path, encoding="utf-8") as handle:
        entries = json.load(handle)
    return [str(entry["video_id"]) for entry in entries if str(entry.get("video_id", "")).isdigit()]


def is_unavailable(output_dir: str | Path, video_id: str) -> bool:
    return (Path(output_dir) / "videos" / video_id / UNAVAILABLE_MARKER).exists()


def videos_to_publish(urls_path: str | Path, output_dir: str | Path) -> list[str]:
    """The query's videos, less those a download found private, deleted or not a video."""
    return [vid for vid in video_ids(urls_path) if not is_unavailable(output_dir, vid)]


def entries_for_video(output_dir: str | Path, video_id: str) -> Iterator[dict[str, Any]]:
    """The urls.json entry of the video in every query that found it, in query-folder order.

    Each job asks this of its own video, so the scan stays cheap: a file whose text does not
    contain the id is not parsed.
    """
    for urls_path in sorted(Path(output_dir).glob("queries/query_*/urls.json")):
        try:
            text = urls_path.read_text(encoding="utf-8")
            if video_id not in text:
                continue
            entries = json.loads(text)
        except (OSError, ValueError):
            continue
        for entry in entries:
            if str(entry.get("video_id")) == video_id:
                yield entry
                break


def queries_for_video(output_dir: str | Path, video_id: str) -> list[dict[str, Any]]:
    """Every query whose urls.json lists the video: [{"query_index", "query", "position"}]."""
    return [{"query_index": entry.get("query_index"), "query": entry.get("query"),
             "position": entry.get("position")}
            for entry in entries_for_video(output_dir, video_id)]


def video_entry(output_dir: str | Path, video_id: str) -> dict[str, Any] | None:
    """The first urls.json entry (in query-directory order) listing the video, or None."""
    return next(entries_for_video(output_dir, video_id), None)


def config_arguments(overrides: dict[str, Any]) -> list[str]:
    """`--config key=value` arguments as Snakemake's command line takes them: it has no dotted
    keys, so a nested section goes as one YAML flow mapping (`serper={base_url: ...}`)."""
    import yaml

    args = []
    for key, value in overrides.items():
        encoded = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
        args.append(f"{key}={encoded.removesuffix('...').strip()}")
    return args


_RUN_LOCK = None  # held for the life of the main Snakemake process


def clear_stale_locks(workdir: str | Path = ".") -> bool:
    """Remove Snakemake's directory locks when they were left by a run that was killed.

    Snakemake locks the working directory with plain files, which a `kill -9` or a power loss
    leaves behind, so the same command then refuses to run until `--unlock`. The main process
    also holds an OS file lock (released by the kernel however the process ends): if we can
    take it, no other run is alive here, and any Snakemake lock files are stale.
    """
    global _RUN_LOCK
    from filelock import FileLock, Timeout

    state = Path(workdir) / ".snakemake"
    state.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(state / "tiktok-research-run.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False  # another run is alive: its locks are real
    _RUN_LOCK = lock
    stale = list((state / "locks").glob("*.lock"))
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        print("tiktok-research: removed locks left by a run that did not finish", file=sys.stderr)
    return bool(stale)


QUERY_SELECTION_KEYS = ("research_list", "start", "count", "query")


def job_config_file(config: dict[str, Any], state_dir: str | Path = ".snakemake") -> Path:
    """The validated config as a JSON file for the `shell:` jobs (`python -m
    tiktok_research.job`): named by its content, so it is written once and never changes under
    a running job."""
    # Without the keys that choose the queries: a per-video job does not read them, and the
    # file (a rule parameter) stays the same when the slice changes.
    chosen = {key: value for key, value in config.items() if key not in QUERY_SELECTION_KEYS}
    text = json.dumps(chosen, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = Path(state_dir) / "tiktok-research" / f"config-{digest}.json"
    if not path.exists():
        atomic_write_text(path, text)
    return path


def uses_conda(workflow: Any) -> bool:
    """Whether jobs run in their rule's conda env (`--sdm conda`), whose python is on PATH."""
    methods = getattr(getattr(workflow, "deployment_settings", None), "deployment_method", ())
    return any(str(getattr(method, "name", method)).lower() == "conda" for method in methods)



def mark_run() -> str:
    """Name this Snakemake run (its main process: pid and start time) in the environment the
    jobs inherit, so each run has its own persistent worker, which ends with the run."""
    from tiktok_research.worker import RUN_ENV, run_id

    os.environ[RUN_ENV] = run_id(os.getpid()) or str(os.getpid())
    return os.environ[RUN_ENV]
