"""CREATE TABLE and CREATE INDEX statements for Moodle's tables, per dialect.

The types follow Moodle's own DDL generators: ``int(n)`` is SMALLINT, INTEGER or
BIGINT on PostgreSQL and ``INTEGER`` on SQLite; the ``id`` column is BIGSERIAL or
``INTEGER PRIMARY KEY AUTOINCREMENT``; a NOT NULL ``char`` without a default gets
``DEFAULT ''``. Foreign keys become plain indexes, as Moodle makes them.
"""

from __future__ import annotations

import hashlib

from mbx.moodle2.schema import Column, Table

__all__ = ["create_statements", "index_name", "quote"]


def _pg_type(column: Column) -> str:
    if column.type == "int":
        length = column.length or 10
        return "SMALLINT" if length <= 4 else "INTEGER" if length <= 9 else "BIGINT"
    if column.type == "number":
        return f"NUMERIC({column.length},{column.decimals or 0})"
    if column.type == "float":
        return "REAL" if (column.decimals or 0) < 6 and column.decimals is not None else "DOUBLE PRECISION"
    if column.type == "char":
        return f"VARCHAR({column.length})"
    return {"text": "TEXT", "binary": "BYTEA"}[column.type]


def _sqlite_type(column: Column) -> str:
    if column.type == "int":
        return "INTEGER"
    if column.type == "number":
        return f"NUMERIC({column.length},{column.decimals or 0})"
    if column.type == "float":
        return "REAL"
    if column.type == "char":
        return f"VARCHAR({column.length})"
    return {"text": "TEXT", "binary": "BLOB"}[column.type]


def _literal(column: Column) -> str:
    if column.type in ("int", "number", "float"):
        return str(column.default)
    return "'" + str(column.default).replace("'", "''") + "'"


def _column_sql(column: Column, dialect: str) -> str:
    if column.sequence:
        return (f"{quote(column.name)} BIGSERIAL PRIMARY KEY" if dialect == "postgresql"
                else f"{quote(column.name)} INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL")
    kind = _pg_type(column) if dialect == "postgresql" else _sqlite_type(column)
    parts = [quote(column.name), kind]
    if column.notnull:
        parts.append("NOT NULL")
    if column.default is not None:
        parts.append(f"DEFAULT {_literal(column)}")
    elif column.notnull and column.type == "char":
        parts.append("DEFAULT ''")
    return " ".join(parts)


def quote(name: str) -> str:
    """An identifier, quoted: Moodle's columns include SQL words (``user``, ``order``)."""
    return f'"{name}"'


def index_name(prefix: str, table: str, columns: tuple[str, ...], unique: bool) -> str:
    """A short, stable index name (at most 63 characters, PostgreSQL's limit)."""
    digest = hashlib.sha1(f"{table}:{','.join(columns)}".encode()).hexdigest()[:8]
    return f"{prefix}{table[:40]}_{digest}_{'uix' if unique else 'ix'}"


def create_statements(table: Table, prefix: str, dialect: str) -> list[str]:
    """The statements that create ``table`` (named ``prefix + name``) and its indexes."""
    name = f"{prefix}{table.name}"
    columns = ",\n  ".join(_column_sql(column, dialect) for column in table.columns)
    statements = [f'CREATE TABLE IF NOT EXISTS "{name}" (\n  {columns}\n)']
    indexed = set()
    for index in table.indexes:
        statements.append(_index_sql(prefix, table.name, index.columns, index.unique))
        indexed.add(index.columns)
    for column, _, _ in table.foreign_keys:  # foreign keys are plain indexes in Moodle
        if (column,) not in indexed and not any(cols[0] == column for cols in indexed):
            statements.append(_index_sql(prefix, table.name, (column,), False))
            indexed.add((column,))
    return statements


def _index_sql(prefix: str, table: str, columns: tuple[str, ...], unique: bool) -> str:
    cols = ", ".join(quote(column) for column in columns)
    return (f'CREATE {"UNIQUE " if unique else ""}INDEX IF NOT EXISTS '
            f'"{index_name(prefix, table, columns, unique)}" ON "{prefix}{table}" ({cols})')
