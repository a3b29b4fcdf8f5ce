"""The archive writer: members in, a Moodle-compatible ``.mbz`` out (write side).

Last stage of the write path (``design.md``): XML from :class:`mbx.xml.XmlWriter`
and file blobs become one archive that Moodle's own restore accepts::

    from mbx.archive.writer import ArchiveWriter

    with ArchiveWriter("course.mbz") as archive:        # tar.gz; format="zip" for zip
        with archive.open("moodle_backup.xml") as stream:
            ...                                          # write bytes
        archive.write("files/ab/ab12...", blob)

The tar.gz flavour follows format doc §1.2-1.4 and §2.2: plain ustar (never pax
or GNU records, which Moodle's reader would extract as junk files), names over
100 bytes split into ``prefix``/``name`` at a ``/`` or refused,
``.ARCHIVE_INDEX`` first, then the entries in Moodle's order (top-level names in
byte order, ``moodle_backup.log`` last, each directory entry before its
children; children sorted by name so the output never depends on a file
system). The index lists sizes, so it can only be written once every member is
known: members are spooled to a temporary folder (as Moodle spools its backup
to a temp dir) and packed when the writer closes, streaming, in 1 MiB reads.
Memory stays flat whatever the archive size; only the list of names is kept.

Output is deterministic: fixed times (``mtime`` for files, Moodle's
``1356998400`` for directories and the index), uid/gid 0, a gzip header with a
fixed time and no name, one compressor chosen at construction. The same
members give byte-identical archives on the same installation (isal and zlib
produce different, equally valid, deflate streams).
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import zipfile
import zlib
from typing import BinaryIO, Callable, Iterator

from mbx.archive.base import (ARCHIVE_INDEX_NAME, ArchiveLimits, EntryChecker, EntryKind,
                              MemberInfo, ignore_reason, normalize_member_name, refuse)
from mbx.errors import ArchiveError

__all__ = ["ArchiveWriter", "MOODLE_UNKNOWN_MTIME", "member_order"]

#: What Moodle writes when a time is unknown (the index, directories): 2013-01-01 UTC.
MOODLE_UNKNOWN_MTIME = 1356998400
INDEX_HEADER = "Moodle archive file index. Count: "
LOG_NAME = "moodle_backup.log"
COPY_SIZE = 1 << 20
_BLOCK = 512
_MAX_SIZE = 8 ** 11 - 1  # 11 octal digits: Moodle refuses anything larger
_GZIP_OS_UNKNOWN = 255

try:  # isal deflates 3-10x faster than zlib; both are valid gzip for Moodle
    from isal import isal_zlib as _isal_zlib
except ImportError:  # pragma: no cover - isal is a declared dependency
    _isal_zlib = None


def _compressor(name: str, level: int | None):
    """A raw-deflate compressobj and a crc32 function for ``name``."""
    if name == "isal":
        if _isal_zlib is None:
            raise ValueError("compressor 'isal' is not installed")
        level = 2 if level is None else level
        return _isal_zlib.compressobj(level, _isal_zlib.DEFLATED, -15), _isal_zlib.crc32
    if name == "zlib":
        level = 6 if level is None else level
        return zlib.compressobj(level, zlib.DEFLATED, -15), zlib.crc32
    raise ValueError(f"unknown compressor {name!r} (isal or zlib)")


def default_compressor() -> str:
    """``"isal"`` when installed, else ``"zlib"``."""
    return "isal" if _isal_zlib is not None else "zlib"


# -- ustar ---------------------------------------------------------------------------------

def _octal(value: int, width: int) -> bytes:
    """``width - 1`` zero-padded octal digits and a NUL."""
    return b"%0*o\0" % (width - 1, value)


def split_ustar_name(name: str, source: str | None = None) -> tuple[bytes, bytes]:
    """``(prefix, name)`` for a ustar header, cutting at the first ``/`` that makes
    the rest fit in 100 bytes (as Moodle's ``tgz_packer`` does); refuses otherwise."""
    raw = name.encode("utf-8")
    if len(raw) <= 100:
        return b"", raw
    parts = raw.split(b"/")
    for cut in range(1, len(parts)):
        prefix, rest = b"/".join(parts[:cut]), b"/".join(parts[cut:])
        if len(rest) <= 100 and rest:
            if len(prefix) > 155:
                break
            return prefix, rest
    raise refuse("archive-name-too-long",
                 f"{name!r} does not fit a plain ustar header (name 100, prefix 155 bytes)",
                 source)


def ustar_header(name: str, size: int, mtime: int, is_dir: bool,
                 source: str | None = None) -> bytes:
    """One 512-byte POSIX ustar header, exactly as Moodle's packer writes it."""
    if size > _MAX_SIZE:
        raise refuse("archive-member-too-large",
                      f"{name!r} is {size} bytes, more than a ustar size field holds", source)
    prefix, short = split_ustar_name(name + ("/" if is_dir else ""), source)
    header = b"".join([
        short.ljust(100, b"\0"),
        b"0000755\0" if is_dir else b"0000644\0",
        b"0000000\0", b"0000000\0",
        _octal(0 if is_dir else size, 12),
        _octal(mtime, 12),
        b" " * 8,
        b"5" if is_dir else b"0",
        b"\0" * 100,
        b"ustar\0", b"00",
        b"\0" * 32, b"\0" * 32, b"\0" * 8, b"\0" * 8,
        prefix.ljust(155, b"\0"),
        b"\0" * 12,
    ])
    checksum = b"%06o\0 " % sum(header)
    return header[:148] + checksum + header[156:]


# -- order ---------------------------------------------------------------------------------

def member_order(names: Iterator[str] | list[str]) -> list[tuple[str, bool]]:
    """``(name, is_dir)`` for the files ``names`` and every folder above them, in
    Moodle's entry order (format doc §2.2), children sorted by name."""
    children: dict[str, set[str]] = {"": set()}
    files: set[str] = set()
    for name in names:
        files.add(name)
        parent = ""
        for part in name.split("/")[:-1]:
            path = f"{parent}{part}/"
            children.setdefault(parent, set()).add(path)
            children.setdefault(path, set())
            parent = path
        children.setdefault(parent, set()).add(name)

    def key(path: str) -> bytes:
        return path.rstrip("/").rsplit("/", 1)[-1].encode("utf-8")

    order: list[tuple[str, bool]] = []
    top = sorted(children[""], key=key)
    log = [path for path in top if path == LOG_NAME]
    stack = [path for path in reversed([path for path in top if path != LOG_NAME] + log)]
    while stack:
        path = stack.pop()
        if path.endswith("/"):
            order.append((path[:-1], True))
            stack.extend(reversed(sorted(children[path], key=key)))
        else:
            order.append((path, False))
    return order


# -- the writer ----------------------------------------------------------------------------

class _SpoolFile:
    """A member being written to the spool; its size is recorded on close."""

    def __init__(self, owner: ArchiveWriter, name: str, path: str) -> None:
        self._owner = owner
        self._name = name
        self._file = open(path, "wb")
        self.size = 0

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self.size += len(data)
        return len(data)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
            self._owner._sizes[self._name] = self.size

    @property
    def closed(self) -> bool:
        return self._file.closed

    def __enter__(self) -> _SpoolFile:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class ArchiveWriter:
    """Writes a Moodle backup archive (``format="tgz"`` or ``"zip"``) to ``path``.

    Members are added with :meth:`open` (a writable binary stream) or
    :meth:`write` (bytes), in any order; :meth:`close` packs them. Nothing
    appears at ``path`` until the archive is complete (it is written beside it
    and renamed). Used as a context manager, an exception discards everything.

    ``mtime`` is the time given to files; ``compressor`` (``"isal"`` or
    ``"zlib"``) and ``level`` choose the deflate engine; ``spool_dir`` is where
    the temporary folder goes (default: beside ``path``).
    """

    def __init__(self, path: str | os.PathLike, format: str = "tgz", *,
                 mtime: int = MOODLE_UNKNOWN_MTIME, compressor: str | None = None,
                 level: int | None = None, spool_dir: str | os.PathLike | None = None) -> None:
        if format not in ("tgz", "zip"):
            raise ValueError(f"format must be 'tgz' or 'zip', not {format!r}")
        self.path = os.fspath(path)
        self.format = format
        self.mtime = int(mtime)
        self.compressor = compressor or default_compressor()
        self.level = level
        _compressor(self.compressor, level)  # fail early on a bad choice
        parent = os.fspath(spool_dir) if spool_dir else (os.path.dirname(self.path) or ".")
        self._spool = tempfile.mkdtemp(prefix=".mbx-spool-", dir=parent)
        self._sizes: dict[str, int] = {}
        #: the readers' own checks, so that mbx never writes what it would refuse to read
        self._names = EntryChecker(ArchiveLimits(), self.path)
        self._closed = False
        #: Filled by :meth:`close`: bytes of member data packed and archive size.
        self.bytes_in = 0
        self.bytes_out = 0

    # -- adding members -------------------------------------------------------------------

    def open(self, name: str) -> _SpoolFile:
        """A writable stream for member ``name`` (``a/b/c.xml``); close it when done."""
        self._check_open()
        self._check_name(name)
        path = os.path.join(self._spool, *name.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return _SpoolFile(self, name, path)

    def write(self, name: str, data: bytes) -> None:
        """Adds member ``name`` holding ``data``."""
        with self.open(name) as stream:
            stream.write(data)

    def spool_path(self, name: str) -> str:
        """Where member ``name`` (already added) is spooled, to read it back."""
        if name not in self._sizes:
            raise KeyError(name)
        return os.path.join(self._spool, *name.split("/"))

    def __contains__(self, name: str) -> bool:
        return name in self._sizes

    @property
    def sizes(self) -> dict[str, int]:
        """Member name -> size of every member added so far."""
        return dict(self._sizes)

    # -- packing --------------------------------------------------------------------------

    def close(self, progress: Callable[[MemberInfo], None] | None = None) -> None:
        """Packs the spooled members into the archive, then removes the spool.

        ``progress`` is called with each member as it is packed.
        """
        if self._closed:
            return
        temporary = f"{self.path}.part"
        try:
            order = member_order(self._sizes)
            with open(temporary, "wb") as out:
                if self.format == "tgz":
                    self._pack_tgz(out, order, progress)
                else:
                    self._pack_zip(out, order, progress)
            os.replace(temporary, self.path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            self.abort()
            raise
        self._closed = True
        shutil.rmtree(self._spool, ignore_errors=True)

    def abort(self) -> None:
        """Discards everything; no archive is written."""
        self._closed = True
        shutil.rmtree(self._spool, ignore_errors=True)

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def index_text(self) -> bytes:
        """The ``.ARCHIVE_INDEX`` the tar.gz will start with (format doc §1.3)."""
        lines = []
        for name, is_dir in member_order(self._sizes):
            if is_dir:
                lines.append(f"{name}/\td\t0\t?\n")
            else:
                lines.append(f"{name}\tf\t{self._sizes[name]}\t{self.mtime}\n")
        return (f"{INDEX_HEADER}{len(lines)}\n" + "".join(lines)).encode("utf-8")

    def _pack_tgz(self, out: BinaryIO, order: list[tuple[str, bool]],
                  progress: Callable[[MemberInfo], None] | None) -> None:
        compressor, crc32 = _compressor(self.compressor, self.level)
        # gzip header: no name, fixed time 0, "unknown" OS, so output never varies
        out.write(struct.pack("<BBBBIBB", 0x1F, 0x8B, 8, 0, 0, 0, _GZIP_OS_UNKNOWN))
        written = 10
        crc = 0
        total = 0

        def put(data: bytes) -> None:
            nonlocal crc, total, written
            crc = crc32(data, crc)
            total += len(data)
            packed = compressor.compress(data)
            if packed:
                out.write(packed)
                written += len(packed)

        index = self.index_text()
        put(ustar_header(ARCHIVE_INDEX_NAME, len(index), MOODLE_UNKNOWN_MTIME, False, self.path))
        put(index + _padding(len(index)))
        for name, is_dir in order:
            if is_dir:
                put(ustar_header(name, 0, MOODLE_UNKNOWN_MTIME, True, self.path))
                if progress is not None:
                    progress(MemberInfo(name, 0, None, True))
                continue
            size = self._sizes[name]
            put(ustar_header(name, size, self.mtime, False, self.path))
            copied = 0
            with open(os.path.join(self._spool, *name.split("/")), "rb") as source:
                while chunk := source.read(COPY_SIZE):
                    copied += len(chunk)
                    put(chunk)
            if copied != size:
                raise ArchiveError(f"{name!r} changed size while being packed",
                                   code="archive-spool-changed", source=self.path)
            put(_padding(size))
            self.bytes_in += size
            if progress is not None:
                progress(MemberInfo(name, size, self.mtime, False))
        put(b"\0" * (2 * _BLOCK))
        tail = compressor.flush()
        out.write(tail)
        out.write(struct.pack("<II", crc & 0xFFFFFFFF, total & 0xFFFFFFFF))
        self.bytes_out = written + len(tail) + 8

    def _pack_zip(self, out: BinaryIO, order: list[tuple[str, bool]],
                  progress: Callable[[MemberInfo], None] | None) -> None:
        import time

        stamp = time.gmtime(max(self.mtime, 315532800))[:6]  # zip cannot hold times before 1980
        level = 6 if self.level is None or self.compressor != "zlib" else self.level
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED,
                             compresslevel=level, allowZip64=True) as archive:
            for name, is_dir in order:
                info = zipfile.ZipInfo(name + "/" if is_dir else name, date_time=stamp)
                info.create_system = 3
                if is_dir:
                    info.external_attr = (0o40755 << 16) | 0x10
                    info.compress_type = zipfile.ZIP_STORED
                    archive.writestr(info, b"")
                    if progress is not None:
                        progress(MemberInfo(name, 0, None, True))
                    continue
                info.external_attr = 0o100644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                size = self._sizes[name]
                with open(os.path.join(self._spool, *name.split("/")), "rb") as source, \
                        archive.open(info, "w", force_zip64=size >= 1 << 31) as target:
                    shutil.copyfileobj(source, target, COPY_SIZE)
                self.bytes_in += size
                if progress is not None:
                    progress(MemberInfo(name, size, self.mtime, False))
        self.bytes_out = out.tell()

    # -- checks ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ArchiveError("the archive writer is closed", code="archive-writer-closed",
                               source=self.path)

    def _check_name(self, name: str) -> None:
        """Refuses what a reader would refuse or skip; names must already be normal
        (``a/b.xml``: no ``./``, no trailing or doubled ``/``)."""
        if name == ARCHIVE_INDEX_NAME:
            raise refuse("archive-bad-name", f"{ARCHIVE_INDEX_NAME} is written by the writer",
                         self.path)
        try:
            normal, _ = normalize_member_name(name, source=self.path)
        except ArchiveError as error:
            raise refuse("archive-bad-name", f"unusable member name {name!r}: {error.message}",
                         self.path) from None
        if normal != name or not name:
            raise refuse("archive-bad-name", f"member name {name!r} is not in normal form "
                         f"({normal!r})", self.path)
        if ignore_reason(name) is not None:
            raise refuse("archive-bad-name", f"{name!r} is macOS litter that readers skip",
                         self.path)
        if self.format == "tgz":
            split_ustar_name(name, self.path)
        self._names.admit(name, EntryKind.FILE, 0, None)  # duplicates, conflicts, collisions


def _padding(size: int) -> bytes:
    return b"\0" * (-size % _BLOCK)
