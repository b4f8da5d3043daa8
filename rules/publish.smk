rule publish_video:
    input:
        unpack(publish_inputs),
    output:
        receipt=f"{OUT}/videos/{{video_id}}/.uploaded",
    resources:
        attempt=current_attempt,
    log:
        f"{OUT}/logs/publish/{{video_id}}.log",
    benchmark:
        f"{OUT}/benchmarks/publish/{{video_id}}.tsv"
    conda:
        "../envs/publish.yaml"
    script:
        "../scripts/publish_video.py"


rule link_query_videos:
    input:
        receipts=query_receipts,
        urls=f"{OUT}/queries/{{qdir}}/urls.json",
    output:
        links=f"{OUT}/queries/{{qdir}}/links.json",
    params:
        query=query_of,
    log:
        f"{OUT}/logs/link/{{qdir}}.log",
    benchmark:
        f"{OUT}/benchmarks/link/{{qdir}}.tsv"
    conda:
        "../envs/publish.yaml"
    script:
        "../scripts/link_query_videos.py"
