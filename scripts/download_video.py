"""download_video: a video page → video.mp4 + metadata.json (tiktok_research.download_stage)."""
from tiktok_research.download_stage import run_download
from tiktok_research.logs import setup_job_logging

setup_job_logging(snakemake.log[0])  # noqa: F821
run_download(
    snakemake.wildcards.video_id,  # noqa: F821
    snakemake.config,  # noqa: F821
    video_path=snakemake.output.video,  # noqa: F821
    meta_path=snakemake.output.meta,  # noqa: F821
    attempt=snakemake.resources.attempt,  # noqa: F821
)
