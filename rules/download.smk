rule note_retry:
    """A video unavailable for now (region locked, not found…) whose time to be tried again
    has come: this note is new, so the download that reads it runs again, and its processing
    and its queries' summaries follow."""
    output:
        TREE.retry_note("{video_id}", "{due}"),
    wildcard_constraints:
        due=r"[0-9TZ]+",
    log:
        TREE.log("note_retry", "{video_id}-{due}"),
    localrule: True
    run:
        atomic_write_json(output[0], {"video_id": wildcards.video_id, "due": wildcards.due,
                                      "noted_at": utc_now()})


rule download_video:
    input:
        urls=found_in,
        retry=retry_note,
    output:
        **download_outputs(),
    params:
        config=JOB_CONFIG,
    # A job tries twice (the task's `attempts`); an unavailable video is not a failure.
    # A download waits on the network and the browser, not on a CPU: it does not count against
    # --cores (so processing keeps every core busy); the `browser` resource (workers) bounds it.
    # On a cluster a download takes one CPU (--cpus-per-task=0 is refused by sbatch).
    threads: 0
    resources:
        browser=1,
        cpus_per_task=1,
    localrule: NETWORK_JOBS_HERE
    log:
        main=TREE.log("download", "{video_id}"),
        pages=directory(TREE.pages("{video_id}")),
    benchmark:
        TREE.benchmark("download", "{video_id}")
    conda:
        "../envs/download.yaml"
    shell:
        job_command("download", inputs=["urls"], outputs=download_outputs(),
                    log="{log.main:q}", params=[("pages", "{log.pages:q}")])
