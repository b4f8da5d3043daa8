"""Shared fixtures (the fake web with the demo catalog) and the suite's skip policy.

Under CI (the `CI` environment variable set, as CI services do and as `.ci/run` should) a
skipped test is a failure: a skip there means a required real component (PostgreSQL, Xvfb,
psutil...) is missing, and a green run that tested less than it claims is worse than a red
one. Only a test marked `@pytest.mark.optional(reason=...)` may skip there; its reason is
printed in the skip summary wherever the suite runs.
"""

from __future__ import annotations

import os

import pytest

from tiktok_research.fakeweb.server import FakeWeb

CI_OFF = {"", "0", "false", "no"}

# The Slurm cluster tests (tests/cluster) run under `make test-cluster` only, which sets this.
CLUSTER_TESTS = "TIKTOK_RESEARCH_CLUSTER_TESTS"
collect_ignore = [] if os.environ.get(CLUSTER_TESTS) else ["cluster"]


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in CI_OFF


def optional_reason(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("optional")
    if marker is None:
        return None
    return str(marker.kwargs.get("reason") or (marker.args[0] if marker.args else ""))


def skip_location(report: pytest.TestReport | pytest.CollectReport) -> tuple[str, int, str]:
    """Where the skip was raised and why (pytest stores a skip as that triple)."""
    if isinstance(report.longrepr, tuple):
        path, line, message = report.longrepr
        return str(path), int(line or 0), str(message).removeprefix("Skipped: ")
    return report.nodeid, 0, str(report.longrepr)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unexplained = [item.nodeid for item in items if optional_reason(item) == ""]
    if unexplained:
        raise pytest.UsageError("@pytest.mark.optional needs a reason: " + ", ".join(unexplained))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report: pytest.TestReport = yield
    if not report.skipped or hasattr(report, "wasxfail"):
        return report
    path, line, message = skip_location(report)
    reason = optional_reason(item)
    if reason is not None:
        report.longrepr = (path, line, f"optional ({reason}): {message}")
    elif running_in_ci():
        report.outcome = "failed"
        report.longrepr = (f"{path}:{line}: skipped under CI, where a skip is a failure: "
                           f"{message}\nInstall what is missing (make system-deps, make setup), "
                           "or mark the test @pytest.mark.optional(reason=...) if it may skip.")
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    report: pytest.CollectReport = yield
    if report.skipped and running_in_ci():
        # A module-level skip or importorskip would hide every test in the file.
        path, line, message = skip_location(report)
        report.outcome = "failed"
        report.longrepr = f"{path}:{line}: collection skipped under CI: {message}"
    return report


@pytest.fixture
def fake_web():
    web = FakeWeb().start()
    yield web
    web.stop()
