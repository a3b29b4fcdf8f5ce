"""The member names a writer admits: only what mbx's own readers would read back.

Shared by both writers (:class:`~mbx.archive.writer.ArchiveWriter`, which
derives the directories from the files, and
:class:`~mbx.archive.writer.StreamingArchiveWriter`, which is given them), so
that mbx never writes an archive it would refuse, or read differently.
"""

from __future__ import annotations

from mbx.archive.base import (ARCHIVE_INDEX_NAME, ArchiveLimits, EntryChecker, EntryKind,
                              ignore_reason, normalize_member_name, refuse)
from mbx.archive.writer.ustar import split_ustar_name
from mbx.errors import ArchiveError

__all__ = ["MemberNames"]


class MemberNames:
    """Admits the names of one archive being written, or refuses them (an
    :class:`~mbx.errors.ArchiveError`); a refused name leaves nothing recorded
    but the count, so the writer can go on.

    Names must already be normal (``a/b.xml``: no ``./``, no trailing or doubled
    ``/``); the ``.ARCHIVE_INDEX`` is the writer's own; macOS litter, which
    readers skip, is refused; in a tar.gz every name must fit a plain ustar
    header. Duplicates, a file where a directory is and names that differ only
    in case are refused by the readers' own :class:`~mbx.archive.base.EntryChecker`.
    """

    def __init__(self, format: str, source: str | None) -> None:
        self.format = format
        self.source = source
        self._checker = EntryChecker(ArchiveLimits(), source, refuse_collisions=True)

    def admit(self, name: str, is_dir: bool = False) -> None:
        """Records ``name`` (a directory when ``is_dir``), or refuses it."""
        source = self.source
        if name == ARCHIVE_INDEX_NAME:
            raise refuse("archive-bad-name", f"{ARCHIVE_INDEX_NAME} is written by the writer",
                         source)
        try:
            normal, _ = normalize_member_name(name, source=source)
        except ArchiveError as error:
            raise refuse("archive-bad-name", f"unusable member name {name!r}: {error.message}",
                         source) from None
        if normal != name or not name:
            raise refuse("archive-bad-name", f"member name {name!r} is not in normal form "
                         f"({normal!r})", source)
        if ignore_reason(name) is not None:
            raise refuse("archive-bad-name", f"{name!r} is macOS litter that readers skip",
                         source)
        if self.format == "tgz":
            split_ustar_name(name + "/" if is_dir else name, source)
        # duplicates, conflicts, collisions; sizes are not the readers' limits to check here
        self._checker.admit(name, EntryKind.DIRECTORY if is_dir else EntryKind.FILE, 0, None)
