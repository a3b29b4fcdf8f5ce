"""The zip flavour of ``.mbz``: framing by the standard library's ``zipfile``.

Place in the data flow: the central directory gives the whole listing and
random access up front, so :class:`ZipContainer` checks every entry when it
opens (names, kinds, declared sizes, ratios, overlapping entries) and then
streams members through ``ZipFile.open``. Errors from ``zipfile`` and the
decompressors (bad CRC, truncated data, corrupt headers) become
:class:`~mbx.errors.ArchiveError` with their own codes. Zip64 is read as
``zipfile`` reads it.
"""

from __future__ import annotations

import calendar
import io
import lzma
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator

from mbx.archive import base
from mbx.archive.base import (ArchiveLimits, ArchiveWarning, EntryChecker, EntryKind,
                              IgnoredMember, MemberInfo, limit_hint, refuse)
from mbx.archive.streams import MemberRawIO, buffered, iter_random_access
from mbx.errors import ArchiveError

__all__ = ["ZipContainer"]

#: Compression methods ``zipfile`` can read: stored, deflated, bzip2, lzma.
_SUPPORTED_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                      zipfile.ZIP_LZMA}
_LOCAL_HEADER_SIZE = 30
_MODE_KINDS = {stat.S_IFLNK: EntryKind.SYMLINK, stat.S_IFCHR: EntryKind.DEVICE,
               stat.S_IFBLK: EntryKind.DEVICE, stat.S_IFIFO: EntryKind.FIFO,
               stat.S_IFSOCK: EntryKind.SOCKET, stat.S_IFDIR: EntryKind.DIRECTORY}
#: What the decompressors raise on corrupt data (bz2 raises OSError).
_DATA_ERRORS = (zlib.error, lzma.LZMAError, OSError, struct.error)


def _kind(info: zipfile.ZipInfo) -> EntryKind:
    mode = info.external_attr >> 16
    kind = _MODE_KINDS.get(stat.S_IFMT(mode))
    if kind is not None:
        return kind
    return EntryKind.DIRECTORY if info.filename.endswith("/") else EntryKind.FILE


def _mtime(info: zipfile.ZipInfo) -> int | None:
    try:
        return calendar.timegm(info.date_time + (0, 0, 0))
    except (ValueError, OverflowError):
        return None


class ZipContainer:
    """A zip archive, checked whole at open, read member by member."""

    kind = "zip"

    def __init__(self, path: str, limits: ArchiveLimits) -> None:
        self.path = path
        self.limits = limits
        self._file = base.open_archive_file(path)
        try:
            self._zip = self._open_zip()
            checker = EntryChecker(limits, path)
            self._members: list[MemberInfo] = []
            self._infos: dict[str, zipfile.ZipInfo] = {}
            for info in self._zip.infolist():
                member = self._admit(checker, info)
                if member is not None:
                    self._members.append(member)
                    self._infos[member.name] = info
            self._check_overlaps()
        except BaseException:
            self._file.close()
            raise
        self.ignored: tuple[IgnoredMember, ...] = tuple(checker.ignored)
        self.warnings: tuple[ArchiveWarning, ...] = tuple(checker.warnings)

    def _open_zip(self) -> zipfile.ZipFile:
        self._check_declared_entry_count()
        try:
            return zipfile.ZipFile(self._file)
        except zipfile.BadZipFile as exc:
            if "not a zip file" in str(exc) or "Truncated" in str(exc):
                raise refuse("archive-truncated-zip",
                             f"no complete zip central directory ({exc}): the file is "
                             "truncated or not a zip", self.path) from None
            raise refuse("archive-corrupt-zip", f"corrupt zip directory: {exc}",
                         self.path) from None
        except NotImplementedError as exc:
            raise refuse("archive-unsupported-zip-version",
                         f"the zip needs a newer reader than zipfile ({exc})", self.path) from None
        except (EOFError, struct.error, ValueError, OverflowError, zipfile.LargeZipFile) as exc:
            raise refuse("archive-corrupt-zip", f"corrupt zip directory: {exc}",
                         self.path) from None

    def _check_declared_entry_count(self) -> None:
        """Refuses too many entries before ``zipfile`` builds one object per entry.

        Uses ``zipfile._EndRecData`` (internal, stable since Python 2), and
        leaves the decision to the full parse when it is missing or fails.
        """
        end_record = getattr(zipfile, "_EndRecData", None)
        try:
            record = end_record(self._file) if end_record else None
        except (OSError, EOFError, struct.error, zipfile.BadZipFile):
            record = None
        if record and record[zipfile._ECD_ENTRIES_TOTAL] > self.limits.max_members:
            raise refuse("archive-too-many-members",
                         f"the zip directory declares {record[zipfile._ECD_ENTRIES_TOTAL]} "
                         f"entries, more than {self.limits.max_members} "
                         f"({limit_hint('max_members')})", self.path)
        self._file.seek(0)

    def _admit(self, checker: EntryChecker, info: zipfile.ZipInfo) -> MemberInfo | None:
        # ZipInfo cuts filename at a NUL; orig_filename keeps the stored name
        member = checker.admit(info.orig_filename, _kind(info), info.file_size, _mtime(info))
        if member is None:
            return None
        if info.flag_bits & 0x1:
            raise refuse("archive-encrypted", f"member {member.name!r} is encrypted", self.path)
        if info.compress_type not in _SUPPORTED_METHODS:
            raise refuse("archive-unsupported-compression",
                         f"member {member.name!r} uses compression method "
                         f"{info.compress_type}, which mbx cannot read", self.path)
        limits = self.limits
        if info.file_size > limits.ratio_applies_after and \
                info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise refuse("archive-ratio-exceeded",
                         f"member {member.name!r} inflates {info.compress_size} bytes to "
                         f"{info.file_size}, over {limits.max_ratio:g} times (a decompression "
                         f"bomb? {limit_hint('max_ratio')})", self.path)
        return member

    def _check_overlaps(self) -> None:
        """Refuses entries whose data overlaps the next entry (the overlapping-entry bomb)."""
        infos = sorted(self._zip.infolist(), key=lambda info: info.header_offset)
        if not infos:
            return  # an empty zip (found by fuzz/fuzz_zip.py)
        ends = [info.header_offset for info in infos[1:]] + [self._zip.start_dir]
        for info, next_start in zip(infos, ends, strict=True):
            name_length = len(info.orig_filename.encode("utf-8" if info.flag_bits & 0x800
                                                        else "cp437", "surrogateescape"))
            data_end = info.header_offset + _LOCAL_HEADER_SIZE + name_length + info.compress_size
            if data_end > next_start:
                raise refuse("archive-zip-overlap",
                             f"member {info.filename!r} overlaps the next entry (a zip bomb "
                             "or a corrupt directory)", self.path)

    def check(self) -> None:
        """Nothing left to check: every entry was checked when the container opened."""

    def members(self) -> Iterator[MemberInfo]:
        """Every member, in central-directory order."""
        yield from self._members

    def iter_members(self, *, read_ahead: bool = False
                     ) -> Iterator[tuple[MemberInfo, io.BufferedReader]]:
        """``(info, stream)`` in directory order; each stream is closed when the next comes
        (each member inflates on its own: ``read_ahead`` changes nothing)."""
        return iter_random_access(self._members, self.open)

    def open(self, name: str) -> io.BufferedReader:
        """A stream of one member, read through ``ZipFile.open``."""
        info = self._infos.get(name)
        if info is None:
            raise refuse("archive-member-not-found", f"no member named {name!r}", self.path)
        if info.is_dir() or _kind(info) is EntryKind.DIRECTORY:
            raise refuse("archive-member-is-directory", f"member {name!r} is a directory",
                         self.path)
        try:
            opened = self._zip.open(info)
        except Exception as exc:
            raise _translate(exc, name, self.path) from None
        return buffered(_ZipMemberRaw(opened, name, info.file_size, self.path))

    def close(self) -> None:
        self._zip.close()
        self._file.close()


def _translate(exc: Exception, name: str, source: str) -> ArchiveError:
    if isinstance(exc, ArchiveError):
        return exc
    if isinstance(exc, zipfile.BadZipFile) and "CRC" in str(exc):
        return refuse("archive-zip-bad-crc",
                      f"member {name!r} fails its CRC-32 check (corrupt data)", source)
    if isinstance(exc, EOFError) or "Truncated" in str(exc):
        return refuse("archive-truncated-zip", f"member {name!r} is cut short: {exc}", source)
    if isinstance(exc, UnicodeDecodeError):  # a UTF-8-flagged local header (fuzz_verify.py)
        return refuse("archive-corrupt-zip",
                      f"member {name!r}: the name in its local header is not UTF-8", source)
    if isinstance(exc, NotImplementedError):
        return refuse("archive-unsupported-compression", f"member {name!r}: {exc}", source)
    if isinstance(exc, (zipfile.BadZipFile, *_DATA_ERRORS)):
        return refuse("archive-corrupt-zip", f"member {name!r} is corrupt: {exc}", source)
    raise exc


class _ZipMemberRaw(MemberRawIO):
    """Reads a ``ZipExtFile``, turning its errors into ArchiveError and checking the size."""

    def __init__(self, opened: zipfile.ZipExtFile, name: str, size: int, source: str) -> None:
        super().__init__(name)
        self._opened = opened
        self._expected_size = size
        self._produced = 0
        self._source = source

    def readinto(self, buffer) -> int:
        self._check_open()
        try:
            data = self._opened.read(len(buffer))
        except Exception as exc:
            raise _translate(exc, self.name, self._source) from None
        count = len(data)
        buffer[:count] = data
        self._produced += count
        if count == 0 and self._produced != self._expected_size:
            raise refuse("archive-truncated-zip",
                         f"member {self.name!r} holds {self._produced} bytes, its header says "
                         f"{self._expected_size}", self._source)
        return count

    def close(self) -> None:
        if not self.closed:
            self._opened.close()
        super().close()
