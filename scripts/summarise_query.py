"""summarise_query: the query's status, links and videos (tiktok_research.accounting)."""
from tiktok_research.runtime.job import run_snakemake_job

run_snakemake_job(snakemake, "summarise_query", snakemake.wildcards.qdir,
                  query=snakemake.params.query)
