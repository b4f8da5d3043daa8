"""The run's accounting, on top of the stages: what became of every query and video.

    status     query and video statuses (pure)
    summarise  the summary jobs (per query, per run) and the fallback after a failed run
    report     the HTML run report
    export     the dataset export (Parquet, CSV)
"""
