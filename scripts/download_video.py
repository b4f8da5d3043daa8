"""download_video: a video page → video.mp4 + metadata.json (tiktok_research.download_stage)."""
from tiktok_research.logs import run_job

run_job(
    snakemake.log[0],
    "tiktok_research.download_stage:run_download",
    snakemake.wildcards.video_id,
    snakemake.config,
    video_path=snakemake.output.video,
    meta_path=snakemake.output.meta,
    attempt=snakemake.resources.attempt,
    worker=snakemake.config.get("persistent_worker", True),
)
