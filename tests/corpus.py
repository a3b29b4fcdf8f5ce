"""Test-side access to the real backups: every XML member of every item.

Deliberately independent of mbx's own archive layer: the standard library's
tarfile and zipfile read the containers here.
"""

from __future__ import annotations

import json
import tarfile
import zipfile

from typing import Iterator

from conftest import FIXTURES


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
