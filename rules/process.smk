# One job per video for all of processing: audio, scene frames, transcript, on-screen text,
# each checked before the job ends. One job rather than four keeps the DAG small (the
# per-job cost dominates at 20,000 videos) and loads each model once per video; the job
# writes each step's time to benchmarks/steps/{step}/ for the run report.
rule process_video:
    input:
        video=f"{OUT}/videos/{{video_id}}/video.mp4",
    output:
        audio=maybe_temp(f"{OUT}/videos/{{video_id}}/audio.mp3"),
        frames=maybe_temp(directory(f"{OUT}/videos/{{video_id}}/frames")),
        transcript=f"{OUT}/videos/{{video_id}}/transcript.txt",
        timestamps=f"{OUT}/videos/{{video_id}}/transcript_timestamps.json",
        ocr=f"{OUT}/videos/{{video_id}}/ocr.json",
    retries: 1
    resources:
        attempt=current_attempt,
    log:
        f"{OUT}/logs/process/{{video_id}}.log",
    benchmark:
        f"{OUT}/benchmarks/process/{{video_id}}.tsv"
    conda:
        "../envs/process.yaml"
    script:
        "../scripts/process_video.py"
