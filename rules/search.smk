checkpoint search_videos:
    output:
        urls=TREE.urls("{qdir}"),
    params:
        query=query_of,
    resources:
        serper_api=1,
    localrule: NETWORK_JOBS_HERE
    log:
        TREE.log("search", "{qdir}"),
    benchmark:
        TREE.benchmark("search", "{qdir}")
    conda:
        "../envs/search.yaml"
    script:
        "../scripts/search_videos.py"
