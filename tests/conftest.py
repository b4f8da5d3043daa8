"""Shared fixtures: the fake web (with the demo catalog) and a workflow runner."""

from __future__ import annotations

import pytest

from tiktok_research.fakeweb.server import FakeWeb


@pytest.fixture
def fake_web():
    web = FakeWeb().start()
    yield web
    web.stop()
