"""The embedded target: one SQLite file, created when absent.

The restore holds SQLite's write lock from :meth:`begin` (``BEGIN IMMEDIATE``)
to the end, so ids taken as ``max(id) + 1`` cannot be taken by anyone else, and
a rollback (or a killed process: SQLite's journal) leaves the file as it was.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from itertools import chain
from decimal import Decimal
from typing import Any

from mbx.errors import TargetError
from mbx.restore.targets.base import Target
from mbx.restore.targets.ddl import quote

__all__ = ["SqliteTarget"]

# Moodle's number columns arrive as Decimal; SQLite's NUMERIC affinity stores the text exactly
# when it can (an integer) and as REAL otherwise.
sqlite3.register_adapter(Decimal, str)

#: Rows in one multi-row INSERT (fewer where the statement would pass SQLite's limit
#: of bound variables): the engine's batch.
MULTI_ROWS = 500


class SqliteTarget(Target):
    dialect = "sqlite"

    def __init__(self, path: str, prefix: str) -> None:
        super().__init__(f"sqlite:{path}", prefix)
        self._handed: dict[str, int] = {}          # table -> last id reserved in this restore
        self._statements: dict[tuple, str] = {}    # (table, columns, rows) -> multi-row INSERT
        self.path = os.path.abspath(path)
        folder = os.path.dirname(self.path)
        if not os.path.isdir(folder):
            raise TargetError(f"{folder}: no such folder for the SQLite target",
                              code="target-unreachable")
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=60)
            self._db.execute("PRAGMA journal_mode=DELETE")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._variables = self._db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        except sqlite3.Error as error:
            raise TargetError(f"{path}: cannot open as SQLite: {error}", code="target-unreachable") from None

    def begin(self) -> None:
        self._run(self._db.execute, "BEGIN IMMEDIATE")

    def begin_read(self) -> None:
        self._run(self._db.execute, "BEGIN DEFERRED")

    def commit(self) -> None:
        self._run(self._db.execute, "COMMIT")

    def rollback(self) -> None:
        # Called while another error propagates: never replace it with one of ours.
        # A ROLLBACK that fails leaves the transaction to SQLite's journal, which
        # undoes it when the connection closes or the file is next opened.
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def close(self) -> None:
        self._db.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self._run(self._db.execute, sql, params).fetchall()

    def read(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple]]:
        cursor = self._run(self._db.execute, sql, params)
        return [column[0] for column in cursor.description or ()], cursor.fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._run(self._db.execute, sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._run(self._db.executemany, sql, rows)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Full batches as one ``INSERT … VALUES (…), (…), …`` each: SQLite then runs
        the batch in one step, where ``executemany`` steps and resets a statement per
        row (forum posts went in a fifth faster); the rest row by row."""
        per_statement = min(MULTI_ROWS, self._variables // len(columns))
        whole = len(rows) - len(rows) % per_statement if per_statement > 1 else 0
        if whole:
            sql = self._multi_insert(table, tuple(columns), per_statement)
            for start in range(0, whole, per_statement):
                self._run(self._db.execute, sql, list(chain.from_iterable(rows[start:start + per_statement])))
        if whole < len(rows):
            super().insert(table, columns, rows[whole:])

    def _multi_insert(self, table: str, columns: tuple[str, ...], count: int) -> str:
        key = (table, columns, count)
        sql = self._statements.get(key)
        if sql is None:
            one = "(" + ", ".join("?" * len(columns)) + ")"
            sql = self._statements[key] = (
                f"INSERT INTO {self.name(table)} ({', '.join(quote(column) for column in columns)}) "
                f"VALUES {', '.join([one] * count)}")
        return sql

    def existing_tables(self) -> set[str]:
        rows = self.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name[len(self.prefix):] for name, in rows if name.startswith(self.prefix)}

    def _id_block(self, table: str, count: int) -> tuple[int, int]:
        # Under the write lock: above every id in the table and every id it ever handed out.
        highest, = self.query(f"SELECT COALESCE(MAX(id), 0) FROM {self.name(table)}")[0]
        handed = self.query("SELECT seq FROM sqlite_sequence WHERE name = ?", (self.prefix + table,))
        floor = max(highest, handed[0][0] if handed else 0, self._handed.get(table, 0))
        self._handed[table] = floor + count
        return floor + 1, floor + count

    @staticmethod
    def _run(call, *args):
        try:
            return call(*args)
        except sqlite3.OperationalError as error:
            text = str(error)
            code = "target-full" if "full" in text else "target-locked" if "locked" in text else "target-error"
            raise TargetError(f"SQLite: {text}", code=code) from error
        except sqlite3.Error as error:
            raise TargetError(f"SQLite: {error}", code="target-error") from error
