"""Packaging: the runtime dependencies are exactly what ``src/mbx`` imports."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import mbx

ROOT = Path(__file__).resolve().parents[1]


def _third_party_imports() -> set[str]:
    found = set()
    for path in Path(mbx.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name != "mbx"}


def test_runtime_dependencies_are_what_the_package_imports():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    def names(requirements):
        return {re.split(r"[<>=!~\[; ]", requirement)[0].lower() for requirement in requirements}

    declared = names(project["dependencies"])
    # the extras a user installs for a feature (not the test and fuzz tools)
    optional = names(requirement for extra, requirements in project["optional-dependencies"].items()
                     if extra not in ("test", "fuzz") for requirement in requirements)
    # every dependency here installs a module of its own name
    assert declared | optional == _third_party_imports()
    assert not declared & optional
