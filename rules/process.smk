# One job per video after the download: audio, scene frames, transcript and on-screen text,
# each checked; then the files to storage, the row to the database, and the receipt last. Two
# jobs per video (with download_video) keep the DAG small. The receipt says how the video
# ended: published, unavailable, or a verdict about the video (no audio track, no speech) that
# stood after one reprocessing; every other failure fails the job.
rule process_and_publish_video:
    input:
        **process_inputs(),
    output:
        **process_outputs(),
    params:
        config=JOB_CONFIG,
    # One reprocessing, within the job (the task's `attempts`): a video that fails its checks
    # is processed once more.
    # Ahead of downloads: the downloads only need to stay ahead of processing.
    priority: 1
    log:
        TREE.log("process", "{video_id}"),
    benchmark:
        TREE.benchmark("process", "{video_id}")
    conda:
        "../envs/process.yaml"
    shell:
        job_command("process", inputs=process_inputs(), outputs=process_outputs())
