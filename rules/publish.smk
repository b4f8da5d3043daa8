# Closing a query: the links of its published videos (the videos publish themselves in
# process_and_publish_video).
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
