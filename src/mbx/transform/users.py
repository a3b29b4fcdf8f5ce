"""rewrite-users: usernames, e-mails and idnumbers changed from a table (old -> new).

The fix admins make by hand when a restore stops on user conflicts (a
backup's username taken by another person on the target). The table is a CSV
file: ``field,old,new`` rows (field ``username``, ``email`` or ``idnumber``),
or ``old,new`` rows applied to whichever of the three fields holds ``old``.
Usernames and e-mails match case-insensitively, as Moodle compares them;
idnumbers exactly. Only ``users.xml`` changes.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from typing import Any

from mbx.errors import MbxError
from mbx.moodle2.members import USERS
from mbx.transform.base import Facts, Transform
from mbx.transform.pipeline import run

__all__ = ["RewriteUsers", "read_user_table", "rewrite_users"]

FIELDS = ("username", "email", "idnumber")
#: Fields Moodle compares without case.
CASELESS = frozenset({"username", "email"})


class UserTableError(MbxError, ValueError):
    code = "transform-bad-user-table"


def _key(field: str, value: str) -> str:
    return value.casefold() if field in CASELESS else value


def read_user_table(path: str | os.PathLike) -> list[tuple[str | None, str, str]]:
    """``(field or None, old, new)`` rows of a CSV file (see the module docstring)."""
    rows = []
    with open(path, newline="", encoding="utf-8") as stream:
        lines = list(csv.reader(stream))
    if not lines:
        raise UserTableError(f"{os.fspath(path)} is empty: expected field,old,new or old,new rows")
    header = [cell.strip().lower() for cell in lines[0]]
    body = lines[1:] if header in (["field", "old", "new"], ["old", "new"]) else lines
    for number, line in enumerate(body, 2 if body is not lines else 1):
        cells = [cell.strip() for cell in line]
        if not any(cells):
            continue
        if len(cells) == 3 and cells[0] in FIELDS:
            rows.append((cells[0], cells[1], cells[2]))
        elif len(cells) == 2:
            rows.append((None, cells[0], cells[1]))
        else:
            raise UserTableError(f"{os.fspath(path)}: line {number}: expected field,old,new "
                                 f"(field one of {', '.join(FIELDS)}) or old,new")
        if not rows[-1][1] or not rows[-1][2]:
            raise UserTableError(f"{os.fspath(path)}: line {number}: empty old or new value")
    return rows


class RewriteUsers(Transform):
    name = "rewrite-users"

    def __init__(self, rows: Iterable[tuple[str | None, str, str]]) -> None:
        self.table: dict[tuple[str, str], str] = {}
        for field, old, new in rows:
            for name in (field,) if field else FIELDS:
                self.table[(name, _key(name, old))] = new
        self.used: set[tuple[str, str]] = set()
        self.changed = 0

    def rewrites(self, name: str, facts: Facts):
        if name == USERS:
            yield "/users/user", self._user

    def _user(self, element) -> None:
        for field in FIELDS:
            value = element.get(field)
            if value is None or field not in element.spans:
                continue
            key = (field, _key(field, value))
            new = self.table.get(key)
            if new is not None and new != value:
                element.replace(field, new)
                self.used.add(key)
                self.changed += 1

    def report(self) -> dict[str, Any]:
        unused = sorted({old for (field, old) in self.table} -
                        {old for (field, old) in self.used})
        return {"fields_changed": self.changed, "unmatched": unused}


def rewrite_users(source: str | os.PathLike, output: str | os.PathLike,
                  table: str | os.PathLike | Iterable[tuple[str | None, str, str]], *,
                  format: str = "tgz", progress=None):
    """Writes ``output``: ``source`` with the users' fields changed as ``table`` says
    (a CSV path or ``(field or None, old, new)`` rows)."""
    rows = read_user_table(table) if isinstance(table, (str, os.PathLike)) else list(table)
    return run(source, output, [RewriteUsers(rows)], format=format, progress=progress)
