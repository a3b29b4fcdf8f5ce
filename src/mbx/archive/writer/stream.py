"""The streaming archive writer: members in the caller's order, one pass out.

For the archive-to-archive transforms, which read a backup member by member
and write another in the same order (the input's, which is Moodle's): each
member's bytes go straight into the deflater as they come, so a 1 GB course is
inflated once and deflated once, never spooled whole and read back as
:class:`~mbx.archive.writer.ArchiveWriter` does. A member opened with
:meth:`StreamingArchiveWriter.open`, whose size is unknown until it closes, is
streamed too in a tar.gz (its header, which holds the size, is deflated at the end
as a segment of its own, placed before the member's: see below); a zip spools it
(in memory up to :data:`SPOOL_MEMORY`, then on disk).

tar.gz, as one gzip member that :meth:`~mbx.archive.tar_reader.TarGzContainer.index_listing`
(the ``mbx ls -l`` fast path) trusts: the ``.ARCHIVE_INDEX`` comes first but
lists sizes known only at the end. So the body (every tar entry after the
index) is deflated as it comes, in a second thread, into an anonymous
temporary file, as *segments*: a stretch of members streamed one after
another, or one member whose place was reserved with
:meth:`StreamingArchiveWriter.slot` (a transform reserves the place of a
member it can only rewrite once it has read a later one, or of a blob it may
yet drop), or one member opened with :meth:`StreamingArchiveWriter.open`, whose
tar header is a *head* segment deflated when it closes and joined before the
rest. Each segment has its own compressor and ends with a *sync flush*;
the CRC-32 and length of each are kept. At close the archive is written: the
gzip header, the index entry deflated by a compressor of its own and
sync-flushed too, the segments of the members kept, in the archive's order
(copied in the kernel where it can), a last segment with the end-of-archive
blocks that ends the stream, and the trailer, whose CRC-32 is combined from
the parts' (:func:`~mbx.archive.writer.pack.crc32_combine`) and whose ISIZE
is their total length.

Why the join is one valid deflate stream: a deflate stream is a sequence of
blocks, the last one marked final, read with a window of the last 32 KiB of
output for back-references. A sync flush ends the current block with an empty
stored block, which ends on a byte boundary, and marks nothing final; the
next segment's first block then starts on a byte boundary, as any stream's
first block does, and only the last segment's last block is final. Every
segment's compressor started with no dictionary, so none of its
back-references reach before its own first byte: they resolve to the same
bytes whatever comes before. A gzip member per part would be simpler, but
the trailer that ``index_listing`` compares with the index counts only the
last member.

zip: streamed by zipfile, member by member, as
:func:`~mbx.archive.writer.pack.pack_zip` writes it (no index, directory
entries stored).

Nothing appears at ``path`` until :meth:`~StreamingArchiveWriter.close`
succeeds: the archive is written under a temporary name beside it, synced and
renamed. The archive is all or nothing: a member that fails half-way (a size
that does not match, a chunk source that raises, a cancel, a full disk)
abandons the whole archive and removes every temporary.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import queue
import secrets
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from mbx.archive.base import MOODLE_UNKNOWN_MTIME, MemberInfo, refuse
from mbx.archive.index import format_archive_index
from mbx.archive.writer.names import MemberNames
from mbx.archive.writer.pack import (COPY_SIZE, END_OF_ARCHIVE, GZIP_HEADER, crc32_combine,
                                     deflate_engine, default_compressor, gzip_trailer_bytes,
                                     index_entry, sync_flush_flag, zip_info, zip_level)
from mbx.archive.writer.ustar import LATEST_MTIME, padding, ustar_header
from mbx.errors import ArchiveError
from mbx.progress import Monitor, as_monitor

__all__ = ["SPOOL_MEMORY", "Slot", "StreamingArchiveWriter"]

#: Bytes of a member opened with ``open()`` kept in memory before it spills to disk.
SPOOL_MEMORY = 4 << 20
#: Bytes the kernel copies between two cancel checks at close.
_COPY_STEP = 64 << 20
#: What ``copy_file_range`` and ``sendfile`` raise when they cannot copy between two
#: files (an old kernel, a file system without support): the next way is tried.
_CANNOT_COPY = frozenset({errno.ENOSYS, errno.EXDEV, errno.EINVAL, errno.EOPNOTSUPP,
                          errno.ENOTSUP})

#: The latest time each format holds: a ustar header's 11 octal digits, a zip's DOS
#: date (the end of 2107). Earlier than 1980, a zip holds 1980 (as pack_zip does).
_LATEST_MTIME = {"tgz": LATEST_MTIME, "zip": 4354819199}

Chunks = Iterable[bytes] | BinaryIO
Progress = Monitor | Callable[[MemberInfo], None] | None


class StreamingArchiveWriter:
    """Writes a Moodle backup archive (``format="tgz"`` or ``"zip"``) to ``path``,
    one member after another, in the order they are given.

    Members: :meth:`add_dir`, :meth:`add` (a known size and its bytes),
    :meth:`open` (a writable stream, for a member whose size is known only at
    its end; one at a time). The caller gives Moodle's order (a directory entry
    before its children, ``moodle_backup.log`` last): the writer keeps it.

    ``compressor`` (``"isal"`` or ``"zlib"``) and ``level`` choose the deflate
    engine (zipfile always deflates with zlib: ``level`` applies there with
    ``"zlib"``). ``progress`` (a :class:`~mbx.progress.Monitor`, or a callable
    taking each member) is told of each member once written and checked for a
    cancel between chunks, so a cancel lands inside a long member; the writer
    starts no phase of its own (the caller's pass names it).

    A name the readers would refuse or skip, or a time the format cannot hold,
    is refused (an :class:`~mbx.errors.ArchiveError`) before anything is
    written, and the writer goes on. Any other failure while a member is written abandons the
    archive (:meth:`abort`) and is raised. Used as a context manager, an
    exception abandons it too; :meth:`close` is what makes it appear.
    """

    def __init__(self, path: str | os.PathLike, format: str = "tgz", *,
                 compressor: str | None = None, level: int | None = None,
                 progress: Progress = None) -> None:
        if format not in _SINKS:
            raise ValueError(f"format must be 'tgz' or 'zip', not {format!r}")
        self.path = os.fspath(path)
        self.format = format
        self.compressor = compressor or default_compressor()
        self.level = level
        deflate_engine(self.compressor, level)  # fail early on a bad choice
        self.monitor = as_monitor(progress)
        #: Member bytes written so far; with :attr:`bytes_out` (the archive's size,
        #: set by :meth:`close`), the stats :class:`ArchiveWriter` gives.
        self.bytes_in = 0
        self.bytes_out = 0
        #: Entries written so far (directories included).
        self.members = 0
        self._names = MemberNames(format, self.path)
        self._output = _Temporary(self.path)
        self._open_member: _OpenMember | None = None
        self._slots: list[Slot] = []
        self._closed = False
        self._sink = _SINKS[format](self._output, self.compressor, level, self.path)

    # -- adding members -------------------------------------------------------------------

    def add_dir(self, name: str, mtime: int | None = None) -> None:
        """Adds the directory entry ``name`` (``a/b``, no trailing ``/``).

        ``mtime`` goes into its tar header (Moodle's own time for the unknown,
        :data:`~mbx.archive.base.MOODLE_UNKNOWN_MTIME`, when None); the index
        lists every directory's time as unknown, as Moodle's does.
        """
        self._check_ready()
        self._check_mtime(name, mtime)
        self._names.admit(name, is_dir=True)
        with self._all_or_nothing():
            self._sink.begin(name, True, 0, mtime)
            self.members += 1
            self.monitor(MemberInfo(name, 0, mtime, True))

    def add(self, name: str, size: int, mtime: int | None, chunks: Chunks) -> None:
        """Adds file ``name`` of ``size`` bytes, read from ``chunks``: an iterable of
        bytes-like pieces or a readable binary stream, which must hold exactly
        ``size`` bytes (else ``archive-size-mismatch``, and the archive is
        abandoned). ``mtime`` None means unknown: ``?`` in the index, Moodle's
        time for the unknown in the tar header."""
        self._check_ready()
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"size must be a whole number of bytes, not {size!r}")
        self._check_mtime(name, mtime)
        self._names.admit(name)
        with self._all_or_nothing():
            self._write_member(name, size, mtime, chunks)

    def open(self, name: str, mtime: int | None = None) -> _OpenMember:
        """A writable binary stream for file ``name``; the member is written when
        the stream closes (spooled until then). Close it before adding the next
        member; an exception inside its ``with`` block abandons the archive."""
        self._check_ready()
        self._check_mtime(name, mtime)
        self._names.admit(name)
        self._open_member = _OpenMember(self, name, mtime)
        return self._open_member

    def slot(self, name: str, *, is_dir: bool = False) -> Slot:
        """Reserves the place of member ``name`` here, in the archive's order; the
        :class:`Slot` is filled (now or later, once what it holds is known) or
        dropped, and the archive holds it at this place. A tar.gz can drop a slot
        even once filled (its bytes are never copied); a zip only before."""
        self._check_ready()
        self._names.admit(name, is_dir=is_dir)
        return Slot(self, name, is_dir, self._sink.reserve())

    # -- the end --------------------------------------------------------------------------

    def close(self) -> None:
        """Finishes the archive and renames it to ``path``; on failure nothing is left."""
        if self._closed:
            return
        if self._open_member is not None:
            name = self._open_member.name
            self.abort()
            raise ArchiveError(f"member {name!r} is still open: the archive was abandoned",
                               code="archive-member-open", source=self.path)
        unfilled = self._unfilled_slots()
        if unfilled:
            self.abort()
            raise ArchiveError(f"{len(unfilled)} reserved member(s) neither filled nor dropped "
                               f"({unfilled[0]!r} first): the archive was abandoned",
                               code="archive-slot-unfilled", source=self.path)
        try:
            self.monitor.check()
            self._sink.finish(self.monitor.check)
            self.bytes_out = self._output.commit()
        except BaseException:
            self.abort()
            raise
        self._closed = True

    def abort(self) -> None:
        """Abandons the archive: nothing is written, every temporary is removed."""
        self._closed = True
        member, self._open_member = self._open_member, None
        if member is not None:
            member.discard()
        self._sink.discard()
        self._output.discard()

    def __enter__(self) -> StreamingArchiveWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- inside ---------------------------------------------------------------------------

    def _unfilled_slots(self) -> list[str]:
        return [slot.name for slot in self._slots if not slot.done]

    def _write_member(self, name: str, size: int, mtime: int | None, chunks: Chunks,
                      piece=None) -> None:
        sink, check = self._sink, self.monitor.check
        if piece is not None:
            sink.fill(piece)
        sink.begin(name, False, size, mtime)
        written = 0
        for chunk in _pieces(chunks):
            check()  # between chunks, so that a cancel lands inside a long member
            written += len(chunk)
            if written > size:
                break
            sink.write(chunk)
        if written != size:
            raise ArchiveError(f"{name!r} was announced as {size} bytes but "
                               f"{'more' if written > size else written} came",
                               code="archive-size-mismatch", source=self.path)
        sink.end(size)
        if piece is not None:
            sink.filled(piece)
        self.bytes_in += size
        self.members += 1
        self.monitor(MemberInfo(name, size, mtime, False))

    def _emit_open_member(self, member: _OpenMember, spool: BinaryIO | None) -> None:
        """Ends a member opened with :meth:`open`, now closed: streamed (``spool``
        None), or spooled and written now."""
        self._open_member = None
        with self._all_or_nothing():
            if spool is not None:
                spool.seek(0)
                self._write_member(member.name, member.size, member.mtime, spool,
                                   member.piece)
                return
            self._sink.end_unsized(member.name, member.size, member.mtime)
            self.bytes_in += member.size
            self.members += 1
            self.monitor(MemberInfo(member.name, member.size, member.mtime, False))

    @contextlib.contextmanager
    def _all_or_nothing(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self.abort()
            raise

    def _check_mtime(self, name: str, mtime: int | None) -> None:
        """Refuses, before anything is written, a time the format cannot hold (a
        negative one, or one centuries ahead, as a hostile input may carry)."""
        if mtime is not None and not 0 <= mtime <= _LATEST_MTIME[self.format]:
            raise refuse("archive-bad-mtime", f"{name!r} has the time {mtime}, which a "
                         f"{self.format} archive cannot hold", self.path)

    def _check_ready(self) -> None:
        if self._closed:
            raise ArchiveError("the archive writer is closed", code="archive-writer-closed",
                               source=self.path)
        if self._open_member is not None:
            raise ArchiveError(f"member {self._open_member.name!r} is still open: close it "
                               "before the next one", code="archive-member-open",
                               source=self.path)


class Slot:
    """The reserved place of one member (:meth:`StreamingArchiveWriter.slot`)."""

    def __init__(self, owner: StreamingArchiveWriter, name: str, is_dir: bool, piece) -> None:
        self._owner = owner
        self.name = name
        self.is_dir = is_dir
        self._piece = piece
        #: Filled or dropped.
        self.done = False
        owner._slots.append(self)

    def add(self, size: int, mtime: int | None, chunks: Chunks) -> None:
        """Fills the slot with a file of ``size`` bytes (as :meth:`StreamingArchiveWriter.add`)."""
        owner = self._start(mtime)
        if not isinstance(size, int) or size < 0:
            raise ValueError(f"size must be a whole number of bytes, not {size!r}")
        with owner._all_or_nothing():
            owner._write_member(self.name, size, mtime, chunks, self._piece)

    def add_dir(self, mtime: int | None = None) -> None:
        owner = self._start(mtime)
        sink = owner._sink
        with owner._all_or_nothing():
            sink.fill(self._piece)
            sink.begin(self.name, True, 0, mtime)
            sink.filled(self._piece)
            owner.members += 1
            owner.monitor(MemberInfo(self.name, 0, mtime, True))

    def open(self, mtime: int | None = None) -> _OpenMember:
        """A writable stream filling the slot when it closes (as :meth:`StreamingArchiveWriter.open`)."""
        owner = self._start(mtime)
        owner._open_member = _OpenMember(owner, self.name, mtime, self._piece)
        return owner._open_member

    def drop(self) -> None:
        """The member is not in the archive."""
        self._owner._check_ready()
        self._owner._sink.drop(self._piece)
        self.done = True

    def _start(self, mtime: int | None) -> StreamingArchiveWriter:
        owner = self._owner
        owner._check_ready()
        if self.done:
            raise ArchiveError(f"the slot of {self.name!r} is already filled or dropped",
                               code="archive-slot-used", source=owner.path)
        owner._check_mtime(self.name, mtime)
        self.done = True
        return owner


class _OpenMember(io.RawIOBase):
    """A member being written with :meth:`StreamingArchiveWriter.open`: streamed into
    a sink that takes a size told at the end (the tar.gz's), else spooled in a
    :class:`tempfile.SpooledTemporaryFile` (memory, then an anonymous file beside
    the archive) and written into the archive when it closes."""

    def __init__(self, owner: StreamingArchiveWriter, name: str, mtime: int | None,
                 piece=None) -> None:
        super().__init__()
        self._owner = owner
        self.name = name
        self.mtime = mtime
        self.piece = piece  # the slot it fills, if any
        self.size = 0
        self._spool = None
        if owner._sink.unsized:
            with owner._all_or_nothing():
                owner._sink.begin_unsized(piece)
        else:
            self._spool = tempfile.SpooledTemporaryFile(
                SPOOL_MEMORY, dir=os.path.dirname(owner.path) or ".", prefix=".mbx-member-")

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.closed:
            raise ValueError("write to a closed member")
        with self._owner._all_or_nothing():
            self._owner.monitor.check()  # a cancel lands between writes
            if self._spool is not None:
                count = self._spool.write(data)
            else:
                count = len(data)
                if count:  # the sink keeps it: a copy, if the caller may reuse its buffer
                    self._owner._sink.write(data if type(data) is bytes else bytes(data))
        self.size += count
        return count

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._owner._open_member is self:
                self._owner._emit_open_member(self, self._spool)
        finally:
            if self._spool is not None:
                self._spool.close()
            super().close()

    def discard(self) -> None:
        """Drops the member unwritten (the archive is being abandoned)."""
        if not self.closed:
            if self._spool is not None:
                with contextlib.suppress(OSError):  # a full disk may refuse the buffer's flush
                    self._spool.close()
            super().close()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._owner.abort()


# -- where the archive goes ---------------------------------------------------------------

class _Temporary:
    """The archive's file under a temporary name beside ``path`` (so the rename
    stays on one file system), until :meth:`commit` renames it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.name: str | None = None
        self.file: BinaryIO | None = None

    def open(self) -> BinaryIO:
        folder, base = os.path.split(self.path)
        while True:  # a fresh name, created here (O_EXCL), with the usual permissions
            name = os.path.join(folder, f".{base}.{secrets.token_hex(4)}.part")
            try:
                descriptor = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            break
        self.name = name
        self.file = open(descriptor, "wb")
        return self.file

    def commit(self) -> int:
        """Syncs the file, renames it to ``path``; returns its size."""
        file = self.file
        file.flush()
        size = file.tell()
        os.fsync(file.fileno())
        file.close()
        os.replace(self.name, self.path)
        self.name = None
        _sync_folder(os.path.dirname(self.path) or ".")
        return size

    def discard(self) -> None:
        if self.file is not None and not self.file.closed:
            with contextlib.suppress(OSError):  # a full disk may refuse the buffer's flush
                self.file.close()
        if self.name is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.name)
            self.name = None


def _sync_folder(folder: str) -> None:
    """Makes the rename durable; best effort, the archive is complete either way."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# -- the two formats ----------------------------------------------------------------------

class _Piece:
    """A stretch of the archive in its final order: the entries streamed one after
    another (``slot`` False), or one member whose place was reserved
    (:meth:`StreamingArchiveWriter.slot`), written later or dropped. Its bytes are
    one independent deflate segment of the body file, ``offset`` and ``length``
    there, with the CRC-32 and length of the tar bytes it holds; a member streamed
    with its size unknown (:meth:`StreamingArchiveWriter.open`) has its tar header
    in a ``head`` segment of its own, ``(offset, length, crc, size)``, deflated last
    and joined first."""

    __slots__ = ("entries", "slot", "filled", "dropped", "offset", "length", "crc", "size",
                 "head")

    def __init__(self, slot: bool = False) -> None:
        self.entries: list[tuple[str, bool, int, int | None]] = []
        self.slot = slot
        self.filled = not slot
        self.dropped = False
        self.offset = self.length = self.crc = self.size = 0
        self.head: tuple[int, int, int, int] | None = None

    def segments(self) -> list[tuple[int, int, int, int]]:
        """``(offset, length, crc, size)`` of its segments, in the archive's order."""
        body = (self.offset, self.length, self.crc, self.size)
        return [self.head, body] if self.head is not None else [body]


class _BackgroundDeflater:
    """Deflates the body in a second thread: isal and zlib release the GIL while they
    compress, so the deflate (the largest single cost of a rewrite) overlaps with the
    reading, parsing and rewriting of the caller's thread.

    Each :class:`_Piece` becomes one segment: a fresh compressor, ended with a sync
    flush (byte-aligned, not final), so that segments join in any order into one
    deflate stream (see the module docstring); the last one ends the stream. The
    bytes, and the ends of segments among them, are gathered into batches of
    :data:`BATCH` bytes handed over through a queue of :data:`DEPTH` batches, which
    bounds the memory in flight (a batch holds the ends of as many small members as
    fit: the caller does not wait on the thread once per member). An error of the thread
    (a full disk) is raised in the caller's thread at the next put or at
    :meth:`finish`.
    """

    BATCH = 1 << 20
    DEPTH = 4
    #: Bytes after which a segment's end hands the batch over: small members travel
    #: together, a large one's batch goes at its end (measured: handing over only full
    #: batches let the heap grow by 7 MiB more from the 100 MB to the 1 GB course).
    END_BATCH = 1 << 16

    def __init__(self, compressor: str, level: int | None, target: BinaryIO) -> None:
        self._compressor, self._level, self._target = compressor, level, target
        self._batch: list = []  # bytes, and (piece, last, head) where a segment ends
        self._batched = 0
        self._queue: queue.Queue = queue.Queue(self.DEPTH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mbx-deflate", daemon=True)
        self._thread.start()

    def put(self, data) -> None:
        self._batch.append(data)
        self._batched += len(data)
        if self._batched >= self.BATCH:
            self._hand_over()

    def end(self, piece: _Piece, last: bool = False, head: bool = False) -> None:
        """The segment of ``piece`` (its ``head`` segment) ends with what was put so far."""
        self._batch.append((piece, last, head))
        if last or self._batched >= self.END_BATCH:
            self._hand_over()

    def _hand_over(self) -> None:
        if self._error is not None:
            raise self._error
        if self._batch:
            batch, self._batch, self._batched = self._batch, [], 0
            self._queue.put(batch)

    def _run(self) -> None:
        target, position = self._target, 0
        engine, crc32 = deflate_engine(self._compressor, self._level)
        crc = size = start = 0
        while (batch := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: the caller sees the error and stops
            try:
                for item in _joined(batch):
                    if isinstance(item, tuple):
                        piece, last, head = item
                        tail = engine.flush() if last else engine.flush(
                            sync_flush_flag(self._compressor))
                        target.write(tail)
                        position += len(tail)
                        if head:
                            piece.head = (start, position - start, crc, size)
                        else:
                            piece.offset, piece.length = start, position - start
                            piece.crc, piece.size = crc, size
                        engine, _ = deflate_engine(self._compressor, self._level)
                        crc = size = 0
                        start = position
                        continue
                    crc = crc32(item, crc)
                    size += len(item)
                    packed = engine.compress(item)
                    if packed:
                        target.write(packed)
                        position += len(packed)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                self._error = exc

    def finish(self) -> None:
        """Waits for every segment to be written, and stops the thread."""
        self._hand_over()
        self._stop()
        if self._error is not None:
            raise self._error

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def abort(self) -> None:
        self._batch = []
        if self._thread.is_alive():
            self._error = self._error or RuntimeError("aborted")
            self._stop()


class _TarGzSink:
    """The tar.gz in one pass: the body deflated as it comes into an anonymous file
    (by a :class:`_BackgroundDeflater`), in segments that are joined in the archive's
    order at the end, after the index (see the module docstring)."""

    #: A member may be streamed before its size is known (:meth:`begin_unsized`).
    unsized = True

    def __init__(self, output: _Temporary, compressor: str, level: int | None,
                 source: str) -> None:
        self._output = output
        self._compressor = compressor
        self._level = level
        self._source = source
        self._body = tempfile.TemporaryFile(dir=os.path.dirname(source) or ".",
                                            prefix=".mbx-body-")
        self._deflater = _BackgroundDeflater(compressor, level, self._body)
        self._pieces: list[_Piece] = []   # in the archive's order
        self._current: _Piece | None = None

    def _piece(self) -> _Piece:
        if self._current is None:
            self._current = _Piece()
            self._pieces.append(self._current)
        return self._current

    def _end_current(self) -> None:
        if self._current is not None:
            self._deflater.end(self._current)
            self._current = None

    def begin(self, name: str, is_dir: bool, size: int, mtime: int | None) -> None:
        self._deflater.put(ustar_header(name, size, MOODLE_UNKNOWN_MTIME if mtime is None
                                        else mtime, is_dir, self._source))
        self._piece().entries.append((name, is_dir, size, mtime))

    def write(self, data) -> None:
        self._deflater.put(data)

    def end(self, size: int) -> None:
        self._deflater.put(padding(size))

    # -- reserved places ---------------------------------------------------------------

    def reserve(self) -> _Piece:
        self._end_current()
        piece = _Piece(slot=True)
        self._pieces.append(piece)
        return piece

    def fill(self, piece: _Piece) -> None:
        """What comes next (one begin ... end) is ``piece``'s member."""
        self._end_current()
        self._current = piece

    def filled(self, piece: _Piece) -> None:
        self._deflater.end(piece)
        self._current = None
        piece.filled = True

    def drop(self, piece: _Piece) -> None:
        piece.dropped = True  # a filled segment stays in the body file, never copied

    # -- a member whose size comes at its end --------------------------------------------

    def begin_unsized(self, piece: _Piece | None) -> None:
        """What is written next, up to :meth:`end_unsized`, is one file's bytes, in
        ``piece`` (a slot) or in a piece of its own here."""
        self._end_current()
        if piece is None:
            piece = _Piece()
            self._pieces.append(piece)
        self._current = piece

    def end_unsized(self, name: str, size: int, mtime: int | None) -> None:
        """The file ends, ``size`` bytes: its padding ends the piece's segment, its
        header is deflated into the piece's head segment."""
        piece, deflater = self._current, self._deflater
        deflater.put(padding(size))
        deflater.end(piece)
        deflater.put(ustar_header(name, size, MOODLE_UNKNOWN_MTIME if mtime is None
                                  else mtime, False, self._source))
        deflater.end(piece, head=True)
        piece.entries.append((name, False, size, mtime))
        piece.filled = True
        self._current = None

    # -- the end -------------------------------------------------------------------------

    def finish(self, check: Callable[[], None]) -> None:
        self._end_current()
        deflater = self._deflater
        last = _Piece()
        deflater.put(END_OF_ARCHIVE)
        deflater.end(last, last=True)  # Z_FINISH: its last block is the stream's final one
        deflater.finish()
        body = self._body
        body.flush()
        kept = [piece for piece in self._pieces if not piece.dropped and piece.entries]
        entries = [entry for piece in kept for entry in piece.entries]
        index = index_entry(format_archive_index(entries), self._source)
        head, crc32 = deflate_engine(self._compressor, self._level)
        out = self._output.open()
        out.write(GZIP_HEADER)
        out.write(head.compress(index))
        out.write(head.flush(sync_flush_flag(self._compressor)))  # byte-aligned, not final
        crc, size = crc32(index), len(index)
        for piece in (*kept, last):
            for offset, length, part_crc, part_size in piece.segments():
                _append_copy(body, out, length, check, self._source, start=offset)
                crc = crc32_combine(crc, part_crc, part_size)
                size += part_size
        out.write(gzip_trailer_bytes(crc, size))
        body.close()  # anonymous: closing it frees it

    def discard(self) -> None:
        self._deflater.abort()
        with contextlib.suppress(OSError):  # a full disk may refuse the buffer's flush
            self._body.close()  # anonymous: closing it frees it


class _ZipSink:
    """The zip, streamed by zipfile straight into the archive's temporary file."""

    #: A member's size is written before its bytes: one opened is spooled first.
    unsized = False

    def __init__(self, output: _Temporary, compressor: str, level: int | None,
                 source: str) -> None:
        self._zip = zipfile.ZipFile(output.open(), "w", compression=zipfile.ZIP_DEFLATED,
                                    compresslevel=zip_level(compressor, level),
                                    allowZip64=True)
        self._member = None

    # a zip is written as it comes: a slot's member goes where the file is when it is
    # filled, and can be dropped only before
    def reserve(self) -> list:
        return [False]  # [filled]

    def fill(self, piece: list) -> None:
        pass

    def filled(self, piece: list) -> None:
        piece[0] = True

    def drop(self, piece: list) -> None:
        if piece[0]:
            raise ArchiveError("a zip member cannot be dropped once written",
                               code="archive-slot-used")

    def begin(self, name: str, is_dir: bool, size: int, mtime: int | None) -> None:
        info = zip_info(name, is_dir, MOODLE_UNKNOWN_MTIME if mtime is None else mtime)
        if is_dir:
            self._zip.writestr(info, b"")
        else:
            info.file_size = size  # zipfile also takes zip64 when 5% more would need it
            self._member = self._zip.open(info, "w", force_zip64=size >= 1 << 31)

    def write(self, data) -> None:
        self._member.write(data)

    def end(self, size: int) -> None:
        member, self._member = self._member, None
        member.close()

    def finish(self, check: Callable[[], None]) -> None:
        self._zip.close()  # the central directory; the file stays open for the commit

    def discard(self) -> None:
        # the member's close writes its sizes, the zip's its directory: both into a
        # file about to be removed, and either may fail on a full disk
        member, self._member = self._member, None
        if member is not None:
            with contextlib.suppress(Exception):
                member.close()
        with contextlib.suppress(Exception):
            self._zip.close()


#: The writer of each format, by ``format``.
_SINKS = {"tgz": _TarGzSink, "zip": _ZipSink}


# -- helpers ------------------------------------------------------------------------------

def _joined(batch: list) -> Iterator:
    """The items of a deflater's batch, each run of bytes joined into one."""
    run: list = []
    for item in batch:
        if isinstance(item, tuple):
            if run:
                yield run[0] if len(run) == 1 else b"".join(run)
                run = []
            yield item
        else:
            run.append(item)
    if run:
        yield run[0] if len(run) == 1 else b"".join(run)


def _pieces(chunks: Chunks) -> Iterable[bytes]:
    """The pieces of ``chunks``: as they are, or read from a stream 1 MiB at a time."""
    read = getattr(chunks, "read", None)
    if read is None:
        return chunks
    return iter(lambda: read(COPY_SIZE), b"")


def _kernel_copies() -> list[Callable[[int, int, int, int], int]]:
    """The ways of copying ``count`` bytes at ``offset`` of one file to the current
    position of another inside the kernel, best first, that this Python has."""
    ways = []
    if hasattr(os, "copy_file_range"):
        ways.append(lambda source, target, offset, count:
                    os.copy_file_range(source, target, count, offset))
    if hasattr(os, "sendfile"):
        ways.append(lambda source, target, offset, count:
                    os.sendfile(target, source, offset, count))
    return ways


def _append_copy(source: BinaryIO, target: BinaryIO, length: int, check: Callable[[], None],
                 where: str, *, start: int = 0) -> None:
    """Appends ``length`` bytes of ``source`` from offset ``start`` to ``target``: in the
    kernel (``copy_file_range``, a reflink or in-kernel copy, or ``sendfile``) when it
    can, else through a 1 MiB buffer; ``check`` between steps (a cancel)."""
    target.flush()
    done = 0
    for copy in _kernel_copies():
        try:
            while done < length:
                check()
                copied = copy(source.fileno(), target.fileno(), start + done,
                              min(length - done, _COPY_STEP))
                if copied == 0:
                    break
                done += copied
            break
        except OSError as error:
            if error.errno not in _CANNOT_COPY:
                raise
    target.seek(0, os.SEEK_END)  # the kernel moved the file's position, not the buffer's
    source.seek(start + done)
    while done < length:
        check()
        chunk = source.read(min(COPY_SIZE, length - done))
        if not chunk:
            raise ArchiveError("the compressed body of the archive came back shorter than "
                               "written", code="archive-spool-changed", source=where)
        target.write(chunk)
        done += len(chunk)
