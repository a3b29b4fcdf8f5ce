"""What the restore engine needs of a database, whichever it is.

A :class:`Target` holds one connection and one transaction: :meth:`begin`
opens it, :meth:`commit` ends it, and anything else (an error, a cancel, the
process killed) leaves the database as it was. New ids come from the target
(:meth:`new_id`), so a course restored beside others, or twice, shares no id
with them. Rows arrive in batches (:meth:`insert`), in the table's column
order.
"""

from __future__ import annotations

import abc
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

from mbx.errors import TargetError
from mbx.moodle2 import schema
from mbx.restore.targets.ddl import create_statements, quote

__all__ = ["Target", "open_target"]

PREFIX = re.compile(r"[a-z][a-z0-9_]{0,15}\Z")


class Target(abc.ABC):
    dialect: str
    url: str

    def __init__(self, url: str, prefix: str) -> None:
        if not PREFIX.match(prefix):
            raise TargetError(f"table prefix {prefix!r} must be lower-case letters, digits and _",
                              code="target-bad-prefix")
        self.url = url
        self.prefix = prefix
        self._next: dict[str, list[int]] = {}      # table -> [next id, last id, block size]
        self._deferred: dict[str, list[str]] = {}  # prefixed table -> its CREATE INDEX statements

    # -- names -------------------------------------------------------------------------
    def name(self, table: str) -> str:
        return quote(self.prefix + table)

    # -- transaction -------------------------------------------------------------------
    @abc.abstractmethod
    def begin(self) -> None: ...

    def begin_read(self) -> None:
        """A transaction that is only ever rolled back (``mbx query``)."""

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    # -- statements --------------------------------------------------------------------
    @abc.abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]: ...

    @abc.abstractmethod
    def read(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple]]:
        """Column names and rows of a query."""

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    @abc.abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    @abc.abstractmethod
    def existing_tables(self) -> set[str]:
        """Names (without prefix) of the Moodle tables already in the database."""

    @abc.abstractmethod
    def _id_block(self, table: str, count: int) -> tuple[int, int]:
        """``count`` fresh ids of ``table`` as (first, last), reserved in the database."""

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Inserts rows (values in ``columns`` order, ``id`` included)."""
        names = ", ".join(quote(column) for column in columns)
        marks = ", ".join([self.mark] * len(columns))
        self.executemany(f"INSERT INTO {self.name(table)} ({names}) VALUES ({marks})", rows)

    def update(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """``UPDATE table SET columns... WHERE id = last value`` for every row."""
        sets = ", ".join(f"{quote(column)} = {self.mark}" for column in columns)
        self.executemany(f"UPDATE {self.name(table)} SET {sets} WHERE id = {self.mark}", rows)

    mark = "?"

    # -- ids ---------------------------------------------------------------------------
    def new_id(self, table: str) -> int:
        block = self._next.get(table)
        if block is None or block[0] > block[1]:
            size = 16 if block is None else min(4096, block[2] * 2)  # few for small tables
            first, last = self._id_block(table, size)
            block = self._next[table] = [first, last, size]
        value = block[0]
        block[0] += 1
        return value

    def after_explicit_ids(self, tables: Iterable[str]) -> None:
        """Rows were written with ids of their own: the next new ids come after them."""

    # -- schema ------------------------------------------------------------------------
    def ensure_schema(self, names: Iterable[str], *, defer_indexes: bool = False) -> list[str]:
        """Creates the tables of ``names`` that the database lacks; returns those created.

        With ``defer_indexes`` the plain (not unique) indexes of the tables created
        wait: :meth:`index_tables_in` builds a table's before a query reads it, and
        :meth:`build_indexes` the rest before the commit. Rows go in faster without
        them (``forum_posts`` has six: its inserts took half the time)."""
        present = self.existing_tables()
        created = []
        for table_name in names:
            if table_name in present:
                continue
            waiting = []
            for statement in create_statements(schema.table(table_name), self.prefix, self.dialect):
                if defer_indexes and statement.startswith("CREATE INDEX"):
                    waiting.append(statement)
                else:
                    self.execute(statement)
            if waiting:
                self._deferred[self.prefix + table_name] = waiting
            created.append(table_name)
        return created

    def index_tables_in(self, sql: str) -> None:
        """Builds the deferred indexes of every table whose name ``sql`` holds (a name
        inside a longer one builds a few early, which costs nothing but time)."""
        for name in [name for name in self._deferred if name in sql]:
            for statement in self._deferred.pop(name):
                self.execute(statement)

    def build_indexes(self) -> None:
        """Builds every index still deferred (in the transaction, before its commit)."""
        while self._deferred:
            for statement in self._deferred.popitem()[1]:
                self.execute(statement)


def open_target(url: str, *, prefix: str = "mdl_", create: bool = True) -> Target:
    """``sqlite:PATH`` (or a plain path) or ``postgresql://...``; a SQLite file that does
    not exist is created, unless ``create`` is false."""
    if url.startswith(("postgresql://", "postgres://")):
        from mbx.restore.targets.postgresql import PostgresTarget
        return PostgresTarget(url, prefix)
    path = url[len("sqlite:"):] if url.startswith("sqlite:") else url
    if not path:
        raise TargetError("sqlite: needs a path, as in sqlite:course.db", code="target-bad-url")
    if not create and not os.path.isfile(path):
        raise TargetError(f"{path}: no such database", code="target-unreachable")
    from mbx.restore.targets.sqlite import SqliteTarget
    return SqliteTarget(path, prefix)
