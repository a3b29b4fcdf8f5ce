"""The content files of a store: raw file blobs and compressed chunks.

Place in the data flow: below the index. ``add`` puts content here first
and lists it in the index after; ``get``, ``checkout`` and ``verify`` read it
back and check every byte against its name before trusting it.

Blobs are stored as they are (a backup's blobs are mostly images, video and
PDFs, already compressed), so that a checkout can hard-link them; chunks
are zstd frames. Both are written under a temporary name in ``tmp/``, synced,
then hard-linked to their name: ``link`` never replaces a file, so two adds
writing the same content at once leave one file, and a kill leaves at worst
a temporary that ``gc`` removes.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import xxhash
import zstandard

from mbx.store.chunking import MAXIMUM_SIZE
from mbx.store.layout import Layout, StoreError, crash_point

__all__ = ["DamagedObject", "ObjectPool", "READ_SIZE", "chunk_id"]

#: Bytes read at a time from a blob.
READ_SIZE = 1 << 20
#: zstd level: 3 (zstd's default) packs Moodle XML about 8:1 at several hundred MB/s.
ZSTD_LEVEL = 3
SHA1 = re.compile(r"[0-9a-f]{40}")


def chunk_id(data) -> str:
    """A chunk's name: the xxh3-128 of its bytes, in hex."""
    return xxhash.xxh3_128_hexdigest(data)


class DamagedObject(StoreError):
    """A content file is missing, unreadable, or its bytes are not those its name says.

    ``kind`` is ``"chunk"`` or ``"blob"``, ``object_id`` its name, ``problem``
    one of ``missing``, ``unreadable``, ``hash-mismatch``.
    """

    code = "store-damaged"

    def __init__(self, kind: str, object_id: str, problem: str, path: str) -> None:
        super().__init__(f"{kind} {object_id} is damaged ({problem})", source=path)
        self.kind = kind
        self.object_id = object_id
        self.problem = problem


class ObjectPool:
    """Writes and reads the content files of the store at ``layout``."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self._decompressor = zstandard.ZstdDecompressor()
        #: the shard folders given a new file since :meth:`sync_folders` last ran
        self._touched: set[str] = set()

    # -- chunks ---------------------------------------------------------------------------

    def has_chunk(self, name: str) -> bool:
        return os.path.exists(self.layout.chunk(name))

    def put_chunk(self, name: str, data: bytes) -> tuple[int, bool]:
        """Stores chunk ``name`` (``data`` compressed) unless it is there; returns the
        size of its file and whether this call wrote it."""
        path = self.layout.chunk(name)
        try:
            return os.stat(path).st_size, False
        except FileNotFoundError:
            pass
        packed = self._compressor.compress(data)
        with self._temporary() as (temporary, stream):
            stream.write(packed)
        written = self._publish(temporary, path, len(packed))
        return (len(packed), True) if written else (os.stat(path).st_size, False)

    def read_chunk(self, name: str) -> bytes:
        """The bytes of chunk ``name``, checked against its name, or :class:`DamagedObject`."""
        path = self.layout.chunk(name)
        try:
            with open(path, "rb") as stream:
                packed = stream.read()
        except FileNotFoundError:
            raise DamagedObject("chunk", name, "missing", path) from None
        try:
            data = self._decompressor.decompress(packed, max_output_size=MAXIMUM_SIZE)
        except zstandard.ZstdError:
            raise DamagedObject("chunk", name, "unreadable", path) from None
        if chunk_id(data) != name:
            raise DamagedObject("chunk", name, "hash-mismatch", path)
        return data

    # -- blobs ----------------------------------------------------------------------------

    def put_blob(self, pieces: Iterable[bytes], claimed: str | None = None
                 ) -> tuple[str, int, int]:
        """Stores the blob read from ``pieces``; returns ``(sha1, size, bytes newly stored)``.

        ``claimed`` is the sha1 the member's name gives. When the store holds that
        blob already, the bytes are compared with it as they come and nothing is
        written unless they differ (then the stored prefix is copied and the rest
        written): adding a new version of a course with a gigabyte of unchanged
        video reads the video and writes nothing. The blob is stored under the
        sha1 of its bytes, whatever its name claims.
        """
        existing = self.layout.blob(claimed) if claimed and SHA1.fullmatch(claimed) else None
        try:
            old = open(existing, "rb") if existing else None
        except FileNotFoundError:
            old = None
        digest = hashlib.sha1()
        size = 0
        with self._temporary(lazy=old is not None) as (temporary, stream):
            try:
                for data in pieces:
                    digest.update(data)
                    if not stream.started:
                        if old.read(len(data)) == data:
                            size += len(data)
                            continue
                        stream.start(_prefix(old, size))
                    stream.write(data)
                    size += len(data)
                sha1 = digest.hexdigest()
                if not stream.started:
                    if not old.read(1) and sha1 == claimed:
                        return sha1, size, 0
                    # longer than the input, or damaged with the input's very bytes
                    stream.start(_prefix(old, size))
            finally:
                if old is not None:
                    old.close()
        return sha1, size, self._publish(temporary, self.layout.blob(sha1), size, mode=0o444)

    def blob_pieces(self, sha1: str) -> Iterator[bytes]:
        """The bytes of blob ``sha1``, 1 MiB at a time; :class:`DamagedObject` at the end
        (before the stream is done) when they do not hash to ``sha1``."""
        path = self.layout.blob(sha1)
        try:
            stream = open(path, "rb")
        except FileNotFoundError:
            raise DamagedObject("blob", sha1, "missing", path) from None
        digest = hashlib.sha1()
        with stream:
            data = stream.read(READ_SIZE)
            while data:
                following = stream.read(READ_SIZE)  # one piece ahead: the last is checked
                digest.update(data)
                if not following and digest.hexdigest() != sha1:
                    raise DamagedObject("blob", sha1, "hash-mismatch", path)
                yield data
                data = following
        if digest.hexdigest() != sha1:
            raise DamagedObject("blob", sha1, "hash-mismatch", path)

    def check_blob(self, sha1: str) -> int:
        """Re-hashes blob ``sha1``; its size, or :class:`DamagedObject`."""
        return sum(len(data) for data in self.blob_pieces(sha1))

    # -- writing --------------------------------------------------------------------------

    def _temporary(self, lazy: bool = False) -> _TemporaryFile:
        return _TemporaryFile(self.layout.tmp, lazy)

    def _publish(self, temporary: str, path: str, size: int, mode: int = 0o444) -> int:
        """Gives the synced temporary its name, unless a file has it; the bytes added."""
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        os.chmod(temporary, mode)
        try:
            os.link(temporary, path)
        except FileExistsError:
            size = 0  # written at the same time by another add: the same bytes
        finally:
            os.unlink(temporary)
        self._touched.add(folder)
        crash_point("add:object-written")
        return size

    def sync_folders(self) -> None:
        """Makes the names of the files written so far durable (before the index lists them)."""
        for folder in self._touched:
            descriptor = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        self._touched.clear()


def _prefix(old: BinaryIO, size: int) -> Iterator[bytes]:
    """The first ``size`` bytes of ``old`` (the part that matched), read again."""
    old.seek(0)
    while size > 0:
        data = old.read(min(READ_SIZE, size))
        if not data:
            return
        size -= len(data)
        yield data


class _TemporaryFile:
    """A content file being written in ``tmp/``: synced and closed at the end of the
    ``with`` block, removed if the block fails. ``lazy`` leaves it uncreated until
    :meth:`start` (a blob being compared with the stored one)."""

    def __init__(self, folder: str, lazy: bool) -> None:
        self.folder = folder
        self.path: str | None = None
        self._file: BinaryIO | None = None
        if not lazy:
            self.start(())

    @property
    def started(self) -> bool:
        return self._file is not None

    def start(self, prefix: Iterable[bytes]) -> None:
        os.makedirs(self.folder, exist_ok=True)
        self.path = os.path.join(self.folder, f"{secrets.token_hex(8)}.part")
        self._file = open(self.path, "xb")
        for data in prefix:
            self._file.write(data)

    def write(self, data) -> None:
        self._file.write(data)

    def __enter__(self) -> tuple[str | None, _TemporaryFile]:
        return self, self

    def __fspath__(self) -> str:
        return self.path

    def __exit__(self, exc_type, exc, tb) -> None:
        file = self._file
        if file is None:
            return
        try:
            if exc_type is None:
                file.flush()
                os.fsync(file.fileno())
        except BaseException:
            exc_type = True
            raise
        finally:
            file.close()
            if exc_type is not None:
                os.unlink(self.path)
