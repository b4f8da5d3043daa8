"""The seam between the stages and the runtime that runs them.

A stage describes its job as a `Task`: the function that does one job's work, the failure type
an unexpected error of it is recorded as, and the heavy `Resource`s it wants kept warm between
jobs (a speech model, an OCR engine, a browser pool). It registers the task as an entry point
of the group `tiktok_research.tasks` (pyproject.toml), so the runtime finds a task by its name
without importing any stage, and a stage never imports the runtime.

The runtime hands the task's function a `Job`: the rule's inputs, outputs and params, the
config, the attempt (the try of the job: a task may ask for more than one), and two services
it provides —

    job.resource("transcriber")   # opened once per process while its settings stay the same
    job.record(error)             # a failure record of this attempt, stored by the runtime
    job.check_budget("serper")    # before a paid call: BudgetExhausted once the budget is used
    job.spend("serper", credits=1)  # after it: a cost record, stored by the runtime

A job run in its own process gets its resources opened for it and closed at its end; the
persistent worker keeps them for the jobs that follow.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from tiktok_research import costs
from tiktok_research.records import error_record

TASK_GROUP = "tiktok_research.tasks"


@dataclass(frozen=True)
class Host:
    """What a resource is told about the process that keeps it."""

    parallel: int = 1  # jobs the process runs at once (a job's own process: 1)


def _no_settings(config: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True)
class Resource:
    """Something costly to open that jobs of a task share: opened on first use, reused while
    `settings(config)` (JSON-able) stays the same, closed with `close` when its process ends or
    the settings change."""

    name: str
    open: Callable[[dict[str, Any], Host], Any]
    settings: Callable[[dict[str, Any]], Any] = _no_settings
    close: Callable[[Any], None] | None = None
    warm: bool = False  # a long-lived host opens it before the first job that needs it

    def key(self, config: dict[str, Any]) -> str:
        return json.dumps(self.settings(config), sort_keys=True, default=str)


@dataclass(frozen=True)
class Task:
    name: str
    run: Callable[[Job], object]
    failure_type: str = "error"  # the type an unexpected error of this task is recorded as
    resources: tuple[Resource, ...] = ()
    # Tries a job gets, within the job: a failed try is recorded and the next one follows at
    # once; the job fails when its last try does. (Not Snakemake's `retries:`, which can lose
    # a restarted job when a checkpoint finishes before it starts again.)
    attempts: int = 1

    def resource(self, name: str) -> Resource:
        for resource in self.resources:
            if resource.name == name:
                return resource
        raise KeyError(f"task {self.name!r} registers no resource {name!r}")


class Services:
    """The runtime's side of a job. This base opens resources for one process and keeps the
    records in `recorded`; the runtime stores them."""

    def __init__(self, host: Host | None = None) -> None:
        self.host = host or Host()
        self._opened: dict[tuple[str, str], tuple[Resource, Any]] = {}
        self._opening: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self.recorded: list[dict[str, Any]] = []
        self.spent: list[dict[str, Any]] = []

    def resource(self, task: Task, name: str, config: dict[str, Any]) -> Any:
        spec = task.resource(name)
        key = (name, spec.key(config))
        with self._opening[name]:  # jobs asking at once open it once
            if key not in self._opened:
                for stale in [k for k in self._opened if k[0] == name]:
                    self._close(*self._opened.pop(stale))
                self._opened[key] = (spec, spec.open(config, self.host))
            return self._opened[key][1]

    def store(self, record: dict[str, Any], config: dict[str, Any]) -> None:
        self.recorded.append(record)

    def spend(self, record: dict[str, Any], config: dict[str, Any]) -> None:
        self.spent.append(record)

    def check_budget(self, service: str, config: dict[str, Any]) -> None:
        """The budget against what this process spent (the runtime: what the study spent)."""
        if costs.has_budget(config):
            costs.check_budget(costs.group_costs(self.spent), service, config)

    def close(self) -> None:
        """Close every resource this process opened."""
        while self._opened:
            self._close(*self._opened.popitem()[1])

    @staticmethod
    def _close(spec: Resource, value: Any) -> None:
        if spec.close is not None:
            spec.close(value)


@dataclass
class Job:
    """One job of a rule, as its task sees it."""

    task: str
    key: str  # the job's wildcard: a video id or a query folder
    config: dict[str, Any]
    inputs: dict[str, Any] = field(default_factory=dict)  # name → path (or list of paths)
    outputs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    log: str | None = None
    run: str = ""  # the Snakemake run this job belongs to (a new run starts some things afresh)
    # Query and video fields the task learns (query_index, query, video_id, url, details);
    # they go into the failure records of this attempt.
    context: dict[str, Any] = field(default_factory=dict)
    services: Services = field(default_factory=Services, repr=False, compare=False)
    _task: Task | None = field(default=None, repr=False, compare=False)

    def bind(self, task: Task, services: Services) -> Job:
        self._task, self.services = task, services
        return self

    def resource(self, name: str) -> Any:
        if self._task is None:
            raise RuntimeError(f"job {self.task}:{self.key} is not bound to its task")
        return self.services.resource(self._task, name, self.config)

    def record(self, error: BaseException) -> dict[str, Any]:
        """Record `error` as a failure of this attempt; the record."""
        default = self._task.failure_type if self._task is not None else "error"
        record = error_record(error, self.context, attempt=self.attempt, default_type=default)
        self.services.store(record, self.config)
        return record

    def check_budget(self, service: str) -> None:
        """Before a paid call to `service`: raise BudgetExhausted once the study's budget is
        used up (`costs`)."""
        self.services.check_budget(service, self.config)

    def spend(self, service: str, *, model: str | None = None, **counts: int) -> None:
        """After a paid call: what it cost (`costs.COUNTS`), stored by the runtime."""
        self.services.spend(costs.cost_record(service, run=self.run, task=self.task,
                                              model=model, context=self.context, **counts),
                            self.config)

    def spec(self) -> dict[str, Any]:
        """The job as JSON-able data (what a job command sends to the worker)."""
        data = asdict(self)
        for name in ("services", "_task"):
            data.pop(name, None)
        return data

    @classmethod
    def from_spec(cls, data: dict[str, Any]) -> Job:
        names = ("task", "key", "config", "inputs", "outputs", "params", "attempt", "log", "run",
                 "context")
        return cls(**{name: data[name] for name in names if name in data})


class Meter(Protocol):
    """What a client of a paid service is given to ask before each call and report after it:
    a `Job`, or `FREE` outside a run."""

    def check_budget(self, service: str) -> None: ...

    def spend(self, service: str, *, model: str | None = None, **counts: int) -> None: ...


class _Free:
    """The meter of a call made outside a job: no budget, nothing recorded."""

    def check_budget(self, service: str) -> None:
        return None

    def spend(self, service: str, *, model: str | None = None, **counts: int) -> None:
        return None


FREE: Meter = _Free()


def load_task(name: str) -> Task:
    """The task registered under `name` (its stage is imported now)."""
    from importlib.metadata import entry_points  # on use: a job command hands its job over

    found = entry_points(group=TASK_GROUP, name=name)
    if not found:
        known = ", ".join(sorted(point.name for point in entry_points(group=TASK_GROUP)))
        raise KeyError(f"no task {name!r} is registered (registered: {known or 'none'}; "
                       "is the package installed? pip install -e .)")
    task = next(iter(found)).load()
    if not isinstance(task, Task) or task.name != name:
        raise TypeError(f"entry point {name!r} does not name a Task called {name!r}")
    return task


def task_names() -> list[str]:
    from importlib.metadata import entry_points

    return sorted(point.name for point in entry_points(group=TASK_GROUP))
