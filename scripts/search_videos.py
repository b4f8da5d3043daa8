"""search_videos: one query → urls.json (the task `search`, tiktok_research.search.job)."""
from tiktok_research.runtime.job import run_snakemake_job

run_snakemake_job(snakemake, "search", snakemake.wildcards.qdir, query=snakemake.params.query)
