"""The runtime: how a rule's job runs, knowing nothing of what it does.

    job     the job command of the rules (`python -m tiktok_research.runtime.job`)
    host    running one job: its task by name, its resources, its failure records
    worker  the persistent worker that hosts many jobs and keeps their resources warm
    logs    each job's records to its log file, secrets redacted
    run     the Snakemake run: its name for the jobs, stale directory locks
"""
