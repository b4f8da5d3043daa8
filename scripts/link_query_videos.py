"""link_query_videos: the query → video link rows of one query (tiktok_research.publish)."""
from tiktok_research.logs import run_job
from tiktok_research.publish import run_link_query

run_job(
    snakemake.log[0],
    run_link_query,
    snakemake.params.query,
    snakemake.config,
    urls_path=snakemake.input.urls,
    links_path=snakemake.output.links,
)
