"""runtime.groups: Snakemake's group job factory after `fresh_group_jobs`, with stand-in jobs
(what GroupJob reads of a job: its DAG, for the attempt)."""

from __future__ import annotations

from types import SimpleNamespace

from snakemake.jobs import GroupJobFactory

from tiktok_research.runtime.groups import fresh_group_jobs

DAG = SimpleNamespace(workflow=SimpleNamespace(execution_settings=SimpleNamespace(attempt=1)))


class StandIn:
    def __init__(self, name: str) -> None:
        self.name, self.dag = name, DAG

    def __repr__(self) -> str:
        return self.name


def test_a_merged_group_is_not_handed_out_for_its_first_component() -> None:
    fresh_group_jobs()
    factory = GroupJobFactory()
    d1, p1, d2, p2 = (StandIn(name) for name in ("d1", "p1", "d2", "p2"))
    first = factory.new("video", [d1, p1], None)
    first.merge(factory.new("video", [d2, p2], None))  # --group-components: in place
    assert first.jobs == {d1, p1, d2, p2}
    again = factory.new("video", [d1, p1], None)  # the next DAG update, one component
    assert again.jobs == {d1, p1}
    assert again is not first and first.jobs == {d1, p1, d2, p2}
    assert factory.new("video", [d1, p1], None) is again  # unmerged: the cached one
