rule extract_audio:
    input:
        video=f"{OUT}/videos/{{video_id}}/video.mp4",
    output:
        audio=maybe_temp(f"{OUT}/videos/{{video_id}}/audio.mp3"),
    retries: 1
    resources:
        attempt=current_attempt,
    log:
        f"{OUT}/logs/extract_audio/{{video_id}}.log",
    benchmark:
        f"{OUT}/benchmarks/extract_audio/{{video_id}}.tsv"
    conda:
        "../envs/process.yaml"
    script:
        "../scripts/extract_audio.py"


rule detect_scenes:
    input:
        video=f"{OUT}/videos/{{video_id}}/video.mp4",
    output:
        frames=maybe_temp(directory(f"{OUT}/videos/{{video_id}}/frames")),
    retries: 1
    resources:
        attempt=current_attempt,
    log:
        f"{OUT}/logs/detect_scenes/{{video_id}}.log",
    benchmark:
        f"{OUT}/benchmarks/detect_scenes/{{video_id}}.tsv"
    conda:
        "../envs/process.yaml"
    script:
        "../scripts/detect_scenes.py"


rule transcribe_audio:
    input:
        audio=f"{OUT}/videos/{{video_id}}/audio.mp3",
    output:
        transcript=f"{OUT}/videos/{{video_id}}/transcript.txt",
        timestamps=f"{OUT}/videos/{{video_id}}/transcript_timestamps.json",
    retries: 1
    resources:
        attempt=current_attempt,
    log:
        f"{OUT}/logs/transcribe_audio/{{video_id}}.log",
    benchmark:
        f"{OUT}/benchmarks/transcribe_audio/{{video_id}}.tsv"
    conda:
        "../envs/process.yaml"
    script:
        "../scripts/transcribe_audio.py"


rule ocr_frames:
    input:
        frames=f"{OUT}/videos/{{video_id}}/frames",
    output:
        ocr=f"{OUT}/videos/{{video_id}}/ocr.json",
    retries: 1
    resources:
        attempt=current_attempt,
    log:
        f"{OUT}/logs/ocr_frames/{{video_id}}.log",
    benchmark:
        f"{OUT}/benchmarks/ocr_frames/{{video_id}}.tsv"
    conda:
        "../envs/process.yaml"
    script:
        "../scripts/ocr_frames.py"
