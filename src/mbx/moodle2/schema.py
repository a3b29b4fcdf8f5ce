"""Moodle 4.5's tables: names, columns, types, defaults, keys and indexes.

The facts are Moodle 4.5.6's ``install.xml`` files, as listed in the restore
reference; ``tools/extract_schema.py`` turns that listing into
``moodle45_schema.json`` beside this module. Restore creates its target tables
from here, the transforms and the backup writer read the same column lists, and
:meth:`Column.coerce` is how a parsed leaf becomes a column value the way
Moodle's ``insert_record`` makes it one.
"""

from __future__ import annotations

import functools
import json
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

import msgspec

__all__ = ["Column", "Index", "Table", "table", "tables"]

#: Numeric column types: an empty string becomes 0 in them, as Moodle's drivers make it.
NUMERIC_TYPES = frozenset({"int", "number", "float"})


class Column(msgspec.Struct, frozen=True):
    name: str
    type: str                   # int, char, text, number, float, binary
    length: int | None
    decimals: int | None
    notnull: bool
    sequence: bool
    default: str | None         # as install.xml writes it: text, even for numbers

    def coerce(self, value: Any) -> Any:
        """A parsed value as the column stores it (``None`` stays ``None``).

        Booleans become 0/1 and an empty numeric value 0; integers are parsed,
        so that a target never sees ``'12'`` for an int column.
        """
        if value is None or self.type not in NUMERIC_TYPES:
            return value
        if value is True or value is False:
            return int(value)
        if isinstance(value, (int, float, Decimal)):
            return value
        text = value.strip()
        if not text:
            return 0
        if self.type == "int":
            try:
                return int(text)
            except ValueError:
                return int(Decimal(text))  # "3.0" in an int column: Moodle's drivers truncate
        if self.type == "float":
            return float(text)
        try:
            return Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{self.name}: {value!r} is not a number") from None

    @property
    def default_value(self) -> Any:
        """The schema default as a Python value (``None`` when the column has none)."""
        if self.default is None:
            return None
        return self.coerce(self.default)


class Index(msgspec.Struct, frozen=True):
    columns: tuple[str, ...]
    unique: bool


class Table(msgspec.Struct, frozen=True, dict=True):
    name: str
    source: str
    columns: tuple[Column, ...]
    indexes: tuple[Index, ...]
    foreign_keys: tuple[tuple[str, str, str], ...]   # (column, table, column)

    @functools.cached_property
    def by_name(self) -> dict[str, Column]:
        return {column.name: column for column in self.columns}

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


@functools.cache
def tables() -> dict[str, Table]:
    """Every table of the schema, by name (without prefix)."""
    raw = json.loads(resources.files(__package__).joinpath("moodle45_schema.json").read_text("utf-8"))
    return {
        name: Table(name=name, source=spec["source"],
                    columns=tuple(Column(**column) for column in spec["columns"]),
                    indexes=tuple(Index(columns=tuple(ix["columns"]), unique=ix["unique"])
                                  for ix in spec["indexes"]),
                    foreign_keys=tuple(tuple(key) for key in spec["foreign_keys"]))
        for name, spec in raw.items()}


def table(name: str) -> Table:
    """One table's facts; ``KeyError`` names the table when Moodle has none of that name."""
    try:
        return tables()[name]
    except KeyError:
        raise KeyError(f"Moodle 4.5 has no table {name!r}") from None
