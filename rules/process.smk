# One job per video after the download: audio, scene frames, transcript and on-screen text,
# each checked, then the files to storage, the row to the database and the receipt last.
# Two jobs per video (with download_video) keep the DAG small: the per-job cost of Snakemake
# dominates at 20,000 videos. The job owns its derived files (audio, frames, transcript,
# ocr.json): a failed publish keeps them for the retry, a failed step removes them. It writes
# each step's time to benchmarks/steps/{step}/ for the run report.
rule process_and_publish_video:
    input:
        video=f"{OUT}/videos/{{video_id}}/video.mp4",
        meta=f"{OUT}/videos/{{video_id}}/metadata.json",
    output:
        receipt=f"{OUT}/videos/{{video_id}}/.uploaded",
    params:
        python=PYTHON,
        config=JOB_CONFIG,
    # One reprocessing (SPEC §5.3); the retry reuses the valid derived files of the first
    # attempt, so after a failed publish only the publishing is repeated.
    retries: 1
    # Ahead of downloads: the downloads only need to stay ahead of processing.
    priority: 1
    resources:
        attempt=current_attempt,
    log:
        f"{OUT}/logs/process/{{video_id}}.log",
    benchmark:
        f"{OUT}/benchmarks/process/{{video_id}}.tsv"
    conda:
        "../envs/process.yaml"
    shell:
        "{params.python:q} -m tiktok_research.job process {wildcards.video_id}"
        " --config {params.config:q}"
        " --video {input.video:q} --meta {input.meta:q} --receipt {output.receipt:q}"
        " --attempt {resources.attempt} --log {log:q}"
