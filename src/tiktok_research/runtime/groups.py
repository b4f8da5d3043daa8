"""A workaround for Snakemake's job groups spanning several components (`--group-components`).

Snakemake (9.27) caches each group job under the jobs it was made of, then merges components
into it in place (`GroupJob.merge`). The next DAG update (after every finished job) gets the
merged object back for one component and merges again, so the groups snowball until every
per-video job of the run is in one cluster job; the merged object's hash (its jobs) changes
too, while the scheduler holds it in sets. `fresh_group_jobs` makes the factory hand out a new
group job whenever the cached one no longer holds exactly the jobs asked for.
"""

from __future__ import annotations

from typing import Any


def fresh_group_jobs() -> None:
    from snakemake.jobs import GroupJob, GroupJobFactory

    if getattr(GroupJobFactory.new, "fresh", False):
        return

    def new(self: Any, groupid: str, jobs: Any, resources: Any) -> GroupJob:
        jobs = frozenset(jobs)
        group = self.cache.get((groupid, jobs))
        if group is None or group.jobs != jobs:
            group = self.cache[(groupid, jobs)] = GroupJob(groupid, jobs, resources)
        return group

    new.fresh = True  # type: ignore[attr-defined]
    GroupJobFactory.new = new
