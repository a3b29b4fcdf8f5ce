"""A minimal ustar reader over the inflater: tar framing for tar.gz backups.

Place in the data flow: ``inflate.GzipInflater`` hands over inflated chunks;
:class:`UstarReader` cuts them into entries (one 512-byte header, then data
padded to 512) and serves each entry's data in place, without copying whole
members. :class:`TarGzContainer` makes one *pass* per walk over the file
(listing, streaming every member, finding one member, finding the index) and
runs every entry through ``base.EntryChecker``.

Why not ``tarfile``: a full pass with it (and ``gzip``) runs at about a third
of this reader's speed (``benchmarks/bench_inflate.py``), and it offers no
hooks for the checks we need on the way.

Read, as well as plain POSIX ustar (what Moodle writes): old GNU headers
(``ustar  ``), GNU long names and link names (``L``, ``K``), pax extended and
global headers (``x``, ``g``: ``path``, ``linkpath``, ``size``, ``mtime``),
base-256 numbers, ``./`` prefixes, directory entries or none. Refused: bad
header checksums and fields, sparse, multi-volume and unknown entry types,
links and devices (by the checker), data after the end-of-archive marker,
and a stream that ends without that marker.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Callable, Iterable, Iterator

import msgspec

from mbx.archive import base
from mbx.archive.base import (ARCHIVE_INDEX_NAME, ArchiveLimits, ArchiveWarning, EntryChecker,
                              EntryKind, IgnoredMember, MemberInfo, refuse)
from mbx.archive.index import parse_archive_index
from mbx.archive.inflate import GzipInflater, ReadAhead, gzip_trailer
from mbx.archive.streams import MemberRawIO, buffered
from mbx.errors import ArchiveError

__all__ = ["IndexListing", "TarEntry", "TarGzContainer", "UstarReader", "moodle_tar_length"]

BLOCK = 512
#: GNU long-name and pax header data larger than this is refused.
MAX_EXTENDED_HEADER = 1 << 20

_ZERO_BLOCK = bytes(BLOCK)
_OCTAL = re.compile(rb"[0-7]*")
_POSIX_MAGIC = b"ustar\x00"
_V7_MAGIC = bytes(8)
_SIGNED_BYTES = struct.Struct("512b")

_KINDS = {
    b"0": EntryKind.FILE, b"\x00": EntryKind.FILE, b"7": EntryKind.FILE,
    b"5": EntryKind.DIRECTORY,
    b"1": EntryKind.HARDLINK, b"2": EntryKind.SYMLINK,
    b"3": EntryKind.DEVICE, b"4": EntryKind.DEVICE, b"6": EntryKind.FIFO,
}
_LONG_NAME, _LONG_LINK, _PAX, _PAX_GLOBAL = b"L", b"K", b"x", b"g"
_UNSUPPORTED = {b"S": "GNU sparse file", b"M": "multi-volume continuation",
                b"V": "volume label", b"D": "GNU dump directory", b"N": "GNU old long name"}


def moodle_tar_length(index_size: int, entries: Iterable[MemberInfo]) -> int | None:
    """The length of the tar stream Moodle's packer writes for an ``.ARCHIVE_INDEX``
    of ``index_size`` bytes listing ``entries``; None if it could not write them.

    Moodle's packer (``tgz_packer``) writes the index first, then one entry per
    line of it, in its order: a 512-byte header each (names over 100 bytes go
    into the header's prefix field, never into extra headers), file data
    padded to 512 bytes, and two zero blocks at the end, with no padding to a
    10 KiB record. Every tar.gz in the real corpus whose index tells the truth
    is exactly this long, and so is what ``mbx.archive.writer`` writes; an
    archive re-packed by another tar (record padding, long-name headers) is
    not, and is listed by a scan. A name no ustar header can hold gives None.
    """
    entries = list(entries)
    if any((len(entry.name) >= 99 or not entry.name.isascii()) and
           not _fits_ustar_header(entry.name.encode("utf-8"), entry.is_dir)
           for entry in entries):
        return None
    sizes = [entry.size for entry in entries]
    return (BLOCK + index_size + -index_size % BLOCK + 2 * BLOCK + BLOCK * len(sizes)
            + sum(sizes) + sum(-size % BLOCK for size in sizes))


def _fits_ustar_header(name: bytes, is_dir: bool) -> bool:
    """Whether Moodle's packer can store ``name`` (``/`` added for a directory) in the
    name and prefix fields: it cuts at the first ``/`` leaving at most 100 bytes."""
    if is_dir:
        name += b"/"
    if len(name) <= 100:
        return True
    cut = name.find(b"/", len(name) - 101)
    return 0 < cut <= 155 and cut < len(name) - 1


class IndexListing(msgspec.Struct, frozen=True):
    """The members an ``.ARCHIVE_INDEX`` lists, taken at its word (see
    :meth:`TarGzContainer.index_listing`): the index itself first, then its entries."""

    members: list[MemberInfo]
    ignored: tuple[IgnoredMember, ...]
    warnings: tuple[ArchiveWarning, ...]


class TarEntry(msgspec.Struct):
    """One tar entry as stored, extended headers applied, before any checking."""

    name: str
    kind: EntryKind
    size: int
    mtime: int
    link_target: str


class UstarReader:
    """Walks the entries of a tar stream pulled from ``read_chunk``, in one pass.

    :meth:`next_entry` skips whatever is left of the previous entry's data and
    returns the next entry (None at the end-of-archive marker); :meth:`readinto`
    reads the current entry's data; :meth:`finish` checks that nothing but
    zeros follows the marker and lets the inflater reach its end.
    """

    def __init__(self, read_chunk: Callable[[], bytes], *, source: str | None = None) -> None:
        self._read_chunk = read_chunk
        self._source = source
        self._chunk = memoryview(b"")
        self._position = 0
        self._data_left = 0
        self._padding_left = 0
        self._global_pax: dict[str, bytes] = {}
        self._at_end = False

    # -- entries ---------------------------------------------------------------------------

    def next_entry(self) -> TarEntry | None:
        """The next entry, or None at the end-of-archive marker."""
        if self._at_end:
            return None
        self._skip(self._data_left + self._padding_left)
        self._data_left = self._padding_left = 0
        long_name = long_link = None
        pax: dict[str, bytes] = {}
        while True:
            header = self._take_header(pending=long_name is not None or long_link is not None
                                       or bool(pax))
            if header is None:
                self._at_end = True
                return None
            typeflag = header[156:157]
            size = self._number(header[124:136], "size")
            if typeflag in (_LONG_NAME, _LONG_LINK, _PAX, _PAX_GLOBAL):
                data = self._take_extended(size, typeflag)
                if typeflag == _LONG_NAME:
                    long_name = self._decode(data.rstrip(b"\x00"), "GNU long name")
                elif typeflag == _LONG_LINK:
                    long_link = self._decode(data.rstrip(b"\x00"), "GNU long link name")
                elif typeflag == _PAX:
                    pax.update(self._parse_pax(data))
                else:
                    self._global_pax.update(self._parse_pax(data))
                continue
            return self._entry(header, typeflag, size, long_name, long_link,
                               {**self._global_pax, **pax})

    def _entry(self, header: bytes, typeflag: bytes, size: int, long_name: str | None,
               long_link: str | None, pax: dict[str, bytes]) -> TarEntry:
        kind = _KINDS.get(typeflag)
        if kind is None:
            what = _UNSUPPORTED.get(typeflag, f"unknown type {typeflag!r}")
            raise refuse("archive-unsupported-entry",
                         f"tar entry {self._header_name(header)!r} is a {what}", self._source)
        if "path" in pax:
            name = self._decode(pax["path"], "pax path")
        elif long_name is not None:
            name = long_name
        else:
            name = self._header_name(header)
        if "linkpath" in pax:
            link_target = self._decode(pax["linkpath"], "pax linkpath")
        elif long_link is not None:
            link_target = long_link
        else:
            link_target = self._decode(header[157:257].split(b"\x00", 1)[0], "link name")
        if "size" in pax:
            size = self._pax_number(pax["size"], "size")
        mtime = self._number(header[136:148], "mtime", signed=True)
        if "mtime" in pax:
            mtime = self._pax_number(pax["mtime"], "mtime")
        if kind is EntryKind.FILE:
            self._data_left = size
            self._padding_left = -size % BLOCK
        elif size:
            # tarfile and Moodle disagree on whether such data exists: refuse rather than guess
            raise refuse("archive-bad-tar-header",
                         f"tar entry {name!r} ({kind.value}) declares {size} bytes of data",
                         self._source)
        return TarEntry(name, kind, size, mtime, link_target)

    def _header_name(self, header: bytes) -> str:
        name = header[0:100].split(b"\x00", 1)[0]
        if header[257:263] == _POSIX_MAGIC:  # the GNU format keeps other fields there
            prefix = header[345:500].split(b"\x00", 1)[0]
            if prefix:
                name = prefix + b"/" + name
        return self._decode(name, "name")

    # -- data ------------------------------------------------------------------------------

    def readinto(self, buffer: memoryview) -> int:
        """Copies up to ``len(buffer)`` bytes of the current entry's data; 0 at its end."""
        wanted = min(len(buffer), self._data_left)
        if wanted == 0:
            return 0
        if self._position >= len(self._chunk) and not self._next_chunk():
            raise self._truncated("inside the data of a member")
        count = min(wanted, len(self._chunk) - self._position)
        buffer[:count] = self._chunk[self._position:self._position + count]
        self._position += count
        self._data_left -= count
        return count

    def finish(self) -> None:
        """After the end marker: refuses non-zero data after it and drains the inflater."""
        if not self._at_end:
            raise RuntimeError("finish() before the end of the archive")
        while True:
            rest = self._chunk[self._position:]
            if rest.nbytes and bytes(rest).count(0) != rest.nbytes:
                raise refuse("archive-data-after-end",
                             "data follows the tar end-of-archive marker (hidden members?)",
                             self._source)
            self._position = len(self._chunk)
            if not self._next_chunk():
                return

    # -- framing helpers -------------------------------------------------------------------

    def _next_chunk(self) -> bool:
        chunk = self._read_chunk()
        self._chunk = memoryview(chunk)
        self._position = 0
        return bool(chunk)

    def _take(self, size: int) -> bytes | None:
        """Exactly ``size`` bytes, or None if the stream ends first."""
        available = len(self._chunk) - self._position
        if available >= size:
            start = self._position
            self._position += size
            return self._chunk[start:self._position].tobytes()
        parts = [self._chunk[self._position:].tobytes()]
        missing = size - available
        while missing:
            if not self._next_chunk():
                return None
            taken = min(missing, len(self._chunk))
            parts.append(self._chunk[:taken].tobytes())
            self._position = taken
            missing -= taken
        return b"".join(parts)

    def _skip(self, size: int) -> None:
        while size:
            available = len(self._chunk) - self._position
            if available >= size:
                self._position += size
                return
            size -= available
            if not self._next_chunk():
                raise self._truncated("inside the data of a member")

    def _take_header(self, *, pending: bool) -> bytes | None:
        if self._position >= len(self._chunk) and not self._next_chunk():
            raise self._truncated("without the end-of-archive marker")
        header = self._take(BLOCK)
        if header is None:
            raise self._truncated("inside a header")
        if header == _ZERO_BLOCK:
            if pending:
                raise refuse("archive-bad-tar-header",
                             "an extended header is followed by the end of the archive",
                             self._source)
            return None
        self._verify_header(header)
        return header

    def _take_extended(self, size: int, typeflag: bytes) -> bytes:
        if size > MAX_EXTENDED_HEADER:
            raise refuse("archive-extended-header-too-large",
                         f"a {typeflag.decode('latin-1')!r} extended header holds {size} bytes, "
                         f"over {MAX_EXTENDED_HEADER}", self._source)
        data = self._take(size + (-size % BLOCK))
        if data is None:
            raise self._truncated("inside an extended header")
        return data[:size]

    def _verify_header(self, header: bytes) -> None:
        if header[257:263] not in (b"ustar\x00", b"ustar ") and header[257:265] != _V7_MAGIC:
            raise refuse("archive-bad-tar-header",
                         f"not a tar header (magic {header[257:265]!r}): the tar data is corrupt",
                         self._source)
        stored = self._number(header[148:156], "checksum")
        # the checksum field counts as eight spaces; some old tars summed signed bytes
        unsigned = sum(header[:148]) + 8 * 0x20 + sum(header[156:])
        if stored != unsigned:
            signed = _SIGNED_BYTES.unpack(header)
            if stored != sum(signed[:148]) + 8 * 0x20 + sum(signed[156:]):
                raise refuse("archive-bad-tar-header",
                             "tar header checksum does not match: the tar data is corrupt",
                             self._source)

    def _number(self, field: bytes, what: str, *, signed: bool = False) -> int:
        if field and field[0] in (0x80, 0xFF):  # GNU base-256, big-endian after the marker
            value = int.from_bytes(field[1:], "big")
            if field[0] == 0xFF:
                value -= 1 << (8 * (len(field) - 1))
                if not signed:
                    raise refuse("archive-bad-tar-header",
                                 f"negative {what} in a tar header", self._source)
            return value
        digits = field.split(b"\x00", 1)[0].strip(b" ")
        if not _OCTAL.fullmatch(digits):
            raise refuse("archive-bad-tar-header",
                         f"tar header {what} field is not octal: {field!r}", self._source)
        return int(digits, 8) if digits else 0

    def _pax_number(self, value: bytes, what: str) -> int:
        try:
            number = int(float(value.decode("ascii"))) if what == "mtime" else int(value, 10)
        except (ValueError, OverflowError):
            raise refuse("archive-bad-pax", f"pax {what} is not a number: {value[:40]!r}",
                         self._source) from None
        if number < 0 and what == "size":
            raise refuse("archive-bad-pax", f"pax size is negative: {value!r}", self._source)
        return number

    def _parse_pax(self, data: bytes) -> dict[str, bytes]:
        """Records ``"<length> <key>=<value>\\n"``, the length counting the whole record."""
        records: dict[str, bytes] = {}
        position = 0
        while position < len(data):
            if data[position] == 0:  # NUL padding after the last record
                if data[position:].count(0) != len(data) - position:
                    break
                return records
            space = data.find(b" ", position, position + 20)
            length_text = data[position:space] if space > 0 else b""
            if not length_text.isdigit():
                break
            length = int(length_text)
            end = position + length
            if length <= len(length_text) + 1 or end > len(data) or data[end - 1] != 0x0A:
                break
            key, equals, value = data[space + 1:end - 1].partition(b"=")
            if not equals:
                break
            records[self._decode(key, "pax key")] = value
            position = end
        else:
            return records
        raise refuse("archive-bad-pax", f"malformed pax header record at byte {position}",
                     self._source)

    def _decode(self, raw: bytes, what: str) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise refuse("archive-name-not-utf8", f"tar {what} is not valid UTF-8: {raw!r}",
                         self._source) from None

    def _truncated(self, where: str):
        return refuse("archive-truncated-tar", f"the tar data ends {where} (truncated archive)",
                      self._source)


class _TarPass:
    """One sequential walk over a tar.gz file, with its own file handle and checker."""

    def __init__(self, path: str, limits: ArchiveLimits, *, read_ahead: bool = False) -> None:
        self.source = path
        self._file = base.open_archive_file(path)
        self._inflater = GzipInflater(self._file, limits=limits, source=path)
        self._ahead = ReadAhead(self._inflater.read_chunk) if read_ahead else None
        self.reader = UstarReader((self._ahead or self._inflater).read_chunk, source=path)
        self.checker = EntryChecker(limits, path)
        self.closed = False

    def members(self) -> Iterator[MemberInfo]:
        """Admitted members in archive order; the reader sits at each one's data."""
        while (entry := self.reader.next_entry()) is not None:
            info = self.checker.admit(entry.name, entry.kind, entry.size, entry.mtime,
                                      link_target=entry.link_target)
            if info is not None:
                yield info

    def finish(self) -> None:
        """Checks what follows the last entry, up to the end of the gzip data."""
        self.reader.finish()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self._ahead is not None:
                self._ahead.close()
            self._file.close()

    def __enter__(self) -> _TarPass:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class _TarMemberRaw(MemberRawIO):
    """The data of the entry a pass is positioned at; optionally owns (closes) the pass."""

    def __init__(self, tar_pass: _TarPass, name: str, *, owns_pass: bool) -> None:
        super().__init__(name)
        self._pass = tar_pass
        self._owns_pass = owns_pass

    def readinto(self, buffer) -> int:
        self._check_open()
        with memoryview(buffer) as view:
            return self._pass.reader.readinto(view.cast("B"))

    def close(self) -> None:
        if not self.closed and self._owns_pass:
            self._pass.close()
        super().close()


class TarGzContainer:
    """A gzip-compressed tar: every walk is a fresh sequential pass over the file.

    Listing inflates everything (use ``read_index()`` for an instant one);
    ``open(name)`` inflates up to that member. Checks that need the whole file
    (duplicates further on, data after the end, the gzip trailer) are made by
    the full walks, :meth:`members` and :meth:`iter_members`.
    """

    kind = "tar.gz"

    def __init__(self, path: str, limits: ArchiveLimits) -> None:
        self.path = path
        self.limits = limits
        #: set by the first complete walk, with :attr:`warnings`
        self.ignored: tuple[IgnoredMember, ...] | None = None
        self.warnings: tuple[ArchiveWarning, ...] | None = None

    def members(self) -> Iterator[MemberInfo]:
        """Every member, in archive order (one full pass, data skipped)."""
        with _TarPass(self.path, self.limits) as tar_pass:
            yield from tar_pass.members()
            self._finish(tar_pass)

    def check(self) -> None:
        """The whole file's verdict, once: a full pass with data skipped, unless a
        complete walk has already been made."""
        if self.ignored is None:
            for _ in self.members():
                pass

    def _finish(self, tar_pass: _TarPass) -> None:
        tar_pass.finish()
        self.ignored = tuple(tar_pass.checker.ignored)
        self.warnings = tuple(tar_pass.checker.warnings)

    def iter_members(self, *, read_ahead: bool = False
                     ) -> Iterator[tuple[MemberInfo, io.BufferedReader]]:
        """``(info, stream)`` in archive order; each stream is valid until the next item.
        ``read_ahead``: inflate in a second thread (:class:`~mbx.archive.inflate.ReadAhead`)."""
        with _TarPass(self.path, self.limits, read_ahead=read_ahead) as tar_pass:
            for info in tar_pass.members():
                stream = buffered(_TarMemberRaw(tar_pass, info.name, owns_pass=False))
                try:
                    yield info, stream
                finally:
                    stream.close()
            self._finish(tar_pass)

    def open(self, name: str) -> io.BufferedReader:
        """A stream of one member, found by inflating the archive up to it."""
        tar_pass = _TarPass(self.path, self.limits)
        try:
            for info in tar_pass.members():
                if info.name == name:
                    if info.is_dir:
                        raise refuse("archive-member-is-directory",
                                     f"member {name!r} is a directory", self.path)
                    return buffered(_TarMemberRaw(tar_pass, name, owns_pass=True))
        except BaseException:
            tar_pass.close()
            raise
        tar_pass.close()
        raise refuse("archive-member-not-found", f"no member named {name!r}", self.path)

    def index_if_first(self) -> io.BufferedReader | None:
        """The index stream if it is the first member (Moodle's layout), else None."""
        tar_pass = _TarPass(self.path, self.limits)
        try:
            for info in tar_pass.members():
                if info.name == ARCHIVE_INDEX_NAME and not info.is_dir:
                    return buffered(_TarMemberRaw(tar_pass, info.name, owns_pass=True))
                break
        except BaseException:
            tar_pass.close()
            raise
        tar_pass.close()
        return None

    def index_listing(self) -> IndexListing | None:
        """What ``.ARCHIVE_INDEX`` lists, if its word can be taken; None if a scan must decide.

        Taken only when the index is the first member, as Moodle writes it, and
        the tar stream it implies (:func:`moodle_tar_length`) is as long as the
        gzip trailer says the file inflates to: reading the index and the last
        8 bytes of the file, whatever its size. A stale index (members added,
        removed or edited after packing), a file cut short or padded with
        zeros, and a tar split over several gzip members (the trailer counts
        only the last, so unless the others are empty) fail that test. So does
        an index that mentions an unsafe or duplicate name, or an archive past the limits
        (size, member count, compression ratio): the scan then gives the
        refusal. What the test cannot see is a member replaced by another of
        the same padded size; hence callers say the listing came from the index.
        """
        limits = self.limits
        try:
            with _TarPass(self.path, limits) as tar_pass:
                first = next(iter(tar_pass.members()), None)
                if first is None or first.name != ARCHIVE_INDEX_NAME or first.is_dir:
                    return None
                with buffered(_TarMemberRaw(tar_pass, first.name, owns_pass=False)) as stream:
                    entries = parse_archive_index(stream, limits=limits, source=self.path)
            expected = moodle_tar_length(first.size, entries)
            trailer = gzip_trailer(self.path)
            if expected is None or trailer is None or trailer[1] != expected & 0xFFFFFFFF:
                return None
            if expected > limits.max_total_size or (
                    expected > limits.ratio_applies_after
                    and expected > limits.max_ratio * trailer[2]):
                return None
            checker = EntryChecker(limits, self.path)
            entries.insert(0, first)
            members = checker.admit_listed(entries)
        except ArchiveError:
            return None  # whatever it is, the scan finds it and says it
        return IndexListing(members, tuple(checker.ignored), tuple(checker.warnings))

    def close(self) -> None:
        """Nothing to close: every pass owns and closes its own file handle."""
