"""Packing: spooled members into a tar.gz or a zip, and the deflate engine both use.

The deflate engine is chosen here, once, for everything mbx compresses on the
write side (the archive and synth's size meter): isal deflates 3-10x faster than
zlib, both give valid gzip for Moodle, but different (equally valid) streams, so
byte-identical output needs the same engine.

tar.gz, as Moodle's ``tgz_packer`` writes it: ``.ARCHIVE_INDEX`` first, then the entries in
Moodle's order, one gzip member with a fixed header (no name, time 0, OS
"unknown") so the output never varies.

zip: modelled on Moodle's own zip backups (``zip_packer``). The corpus holds
eleven, written by Moodle 2.2 to 2.8 (the last releases whose default was zip):
none holds an ``.ARCHIVE_INDEX`` (only Moodle's ``tgz_packer`` writes one, and
restore never needs it), all list their entries in the order of
:func:`~mbx.archive.writer.order.member_order` (top-level names sorted,
``moodle_backup.log`` last, each directory entry, with a trailing ``/``,
before its children) and deflate the files (directory entries are stored by
most, deflated by a few). So mbx's zip has no index either, the same order,
and stored directory entries (``tests/test_archive_writer.py`` compares).
"""

from __future__ import annotations

import shutil
import struct
import time
import zipfile
import zlib
from typing import BinaryIO, Callable

from mbx.archive.base import ARCHIVE_INDEX_NAME, MOODLE_UNKNOWN_MTIME, MemberInfo
from mbx.archive.index import format_archive_index
from mbx.archive.writer.ustar import BLOCK, padding, ustar_header
from mbx.errors import ArchiveError

__all__ = ["COPY_SIZE", "END_OF_ARCHIVE", "GZIP_HEADER", "MOODLE_UNKNOWN_MTIME", "crc32_combine",
           "deflate_engine", "default_compressor", "gzip_trailer_bytes", "index_entry",
           "index_text", "pack_tgz", "pack_zip", "sync_flush_flag", "zip_info", "zip_level"]

COPY_SIZE = 1 << 20
#: The gzip header of every tar.gz mbx writes: no name, fixed time 0, "unknown" OS
#: (255), so that the output never varies.
GZIP_HEADER = struct.pack("<BBBBIBB", 0x1F, 0x8B, 8, 0, 0, 0, 255)
#: The two zero blocks that end a tar stream (no padding to a 10 KiB record, as Moodle).
END_OF_ARCHIVE = b"\0" * (2 * BLOCK)
_ZIP_EPOCH = 315532800  # 1980-01-01: zip cannot hold earlier times

try:  # isal deflates 3-10x faster than zlib; both are valid gzip for Moodle
    from isal import isal_zlib as _isal_zlib
except ImportError:  # pragma: no cover - isal is a declared dependency
    _isal_zlib = None

Progress = Callable[[MemberInfo], None] | None
#: Where a member's spooled bytes are, by name.
SpoolPath = Callable[[str], str]


# -- the deflate engine --------------------------------------------------------------------

def default_compressor() -> str:
    """``"isal"`` when installed, else ``"zlib"``."""
    return "isal" if _isal_zlib is not None else "zlib"


def _module(name: str):
    if name == "isal":
        if _isal_zlib is None:
            raise ValueError("compressor 'isal' is not installed")
        return _isal_zlib
    if name == "zlib":
        return zlib
    raise ValueError(f"unknown compressor {name!r} (isal or zlib)")


def deflate_engine(name: str, level: int | None):
    """A raw-deflate compressobj and a crc32 function for compressor ``name``
    (``"isal"``, default level 2, or ``"zlib"``, default level 6)."""
    module = _module(name)
    if level is None:
        level = 2 if name == "isal" else 6
    return module.compressobj(level, module.DEFLATED, -15), module.crc32


def sync_flush_flag(name: str) -> int:
    """The ``flush()`` mode of compressor ``name`` that ends a block and byte-aligns."""
    return _module(name).Z_SYNC_FLUSH


def crc32_combine(crc_first: int, crc_second: int, length_second: int) -> int:
    """The CRC-32 of two byte strings end to end, from their CRCs and the second's
    length, without reading either again. isal provides it (zlib's Python module
    does not), so it serves whichever compressor deflates."""
    if _isal_zlib is None:  # pragma: no cover - isal is a declared dependency
        raise ValueError("crc32_combine needs isal (a declared dependency of mbx)")
    return _isal_zlib.crc32_combine(crc_first, crc_second, length_second)


# -- tar.gz --------------------------------------------------------------------------------

def index_text(order: list[tuple[str, bool]], sizes: dict[str, int], mtime: int) -> bytes:
    """The ``.ARCHIVE_INDEX`` of members ``order``: one line per member, in entry order."""
    return format_archive_index((name, is_dir, 0 if is_dir else sizes[name], mtime)
                                for name, is_dir in order)


def index_entry(index: bytes, source: str | None = None) -> bytes:
    """The whole tar entry of the ``.ARCHIVE_INDEX`` holding ``index``: header, text,
    padding (Moodle's time for the unknown, as for directories)."""
    return (ustar_header(ARCHIVE_INDEX_NAME, len(index), MOODLE_UNKNOWN_MTIME, False, source)
            + index + padding(len(index)))


def gzip_trailer_bytes(crc: int, size: int) -> bytes:
    """The 8-byte gzip trailer: CRC-32 and length (modulo 2**32) of the inflated data."""
    return struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)


def pack_tgz(out: BinaryIO, order: list[tuple[str, bool]], sizes: dict[str, int],
             spool_path: SpoolPath, *, mtime: int, compressor: str, level: int | None,
             progress: Progress = None, source: str | None = None) -> tuple[int, int]:
    """Writes the tar.gz of the spooled members to ``out``; returns (member bytes
    packed, archive bytes written)."""
    engine, crc32 = deflate_engine(compressor, level)
    out.write(GZIP_HEADER)
    written = len(GZIP_HEADER)
    crc = 0
    total = 0
    packed_bytes = 0

    def put(data: bytes) -> None:
        nonlocal crc, total, written
        crc = crc32(data, crc)
        total += len(data)
        packed = engine.compress(data)
        if packed:
            out.write(packed)
            written += len(packed)

    put(index_entry(index_text(order, sizes, mtime), source))
    for name, is_dir in order:
        if is_dir:
            put(ustar_header(name, 0, MOODLE_UNKNOWN_MTIME, True, source))
            if progress is not None:
                progress(MemberInfo(name, 0, None, True))
            continue
        size = sizes[name]
        put(ustar_header(name, size, mtime, False, source))
        copied = 0
        with open(spool_path(name), "rb") as member:
            while chunk := member.read(COPY_SIZE):
                copied += len(chunk)
                put(chunk)
        if copied != size:
            raise ArchiveError(f"{name!r} changed size while being packed",
                               code="archive-spool-changed", source=source)
        put(padding(size))
        packed_bytes += size
        if progress is not None:
            progress(MemberInfo(name, size, mtime, False))
    put(END_OF_ARCHIVE)
    tail = engine.flush()
    out.write(tail)
    out.write(gzip_trailer_bytes(crc, total))
    return packed_bytes, written + len(tail) + 8


# -- zip -----------------------------------------------------------------------------------

def zip_level(compressor: str, level: int | None) -> int:
    """The zlib level zipfile deflates with: ``level`` when ``compressor`` is
    ``"zlib"`` (zipfile always deflates with zlib), else zlib's default."""
    return 6 if level is None or compressor != "zlib" else level


def zip_info(name: str, is_dir: bool, mtime: int) -> zipfile.ZipInfo:
    """The zip entry of a member as Moodle's zips hold it: Unix modes, a trailing
    ``/`` and no compression for a directory, deflate for a file."""
    info = zipfile.ZipInfo(name + "/" if is_dir else name,
                           date_time=time.gmtime(max(mtime, _ZIP_EPOCH))[:6])
    info.create_system = 3
    if is_dir:
        info.external_attr = (0o40755 << 16) | 0x10
        info.compress_type = zipfile.ZIP_STORED
    else:
        info.external_attr = 0o100644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
    return info


def pack_zip(out: BinaryIO, order: list[tuple[str, bool]], sizes: dict[str, int],
             spool_path: SpoolPath, *, mtime: int, compressor: str, level: int | None,
             progress: Progress = None) -> tuple[int, int]:
    """Writes the zip of the spooled members to ``out`` (no ``.ARCHIVE_INDEX``, as in
    Moodle's zips); returns (member bytes packed, archive bytes written). zipfile
    deflates with zlib: ``level`` applies when ``compressor`` is ``"zlib"``."""
    packed_bytes = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=zip_level(compressor, level), allowZip64=True) as archive:
        for name, is_dir in order:
            info = zip_info(name, is_dir, mtime)
            if is_dir:
                archive.writestr(info, b"")
                if progress is not None:
                    progress(MemberInfo(name, 0, None, True))
                continue
            size = sizes[name]
            with open(spool_path(name), "rb") as member, \
                    archive.open(info, "w", force_zip64=size >= 1 << 31) as target:
                shutil.copyfileobj(member, target, COPY_SIZE)
            packed_bytes += size
            if progress is not None:
                progress(MemberInfo(name, size, mtime, False))
    return packed_bytes, out.tell()

