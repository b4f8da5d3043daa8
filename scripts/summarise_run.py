"""summarise_run: progress, failures, report and dataset export (tiktok_research.accounting)."""
from tiktok_research.runtime.job import run_snakemake_job

run_snakemake_job(snakemake, "summarise_run", "run", queries=snakemake.params.queries)
