"""transcribe_audio (logic in tiktok_research.process_stage.run_transcribe_audio)."""
from tiktok_research.logs import setup_job_logging
from tiktok_research.process_stage import run_transcribe_audio

setup_job_logging(snakemake.log[0])  # noqa: F821
run_transcribe_audio(
    snakemake.wildcards.video_id,  # noqa: F821
    snakemake.config,  # noqa: F821
    inputs=dict(snakemake.input.items()),  # noqa: F821
    outputs=dict(snakemake.output.items()),  # noqa: F821
    attempt=snakemake.resources.attempt,  # noqa: F821
)
