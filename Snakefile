# TikTok research pipeline: search → download → process → publish, resumable from its outputs.
from snakemake.utils import min_version

min_version("9.0")


configfile: f"{workflow.basedir}/config/config.yaml"


include: "rules/common.smk"
include: "rules/search.smk"
include: "rules/download.smk"
include: "rules/process.smk"
include: "rules/publish.smk"


rule all:
    input:
        all_targets,
    default_target: True


onsuccess:
    finish_run()


onerror:
    finish_run()
