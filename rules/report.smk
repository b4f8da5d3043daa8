# The run's accounting. A query is summarised once every video it found has its receipt; the
# run summary covers every query of the list that has a summary. The summary's last output is
# named by the run's destination (storage and database): after a switch of either it is
# missing, and the summary runs again, publishing the query's finished videos there too
# (copied from where their receipts say, not processed again).
rule summarise_query:
    input:
        urls=TREE.urls("{qdir}"),
        receipts=query_receipts,
    output:
        status=TREE.status("{qdir}"),
        links=TREE.links("{qdir}"),
        videos=TREE.query_videos("{qdir}"),
        destination=TREE.destination_note("{qdir}", DESTINATION),
    params:
        query=query_of,
    # Light bookkeeping: on a cluster it runs on the host that runs snakemake.
    localrule: True
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
        costs=TREE.costs(),
        report=TREE.report(),
        parquet=TREE.dataset("parquet"),
        csv=TREE.dataset("csv"),
        sqlite=TREE.dataset("sqlite"),
    params:
        queries=[query.as_dict() for query in LISTED],
    # Light bookkeeping: on a cluster it runs on the host that runs snakemake.
    localrule: True
    log:
        TREE.log("summarise", "run"),
    benchmark:
        TREE.benchmark("summarise", "run")
    conda:
        "../envs/publish.yaml"
    script:
        "../scripts/summarise_run.py"
