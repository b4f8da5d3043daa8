"""ocr_frames (logic in tiktok_research.process_stage.run_ocr_frames)."""
from tiktok_research.logs import setup_job_logging
from tiktok_research.process_stage import run_ocr_frames

setup_job_logging(snakemake.log[0])  # noqa: F821
run_ocr_frames(
    snakemake.wildcards.video_id,  # noqa: F821
    snakemake.config,  # noqa: F821
    inputs=dict(snakemake.input.items()),  # noqa: F821
    outputs=dict(snakemake.output.items()),  # noqa: F821
    attempt=snakemake.resources.attempt,  # noqa: F821
)
