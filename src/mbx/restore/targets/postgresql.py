"""The server target: PostgreSQL through psycopg 3.

One transaction from :meth:`begin` to :meth:`commit`; PostgreSQL undoes it by
itself when the connection dies. Ids come from each table's own sequence, in
blocks, so restores running side by side never share one. Rows go in with
``COPY``, the fastest way in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from mbx.errors import TargetError
from mbx.restore.targets.base import Target
from mbx.restore.targets.ddl import quote

__all__ = ["PostgresTarget"]

#: Serialises schema creation between restores that start together.
_SCHEMA_LOCK = 0x6D6278  # "mbx"


class PostgresTarget(Target):
    dialect = "postgresql"
    mark = "%s"

    def __init__(self, url: str, prefix: str) -> None:
        super().__init__(url, prefix)
        try:
            import psycopg
        except ImportError:
            raise TargetError("PostgreSQL targets need psycopg 3: pip install 'mbx[postgresql]'",
                              code="target-driver-missing") from None
        self._psycopg = psycopg
        try:
            self._db = psycopg.connect(url, autocommit=False)
        except psycopg.Error as error:
            raise TargetError(f"cannot connect to {_safe(url)}: {error}".strip(),
                              code="target-unreachable") from None
        self._sequences: dict[str, str] = {}

    def begin(self) -> None:
        self.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))

    def commit(self) -> None:
        self._run(self._db.commit)

    def rollback(self) -> None:
        try:
            self._db.rollback()
        except self._psycopg.Error:
            pass

    def close(self) -> None:
        self._db.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._db.cursor() as cursor:
            self._run(cursor.execute, sql, params or None)
            return cursor.fetchall()

    def read(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple]]:
        with self._db.cursor() as cursor:
            self._run(cursor.execute, sql, params or None)
            return ([column.name for column in cursor.description or ()],
                    cursor.fetchall() if cursor.description else [])

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._db.cursor() as cursor:
            self._run(cursor.execute, sql, params or None)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._db.cursor() as cursor:
            self._run(cursor.executemany, sql, list(rows))

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        names = ", ".join(quote(column) for column in columns)
        with self._db.cursor() as cursor:
            def copy():
                with cursor.copy(f"COPY {self.name(table)} ({names}) FROM STDIN") as stream:
                    for row in rows:
                        stream.write_row(row)
            self._run(copy)

    def after_explicit_ids(self, tables) -> None:
        for table in tables:
            self.execute(f"SELECT setval(pg_get_serial_sequence(%s, 'id'), "
                         f"(SELECT COALESCE(MAX(id), 1) FROM {self.name(table)}))", (self.prefix + table,))

    def existing_tables(self) -> set[str]:
        rows = self.query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        return {name[len(self.prefix):] for name, in rows if name.startswith(self.prefix)}

    def _id_block(self, table: str, count: int) -> tuple[int, int]:
        sequence = self._sequences.get(table)
        if sequence is None:
            sequence, = self.query("SELECT pg_get_serial_sequence(%s, 'id')", (self.prefix + table,))[0]
            self._sequences[table] = sequence
        ids = [value for value, in self.query(
            "SELECT nextval(%s) FROM generate_series(1, %s)", (sequence, count))]
        # nextval is shared with other sessions: keep only the run that is contiguous
        first = ids[0]
        last = first
        for value in ids[1:]:
            if value != last + 1:
                break
            last = value
        return first, last

    def _run(self, call, *args):
        try:
            return call(*args)
        except self._psycopg.errors.DiskFull as error:
            raise TargetError(f"PostgreSQL: disk full: {_one_line(error)}",
                              code="target-full") from error
        except self._psycopg.Error as error:
            raise TargetError(f"PostgreSQL: {_one_line(error)}", code="target-error") from error


def _one_line(error) -> str:
    """The server's message and where it arose, without the HINT and DETAIL lines
    psycopg adds (an error is one line; the full text stays on ``__cause__``)."""
    diagnostic = getattr(error, "diag", None)
    message = (diagnostic and diagnostic.message_primary) or str(error).strip()
    message = message.splitlines()[0] if message else type(error).__name__
    context = (diagnostic and diagnostic.context) or ""
    if context.strip():
        message += f" ({context.strip().splitlines()[0]})"
    return message


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    head, sep, tail = url.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, credentials = head.partition("//")
    return f"{scheme}//{credentials.split(':', 1)[0]}:***@{tail}"
