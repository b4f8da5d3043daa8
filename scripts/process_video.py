"""process_video: audio, frames, transcript, OCR (tiktok_research.process_stage)."""
from tiktok_research.logs import setup_job_logging
from tiktok_research.process_stage import run_process_video

setup_job_logging(snakemake.log[0])
run_process_video(
    snakemake.wildcards.video_id,
    snakemake.config,
    video_path=snakemake.input.video,
    outputs=dict(snakemake.output.items()),
    attempt=snakemake.resources.attempt,
)
