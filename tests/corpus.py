"""Test-side access to the real backups: every XML member of every item, and the
members of any backup (a corpus item or a test's output) in archive order.

Deliberately independent of mbx's own archive layer: the standard library's
tarfile and zipfile read the containers here.
"""

from __future__ import annotations

import json
import tarfile
import zipfile
from pathlib import Path
from typing import Iterator

from conftest import FIXTURES

#: Litter by base name that the readers skip (as do ``._*`` files and ``__MACOSX``).
LITTER = (".DS_Store",)


def items() -> list[str]:
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    return [entry["item"] for entry in manifest]


def xml_members(item: str) -> Iterator[tuple[str, bytes]]:
    """(member name, bytes) for each .xml member of one corpus item."""
    path = FIXTURES / item
    if path.is_dir():
        for file in sorted(path.rglob("*.xml")):
            yield str(file.relative_to(path)), file.read_bytes()
        return
    with open(path, "rb") as stream:
        magic = stream.read(2)
    if magic == b"\x1f\x8b":
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                if member.isfile() and member.name.endswith(".xml"):
                    yield member.name.removeprefix("./"), archive.extractfile(member).read()
    elif magic == b"PK":
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith(".xml"):
                    yield name.removeprefix("./"), archive.read(name)
    else:
        raise AssertionError(f"{item}: unknown container")


def all_members(path: Path) -> list[tuple[str, bytes | None]]:
    """(name, bytes, or None for a folder) of every member, in order: stdlib readers."""
    if path.is_dir():
        return [(str(p.relative_to(path)), None if p.is_dir() else p.read_bytes())
                for p in sorted(path.rglob("*"))]
    with open(path, "rb") as stream:
        magic = stream.read(2)
    if magic == b"PK":
        with zipfile.ZipFile(path) as archive:
            return [(info.filename.removeprefix("./").rstrip("/"),
                     None if info.is_dir() else archive.read(info))
                    for info in archive.infolist()]
    with tarfile.open(path, "r:gz") as archive:
        return [(member.name.removeprefix("./").rstrip("/"),
                 archive.extractfile(member).read() if member.isfile() else None)
                for member in archive if member.isfile() or member.isdir()]


def is_litter(name: str) -> bool:
    """macOS litter: ``__MACOSX/...``, AppleDouble ``._*`` files, ``.DS_Store``."""
    base = name.rsplit("/", 1)[-1]
    return name.startswith("__MACOSX") or base.startswith("._") or base in LITTER


def files_in_order(path: Path) -> list[tuple[str, bytes]]:
    """The files of a backup in archive order (folders, litter and the index left out)."""
    return [(name, data) for name, data in all_members(path)
            if data is not None and name != ".ARCHIVE_INDEX" and not is_litter(name)]


def files_of(path: Path) -> dict[str, bytes]:
    """:func:`files_in_order` as a mapping, name -> bytes."""
    return dict(files_in_order(path))
