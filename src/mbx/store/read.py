"""``get`` and ``checkout``: a stored version back out, as an archive or a folder.

Every byte is checked on the way out: each chunk against its xxh3-128, each
blob against its sha1, each member's whole content against its own hash.
Damage raises :class:`~mbx.store.layout.StoreError` (``store-damaged``) naming
the version and the member, and nothing is left at the output: the archive
writer abandons its temporary, the checkout removes its half-built folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import sqlite3
from collections.abc import Iterator

import xxhash

from mbx.archive.writer import StreamingArchiveWriter
from mbx.progress import Monitor, as_monitor
from mbx.store.index import VersionRow, chunk_names, connect, resolve
from mbx.store.layout import Layout, StoreError
from mbx.store.objects import DamagedObject, ObjectPool
from mbx.store.results import CheckoutResult, GetResult

__all__ = ["checkout", "content_pieces", "get"]

#: The container ``get`` writes for each container a version came from.
_OUTPUT_FORMAT = {"tar.gz": "tgz", "zip": "zip", "folder": "tgz"}


class _Member:
    __slots__ = ("name", "is_dir", "size", "mtime", "blob", "content")

    def __init__(self, name, is_dir, size, mtime, blob, content) -> None:
        self.name, self.is_dir, self.size, self.mtime = name, bool(is_dir), size, mtime
        self.blob, self.content = blob, content


def members_of(db: sqlite3.Connection, version: VersionRow) -> Iterator[_Member]:
    """The members of ``version`` in archive order (read as they go: constant memory)."""
    cursor = db.execute("SELECT name, is_dir, size, mtime, blob, content FROM members "
                        "WHERE version_id = ? ORDER BY position", (version.id,))
    for row in cursor:
        yield _Member(*row)


def content_pieces(db: sqlite3.Connection, pool: ObjectPool, content: str, size: int,
                   where: str) -> Iterator[bytes]:
    """The bytes of one stored content, chunk by chunk, each checked; the whole is
    checked too before its last piece is given (``where`` names it in the error)."""
    whole = xxhash.xxh3_128()
    total = 0
    previous = None
    row = db.execute("SELECT chunks FROM contents WHERE id = ?", (content,)).fetchone()
    for name in chunk_names(row[0] if row else b""):  # no row: the check below says so
        data = pool.read_chunk(name)
        whole.update(data)
        total += len(data)
        if previous is not None:
            yield previous
        previous = data
    if total != size or whole.hexdigest() != content:
        raise StoreError(f"{where}: its chunks do not add up to its content "
                         f"({total} bytes of {size})", code="store-damaged")
    if previous is not None:
        yield previous


def _member_pieces(db, pool: ObjectPool, member: _Member, where: str) -> Iterator[bytes]:
    if member.blob is not None:
        return pool.blob_pieces(member.blob)
    return content_pieces(db, pool, member.content, member.size, where)


@contextlib.contextmanager
def _reporting(version: VersionRow, member: _Member | None = None) -> Iterator[None]:
    """Names the version (and member) in a damage error raised inside."""
    try:
        yield
    except DamagedObject as damage:
        raise StoreError(f"{version.ref}: {damage.message}"
                         + (f" in member {member.name}" if member else "")
                         + " (run `mbx store verify` for every version it hurts)",
                         code="store-damaged", source=damage.source) from None


def get(store: str | os.PathLike, ref: str, output: str | os.PathLike, *,
        format: str | None = None, progress: Monitor | None = None) -> GetResult:
    """Writes version ``ref`` (``COURSE``, ``COURSE@3``, ``COURSE@TAG``) as an archive.

    Every member comes out byte for byte as it went in, in its order; the
    ``.ARCHIVE_INDEX`` is written anew, first, by the archive writer. ``format``
    is ``"tgz"`` or ``"zip"`` (default: the container the version came in; a
    folder comes out as a tar.gz).
    """
    layout = Layout(store)
    output = os.fspath(output)
    monitor = as_monitor(progress)
    with layout.locked(), connect(layout) as db:
        version = resolve(db, ref)
        pool = ObjectPool(layout)
        chosen = format or _OUTPUT_FORMAT.get(version.container, "tgz")
        if os.path.isdir(output):
            raise StoreError(f"{output!r} is a folder: give the archive's path",
                             code="store-output", source=output)
        members = total = 0
        monitor.phase("getting")
        with StreamingArchiveWriter(output, chosen, progress=Monitor(
                cancel=monitor.cancel_token)) as writer:
            for member in members_of(db, version):
                monitor.check()
                with _reporting(version, member):
                    if member.is_dir:
                        writer.add_dir(member.name, member.mtime)
                    else:
                        writer.add(member.name, member.size, member.mtime,
                                   _member_pieces(db, pool, member,
                                                  f"{version.ref}:{member.name}"))
                members += 1
                total += member.size
                monitor.advance(member.size, 1, member.name)
    return GetResult(course=version.course, version=version.number, output=output,
                     format=chosen, members=members, bytes=total, bytes_out=writer.bytes_out)


def checkout(store: str | os.PathLike, ref: str, folder: str | os.PathLike, *,
             copy: bool = False, progress: Monitor | None = None) -> CheckoutResult:
    """Writes version ``ref`` as a backup folder at ``folder`` (which must not exist).

    Blobs are hard links to the store's own files (read-only: change a linked
    blob and every version that holds it changes; the store's verify reports
    it), so a checkout of an unchanged course costs no space; ``copy=True``
    copies them instead, as it does where the folder is on another file system.
    Every blob is re-hashed either way. The folder is built beside its place
    and renamed into it when whole. Linked blobs keep the store's file time.
    """
    layout = Layout(store)
    folder = os.path.abspath(os.fspath(folder))
    monitor = as_monitor(progress)
    if os.path.lexists(folder):
        raise StoreError(f"{folder!r} exists: check out into a new folder",
                         code="store-output", source=folder)
    with layout.locked(), connect(layout) as db:
        version = resolve(db, ref)
        pool = ObjectPool(layout)
        parent = os.path.dirname(folder)
        building = os.path.join(parent, f".{os.path.basename(folder)}.{secrets.token_hex(4)}.part")
        os.mkdir(building)
        members = linked = copied = 0
        try:
            monitor.phase("checking out")
            for member in members_of(db, version):
                monitor.check()
                path = os.path.join(building, *member.name.split("/"))
                with _reporting(version, member):
                    if member.is_dir:
                        os.makedirs(path, exist_ok=True)
                    else:
                        os.makedirs(os.path.dirname(path), exist_ok=True)
                        if member.blob is not None and not copy and \
                                _link(pool, member.blob, path):
                            linked += 1
                        else:
                            _write(path, _member_pieces(db, pool, member,
                                                        f"{version.ref}:{member.name}"),
                                   member.mtime)
                            copied += member.blob is not None
                members += 1
                monitor.advance(member.size, 1, member.name)
            os.rename(building, folder)
        except BaseException:
            shutil.rmtree(building, ignore_errors=True)
            raise
    return CheckoutResult(course=version.course, version=version.number, folder=folder,
                          members=members, linked=linked, copied=copied)


def _link(pool: ObjectPool, sha1: str, path: str) -> bool:
    """Hard-links blob ``sha1`` at ``path`` once its bytes are checked; False where
    links cannot go (another file system), so the caller copies."""
    pool.check_blob(sha1)
    try:
        os.link(pool.layout.blob(sha1), path)
    except OSError as error:
        if error.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            return False
        raise
    return True


def _write(path: str, pieces: Iterator[bytes], mtime: int | None) -> None:
    with open(path, "xb") as out:
        for data in pieces:
            out.write(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
