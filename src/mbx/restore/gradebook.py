"""The course gradebook, restored in the final task.

``gradebook.xml`` brings the categories and the course, category and manual
items (with their grades, letters and settings); then the module items that
the activities restored are moved into their categories, ``##gi<id>##``
calculations rewritten, and the category tree's parents, paths and depths
rebuilt. The grade histories follow: every activity's ``grade_history.xml``
and the top one, with users and the ``grade_histories`` setting.

What was decided
----------------
* Moodle runs the gradebook step only when no activity was left out (the
  reference also names modules missing from the site, but Moodle 4.5 restored
  the gradebook of backups whose module it lacks: the oracle's studentquiz
  courses). mbx does the same: a restore narrowed by ``activities`` or
  ``sections`` skips the step, with a warning. Activities mbx keeps raw have
  their course modules but no grade items: their items are not re-parented.
* Grade history rows of the restore's own writes. Moodle's grade objects log
  each insert and update in ``grade_*_history``; mbx writes the ones a
  restore of the backup's rows causes: the course category's insert and the
  update that sets its path (source ``system``), the course item's insert
  (``system``), when the first activity grade item made them (made from
  ``gradebook.xml`` they are plain inserts, without history), each module item's insert and the write-back of its sort
  order (``restore``), each module grade's insert (``restore``). The rows of
  ``grade_regrade_final_grades`` (course totals, the missing grades it fills,
  source ``aggregation``/``system``) and of the re-parenting updates are not
  written: mbx does not regrade. Course and category items are left with
  ``needsupdate`` = 1, so Moodle regrades the course when it is first viewed.
* ``calculations_freeze`` is a site setting (``config``), which the target
  does not hold: a warning says so.
"""

from __future__ import annotations

import re
from typing import Any

from mbx.moodle2 import schema
from mbx.moodle2.grades import ACTIVITY_GRADE_HISTORY, GRADE_HISTORY, GRADEBOOK
from mbx.moodle2.structure import SESSION_USER
from mbx.moodle2.modules import declaration
from mbx.moodle2.models import as_int
from mbx.restore.engine import Task
from mbx.restore.hooks.gradebook import FROM_GRADEBOOK

__all__ = ["restore_gradebook"]

GRADEBOOK_MEMBER = GRADEBOOK.member
CALCULATION_ID = re.compile(r"##gi(\d+)##")


def restore_gradebook(engine, plan) -> None:
    """The final task's gradebook steps, then the history rows of the restore's writes."""
    task = Task(kind="final", folder="", context=engine.course_context, userinfo=engine.userinfo)
    if plan.source.exists(GRADEBOOK_MEMBER) and _gradebook_allowed(engine, plan):
        engine.run_step(GRADEBOOK, task)
        engine.course_grade_category()  # Moodle's after_execute makes it even for an empty file
        _settle(engine)
    _activity_histories(engine, plan)
    _restore_histories(engine, _activity_order(engine, plan))
    engine.run_step(GRADE_HISTORY, task)


def _gradebook_allowed(engine, plan) -> bool:
    listed = [activity for activity in plan.info.activities if activity.directory]
    if len(plan.activities) < len(listed):
        engine.report.warn("gradebook_skipped", "some activities are left out: the course gradebook "
                           "(categories, course and manual items) is not restored", GRADEBOOK_MEMBER)
        return False
    return True


def _settle(engine) -> None:
    """Module items into their categories, calculations, the category tree."""
    ids = engine.ids
    course_category = engine.course_grade_category()
    for old_item, old_category, _ in ids.items("grade_item_category"):
        item = ids.get("grade_item", old_item)
        category = ids.get("grade_category", old_category) if old_category else None
        if item and category and category != course_category:
            engine.update("grade_items", item, categoryid=category)
    mark = engine.target.mark
    items = engine.t("grade_items")
    for item_id, calculation in engine.query(
            f"SELECT id, calculation FROM {items} WHERE courseid = {mark} AND calculation IS NOT NULL "
            f"AND calculation <> ''", (engine.course_id,)):
        rewritten = CALCULATION_ID.sub(
            lambda match: f"##gi{ids.get('grade_item', match[1], match[1])}##", calculation)
        if rewritten != calculation:
            engine.update("grade_items", item_id, calculation=rewritten)
    parents = {new: ids.get("grade_category", old_parent, course_category) if old_parent else course_category
               for new, old_parent, _ in ((int(n), o, p) for n, o, p in ids.items("grade_category_parent"))}
    paths = {course_category: f"/{course_category}/"}

    def path_of(category: int, seen: frozenset = frozenset()) -> str:
        if category in paths:
            return paths[category]
        parent = parents.get(category, course_category)
        if parent in seen or parent == category:
            parent = course_category  # a loop in the backup: hang it under the course
        paths[category] = f"{path_of(parent, seen | {category})}{category}/"
        return paths[category]

    for category, parent in parents.items():
        path = path_of(category)
        engine.update("grade_categories", category, parent=parent, path=path, depth=path.count("/") - 1)
    for item_id, in engine.query(f"SELECT id FROM {items} WHERE courseid = {mark} AND itemtype IN "
                                 f"('course', 'category')", (engine.course_id,)):
        engine.update("grade_items", item_id, needsupdate=1)


def _activity_histories(engine, plan) -> None:
    if not engine.setting_on("grade_histories"):
        return
    for activity in plan.activities:
        if declaration(activity.modulename or "") is None:
            continue  # kept raw with the rest of the activity
        if not engine.ids.get("course_module", activity.moduleid):
            continue
        userinfo = engine.userinfo and _setting(plan.info, f"{activity.modulename}_{activity.moduleid}_userinfo")
        engine.run_step(ACTIVITY_GRADE_HISTORY, Task(kind="activity", folder=activity.directory + "/",
                                                     modulename=activity.modulename, userinfo=userinfo))


def _setting(info, name: str) -> bool:
    for setting in info.settings:
        if setting.name == name:
            return setting.value == "1"
    return True


# -- history rows of the restore's own writes --------------------------------------------

def _activity_order(engine, plan) -> dict[tuple[str, int], int]:
    """(module name, new instance) -> the activity's place in ``moodle_backup.xml``, the
    order Moodle restores activities (and inserts their grade items) in."""
    places = {engine.ids.get("course_module", activity.moduleid): place
              for place, activity in enumerate(plan.info.activities)}
    mark = engine.target.mark
    found = engine.query(f"SELECT cm.id, cm.instance, m.name FROM {engine.t('course_modules')} cm "
                         f"JOIN {engine.t('modules')} m ON m.id = cm.module WHERE cm.course = {mark}",
                         (engine.course_id,))
    return {(name, int(instance)): places[cm] for cm, instance, name in found if cm in places}


def _restore_histories(engine, order: dict[tuple[str, int], int]) -> None:
    if engine.grade_category is None or engine.ids.get(FROM_GRADEBOOK, 1):
        return
    user = SESSION_USER
    mark = engine.target.mark
    made = getattr(engine, "grade_made", None) or {}
    category = made.get("grade_categories") or _rows(
        engine, "grade_categories", f"id = {mark}", (engine.grade_category,))[0]
    first = dict(category, depth=0, path=None)
    _history(engine, "grade_categories", first, 1, "system", user)
    _history(engine, "grade_categories", category, 2, "system", user)
    span = engine.created("grade_items")
    if span is None:
        return
    highest = 1  # the course item's sortorder when the first activity item made it
    items = _rows(engine, "grade_items", f"courseid = {mark} AND id BETWEEN {mark} AND {mark} "
                  "AND itemtype IN ('course', 'mod')", (engine.course_id, *span))
    items.sort(key=lambda item: (item["itemtype"] != "course", order.get(
        (item["itemmodule"], as_int(item["iteminstance"], None)), len(order)), item["id"]))
    for item in items:
        if item["itemtype"] == "course":
            _history(engine, "grade_items", made.get("grade_items", item), 1, "system", user)
        else:
            # grade_item::insert puts the item last, then the backup's sortorder is
            # written back (an update, which follows the insert's force_regrading).
            # Both before the gradebook step moves the item into its own category.
            placed = dict(item, categoryid=engine.grade_category)
            _history(engine, "grade_items", dict(placed, sortorder=highest + 1), 1, "restore", user)
            _history(engine, "grade_items", dict(placed, needsupdate=1), 2, "restore", user)
            highest = max(highest, as_int(item["sortorder"], None) or 0)
    grades = engine.created("grade_grades")
    if grades is None:
        return
    for grade in _rows(engine, "grade_grades",
                       f"id BETWEEN {mark} AND {mark} AND itemid IN (SELECT id FROM {engine.t('grade_items')} "
                       f"WHERE courseid = {mark} AND itemtype = 'mod')", (*grades, engine.course_id)):
        _history(engine, "grade_grades", grade, 1, "restore", user)



def _rows(engine, table: str, where: str, params: tuple) -> list[dict[str, Any]]:
    names = schema.table(table).column_names
    listed = ", ".join(f'"{name}"' for name in names)
    return [dict(zip(names, values)) for values in
            engine.query(f"SELECT {listed} FROM {engine.t(table)} WHERE {where} ORDER BY id", params)]


def _history(engine, table: str, row: dict[str, Any], action: int, source: str, user: int) -> None:
    history = schema.table(f"{table}_history").column_names
    values = {name: row[name] for name in history if name in row and name != "id"}
    values.update(action=action, oldid=row["id"], source=source, timemodified=engine.now,
                  loggeduser=user)
    engine.insert(f"{table}_history", values)
