"""Running a job: its task found by name, its resources from the host, its failures recorded.

The same `execute` runs a job in the job's own process and in the persistent worker; only the
`Services` differ in how long the resources live.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

from tiktok_research import costs
from tiktok_research.database import Database, open_database
from tiktok_research.errors import BudgetExhausted, PipelineError
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
    """Resources kept for as long as this object; each failure record and each cost record goes
    to the job's log and to the run's database, where the run summary reads them from (and the
    budget checks of every job, the study's spending so far)."""

    def store(self, record: dict[str, Any], config: dict[str, Any]) -> None:
        record = with_identity(record)
        super().store(record, config)
        log.warning("failure record: %s", json.dumps(record, ensure_ascii=False))
        # The record is in the log; the failure itself matters more than a lost copy.
        _into_database(config, "failure", lambda database: database.add_failures([record]))

    def spend(self, record: dict[str, Any], config: dict[str, Any]) -> None:
        record = with_identity(record)
        super().spend(record, config)
        log.info("cost record: %s", json.dumps(record, ensure_ascii=False))
        # The call is made: its cost is in the log at least.
        _into_database(config, "cost", lambda database: database.add_costs([record]))

    def check_budget(self, service: str, config: dict[str, Any]) -> None:
        """The study's budget against its spending so far in the database, which every job of
        every run adds to."""
        if not costs.has_budget(config):
            return
        database = None
        try:
            database = open_database(config)
            groups = database.cost_totals()
        except Exception as error:
            raise BudgetExhausted(f"the study's spending so far cannot be read, so the budget "
                                  f"cannot be checked: {one_line(error)}",
                                  kind=costs.SERVICE_KINDS[service], retryable=True,
                                  reason="budget_unknown") from None
        finally:
            if database is not None:
                database.close()
        try:
            costs.check_budget(groups, service, config)
        except BudgetExhausted as error:
            log.warning("%s", one_line(error))
            raise


def _into_database(config: dict[str, Any], what: str,
                   write: Callable[[Database], None]) -> None:
    """`write` to the run's database; a failure to is logged, not raised."""
    database = None
    try:
        database = open_database(config)
        write(database)
    except Exception as error:
        log.error("the %s record could not be stored in the database (%s); it is only in this "
                  "log", what, one_line(error))
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
