"""The members of a backup in the order a restore needs them, in two passes.

A Moodle tar.gz is sorted by top-level name: activities first, then the
blobs, then ``files.xml``, ``moodle_backup.xml`` and ``users.xml`` near the
end. Restore needs the opposite: users, roles, groups, sections and files
before any activity. :class:`TwoPassSource` solves that for a tar.gz:

* the *survey* pass inflates the whole archive once, checks every member (the
  archive layer refuses what is unsafe before anything is written), and
  spools the small members (control files, per-activity ``module.xml``,
  ``roles.xml``, ``grades.xml`` ...) into the work folder, where they can be
  opened in any order;
* the *stream* pass inflates the archive a second time and hands over, in
  archive order, the two kinds of member that make up nearly all of a
  course's bytes and are never spooled: the activity documents
  (``activities/<mod>_<cmid>/<mod>.xml``) and the blobs (``files/…``).

A zip or an extracted folder can be opened in any order already: there the
survey spools nothing.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable, Iterator
from typing import BinaryIO

from mbx._memory import HeapTrimmer
from mbx.archive import Backup
from mbx.archive.base import MemberInfo
from mbx.errors import FormatError
from mbx.moodle2.members import ACTIVITY_MEMBER, BLOB, is_activity_file

__all__ = ["TwoPassSource", "is_streamed"]

COPY_CHUNK = 1 << 20


def is_streamed(name: str) -> bool:
    """Whether a member is read in the stream pass rather than spooled: blobs and
    activity documents (``activities/forum_12/forum.xml``)."""
    if name.startswith("files/"):
        return BLOB.fullmatch(name) is not None
    match = ACTIVITY_MEMBER.fullmatch(name)
    return match is not None and is_activity_file(match)


class TwoPassSource:
    def __init__(self, backup: Backup, work: str) -> None:
        self.backup = backup
        self.random_access = backup.kind != "tar.gz"
        self.spool_path = os.path.join(work, "spool")
        self._spool: BinaryIO | None = None
        self._spooled: dict[str, tuple[int, int]] = {}   # name -> (offset, length) in the spool
        self._sizes: dict[str, int] = {}
        self.streamed_bytes = 0
        self.spooled_bytes = 0

    # -- survey ------------------------------------------------------------------------
    def survey(self, on_member: Callable[[MemberInfo], None]) -> None:
        """The first pass: every member checked; the small ones spooled (tar.gz)."""
        if self.random_access:
            for info in self.backup.members():
                on_member(info)
                if not info.is_dir:
                    self._sizes[info.name] = info.size
                    if is_streamed(info.name):
                        self.streamed_bytes += info.size
            return
        heap = HeapTrimmer()  # flat memory over gigabytes of chunks (mbx._memory)
        for info, stream in self.backup.iter_members():
            on_member(info)
            heap.add(info.size)
            if info.is_dir:
                continue
            self._sizes[info.name] = info.size
            if is_streamed(info.name):
                self.streamed_bytes += info.size
                continue
            if self._spool is None:
                self._spool = open(self.spool_path, "w+b")
            start = self._spool.tell()
            shutil.copyfileobj(stream, self._spool, COPY_CHUNK)
            self._spooled[info.name] = (start, self._spool.tell() - start)
            self.spooled_bytes += info.size
        if self._spool is not None:
            self._spool.flush()

    def exists(self, name: str) -> bool:
        return name in self._sizes

    def size(self, name: str) -> int:
        return self._sizes.get(name, 0)

    def names(self) -> Iterator[str]:
        return iter(self._sizes)

    def open(self, name: str) -> BinaryIO:
        """A member that is not streamed, in any order."""
        if name not in self._sizes:
            raise FormatError(f"the backup has no {name}", code="format-missing-member", source=name)
        if self.random_access:
            return self.backup.open(name)
        offset, length = self._spooled[name]
        return io.BufferedReader(_Slice(self._spool.fileno(), offset, length), COPY_CHUNK)

    # -- stream ------------------------------------------------------------------------
    def stream(self, wanted: Callable[[str], bool]) -> Iterator[tuple[MemberInfo, BinaryIO]]:
        """The second pass: activity documents and blobs, in archive order (tar.gz) or in
        listing order, for which ``wanted(name)`` is true."""
        if self.random_access:
            for name in list(self._sizes):
                if is_streamed(name) and wanted(name):
                    with self.backup.open(name) as stream:
                        yield MemberInfo(name=name, size=self._sizes[name], mtime=None, is_dir=False), stream
            return
        heap = HeapTrimmer()
        for info, stream in self.backup.iter_members():
            heap.add(info.size)
            if not info.is_dir and is_streamed(info.name) and wanted(info.name):
                yield info, stream

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            os.unlink(self.spool_path)
            self._spool = None


class _Slice(io.RawIOBase):
    """One spooled member: a window of the spool file, read with ``pread`` (so any
    number can be open at once without sharing a file position)."""

    def __init__(self, fd: int, offset: int, length: int) -> None:
        self._fd = fd
        self._offset = offset
        self._end = offset + length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self._end - self._offset)
        if count <= 0:
            return 0
        data = os.pread(self._fd, count, self._offset)
        buffer[:len(data)] = data
        self._offset += len(data)
        return len(data)
