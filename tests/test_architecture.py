"""The house rules, checked: dependencies point down the data flow, and the pieces
that were once written twice exist once.

Imports are read with ``ast`` from the source files, including imports inside
functions, so a lazy import counts like any other.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mbx"

#: Each room and the rooms it may import (besides itself and the shared basics).
BASICS = {"mbx", "mbx.errors", "mbx.units", "mbx.limits", "mbx._impl", "mbx.progress", "mbx._memory"}
ALLOWED = {
    "archive": {"archive"},
    "xml": {"xml", "_speedups", "_recordspec"},
    "moodle2": {"moodle2", "archive", "xml"},
    "inspect": {"archive", "xml", "moodle2"},
    "verification": {"archive", "xml", "moodle2"},
    "synth": {"synth", "archive", "xml", "moodle2"},
    "restore": {"restore", "archive", "xml", "moodle2"},
    "transform": {"transform", "archive", "xml", "moodle2"},
    "store": {"store", "archive", "xml", "moodle2"},
    # the job queue runs the consumers' operations, named as data (kinds.KINDS), never
    # by import: it sits beside the CLI, above them
    "jobs": {"jobs", "archive"},
}
CONSUMERS = ("inspect", "verification", "synth", "restore", "transform", "store")


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC.parent).with_suffix("")
        name = ".".join(relative.parts).removesuffix(".__init__")
        found[name] = path
    return found


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.add(target)
    return {name for name in names if name == "mbx" or name.startswith("mbx.")}


def _room_of_file(module: str) -> str:
    return _room(module)


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_rooms_import_only_what_lies_below_them(room):
    offences = []
    for module, path in _modules().items():
        if _room_of_file(module) != room:
            continue
        for target in _imports(path, module):
            if target in BASICS:
                continue
            if _room_of_file(target) not in ALLOWED[room]:
                offences.append(f"{module} imports {target}")
    assert not offences, offences


def test_no_consumer_imports_another():
    for module, path in _modules().items():
        room = _room_of_file(module)
        if room not in CONSUMERS:
            continue
        others = {_room_of_file(t) for t in _imports(path, module)} & set(CONSUMERS)
        assert others <= {room}, f"{module} imports {others - {room}}"


def _source_text() -> str:
    return "\n".join(path.read_text() for path in SRC.rglob("*.py"))


@pytest.mark.parametrize("pattern, what", [
    (r"""["']Moodle archive file index\. Count: """, "the .ARCHIVE_INDEX header"),
    (r"^class FileRecord\b", "a class named FileRecord"),
    (r"^class \w*Limits\b.*:\n(?:.*\n)*?\s+def __post_init__", "limits validation"),
    (r"from isal import isal_zlib", "codec selection"),
    (r"""filename["']?\)? ?!= ?["']\.["']|== ?["']\.["'] or not""", "the 'has content' test"),
])
def test_written_once(pattern, what):
    text = _source_text()
    places = re.findall(pattern, text, re.MULTILINE)
    assert len(places) <= 1, f"{what} is written {len(places)} times"


def test_docstrings_cite_only_what_the_repository_holds():
    """The format and design documents live outside the repository: a reader of the
    code can't follow "format doc §1.3", so the facts are stated where they are used."""
    cited = re.compile(r"format doc|design\.md|moodle2-format|moodle-restore|§")
    offences = [f"{path.relative_to(SRC)}:{number}"
                for path in sorted(SRC.rglob("*.py*")) if path.suffix in (".py", ".pyx", ".pxi")
                for number, line in enumerate(path.read_text().splitlines(), 1)
                if cited.search(line)]
    assert not offences, offences


@pytest.mark.parametrize("limits_class", ["mbx.xml:Limits", "mbx.archive:ArchiveLimits"])
def test_every_set_of_limits_is_checked_the_same_way(limits_class):
    import importlib

    import mbx.limits

    module, name = limits_class.split(":")
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, mbx.limits.Bounds)
    first = cls.__struct_fields__[0]
    for bad in (0, -1, True, "7"):
        with pytest.raises(ValueError, match=f"{name}.{first} must be a positive"):
            cls(**{first: bad})
