"""``add``: one archive in, one version out, in one streaming pass.

Each member is read once, as the archive layer streams it: a file blob
(``files/ab/<sha1>``) goes whole into the blob pool (compared with the stored
one when the store has it, so unchanged media cost nothing), anything else
is cut into content-defined chunks (:mod:`.chunking`), each stored once,
compressed. What the version holds is staged in TEMP tables as it comes, so
memory stays flat however many members and chunks there are (the chunk list
of the member being cut is held: 16 bytes a chunk, some 2 MB for a 1 GB
member), and moved into the index in one transaction at the end. Before the
pass, the archive file is hashed: an archive the store already holds as some
course's latest version is recognised there and costs nothing more.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Iterator

import xxhash

from mbx.archive import ARCHIVE_INDEX_NAME, ArchiveLimits, MemberInfo, open_backup
from mbx.errors import MbxError
from mbx.moodle2.information import read_information
from mbx.moodle2.members import BLOB, MOODLE_BACKUP
from mbx.progress import Monitor, as_monitor
from mbx._memory import HeapTrimmer
from mbx.store.chunking import StreamChunker
from mbx.store.index import STAGING, chunk_names, connect, transaction
from mbx.store.layout import Layout, StoreError, crash_point
from mbx.store.objects import READ_SIZE, ObjectPool, chunk_id
from mbx.store.results import AddResult

__all__ = ["add", "check_course_name"]

#: Staged rows written per transaction of the TEMP tables.
_BATCH = 2000


def check_course_name(name: str) -> str:
    """Refuses a course name a reference could not name (``@``, ``/``, control characters)."""
    if not name or len(name) > 255 or "@" in name or "/" in name or \
            any(ord(character) < 32 for character in name) or name != name.strip():
        raise StoreError(f"{name!r} cannot name a course in the store (1 to 255 characters, "
                         "no '@', '/', control characters or surrounding spaces)",
                         code="store-bad-name")
    return name


def add(store: str | os.PathLike, archive: str | os.PathLike, *, course: str | None = None,
        tags: Iterable[str] = (), limits: ArchiveLimits | None = None,
        progress: Monitor | None = None) -> AddResult:
    """Adds ``archive`` (a ``.mbz`` or a backup folder) to ``store`` as a new version of
    ``course`` (default: the course's short name in ``moodle_backup.xml``, else the
    archive's file name), with ``tags``.

    An archive identical to the course's latest version (the same file, or the
    same members in the same container) adds nothing: the result's
    ``duplicate_of`` names that version (and ``tags`` are given to it).
    """
    started = time.monotonic()
    layout = Layout(store)
    archive = os.fspath(archive)
    tags = [_check_tag(tag) for tag in tags]
    if course is not None:
        check_course_name(course)
    monitor = as_monitor(progress)
    with layout.locked(), connect(layout) as db:
        archive_size = archive_hash = None
        if os.path.isfile(archive):
            archive_size, archive_hash = _file_hash(archive, monitor)
            known = _same_archive(db, archive_hash, course)
            if known is not None:
                return _duplicate(db, known, tags, started)
        staging = _Staging(db, ObjectPool(layout))
        with open_backup(archive, limits=limits or ArchiveLimits()) as backup:
            monitor.phase("adding", totals=backup.expected_totals)
            information = staging.stream(backup, monitor)
            container, backup_format = backup.kind, backup.format
        staging.pool.sync_folders()
        if course is None:
            course = _default_course(information, archive)
        crash_point("add:before-commit")
        result = staging.commit(course, tags, {
            "added_at": time.time(), "source": archive, "container": container,
            "format": backup_format, "archive_size": archive_size, "archive_hash": archive_hash,
            "title": getattr(information, "original_course_fullname", None),
            "backup_date": getattr(information, "backup_date", None)}, started)
        crash_point("add:after-commit")
        return result


def _check_tag(tag: str) -> str:
    if not tag or tag.isdigit() or tag == "latest" or "@" in tag or tag != tag.strip():
        raise StoreError(f"{tag!r} cannot be a tag (not empty, not a number, not 'latest', "
                         "no '@')", code="store-bad-name")
    return tag


def _file_hash(path: str, monitor: Monitor) -> tuple[int, str]:
    """Size and xxh3-128 of the archive file (some GB/s: a small cost before a pass)."""
    digest = xxhash.xxh3_128()
    size = 0
    with open(path, "rb") as stream:
        while data := stream.read(READ_SIZE):
            monitor.check()
            digest.update(data)
            size += len(data)
    return size, digest.hexdigest()


def _same_archive(db: sqlite3.Connection, archive_hash: str, course: str | None):
    """``(course, number, version id)`` of a latest version made from these very bytes."""
    query = ("SELECT c.name, v.number, v.id FROM versions v JOIN courses c ON c.id = v.course_id "
             "WHERE v.archive_hash = ? AND v.number = (SELECT max(number) FROM versions "
             "WHERE course_id = v.course_id)")
    params: tuple = (archive_hash,)
    if course is not None:
        query += " AND c.name = ?"
        params += (course,)
    return db.execute(query, params).fetchone()


def _duplicate(db: sqlite3.Connection, known, tags: list[str], started: float) -> AddResult:
    name, number, version_id = known
    with transaction(db):
        _tag(db, version_id, tags)
    row = db.execute("SELECT members, bytes FROM versions WHERE id = ?", (version_id,)).fetchone()
    all_tags = [tag for (tag,) in db.execute(
        "SELECT name FROM tags WHERE version_id = ? ORDER BY name", (version_id,))]
    return AddResult(course=name, version=number, tags=all_tags, members=row[0], bytes=row[1],
                     added_bytes=0, new_chunks=0, new_blobs=0, duplicate_of=number,
                     seconds=round(time.monotonic() - started, 3))


def _tag(db: sqlite3.Connection, version_id: int, tags: list[str]) -> None:
    course_id = db.execute("SELECT course_id FROM versions WHERE id = ?",
                           (version_id,)).fetchone()[0]
    for tag in tags:
        holder = db.execute("SELECT version_id FROM tags WHERE course_id = ? AND name = ?",
                            (course_id, tag)).fetchone()
        if holder is not None and holder[0] != version_id:
            number = db.execute("SELECT number FROM versions WHERE id = ?",
                                (holder[0],)).fetchone()[0]
            raise StoreError(f"tag {tag!r} already names version {number} of this course",
                             code="store-tag-taken")
        db.execute("INSERT OR IGNORE INTO tags VALUES (?, ?, ?)", (course_id, tag, version_id))


def _default_course(information, archive: str) -> str:
    shortname = getattr(information, "original_course_shortname", None)
    try:
        return check_course_name(shortname)
    except StoreError:
        stem = os.path.basename(os.path.normpath(archive))
        for suffix in (".mbz", ".zip", ".tar.gz", ".tgz"):
            stem = stem.removesuffix(suffix)
        return check_course_name(stem.replace("@", "_") or "course")


class _Staging:
    """The version being added: its content written to the pool, its rows to TEMP tables."""

    def __init__(self, db: sqlite3.Connection, pool: ObjectPool) -> None:
        self.db = db
        self.pool = pool
        db.executescript(STAGING)
        self.listing = xxhash.xxh3_128()   # the content hash: container and member list
        self.members = 0
        self.bytes = 0
        self._rows: dict[str, list[tuple]] = {"members": [], "contents": [], "chunks": [],
                                              "blobs": []}
        self._pending = 0
        self.heap = HeapTrimmer()

    def stream(self, backup, monitor: Monitor):
        """Stores every member of ``backup``; returns the information block, if any."""
        information = None
        self.listing.update(f"{backup.kind}\n".encode())
        for info, stream in backup.iter_members():
            monitor.check()
            self.heap.add(info.size)
            if info.name == ARCHIVE_INDEX_NAME:
                continue  # written anew by get, from the members
            position = self.members
            blob = content = None
            if info.is_dir:
                pass
            elif BLOB.fullmatch(info.name):
                blob, _, _ = self._blob(info, stream)
            else:
                content, names = self._content(info.size, _read(stream, monitor))
                if info.name == MOODLE_BACKUP:
                    information = self._information(names)
            self._stage("members", (position, info.name, info.is_dir, info.size, info.mtime,
                                    blob, content))
            self.listing.update(f"{info.name}\0{int(info.is_dir)}\0{info.size}\0{info.mtime}\0"
                                f"{blob or content or ''}\n".encode())
            self.members += 1
            self.bytes += info.size
            monitor.advance(info.size, 1, info.name)
        self._flush()
        return information

    def _blob(self, info: MemberInfo, stream):
        claimed = info.name.rpartition("/")[2]
        sha1, size, stored = self.pool.put_blob(_read(stream, None), claimed)
        self._stage("blobs", (sha1, size))
        return sha1, size, stored

    def _content(self, size: int, pieces: Iterator[bytes]) -> tuple[str, bytes]:
        """Chunks and stores one member; its content id and packed chunk list."""
        chunker = StreamChunker()
        whole = xxhash.xxh3_128()
        names = bytearray()
        for data in pieces:
            whole.update(data)
            for chunk in chunker.feed(data):
                names += self._chunk(chunk)
        for chunk in chunker.finish():
            names += self._chunk(chunk)
        content, names = whole.hexdigest(), bytes(names)
        self._stage("contents", (content, size, names))
        return content, names

    def _chunk(self, chunk: bytes) -> bytes:
        """Stores one chunk; its name, raw (as a packed chunk list holds it)."""
        name = chunk_id(chunk)
        stored, _ = self.pool.put_chunk(name, chunk)
        self._stage("chunks", (name, len(chunk), stored))
        return bytes.fromhex(name)

    def _information(self, names: bytes):
        """The information block of the ``moodle_backup.xml`` just stored, read back
        from its chunks; None when it cannot be read (its bytes are kept all the same)."""
        try:
            return read_information(self.pool.read_chunk(name) for name in chunk_names(names))
        except MbxError:
            return None

    # -- the TEMP tables -------------------------------------------------------------------

    _INSERTS = {
        "members": "INSERT INTO temp.staged_members VALUES (?, ?, ?, ?, ?, ?, ?)",
        "contents": "INSERT OR IGNORE INTO temp.staged_contents VALUES (?, ?, ?)",
        "chunks": "INSERT OR IGNORE INTO temp.staged_chunks VALUES (?, ?, ?)",
        "blobs": "INSERT OR IGNORE INTO temp.staged_blobs VALUES (?, ?)",
    }

    def _stage(self, table: str, row: tuple) -> None:
        self._rows[table].append(row)
        self._pending += 1
        if self._pending >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        db = self.db
        db.execute("BEGIN")
        try:
            for table, rows in self._rows.items():
                if rows:
                    db.executemany(self._INSERTS[table], rows)
                    rows.clear()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._pending = 0

    # -- the end ---------------------------------------------------------------------------

    def commit(self, course: str, tags: list[str], facts: dict, started: float) -> AddResult:
        """Moves the staged version into the index, in one transaction; a version equal
        to the course's latest (the same container and members) is not added."""
        db = self.db
        content_hash = self.listing.hexdigest()
        with transaction(db):
            row = db.execute("SELECT id, next_number FROM courses WHERE name = ?",
                             (course,)).fetchone()
            if row is None:
                course_id = db.execute("INSERT INTO courses (name) VALUES (?)",
                                       (course,)).lastrowid
                number = 1
            else:
                course_id, number = row
                latest = db.execute(
                    "SELECT id, number, content_hash FROM versions WHERE course_id = ? "
                    "ORDER BY number DESC LIMIT 1", (course_id,)).fetchone()
                if latest is not None and latest[2] == content_hash:
                    _tag(db, latest[0], tags)
                    duplicate = (course, latest[1], latest[0])
                    number = None
            if number is not None:
                new_chunks, chunk_bytes = db.execute(
                    "SELECT count(*), coalesce(sum(stored), 0) FROM temp.staged_chunks "
                    "WHERE id NOT IN (SELECT id FROM chunks)").fetchone()
                new_blobs, blob_bytes = db.execute(
                    "SELECT count(*), coalesce(sum(size), 0) FROM temp.staged_blobs "
                    "WHERE sha1 NOT IN (SELECT sha1 FROM blobs)").fetchone()
                db.execute("INSERT OR IGNORE INTO chunks SELECT * FROM temp.staged_chunks")
                db.execute("INSERT OR IGNORE INTO blobs SELECT * FROM temp.staged_blobs")
                db.execute("INSERT OR IGNORE INTO contents (id, size, chunks) "
                           "SELECT id, size, chunks FROM temp.staged_contents")
                version_id = db.execute(
                    "INSERT INTO versions (course_id, number, added_at, source, container, "
                    "format, title, backup_date, archive_size, archive_hash, content_hash, "
                    "members, bytes, added_bytes) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (course_id, number, facts["added_at"], facts["source"], facts["container"],
                     facts["format"], facts["title"], facts["backup_date"],
                     facts["archive_size"], facts["archive_hash"], content_hash, self.members,
                     self.bytes, chunk_bytes + blob_bytes)).lastrowid
                db.execute("INSERT INTO members SELECT ?, position, name, is_dir, size, mtime, "
                           "blob, content FROM temp.staged_members ORDER BY position",
                           (version_id,))
                db.execute("UPDATE courses SET next_number = ? WHERE id = ?",
                           (number + 1, course_id))
                _tag(db, version_id, tags)
        if number is None:
            return _duplicate(db, duplicate, [], started)
        return AddResult(course=course, version=number, tags=sorted(tags), members=self.members,
                         bytes=self.bytes, added_bytes=chunk_bytes + blob_bytes,
                         new_chunks=new_chunks, new_blobs=new_blobs,
                         seconds=round(time.monotonic() - started, 3))


def _read(stream, monitor: Monitor | None) -> Iterator[bytes]:
    while data := stream.read(READ_SIZE):
        if monitor is not None:
            monitor.check()
        yield data
