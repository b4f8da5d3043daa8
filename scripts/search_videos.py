"""search_videos: one query → urls.json (logic in tiktok_research.search_stage)."""
from tiktok_research.logs import setup_job_logging
from tiktok_research.search_stage import run_search

setup_job_logging(snakemake.log[0])  # noqa: F821
run_search(
    snakemake.params.query,  # noqa: F821
    snakemake.config,  # noqa: F821
    snakemake.output.urls,  # noqa: F821
    attempt=snakemake.resources.attempt,  # noqa: F821
)
