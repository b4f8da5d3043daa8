rule download_video:
    output:
        video=maybe_temp(f"{OUT}/videos/{{video_id}}/video.mp4"),
        meta=f"{OUT}/videos/{{video_id}}/metadata.json",
    params:
        python=PYTHON,
        config=JOB_CONFIG,
    # One more attempt for a challenge or login wall that outlasted the job's own revisits;
    # an unavailable video fails again at once on its unavailable.json receipt.
    retries: 1
    # A download waits on the network and the browser, not on a CPU: it does not count against
    # --cores (so processing keeps every core busy); the `browser` resource (workers) bounds it.
    threads: 0
    resources:
        browser=1,
        attempt=current_attempt,
    log:
        f"{OUT}/logs/download/{{video_id}}.log",
    benchmark:
        f"{OUT}/benchmarks/download/{{video_id}}.tsv"
    conda:
        "../envs/download.yaml"
    shell:
        "{params.python:q} -m tiktok_research.job download {wildcards.video_id}"
        " --config {params.config:q} --video {output.video:q} --meta {output.meta:q}"
        " --attempt {resources.attempt} --log {log:q}"
