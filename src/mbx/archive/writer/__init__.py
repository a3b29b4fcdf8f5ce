"""The archive writer: members in, a Moodle-compatible ``.mbz`` out (write side).

Last stage of the write path: XML from :class:`mbx.xml.XmlWriter`
and file blobs become one archive that Moodle's own restore accepts::

    from mbx.archive.writer import ArchiveWriter

    with ArchiveWriter("course.mbz") as archive:        # tar.gz; format="zip" for zip
        with archive.open("moodle_backup.xml") as stream:
            ...                                          # write bytes
        archive.write("files/ab/ab12...", blob)

The index lists sizes, so it can only be written once every member is known:
members are spooled to a temporary folder (as Moodle spools its backup to a
temp dir) and packed when the writer closes, streaming, in 1 MiB reads.
Memory stays flat whatever the archive size; only the list of names is kept.

:class:`StreamingArchiveWriter` (:mod:`.stream`) is the one-pass twin, for
the archive-to-archive transforms: members in the caller's order (the input's),
each deflated as it comes, nothing spooled, the index put first at close.

Modules: :mod:`.ustar` (the tar member format), :mod:`.order` (Moodle's entry
order), :mod:`.names` (the names both writers admit), :mod:`.pack` (the deflate
engine, the tar.gz and zip packers), :mod:`.stream` (the streaming writer); the
``.ARCHIVE_INDEX`` format is :func:`mbx.archive.index.format_archive_index`,
beside its reader.

Output is deterministic: fixed times (``mtime`` for files, Moodle's
``1356998400`` for directories and the index), uid/gid 0, a gzip header with a
fixed time and no name, one compressor chosen at construction. The same
members give byte-identical archives on the same installation (isal and zlib
produce different, equally valid, deflate streams).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Callable

from mbx.archive.base import MemberInfo
from mbx.archive.writer.names import MemberNames
from mbx.archive.writer.order import member_order
from mbx.archive.writer.pack import (MOODLE_UNKNOWN_MTIME, deflate_engine, default_compressor,
                                     index_text, pack_tgz, pack_zip)
from mbx.archive.writer.stream import StreamingArchiveWriter
from mbx.archive.writer.ustar import ustar_header
from mbx.errors import ArchiveError
from mbx.progress import Monitor, as_monitor

__all__ = ["ArchiveWriter", "MOODLE_UNKNOWN_MTIME", "StreamingArchiveWriter", "deflate_engine",
           "default_compressor", "member_order", "ustar_header"]


class _SpoolFile:
    """A member being written to the spool; its size is recorded on close."""

    def __init__(self, owner: ArchiveWriter, name: str, path: str) -> None:
        self._owner = owner
        self._name = name
        self._file = open(path, "wb")
        self.size = 0

    def write(self, data: bytes) -> int:
        self._owner.monitor.check()  # a cancel lands between writes, even in one huge member
        self._file.write(data)
        self.size += len(data)
        return len(data)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
            self._owner._sizes[self._name] = self.size
            self._owner.monitor.advance(self.size, 1, self._name)

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
    the temporary folder goes (default: beside ``path``). ``progress`` (a
    :class:`~mbx.progress.Monitor`, or a callable taking each member) follows
    members as they are added and then packed; once it is cancelled, the next
    write or member raises :class:`~mbx.errors.Cancelled` and, through the
    context manager or :meth:`close`, nothing is left behind.
    """

    def __init__(self, path: str | os.PathLike, format: str = "tgz", *,
                 mtime: int = MOODLE_UNKNOWN_MTIME, compressor: str | None = None,
                 level: int | None = None, spool_dir: str | os.PathLike | None = None,
                 progress: Monitor | Callable[[MemberInfo], None] | None = None) -> None:
        if format not in ("tgz", "zip"):
            raise ValueError(f"format must be 'tgz' or 'zip', not {format!r}")
        self.path = os.fspath(path)
        self.format = format
        self.mtime = int(mtime)
        self.compressor = compressor or default_compressor()
        self.level = level
        deflate_engine(self.compressor, level)  # fail early on a bad choice
        parent = os.fspath(spool_dir) if spool_dir else (os.path.dirname(self.path) or ".")
        self._spool = tempfile.mkdtemp(prefix=".mbx-spool-", dir=parent)
        self._sizes: dict[str, int] = {}
        #: the readers' own checks, so that mbx never writes what it would refuse to read
        self._names = MemberNames(format, self.path)
        self._closed = False
        self.monitor = as_monitor(progress)
        #: Filled by :meth:`close`: bytes of member data packed and archive size.
        self.bytes_in = 0
        self.bytes_out = 0

    # -- adding members -------------------------------------------------------------------

    def open(self, name: str) -> _SpoolFile:
        """A writable stream for member ``name`` (``a/b/c.xml``); close it when done."""
        self._check_open()
        self._names.admit(name)
        path = self._spool_file(name)
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
        return self._spool_file(name)

    def _spool_file(self, name: str) -> str:
        return os.path.join(self._spool, *name.split("/"))

    def __contains__(self, name: str) -> bool:
        return name in self._sizes

    @property
    def sizes(self) -> dict[str, int]:
        """Member name -> size of every member added so far."""
        return dict(self._sizes)

    # -- packing --------------------------------------------------------------------------

    def close(self, progress: Monitor | Callable[[MemberInfo], None] | None = None) -> None:
        """Packs the spooled members into the archive, then removes the spool.

        ``progress`` (default: the writer's own) follows each member as it is packed.
        """
        if self._closed:
            return
        temporary = f"{self.path}.part"
        monitor = self.monitor if progress is None else as_monitor(progress)
        engine = {"mtime": self.mtime, "compressor": self.compressor, "level": self.level,
                  "progress": monitor}
        try:
            monitor.phase("packing", total_bytes=sum(self._sizes.values()),
                          total_members=len(self._sizes))
            order = member_order(self._sizes)
            with open(temporary, "wb") as out:
                if self.format == "tgz":
                    self.bytes_in, self.bytes_out = pack_tgz(
                        out, order, self._sizes, self._spool_file, source=self.path, **engine)
                else:
                    self.bytes_in, self.bytes_out = pack_zip(
                        out, order, self._sizes, self._spool_file, **engine)
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
        """The ``.ARCHIVE_INDEX`` the tar.gz will start with."""
        return index_text(member_order(self._sizes), self._sizes, self.mtime)

    # -- checks ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ArchiveError("the archive writer is closed", code="archive-writer-closed",
                               source=self.path)

