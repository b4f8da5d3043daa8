"""process_and_publish_video: derived files, then storage, database and receipt
(tiktok_research.process_stage)."""
from tiktok_research.logs import run_job

run_job(
    snakemake.log[0],
    "tiktok_research.process_stage:run_process_and_publish",
    snakemake.wildcards.video_id,
    snakemake.config,
    video_path=snakemake.input.video,
    meta_path=snakemake.input.meta,
    receipt_path=snakemake.output.receipt,
    attempt=snakemake.resources.attempt,
    worker=snakemake.config.get("persistent_worker", True),
)
