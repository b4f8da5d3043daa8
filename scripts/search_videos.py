"""search_videos: one query → urls.json (logic in tiktok_research.search_stage)."""
from tiktok_research.logs import run_job
from tiktok_research.search_stage import run_search

run_job(
    snakemake.log[0],
    run_search,
    snakemake.params.query,
    snakemake.config,
    snakemake.output.urls,
    attempt=snakemake.resources.attempt,
)
