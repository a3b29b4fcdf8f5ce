"""Both engines against an independent lxml reading, on every real backup.

For every XML member of every corpus item (tar.gz, zip and folders), records
from each engine must equal those of ``reference.py``, whole and in prime-sized
chunks, with every element path registered flat, and again with the root's
children grouped. Documents lxml refuses must be refused by the engines too.
"""

from __future__ import annotations

import pytest
from lxml import etree

from corpus import items, xml_members
from mbx.errors import XmlError
from mbx.xml import Parser
from reference import element_paths, reference_records


def collect(registered: dict[str, bool], chunks) -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    parser = Parser()
    groups = [path for path, grouped in registered.items() if grouped]
    for path, grouped in registered.items():
        inside = any(path.startswith(outer + "/") for outer in groups)
        parser.add_path(path, None if inside else (lambda record, path=path: out.append((path, record))),
                        grouped=grouped)
    parser.parse(chunks)
    return out


def split(data: bytes, size: int) -> list[bytes]:
    return [data[at:at + size] for at in range(0, len(data), size)]


def registrations(paths: list[str]) -> list[dict[str, bool]]:
    flat = {path: False for path in paths}
    nested = {path: False for path in paths}
    for path in paths:
        if path.count("/") == 2 and any(other.startswith(path + "/") for other in paths):
            nested[path] = True
    return [flat, nested]


@pytest.mark.parametrize("item", items())
def test_records_match_reference(engine, item):
    members = 0
    for name, data in xml_members(item):
        members += 1
        try:
            paths = element_paths(data)
        except etree.XMLSyntaxError:
            with pytest.raises(XmlError):
                collect({}, [data])
            continue
        for registered in registrations(paths):
            expected = reference_records(data, registered)
            assert collect(registered, [data]) == expected, name
            assert collect(registered, split(data, 4099)) == expected, name
        if name.endswith("moodle_backup.xml"):
            flat = registrations(paths)[0]
            assert collect(flat, split(data, 1)) == reference_records(data, flat), name
    assert members > 0, f"{item} has no XML members"
