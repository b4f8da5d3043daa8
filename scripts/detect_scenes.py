"""detect_scenes (logic in tiktok_research.process_stage.run_detect_scenes)."""
from tiktok_research.logs import setup_job_logging
from tiktok_research.process_stage import run_detect_scenes

setup_job_logging(snakemake.log[0])  # noqa: F821
run_detect_scenes(
    snakemake.wildcards.video_id,  # noqa: F821
    snakemake.config,  # noqa: F821
    inputs=dict(snakemake.input.items()),  # noqa: F821
    outputs=dict(snakemake.output.items()),  # noqa: F821
    attempt=snakemake.resources.attempt,  # noqa: F821
)
