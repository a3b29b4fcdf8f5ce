"""Sniffing: which container a path is, and which backup format it holds.

Place in the data flow: the first thing ``open_backup`` does. The container
comes from the first bytes, as Moodle decides it (``1F 8B`` gzip, ``PK`` zip)
or from the path being a folder; the format comes from which marker file sits
at the top level, by existence only (as Moodle decides it): ``moodle_backup.xml``
(moodle2), ``moodle.xml`` (moodle1, Moodle 1.9), ``imsmanifest.xml`` (IMS
Common Cartridge), else ``unknown``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

from mbx.archive.base import MemberInfo, refuse

__all__ = ["FORMAT_MARKERS", "detect_format", "sniff_container"]

#: (format, marker file at the top level), strongest first.
FORMAT_MARKERS = (("moodle2", "moodle_backup.xml"), ("moodle1", "moodle.xml"),
                  ("imscc", "imsmanifest.xml"))

#: First bytes of containers that are not backups, to say what was found instead.
_OTHER_MAGICS = ((b"BZh", "a bzip2 file"), (b"\xfd7zXZ\x00", "an xz file"),
                 (b"\x28\xb5\x2f\xfd", "a zstandard file"), (b"7z\xbc\xaf\x27\x1c", "a 7z archive"),
                 (b"Rar!", "a RAR archive"), (b"<?xml", "an XML file"))


def sniff_container(path: str) -> str:
    """``"tar.gz"``, ``"zip"`` or ``"folder"``; an ArchiveError for anything else."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise refuse("archive-not-found", "no such file or folder", path) from None
    if stat.S_ISDIR(status.st_mode):
        return "folder"
    if not stat.S_ISREG(status.st_mode):
        raise refuse("archive-unknown-container", "not a regular file or a folder", path)
    with open(path, "rb") as file:
        head = file.read(512)
    if head.startswith(b"\x1f\x8b"):
        return "tar.gz"
    if head.startswith(b"PK"):
        return "zip"
    if not head:
        what = "an empty file"
    elif len(head) == 512 and head[257:262] == b"ustar":
        what = "an uncompressed tar (Moodle writes gzip-compressed tar)"
    else:
        what = next((name for magic, name in _OTHER_MAGICS if head.startswith(magic)),
                    f"unknown content starting {head[:8]!r}")
    raise refuse("archive-unknown-container",
                 f"not a Moodle backup container (tar.gz, zip or folder): {what}", path)


def detect_format(members: Iterable[MemberInfo]) -> str:
    """The backup format named by the marker files among ``members``.

    Stops reading ``members`` as soon as ``moodle_backup.xml`` shows up.
    """
    markers = {marker: name for name, marker in FORMAT_MARKERS}
    found: set[str] = set()
    for member in members:
        if member.is_dir or member.name not in markers:
            continue
        if markers[member.name] == FORMAT_MARKERS[0][0]:
            return FORMAT_MARKERS[0][0]
        found.add(member.name)
    return next((name for name, marker in FORMAT_MARKERS if marker in found), "unknown")
