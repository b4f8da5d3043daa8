"""process_video: audio, frames, transcript, OCR (tiktok_research.process_stage)."""
from tiktok_research.logs import run_job
from tiktok_research.process_stage import run_process_video

run_job(
    snakemake.log[0],
    run_process_video,
    snakemake.wildcards.video_id,
    snakemake.config,
    video_path=snakemake.input.video,
    outputs=dict(snakemake.output.items()),
    attempt=snakemake.resources.attempt,
)
