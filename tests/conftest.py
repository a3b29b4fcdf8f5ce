"""Shared fixtures: both parser engines, the real-backup corpus, and the build check."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

import mbx
import mbx.xml._core as core

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real"

ENGINES = ["mbx.xml._parser_py"]
if mbx.implementation == "cython":  # MBX_NO_EXTENSIONS=1 runs the pure engine alone
    ENGINES.append("mbx._speedups._parser")


def pytest_report_header(config):
    return [f"mbx implementation: {mbx.implementation}; engines under test: "
            + ", ".join(name.rsplit(".", 1)[-1] for name in ENGINES)]


def pytest_sessionstart(session):
    if os.environ.get("MBX_REQUIRE_EXTENSIONS", "") not in ("", "0") and \
            mbx.implementation != "cython":
        raise pytest.UsageError("MBX_REQUIRE_EXTENSIONS=1 but the compiled path is not loaded")


@pytest.fixture(params=ENGINES, ids=lambda name: name.rsplit(".", 1)[-1])
def engine(request, monkeypatch):
    """Runs the test once per engine, with mbx.xml.Parser using that engine."""
    module = importlib.import_module(request.param)
    monkeypatch.setattr(core, "Engine", module.Engine)
    return module


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"the real-backup corpus is missing: {FIXTURES}")
    return FIXTURES
