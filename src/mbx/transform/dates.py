"""roll-dates: every date of a course moved by one offset, per activity if asked.

Which fields are dates is the declarations' word (``dates`` of each
:class:`~mbx.moodle2.declare.Element`, found through
:func:`mbx.moodle2.catalogue.elements_of`): the course start and end, every
module's configuration dates, completion-expected dates, calendar events, and
the date conditions inside section and activity availability
(:mod:`mbx.moodle2.availability`). Dates in user data (elements declared
``userdata``) move only with ``user_data=True``; Moodle's restore moves
configuration dates only. As in Moodle's ``apply_date_offset``, an empty date
(0, empty, ``$@NULL@$``) stays as it is.

The offset is given (``offset``, seconds; ``"+26w"``, ``"+180d"``, ``"-3600s"``)
or follows from a new start date (``start``: the course start moves to that
day, at the same time of day). ``activities`` gives an activity its own offset,
or a date its earliest configuration date moves to; ``overrides`` sets single
fields to exact values (the rows :func:`list_dates` writes, edited).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from mbx.archive import open_backup
from mbx.errors import MbxError
from mbx.moodle2.availability import AVAILABILITY_LEAVES, date_conditions, shift_date_conditions
from mbx.moodle2.catalogue import elements_of
from mbx.moodle2.members import ACTIVITY_MEMBER, MOODLE_BACKUP
from mbx.moodle2.modules import KNOWN
from mbx.transform.base import Facts, Transform
from mbx.transform.pipeline import run
from mbx.xml import Parser

__all__ = ["DateRow", "RollDates", "list_dates", "parse_offset", "read_overrides",
           "roll_dates", "write_rows"]

INFORMATION = "/moodle_backup/information"
#: The information block's own copies of the course dates (restore computes its offset
#: from the start date): moved with the course.
INFORMATION_DATES = ("original_course_startdate", "original_course_enddate")
_OFFSET = re.compile(r"([+-]?)(\d+)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class DateError(MbxError, ValueError):
    code = "transform-bad-date"


def parse_offset(text: str | int) -> int:
    """``"+26w"``, ``"+180d"``, ``"-3600s"`` (or an int of seconds) -> seconds."""
    if isinstance(text, int):
        return text
    match = _OFFSET.fullmatch(text.strip())
    if match is None:
        raise DateError(f"offset {text!r}: expected a signed number and a unit, such as "
                        "+26w, +180d, -3600s (units s m h d w)")
    sign = -1 if match.group(1) == "-" else 1
    return sign * int(match.group(2)) * _UNITS[match.group(3)]


def parse_day(text: str | dt.date) -> dt.date:
    if isinstance(text, dt.date):
        return text
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise DateError(f"date {text!r}: expected YYYY-MM-DD") from None


def move_to_day(time: int, day: dt.date) -> int:
    """The offset that takes Unix ``time`` to ``day`` at the same time of day (UTC)."""
    when = dt.datetime.fromtimestamp(time, dt.timezone.utc)
    target = dt.datetime.combine(day, when.timetz())
    return int(target.timestamp()) - time


def as_date(value: str | None) -> int | None:
    """A date leaf as a moving Unix time, or None for an empty or non-numeric one."""
    if value is None:
        return None
    text = value.strip()
    if not text.lstrip("-").isdigit() or int(text) == 0:
        return None
    return int(text)


# -- listing ----------------------------------------------------------------------------------

class DateRow(msgspec.Struct, kw_only=True, frozen=True):
    """One date of a backup: where it is, what it is; ``date`` is the editable ISO form."""

    member: str
    path: str
    id: str | None
    field: str
    value: int
    date: str
    cmid: int | None = None
    module: str | None = None
    userdata: bool = False


ROW_FIELDS = ("member", "path", "id", "field", "value", "date", "cmid", "module", "userdata")


def _iso(value: int) -> str:
    return dt.datetime.fromtimestamp(value, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> int:
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DateError(f"date {text!r}: expected ISO 8601 (2027-02-01T09:00:00Z) or a Unix "
                        "time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return int(when.timestamp())


def _date_rules(name: str, user_data: bool) -> list[tuple[str, tuple[str, ...], bool, bool, bool]]:
    """(path, date fields, whether they are availability JSON, whether user data, whether
    the element is its document's root, which comes once) that the declarations give
    member ``name``."""
    rules = []
    for path, element in elements_of(name):
        root = element.path == "."
        if element.dates and (user_data or not element.userdata):
            rules.append((path, element.dates, False, element.userdata, root))
        leaf = AVAILABILITY_LEAVES.get(path)
        if leaf is not None:
            rules.append((path, (leaf,), True, False, root))
    return rules


def list_dates(source: str | os.PathLike, *, user_data: bool = False) -> list[DateRow]:
    """Every non-empty date of the backup, configuration dates only unless ``user_data``."""
    rows: list[DateRow] = []
    with open_backup(source) as backup:
        for info, stream in backup.iter_members():
            rules = _date_rules(info.name, user_data) if not info.is_dir else []
            if not rules:
                continue
            match = ACTIVITY_MEMBER.fullmatch(info.name)
            cmid = int(match.group(1).rsplit("_", 1)[1]) if match else None
            module = match.group(2) if match else None
            parser = Parser(source=info.name)
            by_path: dict[str, list] = {}
            for path, fields, is_json, userdata, _ in rules:
                by_path.setdefault(path, []).append((fields, is_json, userdata))

            def collect(record, path, specs):
                for fields, is_json, userdata in specs:
                    for field in fields:
                        values = (date_conditions(record.get(field)) if is_json
                                  else [as_date(record.get(field))])
                        for value in values:
                            if value is not None:
                                rows.append(DateRow(member=info.name, path=path,
                                                    id=record.get("id"), field=field,
                                                    value=value, date=_iso(value), cmid=cmid,
                                                    module=module, userdata=userdata))
            for path, specs in by_path.items():
                parser.add_path(path, lambda record, path=path, specs=specs:
                                collect(record, path, specs))
            parser.parse(stream)
    return rows


def write_rows(rows: Iterable[DateRow], stream: io.TextIOBase, format: str = "csv") -> None:
    """The rows as CSV (a header, one row per date) or as a JSON list."""
    if format == "json":
        json.dump([msgspec.to_builtins(row) for row in rows], stream, indent=1)
        stream.write("\n")
        return
    writer = csv.writer(stream)
    writer.writerow(ROW_FIELDS)
    for row in rows:
        writer.writerow(["" if getattr(row, key) is None else getattr(row, key)
                         for key in ROW_FIELDS])


def read_overrides(path: str | os.PathLike) -> dict[tuple[str, str, str, str], int]:
    """Edited rows (CSV or JSON, as :func:`write_rows` writes them) -> the exact value of each
    field whose ``date`` no longer says its ``value``: ``(member, path, id, field) -> time``."""
    text = open(path, encoding="utf-8").read()
    rows = json.loads(text) if text.lstrip().startswith("[") else list(csv.DictReader(io.StringIO(text)))
    overrides = {}
    for number, row in enumerate(rows, 1):
        try:
            key = (row["member"], row["path"], row.get("id") or "", row["field"])
            old, new = int(row["value"]), _parse_iso(str(row["date"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise DateError(f"{os.fspath(path)}: row {number} is not a date row ({exc})") from None
        if new != old:
            if key[0].endswith("availability") or row["field"] in AVAILABILITY_LEAVES.values():
                raise DateError(f"{os.fspath(path)}: row {number}: availability dates move with "
                                "their activity's offset, not one by one")
            overrides[key] = new
    return overrides


# -- the transform ------------------------------------------------------------------------------

class RollDates(Transform):
    """Moves dates; see the module docstring."""

    name = "roll-dates"

    def __init__(self, *, offset: str | int | None = None, start: str | dt.date | None = None,
                 activities: Mapping[int, str | int] | None = None,
                 overrides: Mapping[tuple[str, str, str, str], int] | None = None,
                 user_data: bool = False) -> None:
        if offset is not None and start is not None:
            raise DateError("give an offset or a start date, not both")
        self.offset = parse_offset(offset) if offset is not None else 0
        self.start = parse_day(start) if start is not None else None
        self.user_data = user_data
        self.overrides = dict(overrides or {})
        self.activity_offsets: dict[int, int] = {}
        self.activity_days: dict[int, dt.date] = {}
        for cmid, value in (activities or {}).items():
            if isinstance(value, int) or _OFFSET.fullmatch(str(value).strip()):
                self.activity_offsets[int(cmid)] = parse_offset(value)
            else:
                self.activity_days[int(cmid)] = parse_day(value)
        self._earliest: dict[int, int] = {}
        self.moved = 0

    def survey(self, facts: Facts):
        if self.start is not None:
            yield MOODLE_BACKUP, None, None  # the course start date it moves from
        # an activity moved to a day: its earliest configuration date says by how much
        # (the members are not listed yet: every declared module's names are asked for)
        for cmid in self.activity_days:
            for module in KNOWN:
                for document in (f"activities/{module}_{cmid}/module.xml",
                                 f"activities/{module}_{cmid}/{module}.xml"):
                    for path, fields, is_json, _, _ in _date_rules(document, False):
                        if not is_json:
                            yield document, path, self._earliest_of(cmid, fields)

    def _earliest_of(self, cmid: int, fields: tuple[str, ...]):
        def note(record: dict) -> None:
            for field in fields:
                value = as_date(record.get(field))
                if value is not None and value < self._earliest.get(cmid, value + 1):
                    self._earliest[cmid] = value
        return note

    def prepare(self, facts: Facts) -> None:
        if self.start is not None:
            course_start = facts.information.original_course_startdate if facts.information else None
            if not course_start:
                raise DateError("the backup records no course start date: give an offset")
            self.offset = move_to_day(course_start, self.start)
        for cmid, day in self.activity_days.items():
            earliest = self._earliest.get(cmid)
            if earliest is None:
                raise DateError(f"activity {cmid} has no date to move to {day} (or is not in "
                                "the backup)")
            self.activity_offsets[cmid] = move_to_day(earliest, day)

    def offset_for(self, name: str) -> int:
        match = ACTIVITY_MEMBER.fullmatch(name)
        if match:
            cmid = int(match.group(1).rsplit("_", 1)[1])
            return self.activity_offsets.get(cmid, self.offset)
        return self.offset

    def rewrites(self, name: str, facts: Facts):
        offset = self.offset_for(name)
        overridden = {key[1] for key in self.overrides if key[0] == name}
        if name == MOODLE_BACKUP and self.offset:
            yield (INFORMATION, self._mover(name, INFORMATION, INFORMATION_DATES, False,
                                            self.offset), True)
        if not offset and not overridden:
            return
        for path, fields, is_json, _, root in _date_rules(name, self.user_data):
            if offset or path in overridden:
                # a root element comes once: once it is seen, the rest of its document is
                # copied as it comes (when nothing else in it is asked for)
                yield path, self._mover(name, path, fields, is_json, offset), root

    def _mover(self, name: str, path: str, fields: tuple[str, ...], is_json: bool, offset: int):
        overrides = self.overrides

        def move(element) -> None:
            for field in fields:
                if field not in element.spans:
                    continue
                value = element.fields.get(field)
                if is_json:
                    if value and offset:
                        text, moved = shift_date_conditions(value, offset)
                        if moved:
                            element.replace(field, text)
                            self.moved += moved
                    continue
                time = as_date(value)
                if time is None:
                    continue
                exact = overrides.get((name, path, element.fields.get("id") or "", field))
                new = exact if exact is not None else time + offset
                if new != time:
                    element.replace(field, str(new))
                    self.moved += 1
        return move

    def report(self) -> dict[str, Any]:
        return {"offset": self.offset, "activity_offsets": dict(self.activity_offsets),
                "fields_moved": self.moved, "user_data": self.user_data}


def roll_dates(source: str | os.PathLike, output: str | os.PathLike, *,
               offset: str | int | None = None, start: str | dt.date | None = None,
               activities: Mapping[int, str | int] | None = None,
               overrides: str | os.PathLike | Mapping | None = None, user_data: bool = False,
               format: str = "tgz", progress=None):
    """Writes ``output``: ``source`` with its dates moved (see the module docstring)."""
    if isinstance(overrides, (str, os.PathLike)):
        overrides = read_overrides(overrides)
    transform = RollDates(offset=offset, start=start, activities=activities,
                          overrides=overrides, user_data=user_data)
    return run(source, output, [transform], format=format, progress=progress)
