"""mod_assign, the course gradebook and course completion, restored into SQLite and
held against what Moodle 4.5.6 itself wrote for the same backups (the oracle goldens
in ``shared/fixtures/moodle-restored``).

Expected values come from the goldens and from the schema's foreign keys, never from
mbx. Where mbx knowingly differs from Moodle (no regrade, modules mbx keeps raw have no
grade items), the comparison is narrowed to what both write, and the narrowing is
spelled out per check:

* grade items: per (itemtype, itemmodule), for the course, category and manual items
  and the modules mbx declares;
* grade grades: those of declared modules' items that Moodle inserted from the backup
  (the ones its history logs with source ``restore``), not the regrade's totals;
* history rows: the inserts and updates a restore of the backup's rows causes (source
  ``system`` for the course category and item, ``restore`` for module items and
  grades), not the regrade's (source ``aggregation``, or none).
"""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

import mbx.restore as restore
from mbx.moodle2 import schema
from mbx.moodle2.modules import NAMES

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
REAL = SHARED / "real"
GOLDEN = SHARED / "moodle-restored"

#: Tables compared row count for row count.
EXACT = ("assign", "assign_submission", "assignsubmission_file", "assignsubmission_onlinetext",
         "assign_grades", "assignfeedback_comments", "assignfeedback_file",
         "assignfeedback_editpdf_cmnt", "assignfeedback_editpdf_annot", "assignfeedback_editpdf_rot",
         "assign_user_flags", "assign_overrides", "assign_plugin_config",
         "grade_categories", "grade_letters", "grade_settings", "grade_categories_history",
         "course_completion_criteria", "course_completion_crit_compl", "course_completions",
         "course_completion_aggr_methd")
#: Every table this part writes, whose references are checked.
CHECKED = EXACT + ("grade_items", "grade_grades", "grade_items_history", "grade_grades_history")

ITEMS = (
    "synth-2M-seed1.mbz",
    "noisyjerm__moodle-gradereport_calcsetup/example.mbz",
    "moodle__moodle/legacy_course_completion.mbz",
    "LINCS__course-build-lesson-oer/course-build-lesson-oer",
    "LINCS__course-creating_adult_pre-apprenticeships/course-creating_adult_pre-apprenticeships",
    "LINCS__course-explicit-instruction-adult-learners/course-explicit-instruction-adult-learners",
    "bozoh__moodle-mod_simplecertificate/backup-test-course-for-moodle2.3-and-above.mbz",
    "studentquiz__moodle-mod_studentquiz/backup-moodle2-aggregated-before.mbz",
)


def _archive(item: str) -> Path:
    return GOLDEN / item if item.startswith("synth-") else REAL / item


def _golden(item: str) -> dict:
    name = item.removesuffix(".mbz") if item.startswith("synth-") else item.replace("/", "__")
    with gzip.open(GOLDEN / f"{name}.json.gz") as stream:
        return json.load(stream)


class Restored:
    """One restore into a fresh SQLite file, read back with the standard library."""

    def __init__(self, item: str, folder: Path, **options) -> None:
        self.path = folder / "course.db"
        self.report = restore.restore(str(_archive(item)), f"sqlite:{self.path}",
                                      files=str(folder / "pool"), **options)
        self.db = sqlite3.connect(self.path)
        self.db.row_factory = sqlite3.Row
        self.course = self.report.course_id

    def rows(self, table: str) -> list[dict]:
        return [dict(row) for row in self.db.execute(f"SELECT * FROM mdl_{table} ORDER BY id")]

    def count(self, table: str) -> int:
        return self.db.execute(f"SELECT COUNT(*) FROM mdl_{table}").fetchone()[0]


@pytest.fixture(scope="module", params=ITEMS, ids=lambda item: item.split("/")[-1][:40])
def restored(request, tmp_path_factory):
    item = request.param
    result = Restored(item, tmp_path_factory.mktemp("restore"))
    yield item, result, _golden(item)
    result.db.close()


def _base_rows(golden: dict, table: str) -> int:
    return len(golden["tables"].get(table, []))


def test_row_counts_match_moodle(restored):
    item, mine, golden = restored
    different = {table: (mine.count(table), _base_rows(golden, table)) for table in EXACT
                 if mine.count(table) != _base_rows(golden, table)}
    assert not different, f"{item}: (mbx, Moodle) per table: {different}"


def _declared(module: str | None) -> bool:
    return module is None or module in NAMES


def test_grade_items_by_kind_match_moodle(restored):
    item, mine, golden = restored
    kinds = lambda rows: Counter((row["itemtype"], row["itemmodule"]) for row in rows  # noqa: E731
                                 if _declared(row["itemmodule"]))
    assert kinds(mine.rows("grade_items")) == kinds(golden["tables"].get("grade_items", []))


def test_module_grades_match_moodle(restored):
    """Moodle logs each grade it restores from an activity with source ``restore``."""
    item, mine, golden = restored
    tables = golden["tables"]
    items = {row["id"]: row for row in tables.get("grade_items", [])}
    restored_ids = {row["oldid"] for row in tables.get("grade_grades_history", [])
                    if row["action"] == 1 and row["source"] == "restore"}
    expected = Counter(items[row["itemid"]]["itemmodule"] for row in tables.get("grade_grades", [])
                       if row["id"] in restored_ids and items[row["itemid"]]["itemtype"] == "mod"
                       and _declared(items[row["itemid"]]["itemmodule"]))
    my_items = {row["id"]: row for row in mine.rows("grade_items")}
    got = Counter(my_items[row["itemid"]]["itemmodule"] for row in mine.rows("grade_grades")
                  if my_items[row["itemid"]]["itemtype"] == "mod")
    assert got == expected


def _history_kinds(rows, items=None):
    kept = Counter()
    for row in rows:
        if (row["action"], row["source"]) not in ((1, "system"), (2, "system"), (1, "restore"), (2, "restore")):
            continue
        module = row.get("itemmodule") if items is None else items[row["itemid"]]["itemmodule"]
        if _declared(module):
            kept[(row["action"], row["source"], module)] += 1
    return kept


def test_history_of_the_restores_writes_matches_moodle(restored):
    item, mine, golden = restored
    tables = golden["tables"]
    assert _history_kinds(mine.rows("grade_items_history")) == \
        _history_kinds(tables.get("grade_items_history", []))
    golden_items = {row["id"]: row for row in tables.get("grade_items", [])}
    my_items = {row["id"]: row for row in mine.rows("grade_items")}
    # grade inserts of the regrade are source 'system' too: only 'restore' is compared
    restore_only = lambda counter: {k: v for k, v in counter.items() if k[1] == "restore"}  # noqa: E731
    assert restore_only(_history_kinds(mine.rows("grade_grades_history"), my_items)) == \
        restore_only(_history_kinds(tables.get("grade_grades_history", []), golden_items))


def test_category_tree_matches_moodle(restored):
    """Same categories under the same parents at the same depths; paths are id chains."""
    item, mine, golden = restored

    def tree(rows):
        by_id = {row["id"]: row for row in rows}
        shape = Counter()
        for row in rows:
            parent = by_id[row["parent"]]["fullname"] if row["parent"] else None
            shape[(row["fullname"], parent, row["depth"])] += 1
            chain = [int(part) for part in row["path"].strip("/").split("/")]
            assert chain[-1] == row["id"] and all(link in by_id for link in chain)
            assert len(chain) == row["depth"]
        return shape

    assert tree(mine.rows("grade_categories")) == tree(golden["tables"].get("grade_categories", []))


def test_calculations_name_the_same_items_as_moodle(restored):
    item, mine, golden = restored

    def readable(items, categories):
        names = {}
        for row in items:
            if row["itemtype"] in ("course", "category"):
                names[row["id"]] = f"cat:{categories[row['iteminstance']]['fullname']}"
            else:
                names[row["id"]] = f"{row['itemmodule']}:{row['itemname']}"
        return sorted(re.sub(r"##gi(\d+)##", lambda m: f"[{names.get(int(m[1]), 'UNKNOWN')}]",
                             row["calculation"])
                      for row in items if row["calculation"])

    my_categories = {row["id"]: row for row in mine.rows("grade_categories")}
    golden_categories = {row["id"]: row for row in golden["tables"].get("grade_categories", [])}
    got = readable(mine.rows("grade_items"), my_categories)
    expected = readable(golden["tables"].get("grade_items", []), golden_categories)
    assert got == expected
    assert all("UNKNOWN" not in calculation for calculation in got)


def test_latest_submissions_match_moodle(restored):
    item, mine, golden = restored
    latest = lambda rows: Counter((row["status"], row["latest"]) for row in rows)  # noqa: E731
    assert latest(mine.rows("assign_submission")) == latest(golden["tables"].get("assign_submission", []))


def test_references_resolve_within_the_new_course(restored):
    """Every foreign key of these tables names a row that exists, and every row belongs to
    the new course: no old id survives."""
    item, mine, golden = restored
    present = {table: {row["id"] for row in mine.rows(table)} for table in
               ("user", "groups", "groupings", "scale", "grade_outcomes", "course_modules", "course",
                "context", *CHECKED)}
    extra = {"assign_submission": [("userid", "user"), ("groupid", "groups")],
             "assign_grades": [("userid", "user"), ("grader", "user")],
             "assign": [("teamsubmissiongroupingid", "groupings")],
             "course_completion_criteria": [("moduleinstance", "course_modules")],
             "course_completion_crit_compl": [("criteriaid", "course_completion_criteria"),
                                              ("userid", "user")],
             "course_completions": [("userid", "user")],
             "grade_letters": [("contextid", "context")]}
    for table in CHECKED:
        keys = [(column, referenced) for column, referenced, _ in schema.table(table).foreign_keys]
        for row in mine.rows(table):
            for column, referenced in keys + extra.get(table, []):
                value = row[column]
                if value in (None, 0) or (column == "userid" and value < 0):
                    continue
                if referenced in present:
                    assert value in present[referenced], f"{table}.{column} = {value} names no {referenced}"
    for table, column in (("assign", "course"), ("grade_categories", "courseid"), ("grade_items", "courseid"),
                          ("grade_settings", "courseid"), ("course_completion_criteria", "course"),
                          ("course_completions", "course"), ("course_completion_aggr_methd", "course")):
        assert {row[column] for row in mine.rows(table)} <= {mine.course}, table
    assignments = present["assign"]
    for table in ("assign_submission", "assign_grades", "assign_plugin_config", "assign_user_flags"):
        assert {row["assignment"] for row in mine.rows(table)} <= assignments, table
    items = {row["id"]: row for row in mine.rows("grade_items")}
    for row in items.values():
        if row["itemtype"] == "mod" and row["itemmodule"] == "assign":
            assert row["iteminstance"] in assignments
        for referenced in re.findall(r"##gi(\d+)##", row["calculation"] or ""):
            assert int(referenced) in items


def test_without_users_no_user_data(tmp_path):
    item = "synth-2M-seed1.mbz"
    mine = Restored(item, tmp_path, users=False)
    for table in ("assign_submission", "assign_grades", "assignsubmission_onlinetext",
                  "assignfeedback_comments", "grade_grades", "grade_grades_history",
                  "course_completions", "course_completion_crit_compl"):
        assert mine.count(table) == 0, table
    # the nousers golden is the same course without users: its structure is the same
    golden = _golden("synth-2M-seed2-nousers.mbz")
    assert mine.count("assign") == len(golden["tables"]["assign"])
    assert mine.count("grade_categories") == 1
    mine.db.close()


def test_selected_activities_skip_gradebook_and_completion(tmp_path):
    """A restore narrowed to some activities leaves the course gradebook and completion
    out, as Moodle's steps do; the activity's own grade item stays."""
    item = "LINCS__course-build-lesson-oer/course-build-lesson-oer"
    backup_xml = (_archive(item) / "moodle_backup.xml").read_text(encoding="utf-8")
    first_assign = int(re.search(r"<moduleid>(\d+)</moduleid>\s*<sectionid>\d+</sectionid>\s*"
                                 r"<modulename>assign</modulename>", backup_xml)[1])
    mine = Restored(item, tmp_path, activities=(first_assign,))
    assert mine.count("course_completion_criteria") == 0
    assert mine.count("grade_settings") == 0
    assert [row["itemtype"] for row in mine.rows("grade_items")] == ["course", "mod"]
    assert any(warning.code == "gradebook_skipped" for warning in mine.report.warnings)
    mine.db.close()

