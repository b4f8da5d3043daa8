"""Running a job: its task found by name, its resources from the host, its failures recorded.

The same `execute` runs a job in the job's own process and in the persistent worker; only the
`Services` differ in how long the resources live.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from tiktok_research.database import open_database
from tiktok_research.errors import PipelineError
from tiktok_research.records import one_line, with_identity
from tiktok_research.registry import Host, Job, Services, Task, load_task

log = logging.getLogger("tiktok_research.runtime")


def available_cpus() -> int:
    """The CPUs this process may run on (a cluster job's allocation, not the whole node)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class RunServices(Services):
    """Resources kept for as long as this object; each failure record goes to the job's log
    and to the run's database, where the run summary reads it from."""

    def store(self, record: dict[str, Any], config: dict[str, Any]) -> None:
        record = with_identity(record)
        super().store(record, config)
        log.warning("failure record: %s", json.dumps(record, ensure_ascii=False))
        database = None
        try:
            database = open_database(config)
            database.add_failures([record])
        except Exception as error:  # the record is in the log; the failure itself matters more
            log.error("the failure record could not be stored in the database (%s); it is only "
                      "in this log", one_line(error))
        finally:
            if database is not None:
                database.close()


def execute(job: Job, task: Task, services: Services) -> object:
    """Run `job` with `task`, from its attempt up to the task's `attempts`: each failed try is
    recorded (one record per failed attempt); the last try's failure is raised again, and so is
    one that another try cannot change (not retryable, and no verdict to confirm)."""
    job.bind(task, services)
    while True:
        try:
            return task.run(job)
        except Exception as error:
            job.record(error)
            if job.attempt >= task.attempts or not worth_another_try(error):
                raise
            log.warning("%s %s: try %d of %d failed, trying again: %s", task.name, job.key,
                        job.attempt, task.attempts, one_line(error, 300))
            job.attempt += 1


def worth_another_try(error: Exception) -> bool:
    """An unexpected error, a retryable one, or a verdict about the video (which stands only
    once a second try confirms it)."""
    if not isinstance(error, PipelineError):
        return True
    return error.retryable or error.outcome is not None


def execute_here(job: Job) -> object:
    """Run `job` in this process: its resources are opened for it and closed at its end."""
    services = RunServices(Host(parallel=1))
    try:
        return execute(job, load_task(job.task), services)
    finally:
        services.close()
