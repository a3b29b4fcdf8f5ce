"""Hooks of the final task's gradebook and course completion.

Categories and items of ``gradebook.xml`` are written here rather than by the
engine: the course's own category and course item (made on demand by the first
activity grade item, :meth:`~mbx.restore.engine.Engine.course_grade_category`)
are *updated* with the backup's values, the others inserted. Their old parent
categories are kept under ``grade_category_parent`` (new id → old parent) and
settled once every category is in (:mod:`mbx.restore.gradebook`).
"""

from __future__ import annotations

from typing import Any

from mbx.moodle2 import schema
from mbx.moodle2.grades import GRADEBOOK_DATES
from mbx.moodle2.models import as_int
from mbx.restore.hooks import hook

#: Columns a gradebook record never sets directly.
_PLACED = frozenset({"id", "courseid", "parent", "path", "depth"})


#: ids key: the course category and item came from ``gradebook.xml`` (plain inserts in
#: Moodle, so without history rows), not from the first activity grade item.
FROM_GRADEBOOK = "course_category_from_gradebook"


def _course_category(run) -> int:
    if run.grade_category is None:
        run.ids.set(FROM_GRADEBOOK, 1, 1)
    return run.course_grade_category()


def _values(run, table: str, record: dict) -> dict[str, Any]:
    """The record's leaves that are columns of ``table`` (ids and placement aside)."""
    names = schema.table(table).column_names
    values = {name: record[name] for name in names if name in record and name not in _PLACED}
    if run.offset:
        for name in GRADEBOOK_DATES:
            if as_int(values.get(name)):
                values[name] = as_int(values[name]) + run.offset
    return values


@hook
def gradebook_attributes(run, element, record, row, state) -> bool:
    if record.get("calculations_freeze"):
        run.report.warn("gradebook_calculations_freeze",
                        f"the gradebook is frozen at {record['calculations_freeze']}: the target "
                        "keeps site settings apart, the freeze is not restored", state.member)
    return False


@hook
def gradebook_category(run, element, record, row, state) -> bool:
    values = _values(run, "grade_categories", record)
    old = record.get("id")
    parent = record.get("parent")
    if parent in (None, "", "0"):
        category = _course_category(run)
        if values:
            run.update("grade_categories", category, **values)
        run.ids.set("grade_category", old, category)
        return False
    values.update(courseid=run.course_id, parent=None, depth=0, path=None)
    for column in ("timecreated", "timemodified"):
        if values.get(column) in (None, ""):
            values[column] = run.now
    new = run.insert("grade_categories", values)
    run.ids.set("grade_category", old, new)
    run.ids.set("grade_category_parent", new, as_int(parent))
    return False


@hook
def gradebook_item(run, element, record, row, state) -> bool:
    values = _values(run, "grade_items", record)
    values["courseid"] = run.course_id
    for column, kind in (("scaleid", "scale"), ("outcomeid", "outcome")):
        if values.get(column) not in (None, "", "0"):
            values[column] = run.ids.get(kind, values[column])
    kind = record.get("itemtype")
    old = record.get("id")
    course_category = _course_category(run)
    if kind == "course":
        values["iteminstance"] = course_category
        values["categoryid"] = None
        new = run.course_grade_item
        run.update("grade_items", new, **{k: v for k, v in values.items() if k != "courseid"})
    elif kind in ("category", "manual"):
        if kind == "category":
            values["iteminstance"] = run.ids.get("grade_category", record.get("iteminstance"))
            if not values["iteminstance"]:
                return False
            values["categoryid"] = None
        else:
            values["categoryid"] = run.ids.get("grade_category", record.get("categoryid"), course_category)
        idnumber = values.get("idnumber") or ""
        if idnumber:
            if run.ids.get("gi_idnumber", idnumber) is not None:
                values["idnumber"] = None
            else:
                run.ids.set("gi_idnumber", idnumber, 1)
        new = None
        if kind == "manual":
            mark = run.target.mark
            found = run.query(f"SELECT id FROM {run.t('grade_items')} WHERE courseid = {mark} AND "
                              f"itemtype = 'manual' AND itemname = {mark} AND categoryid = {mark}",
                              (run.course_id, values.get("itemname") or "", values["categoryid"]))
            new = found[0][0] if found else None
        if new is None:
            new = run.insert("grade_items", values)
    else:
        run.report.warn("unexpected_grade_item_type", f"gradebook.xml holds a grade item of type "
                        f"{kind!r}: not restored", state.member)
        return False
    run.ids.set("grade_item", old, new)
    state.current["grade_item"] = new
    return True


@hook
def gradebook_setting(run, element, record, row, state) -> bool:
    name = row.get("name") or ""
    if not name or run.ids.get("grade_setting", name) is not None:
        return False
    run.ids.set("grade_setting", name, 1)
    return True


# -- course completion ------------------------------------------------------------------

@hook
def completion_criterion(run, element, record, row, state) -> bool:
    """Role by short name (else by mapping), activity by course module, course by
    short name: a criterion whose target is not in the new site is left out."""
    mark = run.target.mark
    if record.get("role") not in (None, "", "0"):
        role = None
        shortname = record.get("roleshortname")
        if shortname:
            found = run.query(f"SELECT id FROM {run.t('role')} WHERE shortname = {mark}", (shortname,))
            role = found[0][0] if found else None
        role = role or run.ids.get("role", record["role"])
        if not role:
            return False
        row["role"] = role
    if record.get("moduleinstance") not in (None, "", "0"):
        cm = run.ids.get("course_module", record["moduleinstance"])
        if not cm or _added_module(run, record.get("module")):
            return False
        row["moduleinstance"] = cm
    else:
        row["module"] = row["moduleinstance"] = None
    shortname = record.get("courseinstanceshortname")
    if shortname:
        found = run.query(f"SELECT id FROM {run.t('course')} WHERE shortname = {mark}", (shortname,))
        if not found:
            return False
        row["courseinstance"] = found[0][0]
    else:
        row["courseinstance"] = None
    return True


def _added_module(run, name: str | None) -> bool:
    """Whether the target lacked the module (the engine added it for an activity kept raw)."""
    span = run.created("modules")
    new = run.module_ids.get(name or "")
    return span is not None and new is not None and span[0] <= new <= span[1]


@hook
def course_completion(run, element, record, row, state) -> bool:
    """One row per user: a second record for the same user updates the first."""
    existing = run.ids.get("course_completion", row["userid"])
    if existing is not None:
        run.update("course_completions", existing,
                   **{k: row[k] for k in ("timeenrolled", "timestarted", "timecompleted", "reaggregate")
                      if k in row})
        return False
    row["id"] = run.target.new_id("course_completions")
    run.ids.set("course_completion", row["userid"], row["id"])
    return True
