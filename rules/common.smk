# Paths, input functions and helpers of the rules. No network, database or model work here:
# every job re-parses the workflow.
import gc
import json
import os
import sys

from snakemake.exceptions import WorkflowError

from tiktok_research.config import ConfigError, job_config, validate
from tiktok_research.files import atomic_write_json, read_json, set_aside_unreadable
from tiktok_research.paths import OutputTree
from tiktok_research.privacy import announce, check_study, mark_study
from tiktok_research.queries import (
    QUERY_DIR_PATTERN,
    VIDEO_ID_PATTERN,
    all_queries,
    select_queries,
)
from tiktok_research.accounting.summarise import due_again
from tiktok_research.publish.destination import destination_key
from tiktok_research.records import utc_now
from tiktok_research.runtime.run import (
    claim_cluster_run,
    clear_stale_locks,
    mark_cluster_executor,
    mark_run,
    shared_state_problem,
    target_rules,
)
from tiktok_research.runtime.groups import fresh_group_jobs
from tiktok_research.runtime.worker import start_worker

fresh_group_jobs()  # groups of six videos stay six videos (runtime/groups.py)

try:
    _validated = validate(config)
    QUERIES = select_queries(_validated)  # this run's
    LISTED = all_queries(_validated)  # every query of the list, and the single one
except ConfigError as error:
    sys.exit(str(error))
# In place, so that jobs (snakemake.config in scripts) see the validated, nested form too.
config.clear()
config.update(_validated)

# Snakemake builds tens of thousands of long-lived objects for a DAG of this size, and Python's
# collector would scan them again and again: collect less often, and never rescan what parsing
# left (`make bench` measures the dry run with it).
gc.freeze()
gc.set_threshold(50_000, 20, 20)

TREE = OutputTree(config["output_dir"])
DESTINATION = destination_key(config)  # the storage and database this run publishes to
# Video id → when it was due: videos unavailable for now, tried again (retry_note); with
# include_photo_posts, also the photo posts an earlier run skipped.
DUE = {}
STUDY = None  # the study's Pseudonymiser when privacy.pseudonymise is on
# A cluster job's first Snakemake process is the run of the jobs in it: it starts their
# persistent worker if they are per-video jobs, and the worker ends with it.
if workflow.remote_exec and claim_cluster_run() and config["persistent_worker"] and (
        target_rules(sys.argv) & {"download_video", "process_and_publish_video"}):
    start_worker()
if workflow.is_main_process:
    # Before anything is written: a run that would mix raw and pseudonymised data is refused.
    try:
        STUDY = check_study(config)
    except ConfigError as error:
        sys.exit(str(error))
    announce(STUDY)
    clear_stale_locks()
    mark_run()
    # With remote storage the summaries are not on this disk: none is tried again.
    if not config["search_only"] and workflow.storage_registry.default_storage_provider is None:
        DUE = due_again(config["output_dir"], [query.dirname for query in QUERIES],
                        photo_posts=config["include_photo_posts"])
    if DUE:
        print(f"tiktok-research: {len(DUE)} video(s) unavailable for now are tried again",
              file=sys.stderr)
QUERY_BY_DIR = {query.dirname: query for query in LISTED}
# The per-video jobs are shell: commands (python -m tiktok_research.runtime.job) given the
# validated config inline, without the keys that choose the queries (so a new slice leaves
# their params alone); run by Snakemake's own interpreter, or the conda env's (--sdm conda).
JOB_CONFIG = job_config(config)[1]
PYTHON = "python" if any(str(getattr(method, "name", method)).lower() == "conda" for method
                         in workflow.deployment_settings.deployment_method) else sys.executable
# Video id → the folder of the first query expanded whose urls.json lists it.
FOUND_IN = {}

wildcard_constraints:
    video_id=VIDEO_ID_PATTERN,
    qdir=QUERY_DIR_PATTERN,


# Where the jobs that need the internet run under a cluster executor (cluster.network_jobs): on
# the host that runs snakemake, they are local rules, and a download then leaves its video's
# cluster job group (`grouped_per_video_jobs`).
NETWORK_JOBS_HERE = config["cluster"]["network_jobs"] == "submit_host"

if "browser" not in workflow.global_resources:
    workflow.register_resource("browser", config["workers"])
if "serper_api" not in workflow.global_resources:
    workflow.register_resource("serper_api", 2)


def maybe_temp(path):
    """Large intermediates are removed once published, unless `keep`."""
    return path if config["keep"] else temp(path)


def query_of(wildcards):
    return QUERY_BY_DIR[wildcards.qdir].as_dict()


def found_videos(qdir):
    """The video ids of the query's urls.json (its checkpoint's output), in order; each is
    noted in FOUND_IN for its download."""
    urls = checkpoints.search_videos.get(qdir=qdir).output.urls
    with urls.open() as handle:
        entries = json.load(handle)
    video_ids = []
    for entry in entries:
        video_id = str(entry.get("video_id", ""))
        if video_id.isdigit() and video_id not in video_ids:
            FOUND_IN.setdefault(video_id, qdir)
            video_ids.append(video_id)
    return video_ids


def query_receipts(wildcards):
    """The receipt of every video the query found: each says how the video ended."""
    return [TREE.receipt(video_id) for video_id in found_videos(wildcards.qdir)]


def retry_note(wildcards):
    """A video unavailable for now whose time has come reads the note that it is tried again:
    the new note makes its download run again (none for any other video)."""
    due = DUE.get(wildcards.video_id)
    return [TREE.retry_note(wildcards.video_id, due)] if due else []


def found_in(wildcards):
    """The urls.json of a query that found the video: the download reads its page URL there.

    The main process knows the query from expanding it; a process that builds the DAG of one
    job only (a cluster job, a file asked for by name) expands this run's queries until one
    lists the video (a query not searched yet is searched first). The file is `ancient`: which
    query it is never makes the download run again."""
    for query in QUERIES:
        if wildcards.video_id in FOUND_IN:
            break
        found_videos(query.dirname)
    if wildcards.video_id not in FOUND_IN:
        raise WorkflowError(f"video {wildcards.video_id} is in the urls.json of no query of "
                            "this run")
    return ancient(TREE.urls(FOUND_IN[wildcards.video_id]))


def stored(path):
    """Whether a file of the run exists: on this disk, or in the default storage if the run
    has one (--default-storage-provider)."""
    provider = workflow.storage_registry.default_storage_provider
    if provider is None:
        return os.path.exists(path)
    prefix = workflow.storage_settings.default_storage_prefix.rstrip("/")
    return provider.object(f"{prefix}/{os.path.normpath(path)}").exists()


# Snakemake re-forms job groups whenever a checkpoint ends, and a group that is running then
# can be lost (KeyError in its scheduler; Snakemake issues 823, 2151, 4202): with the per-video
# jobs grouped (profiles/slurm), the run's targets are its searches until every query is
# searched; the checkpoint that ends last brings in the per-video jobs, and their groups.
PER_VIDEO_RULES = {"download_video", "process_and_publish_video"}
SEARCH_FIRST = []  # the queries this run only searches (said once)


def grouped_per_video_jobs():
    """Whether this run puts per-video jobs in cluster job groups (`--groups`, profiles/slurm).
    Known once the run starts, not while the Snakefile is read: ask from an input function."""
    settings = workflow.group_settings
    if settings is None or workflow.local_exec:
        return False
    if NETWORK_JOBS_HERE:  # a local job cannot run inside a cluster job
        settings.overwrite_groups.pop("download_video", None)
    return bool(PER_VIDEO_RULES & set(settings.overwrite_groups))


def unsearched_queries():
    """This run's queries without their urls.json, when the per-video jobs are grouped."""
    if not workflow.is_main_process or not grouped_per_video_jobs():
        return []
    unsearched = [query for query in QUERIES if not stored(TREE.urls(query.dirname))]
    if unsearched and not SEARCH_FIRST:
        SEARCH_FIRST.extend(unsearched)
        print(f"tiktok-research: the per-video jobs are grouped: their cluster jobs start "
              f"once the {len(unsearched)} quer{'y' if len(unsearched) == 1 else 'ies'} not "
              "searched yet are searched", file=sys.stderr)
    return unsearched


def summarised_queries():
    """The queries the run summary covers: this run's, and every other query of the list that
    an earlier run summarised (read as they are: `ancient`, never redone for this run)."""
    chosen = {query.dirname for query in QUERIES}
    return [(query, query.dirname in chosen) for query in LISTED
            if query.dirname in chosen or stored(TREE.links(query.dirname))]


def query_summaries(kind):
    def summaries(wildcards):
        files = []
        for query, chosen in summarised_queries():
            path = getattr(TREE, kind)(query.dirname)
            files.append(path if chosen else ancient(path))
        return files

    return summaries


def download_outputs():
    """The outputs of download_video: the video, its metadata and caption tracks, and with
    `include_photo_posts` a photo post's images (an empty folder for a video)."""
    outputs = {
        "video": maybe_temp(TREE.video("{video_id}")),
        "meta": TREE.metadata("{video_id}"),
        "captions": directory(TREE.video_file("{video_id}", "captions")),
    }
    if config["include_photo_posts"]:
        outputs["images"] = maybe_temp(directory(TREE.video_file("{video_id}", "images")))
    return outputs


def process_inputs():
    """The inputs of process_and_publish_video: what download_video made of the video."""
    inputs = {
        "video": TREE.video("{video_id}"),
        "meta": TREE.metadata("{video_id}"),
        "captions": TREE.video_file("{video_id}", "captions"),
    }
    if config["include_photo_posts"]:
        inputs["images"] = TREE.video_file("{video_id}", "images")
    return inputs


def process_outputs():
    """The outputs of process_and_publish_video: the derived files and the receipt, and the
    audio and the frames too when `keep` (else they are the job's scratch files)."""
    outputs = {
        "transcript": TREE.video_file("{video_id}", "transcript"),
        "timestamps": TREE.video_file("{video_id}", "timestamps"),
        "ocr": TREE.video_file("{video_id}", "ocr"),
        "receipt": TREE.receipt("{video_id}"),
    }
    if config["keep"]:
        outputs["audio"] = TREE.video_file("{video_id}", "audio")
        outputs["frames"] = directory(TREE.video_file("{video_id}", "frames"))
    return outputs


def job_command(task, inputs=(), outputs=(), log="{log:q}", params=()):
    """The `shell:` command of a per-video rule: the job command with the rule's named inputs
    and outputs, its log, and `params` as `--param NAME=PLACEHOLDER`."""
    parts = [PYTHON, "-m tiktok_research.runtime.job", task, "{wildcards.video_id}",
             "--config-json {params.config:q}", f"--log {log}"]
    parts += [f"--in {name}={{input.{name}:q}}" for name in inputs]
    parts += [f"--out {name}={{output.{name}:q}}" for name in outputs]
    parts += [f"--param {name}={value}" for name, value in params]
    return " ".join(parts)


def all_targets(wildcards):
    """This run's queries summarised, the notes of videos tried again, and the run summary.
    The query summaries are targets
    themselves: with mtime-only rerun triggers (the profile's), Snakemake does not look behind
    an existing run summary for queries that a checkpoint has yet to expand."""
    check_shared_state()  # before anything else is said: the executor is known from here
    if config["search_only"] or unsearched_queries():
        return [TREE.urls(query.dirname) for query in QUERIES]
    summaries = [path(query.dirname) for query in QUERIES
                 for path in (TREE.status, TREE.links, TREE.query_videos)]
    summaries += [TREE.destination_note(query.dirname, DESTINATION) for query in QUERIES]
    # A note that a video is tried again is a target too: a new input of a job whose outputs
    # are there would not make it run again otherwise (mtime rerun triggers).
    notes = [TREE.retry_note(video_id, due) for video_id, due in DUE.items()]
    return [*summaries, *notes, TREE.progress()]


def check_shared_state():
    """Cluster jobs share the run's state through the storage and the database only: a run
    whose state would stay on one host stops before any job. (From `all_targets` and
    `onstart`: the executor is known only once the run starts, not while the Snakefile is
    read.)"""
    if workflow.is_main_process and not workflow.local_exec:
        problem = shared_state_problem(config)
        if problem:
            sys.exit(f"tiktok-research: {problem}")
        mark_cluster_executor()


def mark_private_study():
    """A pseudonymised study's output folder says so (privacy.json, with its key's check
    value) before any job writes there. (`onstart`: a run with jobs to do, never a dry run.)"""
    if STUDY is not None:
        mark_study(config, STUDY, utc_now())


def keep_unreadable_failures():
    """failures.json is only written (from the run's records), but a researcher may have edited
    it: one that cannot be read is kept under another name, and the run says so. (`onstart`:
    a run with jobs to do, never a dry run.)"""
    if workflow.storage_registry.default_storage_provider is not None:
        return
    aside = set_aside_unreadable(TREE.failures())
    if aside is not None:
        print(f"tiktok-research: {TREE.failures()} could not be read; it is kept as {aside}, "
              "and a new one is written from the run's failure records", file=sys.stderr)


def summarise_failed_run():
    """After a job failed for good, nothing that depends on it ran: write the status files,
    failures.json, the report and the export from what the run left here, and name the videos
    and queries that failed."""
    from tiktok_research.accounting.summarise import summarise_after_failure
    from tiktok_research.costs import one_line_summary

    if workflow.storage_registry.default_storage_provider is not None:
        print("tiktok-research: some jobs failed; with remote storage the run summary is "
              "written by the next run that completes", file=sys.stderr)
        return
    try:
        progress = summarise_after_failure(config, LISTED)
    except Exception as error:  # the run has failed already; say what else broke
        print(f"tiktok-research: the run summary could not be written: {error}",
              file=sys.stderr)
        return
    failed = progress.get("failed_videos") or []
    print(f"tiktok-research: {len(failed)} video(s) failed after their retries"
          + (f": {', '.join(failed[:20])}{' …' if len(failed) > 20 else ''}" if failed else "")
          + f"; see {TREE.failures()} and {TREE.report()}", file=sys.stderr)
    spending = read_json(TREE.costs())
    if isinstance(spending, dict) and (spending.get("budget") or {}).get("exhausted"):
        print(f"tiktok-research: {one_line_summary(spending)}", file=sys.stderr)


def check_run_finished():
    """A run with checkpoints can end with success while jobs Snakemake planned never ran
    (Snakemake issues 823, 2524): such a run must not pass for finished."""
    unfinished = list(workflow.dag.needrun_jobs())
    if unfinished:
        rules = ", ".join(sorted({job.rule.name for job in unfinished}))
        raise WorkflowError(f"Snakemake stopped with {len(unfinished)} planned jobs not run "
                            f"({rules}); run the same command again to finish them")
