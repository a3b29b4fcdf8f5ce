"""The archive layer: Moodle backups in, member streams out (read side).

First stage of the data flow: bytes from a ``.mbz`` (tar.gz
or zip) or an extracted folder become safe, named binary streams for the XML
layer (``mbx.xml``) and the consumers above it::

    from mbx.archive import open_backup

    with open_backup("course.mbz") as backup:
        print(backup.kind, backup.format)            # "tar.gz", "moodle2"
        index = backup.read_index()                  # what the index claims, or None
        backup.check()                               # the whole file's verdict, once
        with backup.open("moodle_backup.xml") as stream:
            ...
        for info, stream in backup.iter_members():   # one pass, archive order
            ...

Modules, in the order data flows through them: ``detect`` (which container,
which format), ``inflate`` (gzip, with the fastest decompressor installed),
``tar_reader`` / ``zip_reader`` / ``folder_reader`` (framing), ``base``
(member records, limits, the safety checks all three share), ``streams``
(members as file objects), ``index`` (``.ARCHIVE_INDEX``) and ``backup``
(:func:`open_backup`). Everything refused is an :class:`~mbx.errors.ArchiveError`
with a stable ``code``; nothing is ever extracted or written.
"""

from mbx.archive.backup import Backup, Listing, as_backup, list_members, open_backup
from mbx.archive.base import (ARCHIVE_INDEX_NAME, ArchiveLimits, ArchiveWarning, IgnoredMember,
                              MemberInfo)
from mbx.archive.index import parse_archive_index
from mbx.archive.inflate import available_inflaters, inflater

__all__ = ["ARCHIVE_INDEX_NAME", "ArchiveLimits", "ArchiveWarning", "Backup", "IgnoredMember",
           "Listing", "MemberInfo", "as_backup", "available_inflaters", "inflater",
           "list_members", "open_backup", "parse_archive_index"]
