rule download_video:
    input:
        urls=found_in,
    output:
        video=maybe_temp(TREE.video("{video_id}")),
        meta=TREE.metadata("{video_id}"),
        captions=directory(TREE.video_file("{video_id}", "captions")),
    params:
        config=JOB_CONFIG,
    # One more attempt for a challenge or login wall that outlasted the job's own revisits.
    # An unavailable video is not a failure: metadata.json says why and the job succeeds.
    retries: 1
    # A download waits on the network and the browser, not on a CPU: it does not count against
    # --cores (so processing keeps every core busy); the `browser` resource (workers) bounds it.
    threads: 0
    resources:
        browser=1,
        attempt=current_attempt,
    log:
        main=TREE.log("download", "{video_id}"),
        pages=directory(TREE.pages("{video_id}")),
    benchmark:
        TREE.benchmark("download", "{video_id}")
    conda:
        "../envs/download.yaml"
    shell:
        job_command("download", inputs=["urls"], outputs=["video", "meta", "captions"],
                    log="{log.main:q}", params=[("pages", "{log.pages:q}")])
