"""An extracted backup: a folder on disk read as if it were an archive.

Place in the data flow: the same role as ``tar_reader`` and ``zip_reader``,
so consumers never care whether a backup was unpacked. The tree is walked
once when it opens (names sorted, each directory before what it holds) and
every entry goes through ``base.EntryChecker``: symbolic links, FIFOs, devices
and sockets are refused, never followed or opened. ``open()`` checks again
the file it opens (not a symlink, a regular file) in case the tree changed.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator

from mbx.archive.base import (ArchiveLimits, ArchiveWarning, EntryChecker, EntryKind,
                              IgnoredMember, MemberInfo, refuse)
from mbx.archive.streams import MemberRawIO, buffered, iter_random_access

__all__ = ["FolderContainer"]

_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))


def _kind(entry: os.DirEntry) -> EntryKind:
    if entry.is_symlink():
        return EntryKind.SYMLINK
    if entry.is_dir(follow_symlinks=False):
        return EntryKind.DIRECTORY
    if entry.is_file(follow_symlinks=False):
        return EntryKind.FILE
    mode = entry.stat(follow_symlinks=False).st_mode
    if stat.S_ISFIFO(mode):
        return EntryKind.FIFO
    if stat.S_ISSOCK(mode):
        return EntryKind.SOCKET
    return EntryKind.DEVICE


def _sorted_entries(prefix: str, folder: str) -> list[tuple[str, os.DirEntry]]:
    with os.scandir(folder) as scan:
        return [(prefix + entry.name, entry) for entry in sorted(scan, key=lambda e: e.name)]


def _walk(root: str) -> Iterator[tuple[str, os.DirEntry]]:
    """``(relative name, entry)`` depth first, sorted by name, each directory before its content.

    A directory is read only after the caller has seen (and admitted) it.
    """
    stack = _sorted_entries("", root)[::-1]
    while stack:
        name, entry = stack.pop()
        yield name, entry
        if entry.is_dir(follow_symlinks=False):  # never true for a symlink
            stack.extend(_sorted_entries(name + "/", entry.path)[::-1])


class FolderContainer:
    """A backup already extracted to a folder."""

    kind = "folder"

    def __init__(self, path: str, limits: ArchiveLimits) -> None:
        self.path = path
        self.limits = limits
        checker = EntryChecker(limits, path)
        self._members: list[MemberInfo] = []
        self._directories: set[str] = set()
        self._files: set[str] = set()
        for name, entry in _walk(path):
            kind = _kind(entry)
            status = entry.stat(follow_symlinks=False)
            size = status.st_size if kind is EntryKind.FILE else 0
            member = checker.admit(name, kind, size, int(status.st_mtime))
            if member is not None:
                self._members.append(member)
                (self._directories if member.is_dir else self._files).add(member.name)
        self.ignored: tuple[IgnoredMember, ...] = tuple(checker.ignored)
        self.warnings: tuple[ArchiveWarning, ...] = tuple(checker.warnings)

    def check(self) -> None:
        """Nothing left to check: every entry was checked when the container opened."""

    def members(self) -> Iterator[MemberInfo]:
        """Every file and directory, in walk order."""
        yield from self._members

    def iter_members(self, *, read_ahead: bool = False
                     ) -> Iterator[tuple[MemberInfo, io.BufferedReader]]:
        """``(info, stream)`` in walk order; each stream is closed when the next comes
        (nothing inflates: ``read_ahead`` changes nothing)."""
        return iter_random_access(self._members, self.open)

    def open(self, name: str) -> io.BufferedReader:
        """A stream of one file of the folder."""
        if name in self._directories:
            raise refuse("archive-member-is-directory", f"member {name!r} is a directory",
                         self.path)
        if name not in self._files:
            raise refuse("archive-member-not-found", f"no member named {name!r}", self.path)
        path = os.path.join(self.path, *name.split("/"))
        try:
            descriptor = os.open(path, _OPEN_FLAGS)
        except OSError as exc:
            if os.path.islink(path):
                raise refuse("archive-symlink", f"member {name!r} became a symbolic link",
                             self.path) from None
            raise exc
        raw = io.FileIO(descriptor, "rb", closefd=True)
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raw.close()
            raise refuse("archive-special-file", f"member {name!r} is no longer a regular file",
                         self.path)
        return buffered(_FileMemberRaw(raw, name, self.limits.max_member_size, self.path))

    def close(self) -> None:
        """Nothing to close: each stream owns its file."""


class _FileMemberRaw(MemberRawIO):
    """A file of the folder, refused if it grows past the member size limit while read."""

    def __init__(self, raw: io.FileIO, name: str, max_size: int, source: str) -> None:
        super().__init__(name)
        self._raw = raw
        self._max_size = max_size
        self._read = 0
        self._source = source

    def readinto(self, buffer) -> int:
        self._check_open()
        count = self._raw.readinto(buffer)
        self._read += count or 0
        if self._read > self._max_size:
            raise refuse("archive-member-too-large",
                         f"member {self.name!r} grew past {self._max_size} bytes while read",
                         self._source)
        return count

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()
