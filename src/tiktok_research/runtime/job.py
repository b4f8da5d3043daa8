"""The job command of the rules: run one job of a registered task.

    python -m tiktok_research.runtime.job TASK KEY --config-json JSON
        [--in NAME=PATH ...] [--out NAME=PATH ...] [--param NAME=VALUE ...]
        [--attempt N] [--log FILE]

The per-video rules call it as their `shell:` command: it starts faster than a `script:`
(which imports Snakemake to unpickle its job object), and imports only what it needs to hand
the job to the persistent worker. The per-query rules' scripts call `run_snakemake_job`.
Either way the job's failure ends the command with one line (secrets redacted) and a non-zero
status; the traceback is in the job's log.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from tiktok_research.records import one_line
from tiktok_research.registry import Job
from tiktok_research.runtime.logs import job_log
from tiktok_research.runtime.run import RUN_ENV, worker_allowed

log = logging.getLogger("tiktok_research.runtime")


def _pairs(values: list[str], option: str, parser: argparse.ArgumentParser) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, item = value.partition("=")
        if not sep or not name:
            parser.error(f"{option} takes NAME=VALUE, not {value!r}")
        pairs[name] = item
    return pairs


def parse_job(argv: list[str] | None) -> Job:
    parser = argparse.ArgumentParser(prog="python -m tiktok_research.runtime.job",
                                     description="Run one job of a registered task.")
    parser.add_argument("task")
    parser.add_argument("key", help="the job's wildcard: a video id or a query folder")
    parser.add_argument("--config-json", required=True, help="the run's validated config")
    parser.add_argument("--in", dest="inputs", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--out", dest="outputs", action="append", default=[],
                        metavar="NAME=PATH")
    parser.add_argument("--param", dest="params", action="append", default=[],
                        metavar="NAME=VALUE")
    parser.add_argument("--attempt", type=int, default=1)
    parser.add_argument("--log")
    args = parser.parse_args(argv)
    try:
        config = json.loads(args.config_json)
    except ValueError as error:
        parser.error(f"--config-json is not JSON: {error}")
    return Job(task=args.task, key=args.key, config=config,
               inputs=_pairs(args.inputs, "--in", parser),
               outputs=_pairs(args.outputs, "--out", parser),
               params=_pairs(args.params, "--param", parser), attempt=args.attempt,
               log=args.log, run=os.environ.get(RUN_ENV, ""))


def run_job(job: Job, worker: bool = True) -> None:
    """Run `job` (in the persistent worker unless config `persistent_worker` is false or
    `worker` is); on failure, print one line and exit non-zero."""
    with job_log(job.log):
        try:
            if worker and job.config.get("persistent_worker", True):
                from tiktok_research.runtime.worker import run_in_worker

                run_in_worker(job)
            else:
                from tiktok_research.runtime.host import execute_here

                execute_here(job)
        except Exception as error:
            log.exception("job failed")
            print(f"tiktok-research: {job.task} {job.key} failed: {one_line(error, 300)} "
                  f"(log: {job.log})", file=sys.stderr)
            sys.exit(1)


def _paths(files: Any) -> dict[str, Any]:
    """Named inputs or outputs as strings; a named list stays a list."""
    return {name: [str(item) for item in value] if isinstance(value, list) else str(value)
            for name, value in files.items()}


def run_snakemake_job(snakemake: Any, task: str, key: str, **params: Any) -> None:
    """A `script:` rule's job: the task with the rule's named inputs and outputs, its log, its
    attempt and `params`, the config being Snakemake's own."""
    job = Job(task=task, key=key, config=dict(snakemake.config),
              inputs=_paths(snakemake.input), outputs=_paths(snakemake.output),
              params=params, attempt=int(getattr(snakemake, "attempt", 1) or 1),
              log=str(snakemake.log[0]) if snakemake.log else None,
              run=os.environ.get(RUN_ENV, ""))
    run_job(job, worker=worker_allowed(per_video=False))


def main(argv: list[str] | None = None) -> int:
    job = parse_job(argv)
    if job.log:
        Path(job.log).parent.mkdir(parents=True, exist_ok=True)
    run_job(job, worker=worker_allowed(per_video=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
