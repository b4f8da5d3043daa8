"""publish_video: files, then the database row, then the receipt (tiktok_research.publish)."""
from tiktok_research.logs import run_job
from tiktok_research.publish import run_publish

run_job(
    snakemake.log[0],
    run_publish,
    snakemake.wildcards.video_id,
    snakemake.config,
    inputs=dict(snakemake.input.items()),
    receipt_path=snakemake.output.receipt,
    attempt=snakemake.resources.attempt,
)
