"""The reader of ``moodle_backup.xml``: its ``information`` block, typed.

Read as Moodle's restore reads it: one grouped record at
``/moodle_backup/information`` with the details, contents and settings
nested, turned into :class:`~mbx.moodle2.models.Information`. Every consumer
that needs the listing (inspect, verify, later restore) reads it here.
"""

from __future__ import annotations

import os
from typing import BinaryIO

import msgspec

from mbx.archive import Backup, open_backup
from mbx.errors import FormatError
from mbx.moodle2.members import MOODLE_BACKUP
from mbx.moodle2.models import Information
from mbx.xml import Parser

INFORMATION = "/moodle_backup/information"
#: The repeated parts of the block, delivered inside its grouped record.
_BELOW = ("details/detail", "contents/activities/activity", "contents/sections/section",
          "contents/course", "settings/setting")


def read_information(stream: BinaryIO | str | os.PathLike, source: str | None = None
                     ) -> Information:
    """The typed ``information`` block of one ``moodle_backup.xml`` stream (or file)."""
    found: list[dict] = []
    parser = Parser(source=source)
    parser.add_path(INFORMATION, found.append, grouped=True)
    for below in _BELOW:
        parser.add_path(f"{INFORMATION}/{below}")
    parser.parse(stream)
    if not found:
        raise FormatError("moodle_backup.xml has no <information> block",
                          code="format-no-information", source=source)
    try:
        return Information.from_record(found[0])
    except FormatError as error:
        error.source = source
        raise
    except msgspec.ValidationError as error:  # an element where text belongs, or the reverse
        raise FormatError(f"the <information> block does not have Moodle's shape: {error}",
                          code="format-bad-information", source=source) from None


def read_backup_information(backup: Backup | str | os.PathLike) -> Information:
    """The typed ``information`` block of a moodle2 backup (a path, or an opened
    :class:`~mbx.archive.Backup`, left open)."""
    if not isinstance(backup, Backup):
        with open_backup(backup) as opened:
            return read_backup_information(opened)
    if backup.format != "moodle2":
        raise FormatError.unsupported(
            backup.format, f"{backup.format} backups have no moodle_backup.xml to show",
            source=backup.path)
    with backup.open(MOODLE_BACKUP) as stream:
        return read_information(stream, source=MOODLE_BACKUP)
