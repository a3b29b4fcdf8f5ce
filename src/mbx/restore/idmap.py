"""Old id → new id, per kind, on disk: the restore's ``backup_ids_temp``.

A restore maps every id it writes (``user`` 12 → 3, ``forum_post`` 880 → 15)
and looks them up for every reference. The maps live in a SQLite file of the
restore's work folder, not in memory: a course of any size costs the same
RAM. Recent entries stay in a bounded cache in front of the file (records
refer mostly to what was just written: a reply to its post, a post to its
discussion), and writes are batched.

The same file stages what a restore must know before it writes: the users of
``users.xml``, the files of ``files.xml``, the inforef references
(:meth:`stage`, :meth:`staged`).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

__all__ = ["IdMap"]

#: Entries kept in memory in front of the file.
CACHE_SIZE = 1 << 15
#: Writes buffered before they go to the file.
BATCH = 4096

_encode = msgspec.json.encode
_decode = msgspec.json.decode


class IdMap:
    def __init__(self, folder: str) -> None:
        self.path = os.path.join(folder, "idmap.sqlite")
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.executescript("""
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            PRAGMA cache_size = -2048;
            CREATE TABLE ids (kind TEXT NOT NULL, old TEXT NOT NULL, new INTEGER,
                              parent INTEGER, PRIMARY KEY (kind, old)) WITHOUT ROWID;
            CREATE TABLE staged (kind TEXT NOT NULL, key TEXT NOT NULL, record BLOB);
            CREATE UNIQUE INDEX staged_key ON staged (kind, key);
            CREATE TABLE refs (kind TEXT NOT NULL, id TEXT NOT NULL,
                               PRIMARY KEY (kind, id)) WITHOUT ROWID;
        """)
        # one transaction for the file's whole life: it is thrown away, never committed
        # piecemeal (a statement outside a transaction would be one of its own, and slow)
        self._db.execute("BEGIN")
        self._per_statement = min(BATCH // 4, self._db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // 4)
        # the cache: two generations, the older dropped whole when the younger fills up
        self._young: dict[tuple[str, str], tuple[int | None, int | None]] = {}
        self._old: dict[tuple[str, str], tuple[int | None, int | None]] = {}
        self._pending: dict[tuple[str, str], tuple[int | None, int | None]] = {}

    # -- mappings ----------------------------------------------------------------------
    def set(self, kind: str, old: Any, new: int | None, parent: int | None = None) -> None:
        key = (kind, str(old))
        self._pending[key] = self._young[key] = (new, parent)
        if len(self._young) > CACHE_SIZE // 2:
            self._old, self._young = self._young, {}
        if len(self._pending) >= BATCH:
            self.flush()

    def get(self, kind: str, old: Any, default: Any = None) -> Any:
        """The new id of ``old``, or ``default`` when it has none."""
        entry = self.entry(kind, old)
        return default if entry is None or entry[0] is None else entry[0]

    def entry(self, kind: str, old: Any) -> tuple[int | None, int | None] | None:
        key = (kind, str(old))
        found = self._young.get(key)
        if found is not None:
            return found
        found = self._old.get(key) or self._pending.get(key)
        if found is None:
            found = self._db.execute("SELECT new, parent FROM ids WHERE kind = ? AND old = ?",
                                     key).fetchone()
            if found is None:
                return None
        self._young[key] = found
        if len(self._young) > CACHE_SIZE // 2:
            self._old, self._young = self._young, {}
        return found

    def items(self, kind: str) -> Iterator[tuple[str, int | None, int | None]]:
        """Every (old, new, parent) of a kind, from the file."""
        self.flush()
        yield from self._db.execute("SELECT old, new, parent FROM ids WHERE kind = ?", (kind,))

    def flush(self) -> None:
        """The pending writes, a multi-row statement per ``_per_statement`` (one step of
        SQLite each, not one per entry), the rest entry by entry."""
        if not self._pending:
            return
        values = [value for (kind, old), (new, parent) in self._pending.items()
                  for value in (kind, old, new, parent)]
        self._pending.clear()
        whole = len(values) - len(values) % (4 * self._per_statement)
        if whole:
            sql = "INSERT OR REPLACE INTO ids (kind, old, new, parent) VALUES " + ", ".join(
                ["(?, ?, ?, ?)"] * self._per_statement)
            for start in range(0, whole, 4 * self._per_statement):
                self._db.execute(sql, values[start:start + 4 * self._per_statement])
        rest = iter(values[whole:])
        self._db.executemany("INSERT OR REPLACE INTO ids (kind, old, new, parent) VALUES (?, ?, ?, ?)",
                             zip(rest, rest, rest, rest))

    # -- inforef references ------------------------------------------------------------
    def add_refs(self, refs: Iterable[tuple[str, str]]) -> None:
        self._db.executemany("INSERT OR IGNORE INTO refs (kind, id) VALUES (?, ?)", refs)

    def referenced(self, kind: str, old: Any) -> bool:
        return self._db.execute("SELECT 1 FROM refs WHERE kind = ? AND id = ?",
                                (kind, str(old))).fetchone() is not None

    # -- staged records ----------------------------------------------------------------
    def stage(self, kind: str, records: Iterable[tuple[str, Any]]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO staged (kind, key, record) VALUES (?, ?, ?)",
                             ((kind, str(key), _encode(record)) for key, record in records))

    def staged(self, kind: str, where_referenced: str | None = None) -> Iterator[tuple[str, Any]]:
        """Staged records of a kind, in key order; only those with a ``where_referenced``
        inforef entry when given."""
        if where_referenced is None:
            rows = self._db.execute("SELECT key, record FROM staged WHERE kind = ? ORDER BY rowid",
                                    (kind,))
        else:
            rows = self._db.execute(
                "SELECT s.key, s.record FROM staged s JOIN refs r ON r.kind = ? AND r.id = s.key "
                "WHERE s.kind = ?", (where_referenced, kind))
        for key, record in rows:
            yield key, _decode(record)

    def staged_record(self, kind: str, key: Any) -> Any:
        row = self._db.execute("SELECT record FROM staged WHERE kind = ? AND key = ?",
                               (kind, str(key))).fetchone()
        return None if row is None else _decode(row[0])

    def sql(self, statement: str, params: tuple = ()) -> list[tuple]:
        """A read-only query over the work file (for set-based joins)."""
        self.flush()
        return self._db.execute(statement, params).fetchall()

    def close(self) -> None:
        self._db.close()
