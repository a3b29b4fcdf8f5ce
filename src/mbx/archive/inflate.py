"""Inflating gzip: the first stage of the data flow for tar.gz backups.

Compressed bytes come off the file in large blocks, go through a raw-deflate
decompressor and leave as chunks of bounded size for the tar reader
(``tar_reader``), which never sees gzip framing. This module parses the gzip
member headers and checks each trailer (CRC-32 and length) itself, so every
decompressor reports the same errors; it accepts multi-member gzip and zero
padding after the last member, as ``gzip -d`` does, and refuses anything else.

It is also where decompression bombs stop: output is counted against
``ArchiveLimits.max_total_size`` and against ``max_ratio`` times the compressed
bytes read so far.

The decompressor is chosen once, at import: isal, then zlib-ng, then the
standard library's zlib (all three have the same ``decompressobj`` API).
On a generated 210 MB tar.gz, isal and zlib-ng inflate 2.4-2.6 times as fast
as zlib, isal a little ahead in most runs (``benchmarks/bench_inflate.py``).
``MBX_INFLATER=zlib`` (or ``isal``, ``zlib-ng``) forces one; :data:`inflater`
names the one in use.

Inflating runs in the reader's own thread. A background inflater feeding a
bounded queue was measured and left out: isal lets go of the GIL, so it makes
inflate-and-hash passes 1.3 times as fast (``bench_inflate.py``,
``sha1-thread-isal``), but ``mbx verify`` on the 100 MB and 1 GB synth courses
ran no faster on two cores (0.75-0.86 s either way at 100 MB, best of three),
the parser and the per-member bookkeeping holding the GIL between chunks.
"""

from __future__ import annotations

import importlib
import os
import queue
import threading
from typing import Any, BinaryIO, Callable, NamedTuple

from mbx.archive import base
from mbx.archive.base import ArchiveLimits, limit_hint, refuse

__all__ = ["GzipInflater", "Inflater", "ReadAhead", "available_inflaters", "gzip_trailer",
           "inflater", "load_inflater"]

#: Compressed bytes read from the file at a time.
INPUT_BLOCK = 1 << 18
#: Most inflated bytes handed out per chunk (bounds memory, whatever the ratio).
OUTPUT_CHUNK = 1 << 20
#: A gzip member header longer than this (huge FEXTRA, FNAME or FCOMMENT) is refused.
MAX_GZIP_HEADER = 1 << 16

_GZIP_MAGIC = b"\x1f\x8b"
_FLAG_HCRC, _FLAG_EXTRA, _FLAG_NAME, _FLAG_COMMENT = 0x02, 0x04, 0x08, 0x10
_FLAG_RESERVED = 0xE0
_RAW_DEFLATE = -15


class Inflater(NamedTuple):
    """One decompression library: its name, raw-deflate decompressor, CRC-32 and error class."""

    name: str
    decompressobj: Callable[[int], Any]
    crc32: Callable[[bytes, int], int]
    error: type[Exception]


#: Preference order; the module that provides each.
_MODULES = {"isal": "isal.isal_zlib", "zlib-ng": "zlib_ng.zlib_ng", "zlib": "zlib"}


def load_inflater(name: str) -> Inflater | None:
    """The named decompressor (``"isal"``, ``"zlib-ng"``, ``"zlib"``), or None if not installed."""
    if name not in _MODULES:
        raise ValueError(f"unknown inflater {name!r}; choose from {', '.join(_MODULES)}")
    try:
        module = importlib.import_module(_MODULES[name])
    except ImportError:
        return None
    return Inflater(name, module.decompressobj, module.crc32, module.error)


def available_inflaters() -> list[str]:
    """Names of the installed decompressors, fastest first."""
    return [name for name in _MODULES if load_inflater(name) is not None]


def _choose() -> Inflater:
    forced = os.environ.get("MBX_INFLATER", "")
    if forced:
        chosen = load_inflater(forced)
        if chosen is None:
            raise ImportError(f"MBX_INFLATER={forced} but that library is not installed")
        return chosen
    for name in _MODULES:
        chosen = load_inflater(name)
        if chosen is not None:
            return chosen
    raise AssertionError("zlib is always available")  # pragma: no cover


_default = _choose()
#: Name of the decompressor tar.gz reading uses: ``"isal"``, ``"zlib-ng"`` or ``"zlib"``.
inflater = _default.name


def _gzip_header_length(data: bytes, source: str | None) -> int | None:
    """Length of the gzip member header at the start of ``data``, or None if incomplete."""
    if not _GZIP_MAGIC.startswith(data[:2]):
        raise refuse("archive-gzip-trailing-garbage",
                     "data after the end of a gzip member is neither another gzip member "
                     "nor zero padding", source)
    if len(data) < 10:
        return None
    method, flags = data[2], data[3]
    if method != 8 or flags & _FLAG_RESERVED:
        raise refuse("archive-corrupt-gzip",
                     f"gzip header has an unknown method ({method}) or flags ({flags:#x})",
                     source)
    position = 10
    if flags & _FLAG_EXTRA:
        if len(data) < position + 2:
            return None
        position += 2 + int.from_bytes(data[position:position + 2], "little")
    for flag in (_FLAG_NAME, _FLAG_COMMENT):
        if flags & flag:
            end = data.find(b"\x00", position)
            if end < 0:
                position = len(data) + 1
                break
            position = end + 1
    if flags & _FLAG_HCRC:
        position += 2
    if position > MAX_GZIP_HEADER:
        raise refuse("archive-corrupt-gzip",
                     f"gzip header is longer than {MAX_GZIP_HEADER} bytes", source)
    return position if position <= len(data) else None


def gzip_trailer(path: str) -> tuple[int, int, int] | None:
    """``(crc32, isize, file_size)`` from the last 8 bytes of a gzip file, reading nothing else.

    ``isize`` is the inflated length of the file's last gzip member, modulo
    2**32. Nothing is inflated, so nothing is proved: a file cut short or
    padded with zeros ends in other bytes, and a caller comparing ``isize``
    with the length it expects then sees a mismatch. None when the file is
    too short to be gzip at all.
    """
    with base.open_archive_file(path) as file:
        file_size = file.seek(0, 2)
        if file_size < 18:  # not even a 10-byte header and the 8-byte trailer
            return None
        file.seek(-8, 2)
        trailer = file.read(8)
    if len(trailer) != 8:
        return None
    return (int.from_bytes(trailer[:4], "little"), int.from_bytes(trailer[4:], "little"),
            file_size)


class GzipInflater:
    """Turns a (multi-member) gzip file into a sequence of inflated chunks.

    :meth:`read_chunk` returns the next chunk, at most :data:`OUTPUT_CHUNK`
    bytes, and ``b""`` once the last member ended cleanly. Every refusal is an
    :class:`~mbx.errors.ArchiveError`: ``archive-truncated-gzip``,
    ``archive-corrupt-gzip``, ``archive-gzip-bad-crc``,
    ``archive-gzip-bad-length``, ``archive-gzip-trailing-garbage``,
    ``archive-too-large`` and ``archive-ratio-exceeded``.
    """

    def __init__(self, file: BinaryIO, *, limits: ArchiveLimits, source: str | None = None,
                 backend: Inflater | None = None) -> None:
        self._file = file
        self._limits = limits
        self._source = source
        self._backend = backend or _default
        #: compressed bytes read from the file so far
        self.total_in = 0
        #: inflated bytes handed out so far
        self.total_out = 0
        self._pending = b""  # compressed bytes read but not yet inflated
        self._file_ended = False
        self._decompressor: Any = None
        self._member_crc = 0
        self._member_size = 0
        self._state = self._read_header

    def read_chunk(self) -> bytes:
        """The next inflated chunk, or ``b""`` at the clean end of the file."""
        while True:
            chunk = self._state()
            if chunk is not None:
                return chunk

    # Each state returns a chunk to hand out, or None to run the next state.

    def _read_header(self) -> bytes | None:
        while (length := _gzip_header_length(self._pending, self._source)) is None:
            if not self._read_more():
                raise refuse("archive-truncated-gzip",
                             "the file ends inside a gzip header", self._source)
        self._pending = self._pending[length:]
        self._decompressor = self._backend.decompressobj(_RAW_DEFLATE)
        self._member_crc = 0
        self._member_size = 0
        self._state = self._inflate
        return None

    def _inflate(self) -> bytes | None:
        if not self._pending and not self._read_more():
            raise refuse("archive-truncated-gzip",
                         "the file ends inside compressed data (truncated download or copy?)",
                         self._source)
        decompressor = self._decompressor
        try:
            chunk = decompressor.decompress(self._pending, OUTPUT_CHUNK)
        except self._backend.error as exc:
            raise refuse("archive-corrupt-gzip", f"compressed data is corrupt: {exc}",
                         self._source) from None
        if decompressor.eof:
            self._pending = decompressor.unused_data
            self._state = self._check_trailer
        else:
            self._pending = decompressor.unconsumed_tail
        if not chunk:
            return None
        self._member_crc = self._backend.crc32(chunk, self._member_crc)
        self._member_size += len(chunk)
        self.total_out += len(chunk)
        self._check_limits()
        return chunk

    def _check_trailer(self) -> bytes | None:
        while len(self._pending) < 8:
            if not self._read_more():
                raise refuse("archive-truncated-gzip",
                             "the file ends inside a gzip trailer", self._source)
        trailer, self._pending = self._pending[:8], self._pending[8:]
        if int.from_bytes(trailer[:4], "little") != self._member_crc:
            raise refuse("archive-gzip-bad-crc",
                         "gzip CRC-32 does not match the inflated data (corrupt file)",
                         self._source)
        if int.from_bytes(trailer[4:], "little") != self._member_size & 0xFFFFFFFF:
            raise refuse("archive-gzip-bad-length",
                         "gzip length field does not match the inflated data (corrupt file)",
                         self._source)
        self._state = self._between_members
        return None

    def _between_members(self) -> bytes | None:
        while True:
            self._pending = self._pending.lstrip(b"\x00")  # zero padding, as gzip -d allows
            if self._pending:
                self._state = self._read_header
                return None
            if not self._read_more():
                self._state = self._ended
                return b""

    def _ended(self) -> bytes | None:
        return b""

    def _read_more(self) -> bool:
        if self._file_ended:
            return False
        block = self._file.read(INPUT_BLOCK)
        if not block:
            self._file_ended = True
            return False
        self.total_in += len(block)
        self._pending = self._pending + block if self._pending else block
        return True

    def _check_limits(self) -> None:
        limits = self._limits
        if self.total_out > limits.max_total_size:
            raise refuse("archive-too-large",
                         f"inflates to more than {limits.max_total_size} bytes "
                         f"({limit_hint('max_total_size')})", self._source)
        if self.total_out > limits.ratio_applies_after and \
                self.total_out > limits.max_ratio * self.total_in:
            raise refuse("archive-ratio-exceeded",
                         f"inflates more than {limits.max_ratio:g} times its compressed size "
                         f"(a decompression bomb? {limit_hint('max_ratio')})",
                         self._source)


class ReadAhead:
    """Calls ``read_chunk`` (a :meth:`GzipInflater.read_chunk`) in a second thread, up to
    ``depth`` chunks ahead of the reader, for passes whose own thread has much else to
    do: isal lets go of the GIL while it inflates, so inflating overlaps that work.

    The archive-to-archive transforms take it (they rewrite, spool and scrub while the
    next chunks inflate); ``mbx verify`` measured no gain (see above). An error of the
    inflater is raised from the reader's next :meth:`read_chunk`; :meth:`close` stops
    the thread.
    """

    def __init__(self, read_chunk: Callable[[], bytes], depth: int = 8) -> None:
        self._read_chunk = read_chunk
        self._queue: queue.Queue = queue.Queue(depth)
        self._stopped = False
        self._ended = False
        self._thread = threading.Thread(target=self._run, name="mbx-inflate", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stopped:
                chunk = self._read_chunk()
                self._queue.put(chunk)
                if not chunk:
                    return
        except BaseException as exc:  # noqa: BLE001 - raised in the reader's thread
            self._queue.put(exc)

    def read_chunk(self) -> bytes:
        if self._ended:
            return b""
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._ended = True
            raise item
        if not item:
            self._ended = True
        return item

    def close(self) -> None:
        self._stopped = True
        while self._thread.is_alive():  # let a thread waiting to put see the stop
            try:
                self._queue.get_nowait()
            except queue.Empty:
                self._thread.join(0.01)
