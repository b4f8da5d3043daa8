# The run's accounting. A query is summarised once every video it found has its receipt; the
# run summary covers every query of the list that has a summary.
rule summarise_query:
    input:
        urls=TREE.urls("{qdir}"),
        receipts=query_receipts,
    output:
        status=TREE.status("{qdir}"),
        links=TREE.links("{qdir}"),
        videos=TREE.query_videos("{qdir}"),
    params:
        query=query_of,
    log:
        TREE.log("summarise", "{qdir}"),
    benchmark:
        TREE.benchmark("summarise", "{qdir}")
    conda:
        "../envs/publish.yaml"
    script:
        "../scripts/summarise_query.py"


rule summarise_run:
    input:
        statuses=query_summaries("status"),
        videos=query_summaries("query_videos"),
    output:
        progress=TREE.progress(),
        failures=TREE.failures(),
        report=TREE.report(),
        parquet=TREE.dataset("parquet"),
        csv=TREE.dataset("csv"),
    params:
        queries=[query.as_dict() for query in LISTED],
    log:
        TREE.log("summarise", "run"),
    benchmark:
        TREE.benchmark("summarise", "run")
    conda:
        "../envs/publish.yaml"
    script:
        "../scripts/summarise_run.py"
