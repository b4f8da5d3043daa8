# Input functions and helpers shared by the rules. No network, database or model work here:
# every job re-parses the workflow.
import sys

from tiktok_research import accounting, workflow_support
from tiktok_research.config import ConfigError, validate
from tiktok_research.queries import QUERY_DIR_PATTERN, VIDEO_ID_PATTERN

try:
    _validated = validate(config)
except ConfigError as error:
    sys.exit(str(error))
# In place, so that jobs (snakemake.config in scripts) see the validated, nested form too.
config.clear()
config.update(_validated)

OUT = config["output_dir"]
if workflow.is_main_process:
    workflow_support.clear_stale_locks()
    workflow_support.mark_run()
QUERIES = workflow_support.selected_queries(config)
# The per-video jobs are shell: commands (python -m tiktok_research.job) that read the validated
# config from this file, run by Snakemake's own interpreter (or the conda env's, with
# --sdm conda).
JOB_CONFIG = workflow_support.job_config_file(config)
PYTHON = "python" if workflow_support.uses_conda(workflow) else sys.executable
QUERY_BY_DIR = {query.dirname: query for query in QUERIES}

wildcard_constraints:
    video_id=VIDEO_ID_PATTERN,
    qdir=QUERY_DIR_PATTERN,


if "browser" not in workflow.global_resources:
    workflow.register_resource("browser", config["workers"])
if "serper_api" not in workflow.global_resources:
    workflow.register_resource("serper_api", 2)


def maybe_temp(path):
    """Large intermediates are removed once published, unless `keep`."""
    return path if config["keep"] else temp(path)


def current_attempt(wildcards, attempt):
    return attempt


def query_of(wildcards):
    return QUERY_BY_DIR[wildcards.qdir].as_dict()


def all_targets(wildcards):
    if config["search_only"]:
        return [f"{OUT}/queries/{query.dirname}/urls.json" for query in QUERIES]
    return [f"{OUT}/queries/{query.dirname}/links.json" for query in QUERIES]


def query_receipts(wildcards):
    """The publish receipts of every video the query found that is not known unavailable."""
    urls = checkpoints.search_videos.get(qdir=wildcards.qdir).output.urls
    return [
        f"{OUT}/videos/{video_id}/.uploaded"
        for video_id in workflow_support.videos_to_publish(urls, OUT)
    ]


def finish_run():
    """Status files, report and dataset export, after every run, successful or not."""
    accounting.finish_run(config)
