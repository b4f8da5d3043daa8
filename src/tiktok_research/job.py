"""`python -m tiktok_research.job`: the command line of the per-video rules (their `shell:`).

A `script:` job starts an interpreter that imports Snakemake to unpickle its `snakemake` object
before the first line runs: about 0.1 s of CPU, and more of waiting on a busy machine, for each
of 40,000 jobs at 20,000 videos. This command imports only what it needs to hand the job to the
persistent worker (`logs.run_job`); the validated config comes as a file the run wrote once
(`workflow_support.job_config_file`).

    python -m tiktok_research.job download VIDEO_ID --config F --video V --meta M [--log L]
    python -m tiktok_research.job process VIDEO_ID --config F --video V --meta M --receipt R
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tiktok_research.logs import run_job

TASKS = {
    "download": "tiktok_research.download_stage:run_download",
    "process": "tiktok_research.process_stage:run_process_and_publish",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tiktok_research.job",
                                     description="Run one per-video job of the workflow.")
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("video_id")
    parser.add_argument("--config", required=True, type=Path,
                        help="the run's validated config (JSON)")
    parser.add_argument("--video", required=True)
    parser.add_argument("--meta", required=True)
    parser.add_argument("--receipt", help="process: the receipt to write")
    parser.add_argument("--attempt", type=int, default=1)
    parser.add_argument("--log")
    args = parser.parse_args(argv)
    if args.task == "process" and not args.receipt:
        parser.error("process needs --receipt")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = json.loads(args.config.read_text(encoding="utf-8"))
    paths = ({"video_path": args.video, "meta_path": args.meta} if args.task == "download" else
             {"video_path": args.video, "meta_path": args.meta, "receipt_path": args.receipt})
    run_job(args.log, TASKS[args.task], args.video_id, config, **paths, attempt=args.attempt,
            worker=bool(config.get("persistent_worker", True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
