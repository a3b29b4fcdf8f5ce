"""Shared fixtures: both parser engines, the real-backup corpus, PostgreSQL, Redis, a job
queue of each test's own, and the build check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import mbx
import mbx.xml._core as core
from jobsupport import jobs  # noqa: F401 (a fixture, see jobsupport.py)
from postgres import postgres_server, postgres_url  # noqa: F401 (fixtures, see postgres.py)
from redis_fixture import redis_server, redis_url  # noqa: F401 (fixtures, see redis_fixture.py)

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real"

#: Module names of the engines under test (MBX_NO_EXTENSIONS=1: the pure one alone).
ENGINES = core.ENGINES


def pytest_report_header(config):
    return [f"mbx implementation: {mbx.implementation}; engines under test: "
            + ", ".join(name.rsplit(".", 1)[-1] for name in ENGINES)]


def pytest_sessionstart(session):
    if os.environ.get("MBX_REQUIRE_EXTENSIONS", "") not in ("", "0") and \
            mbx.implementation != "cython":
        raise pytest.UsageError("MBX_REQUIRE_EXTENSIONS=1 but the compiled path is not loaded")


@pytest.fixture(params=ENGINES, ids=lambda name: name.rsplit(".", 1)[-1])
def engine(request):
    """Runs the test once per engine, with mbx.xml.Parser using that engine (its
    module is the fixture's value)."""
    with core.engine_in_use(request.param) as module:
        yield module


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"the real-backup corpus is missing: {FIXTURES}")
    return FIXTURES
