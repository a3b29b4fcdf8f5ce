"""Looking after a store: ``ls``, ``rm``, ``gc`` and ``verify``.

``rm`` drops versions from the index only (one transaction); ``gc`` frees the
content files nothing lists any more. gc holds the store's lock exclusively,
so no add is running while it sweeps: a chunk an add has just written, and
not yet listed, is never taken for garbage. It first drops the index rows
nothing references (one transaction), then deletes every content file the
index does not list, and every temporary: killed between the two, the files
it had not yet deleted are simply unlisted ones the next gc removes.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable

from mbx.progress import Monitor, as_monitor
from mbx.store.index import connect, listed_chunks, resolve, transaction, versions_using
from mbx.store.layout import Layout, StoreError, crash_point
from mbx.store.objects import DamagedObject, ObjectPool
from mbx.store.results import (CourseListing, Damage, GcResult, RmResult, StoreListing,
                               VerifyResult, VersionInfo)

__all__ = ["gc", "ls", "rm", "verify"]


def ls(store: str | os.PathLike, course: str | None = None) -> StoreListing:
    """Every course (or ``course`` alone) with its versions, oldest first."""
    layout = Layout(store)
    with connect(layout) as db:
        query = "SELECT id, name FROM courses"
        params: tuple = ()
        if course is not None:
            query += " WHERE name = ?"
            params = (course,)
        courses = db.execute(query + " ORDER BY name", params).fetchall()
        if course is not None and not courses:
            raise StoreError(f"{course!r}: no such course in the store", code="store-no-version")
        listing = [CourseListing(name=name, versions=_versions(db, course_id, name))
                   for course_id, name in courses]
        stored = db.execute("SELECT (SELECT coalesce(sum(stored), 0) FROM chunks) + "
                            "(SELECT coalesce(sum(size), 0) FROM blobs)").fetchone()[0]
    return StoreListing(store=layout.root, courses=listing, stored_bytes=stored)


def _versions(db: sqlite3.Connection, course_id: int, name: str) -> list[VersionInfo]:
    rows = db.execute("SELECT id, number, added_at, backup_date, title, source, container, "
                      "format, members, bytes, archive_size, added_bytes FROM versions "
                      "WHERE course_id = ? ORDER BY number", (course_id,)).fetchall()
    found = []
    for (version_id, number, added_at, backup_date, title, source, container, backup_format,
         members, size, archive_size, added) in rows:
        tags = [tag for (tag,) in db.execute(
            "SELECT name FROM tags WHERE version_id = ? ORDER BY name", (version_id,))]
        found.append(VersionInfo(course=name, version=number, tags=tags, added_at=added_at,
                                 backup_date=backup_date, title=title, source=source,
                                 container=container, format=backup_format, members=members,
                                 bytes=size, archive_size=archive_size, added_bytes=added))
    return found


def rm(store: str | os.PathLike, refs: Iterable[str]) -> RmResult:
    """Drops the versions ``refs`` (each ``COURSE@VERSION``: a bare course name is
    refused, so that no typing slip drops a version) from the index, in one
    transaction; :func:`gc` then frees what only they held."""
    layout = Layout(store)
    refs = list(refs)
    for ref in refs:
        if "@" not in ref:
            raise StoreError(f"{ref!r}: say which version to remove (COURSE@VERSION)",
                             code="store-no-version")
    removed: list[str] = []
    emptied: list[str] = []
    with connect(layout) as db, transaction(db):
        for ref in refs:
            version = resolve(db, ref)
            db.execute("DELETE FROM members WHERE version_id = ?", (version.id,))
            db.execute("DELETE FROM tags WHERE version_id = ?", (version.id,))
            db.execute("DELETE FROM versions WHERE id = ?", (version.id,))
            removed.append(version.ref)
            if db.execute("SELECT 1 FROM versions WHERE course_id = ?",
                          (version.course_id,)).fetchone() is None:
                db.execute("DELETE FROM courses WHERE id = ?", (version.course_id,))
                emptied.append(version.course)
    return RmResult(removed=removed, courses_removed=emptied)


def gc(store: str | os.PathLike, *, progress: Monitor | None = None) -> GcResult:
    """Frees every content file no version lists, and leftover temporaries."""
    layout = Layout(store)
    monitor = as_monitor(progress)
    with layout.locked(exclusive=True), connect(layout) as db:
        with transaction(db):
            db.execute("DELETE FROM contents WHERE id NOT IN "
                       "(SELECT content FROM members WHERE content IS NOT NULL)")
            listed = listed_chunks(db)
            db.execute(f"DELETE FROM chunks WHERE id NOT IN (SELECT id FROM {listed})")
            db.execute("DELETE FROM blobs WHERE sha1 NOT IN "
                       "(SELECT blob FROM members WHERE blob IS NOT NULL)")
        crash_point("gc:after-commit")
        monitor.phase("sweeping")
        counts = {"chunk": 0, "blob": 0}
        freed = 0
        for kind, top, query in (("chunk", layout.chunks, "SELECT 1 FROM chunks WHERE id = ?"),
                                 ("blob", layout.blobs, "SELECT 1 FROM blobs WHERE sha1 = ?")):
            for path, name in _files(top):
                monitor.check()
                if db.execute(query, (name,)).fetchone() is None:
                    size = os.stat(path).st_size
                    os.unlink(path)
                    counts[kind] += 1
                    freed += size
                    crash_point("gc:file-deleted")
        temporaries = 0
        for path, _ in _files(layout.tmp, depth=1):
            os.unlink(path)
            temporaries += 1
    return GcResult(chunks_freed=counts["chunk"], blobs_freed=counts["blob"], bytes_freed=freed,
                    temporaries_removed=temporaries)


def _files(top: str, depth: int = 2):
    """``(path, name)`` of the files in ``top`` (``top/ab/name`` when ``depth`` is 2)."""
    if not os.path.isdir(top):
        return
    with os.scandir(top) as entries:
        for entry in sorted(entries, key=lambda entry: entry.name):
            if depth == 1:
                if entry.is_file(follow_symlinks=False):
                    yield entry.path, entry.name
            elif entry.is_dir(follow_symlinks=False):
                yield from _files(entry.path, depth - 1)


def verify(store: str | os.PathLike, *, progress: Monitor | None = None) -> VerifyResult:
    """Re-hashes every chunk and blob the index lists; reports each damaged one with
    the versions that need it, and counts the files no version lists."""
    layout = Layout(store)
    monitor = as_monitor(progress)
    with layout.locked(), connect(layout) as db:
        pool = ObjectPool(layout)
        damage: list[Damage] = []
        chunks = blobs = total = 0
        monitor.phase("verifying")
        for name, size, stored in db.execute("SELECT id, size, stored FROM chunks ORDER BY id"):
            monitor.check()
            chunks += 1
            problem = None
            try:
                data = pool.read_chunk(name)
            except DamagedObject as error:
                problem = error.problem
            else:
                if len(data) != size:
                    problem = "size-mismatch"
                total += len(data)
            if problem is not None:
                damage.append(Damage(kind="chunk", id=name, problem=problem,
                                     versions=versions_using(db, chunk=name)))
            monitor.advance(size, 1, name)
        for sha1, size in db.execute("SELECT sha1, size FROM blobs ORDER BY sha1"):
            monitor.check()
            blobs += 1
            problem = None
            try:
                found = pool.check_blob(sha1)
            except DamagedObject as error:
                problem = error.problem
            else:
                if found != size:
                    problem = "size-mismatch"
                total += found
            if problem is not None:
                damage.append(Damage(kind="blob", id=sha1, problem=problem,
                                     versions=versions_using(db, blob=sha1)))
            monitor.advance(size, 1, sha1)
        damage.extend(_unlisted_references(db))
        unlisted = 0
        for kind, top, query in (("chunk", layout.chunks, "SELECT 1 FROM chunks WHERE id = ?"),
                                 ("blob", layout.blobs, "SELECT 1 FROM blobs WHERE sha1 = ?")):
            for _, name in _files(top):
                unlisted += db.execute(query, (name,)).fetchone() is None
    versions = sorted({ref for item in damage for ref in item.versions})
    return VerifyResult(chunks=chunks, blobs=blobs, bytes=total, damage=damage,
                        damaged_versions=versions, unlisted_files=unlisted)


def _unlisted_references(db: sqlite3.Connection) -> list[Damage]:
    """Members that name a chunk or blob the index does not list (an index that lost rows)."""
    found = []
    listed = listed_chunks(db)
    for (name,) in db.execute(f"SELECT id FROM {listed} "
                              "WHERE id NOT IN (SELECT id FROM chunks)").fetchall():
        found.append(Damage(kind="chunk", id=name, problem="missing",
                            versions=versions_using(db, chunk=name)))
    for (sha1,) in db.execute("SELECT DISTINCT blob FROM members WHERE blob IS NOT NULL "
                              "AND blob NOT IN (SELECT sha1 FROM blobs)"):
        found.append(Damage(kind="blob", id=sha1, problem="missing",
                            versions=versions_using(db, blob=sha1)))
    return found
