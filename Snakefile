# TikTok research pipeline: search → download → process and publish → summarise, resumable from
# its outputs. Every job declares what it reads and writes.
from snakemake.utils import min_version

min_version("9.0")


configfile: f"{workflow.basedir}/config/config.yaml"


include: "rules/common.smk"
include: "rules/search.smk"
include: "rules/download.smk"
include: "rules/process.smk"
include: "rules/report.smk"


rule all:
    input:
        all_targets,
    default_target: True


onstart:
    check_shared_state()
    mark_private_study()
    keep_unreadable_failures()


onsuccess:
    check_run_finished()


onerror:
    summarise_failed_run()
