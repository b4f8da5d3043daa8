"""search_videos: one query → urls.json (logic in tiktok_research.search_stage)."""
from tiktok_research.logs import run_job

run_job(
    snakemake.log[0],
    "tiktok_research.search_stage:run_search",
    snakemake.params.query,
    snakemake.config,
    snakemake.output.urls,
    attempt=snakemake.resources.attempt,
    worker=snakemake.config.get("persistent_worker", True),
)
