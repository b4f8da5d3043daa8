checkpoint search_videos:
    output:
        urls=f"{OUT}/queries/{{qdir}}/urls.json",
    params:
        query=query_of,
    resources:
        serper_api=1,
        attempt=current_attempt,
    log:
        f"{OUT}/logs/search/{{qdir}}.log",
    benchmark:
        f"{OUT}/benchmarks/search/{{qdir}}.tsv"
    conda:
        "../envs/search.yaml"
    script:
        "../scripts/search_videos.py"
