"""link_query_videos: the query → video link rows of one query (tiktok_research.publish)."""
from tiktok_research.logs import setup_job_logging
from tiktok_research.publish import run_link_query

setup_job_logging(snakemake.log[0])  # noqa: F821
run_link_query(
    snakemake.params.query,  # noqa: F821
    snakemake.config,  # noqa: F821
    urls_path=snakemake.input.urls,  # noqa: F821
    links_path=snakemake.output.links,  # noqa: F821
)
