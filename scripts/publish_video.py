"""publish_video: files, then the database row, then the receipt (tiktok_research.publish)."""
from tiktok_research.logs import setup_job_logging
from tiktok_research.publish import run_publish

setup_job_logging(snakemake.log[0])  # noqa: F821
run_publish(
    snakemake.wildcards.video_id,  # noqa: F821
    snakemake.config,  # noqa: F821
    inputs=dict(snakemake.input.items()),  # noqa: F821
    receipt_path=snakemake.output.receipt,  # noqa: F821
    attempt=snakemake.resources.attempt,  # noqa: F821
)
