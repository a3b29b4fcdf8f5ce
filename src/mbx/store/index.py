"""The store's index: one SQLite database (WAL) beside the content files.

Schema (``SCHEMA``): ``courses`` (a name, and the number its next version
takes: numbers are never reused), ``versions`` (one added archive: when,
from where, its container and format, sizes, and the bytes it was the first
to bring), ``tags``, ``members`` (each version's members in archive order:
a directory, a blob by sha1, or a *content*: a member's bytes by their
xxh3-128), ``contents`` (each distinct content with its chunk list, so an
unchanged member costs a new version one row), ``chunks`` and ``blobs`` (the
content files the index knows, with their sizes on disk).

A chunk list is one BLOB, the chunks' raw 16-byte names end to end (``add``
writes it, :func:`chunk_names` reads it), not a row per chunk: a member
that changes a little each week is a new content listing every chunk again,
most of them shared, and over a term of a 1 GB course a row per reference
(its two hex names, twice with the index that finds a chunk's contents) made
the index some 15 % of one version; packed, a reference costs 16 bytes. What
needs the reverse (which contents list a chunk: ``gc``, ``verify``'s damage
reports) scans the lists (:func:`listed_chunks`, :func:`contents_listing`).

Writers: ``add`` stages a version in TEMP tables while it streams (no lock on
the store's database, so adds run side by side) and moves it in with one
``BEGIN IMMEDIATE`` transaction at the end; ``rm`` and ``gc`` are one
transaction each. A version is in the index whole or not at all.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from mbx.store.layout import Layout, StoreError

__all__ = ["SCHEMA", "VersionRow", "chunk_names", "connect", "contents_listing",
           "listed_chunks", "parse_ref", "resolve"]

#: 2: chunk lists packed into ``contents.chunks`` (1 had a ``content_chunks`` row each).
FORMAT_VERSION = "2"
#: Bytes of one chunk's name in a packed chunk list: the raw xxh3-128 digest.
NAME_BYTES = 16

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE courses (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    next_number INTEGER NOT NULL DEFAULT 1);
CREATE TABLE versions (
    id INTEGER PRIMARY KEY,
    course_id INTEGER NOT NULL REFERENCES courses(id),
    number INTEGER NOT NULL,
    added_at REAL NOT NULL,          -- Unix seconds
    source TEXT NOT NULL,            -- the archive as it was given
    container TEXT NOT NULL,         -- tar.gz | zip | folder
    format TEXT NOT NULL,            -- moodle2 | moodle1 | imscc | unknown
    title TEXT,                      -- the course's full name (moodle_backup.xml)
    backup_date INTEGER,             -- when Moodle wrote the backup
    archive_size INTEGER,            -- bytes of the archive file (NULL: a folder)
    archive_hash TEXT,               -- xxh3-128 of the archive file
    content_hash TEXT NOT NULL,      -- xxh3-128 of the container and the member list
    members INTEGER NOT NULL,
    bytes INTEGER NOT NULL,          -- member bytes
    added_bytes INTEGER NOT NULL,    -- bytes of content files it was the first to list
    UNIQUE (course_id, number));
CREATE TABLE tags (
    course_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    version_id INTEGER NOT NULL REFERENCES versions(id),
    PRIMARY KEY (course_id, name));
CREATE TABLE members (
    version_id INTEGER NOT NULL REFERENCES versions(id),
    position INTEGER NOT NULL,       -- archive order (.ARCHIVE_INDEX left out)
    name TEXT NOT NULL,
    is_dir INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime INTEGER,                   -- NULL: unknown
    blob TEXT,                       -- sha1 of a file blob
    content TEXT,                    -- xxh3-128 of any other file's bytes
    PRIMARY KEY (version_id, position)) WITHOUT ROWID;
CREATE INDEX members_blob ON members(blob) WHERE blob IS NOT NULL;
CREATE INDEX members_content ON members(content) WHERE content IS NOT NULL;
CREATE TABLE contents (
    id TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    chunks BLOB NOT NULL);           -- its chunks' names in order, NAME_BYTES raw bytes each
CREATE TABLE chunks (
    id TEXT PRIMARY KEY,             -- xxh3-128 of the chunk's bytes
    size INTEGER NOT NULL,
    stored INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE blobs (
    sha1 TEXT PRIMARY KEY,
    size INTEGER NOT NULL) WITHOUT ROWID;
"""

#: What ``add`` stages while it streams (TEMP: this connection's, spilled to disk).
STAGING = """
CREATE TEMP TABLE staged_members (
    position INTEGER PRIMARY KEY, name TEXT, is_dir INTEGER, size INTEGER, mtime INTEGER,
    blob TEXT, content TEXT);
CREATE TEMP TABLE staged_contents (id TEXT PRIMARY KEY, size INTEGER, chunks BLOB);
CREATE TEMP TABLE staged_chunks (id TEXT PRIMARY KEY, size INTEGER, stored INTEGER);
CREATE TEMP TABLE staged_blobs (sha1 TEXT PRIMARY KEY, size INTEGER);
"""

#: Seconds a writer waits for another's transaction to end.
BUSY_TIMEOUT = 600.0


def create(layout: Layout) -> None:
    """Creates the index of a new store."""
    db = sqlite3.connect(layout.index, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript("BEGIN;" + SCHEMA + "COMMIT;")
        db.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT_VERSION,))
    finally:
        db.close()


@contextlib.contextmanager
def connect(layout: Layout) -> Iterator[sqlite3.Connection]:
    """A connection to the index (autocommit: transactions are explicit)."""
    layout.check()
    db = sqlite3.connect(layout.index, timeout=BUSY_TIMEOUT, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=FULL")
        row = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if row is None or row[0] != FORMAT_VERSION:
            raise StoreError(f"{layout.root!r}: store format {row and row[0]!r}, this mbx "
                             f"reads {FORMAT_VERSION!r}", code="store-not-found",
                             source=layout.root)
        yield db
    finally:
        db.close()


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any failure."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def parse_ref(ref: str) -> tuple[str, str]:
    """``COURSE@VERSION`` -> ``(course, version)``; ``COURSE`` alone is ``latest``."""
    course, at, version = ref.rpartition("@")
    if not at:
        course, version = ref, "latest"
    if not course or not version:
        raise StoreError(f"{ref!r}: want COURSE or COURSE@VERSION (a number, a tag or latest)",
                         code="store-no-version")
    return course, version


class VersionRow:
    """One version as the index holds it (the operations' working record)."""

    __slots__ = ("id", "course", "course_id", "number", "container", "format")

    def __init__(self, id, course, course_id, number, container, format) -> None:
        self.id, self.course, self.course_id, self.number = id, course, course_id, number
        self.container, self.format = container, format

    @property
    def ref(self) -> str:
        return f"{self.course}@{self.number}"


def resolve(db: sqlite3.Connection, ref: str) -> VersionRow:
    """The version ``ref`` names (``COURSE``, ``COURSE@3``, ``COURSE@TAG``, ``COURSE@latest``)."""
    course, version = parse_ref(ref)
    select = ("SELECT v.id, c.name, c.id, v.number, v.container, v.format FROM versions v "
              "JOIN courses c ON c.id = v.course_id WHERE c.name = ? ")
    if version == "latest":
        row = db.execute(select + "ORDER BY v.number DESC LIMIT 1", (course,)).fetchone()
    elif version.isdigit():
        row = db.execute(select + "AND v.number = ?", (course, int(version))).fetchone()
    else:
        row = db.execute(select + "AND v.id = (SELECT version_id FROM tags t "
                         "WHERE t.course_id = c.id AND t.name = ?)", (course, version)).fetchone()
    if row is None:
        known = db.execute("SELECT 1 FROM courses WHERE name = ?", (course,)).fetchone()
        why = "no such version" if known else "no such course"
        raise StoreError(f"{ref!r}: {why} in the store", code="store-no-version")
    return VersionRow(*row)


def versions_using(db: sqlite3.Connection, *, chunk: str | None = None,
                   blob: str | None = None) -> list[str]:
    """``course@number`` of every version whose members need ``chunk`` or ``blob``."""
    select = ("SELECT DISTINCT c.name, v.number FROM members m "
              "JOIN versions v ON v.id = m.version_id JOIN courses c ON c.id = v.course_id ")
    if chunk is None:
        rows = set(db.execute(select + "WHERE m.blob = ?", (blob,)))
    else:
        rows = {row for content in contents_listing(db, chunk)
                for row in db.execute(select + "WHERE m.content = ?", (content,))}
    return [f"{name}@{number}" for name, number in sorted(rows)]


def chunk_names(packed: bytes) -> Iterator[str]:
    """The hex names of a packed chunk list, in order, one at a time."""
    for start in range(0, len(packed), NAME_BYTES):
        yield packed[start:start + NAME_BYTES].hex()


def contents_listing(db: sqlite3.Connection, chunk: str) -> list[str]:
    """The contents whose chunk list names ``chunk`` (a scan: for damage reports)."""
    name = bytes.fromhex(chunk)
    found = []
    # instr finds the name's bytes anywhere; only a match on a name's boundary counts
    for content, packed in db.execute("SELECT id, chunks FROM contents "
                                      "WHERE instr(chunks, ?) > 0", (name,)):
        start = packed.find(name)
        while start != -1 and start % NAME_BYTES:
            start = packed.find(name, start + 1)
        if start != -1:
            found.append(content)
    return found


def listed_chunks(db: sqlite3.Connection) -> str:
    """Fills the TEMP table ``listed_chunks (id)`` with every chunk some content lists
    (one content's list in memory at a time) and returns its name, for queries."""
    db.execute("CREATE TEMP TABLE IF NOT EXISTS listed_chunks (id TEXT PRIMARY KEY) "
               "WITHOUT ROWID")
    db.execute("DELETE FROM temp.listed_chunks")
    for (packed,) in db.execute("SELECT chunks FROM contents"):
        db.executemany("INSERT OR IGNORE INTO temp.listed_chunks VALUES (?)",
                       ((name,) for name in chunk_names(packed)))
    return "temp.listed_chunks"
