"""mbx's restore against Moodle's own: the same backup in, the rows out compared.

The oracle is ``shared/fixtures/moodle-restored/<item>.json.gz``: the rows Moodle
4.5.6 wrote restoring ``shared/fixtures/real/<item>`` into a pristine site whose
starting rows are ``base-site.json.gz``.

Seeding
-------
The SQLite target starts as that site did: the schema is made by mbx's own
target code (``open_target`` + ``ensure_schema``), the base-site rows are
inserted as they are, and every table's id sequence is set to the pristine
site's ``base_max_ids``. mbx then sees a Moodle site (it does not seed one of
its own) and its new ids start where Moodle's did, so a row the site already
had (users 1 and 2, the roles, the modules, the system and category contexts)
has the same id on both sides, and new ids often line up too.

Comparing modulo ids
--------------------
Ids of new rows are not compared as numbers. Instead every reference column
(the schema's foreign keys, plus the references Moodle keeps without declaring
them: :data:`REFERENCES`, polymorphic ones such as ``context.instanceid`` chosen
per row) is compared *through a correspondence*: a map, per table, from mbx's
new ids to Moodle's, built by pairing rows:

1. Rows are paired table by table, in rounds. A row's signature is its
   values, with every reference translated through the correspondence built so
   far (a reference to a pristine row is its id; to a row not paired yet, an
   unknown that makes the signature unusable this round). Rows whose
   signatures are equal pair up, in id order. Rounds repeat until no new
   pair appears, since each pairing can resolve references for other tables
   (course_sections <-> course_modules, context -> instance, ...).
2. What is left is paired by likeness: within a group of rows sharing a
   natural anchor (:data:`ANCHORS`, e.g. a section's number, a user's
   username), each mbx row takes the unpaired Moodle row that agrees on most
   columns.
3. Every paired row is compared column by column, references translated; an
   unpaired row is a row-count difference of its table.

A difference in one row therefore shows in that row's own columns and does not
spread to the rows that refer to it (they refer to its partner). Pairing by
equal signature is sound: two rows pair only when everything mbx wrote equals
everything Moodle wrote, ids included through rows already paired; a pairing
by likeness can only turn a real difference into a different-looking one,
never hide one, since its columns are then all compared.

Values derived from ids are rebuilt from the translated parts before
comparing: ``context.path``, ``course_sections.sequence``,
``files.pathnamehash``, the ids inside availability JSON and in links decoded
into the site's wwwroot.

Values Moodle sets at restore time
----------------------------------
``restore_time_columns.json`` lists them. A "clock" column compares equal when
both values lie within their own restore's time window (Moodle's
``restore.started``..``finished``, mbx's measured around its call, a few
seconds of slack) and exactly otherwise, so a value Moodle keeps from the
backup must be kept by mbx too. A "random" column is not compared.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable

from conftest import FIXTURES

import mbx.restore
from mbx.moodle2 import schema
from mbx.restore.targets import open_target

GOLDENS = FIXTURES.parent / "moodle-restored"
WWWROOT = "http://localhost/moodle"
SLACK = 15
#: The site's tables whose rows the restore only changed (changed_base_rows).
CHANGED_BASE_TABLES = ("course_categories",)


def golden_name(item: str) -> str:
    return item.replace("/", "__")


def load_json(path: Path) -> Any:
    with gzip.open(path, "rt", encoding="utf-8") as stream:
        return json.load(stream, parse_float=Decimal)


def golden(item: str) -> dict:
    return load_json(GOLDENS / f"{golden_name(item)}.json.gz")


def base_site() -> dict:
    return load_json(GOLDENS / "base-site.json.gz")


def restore_time_columns() -> dict[str, dict[str, str]]:
    raw = json.loads((GOLDENS / "restore_time_columns.json").read_text())
    return {table: {column: facts["kind"] for column, facts in columns.items()}
            for table, columns in raw.items()}


# -- the target -------------------------------------------------------------------------

def seed_target(path: Path, base: dict, base_max_ids: dict[str, int]) -> None:
    """A SQLite database holding the pristine site's rows and id sequences."""
    target = open_target(f"sqlite:{path}")
    try:
        target.begin()
        target.ensure_schema(schema.tables())
        for table, rows in base["tables"].items():
            if not rows or table not in schema.tables():
                continue  # config_plugins and the like: not in the restore's schema
            columns = schema.table(table).column_names
            target.insert(table, columns, [tuple(_plain(row.get(c)) for c in columns) for row in rows])
        for table, highest in base_max_ids.items():
            if highest and table in schema.tables():
                target.execute("INSERT OR REPLACE INTO sqlite_sequence (name, seq) VALUES (?, ?)",
                               (target.prefix + table, highest))
        target.commit()
    finally:
        target.close()


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


@dataclass
class Restored:
    tables: dict[str, list[dict]]
    changed: dict[str, list[dict]]
    started: int
    finished: int
    report: Any


def restore_into_site(archive: Path, work: Path, base: dict, base_max_ids: dict[str, int]) -> Restored:
    database = work / "site.db"
    seed_target(database, base, base_max_ids)
    started = int(time.time())
    report = mbx.restore.restore(archive, f"sqlite:{database}", files=str(work / "pool"),
                                 wwwroot=WWWROOT, work_dir=str(work))
    finished = int(time.time())
    tables, changed = read_new_rows(database, base_max_ids)
    return Restored(tables, changed, started, finished, report)


def read_new_rows(database: Path, base_max_ids: dict[str, int]) -> tuple[dict, dict]:
    connection = sqlite3.connect(database)
    try:
        tables: dict[str, list[dict]] = {}
        for table, highest in base_max_ids.items():
            if table not in schema.tables():
                continue
            columns = schema.table(table).column_names
            names = ", ".join(f'"{c}"' for c in columns)
            rows = connection.execute(f'SELECT {names} FROM "mdl_{table}" WHERE id > ? ORDER BY id',
                                      (highest,)).fetchall()
            if rows:
                tables[table] = [dict(zip(columns, row)) for row in rows]
        changed = {}
        for table in CHANGED_BASE_TABLES:
            columns = schema.table(table).column_names
            names = ", ".join(f'"{c}"' for c in columns)
            changed[table] = [dict(zip(columns, row)) for row in connection.execute(
                f'SELECT {names} FROM "mdl_{table}" WHERE id <= ? ORDER BY id',
                (base_max_ids[table],)).fetchall()]
        return tables, changed
    finally:
        connection.close()


# -- references ---------------------------------------------------------------------------

#: contextlevel -> the table of context.instanceid.
CONTEXT_LEVELS = {30: "user", 40: "course_categories", 50: "course", 70: "course_modules",
                  80: "block_instances"}

#: (component, filearea) -> the table a files row's itemid names (else the itemid is a value).
FILE_ITEMS = {
    ("course", "section"): "course_sections",
    ("group", "description"): "groups", ("group", "icon"): "groups",
    ("grouping", "description"): "groupings",
    ("mod_forum", "post"): "forum_posts", ("mod_forum", "attachment"): "forum_posts",
    ("mod_book", "chapter"): "book_chapters",
    ("calendar", "event_description"): "event",
    ("grade", "feedback"): "grade_grades", ("grade", "scale"): "scale",
    ("grade", "outcome"): "grade_outcomes",
    ("mod_assign", "introattachment"): None,
    ("assignsubmission_file", "submission_files"): "assign_submission",
    ("assignsubmission_onlinetext", "submissions_onlinetext"): "assign_submission",
    ("assignfeedback_file", "feedback_files"): "assign_grades",
    ("assignfeedback_comments", "feedback"): "assign_grades",
    ("question", "questiontext"): "question", ("question", "generalfeedback"): "question",
    ("question", "answer"): "question_answers", ("question", "answerfeedback"): "question_answers",
    ("question", "hint"): "question_hints", ("question", "correctfeedback"): "question",
    ("question", "partiallycorrectfeedback"): "question", ("question", "incorrectfeedback"): "question",
    ("mod_quiz", "feedback"): "quiz_feedback",
    ("mod_lesson", "page_contents"): "lesson_pages", ("mod_lesson", "page_answers"): "lesson_answers",
    ("mod_lesson", "page_responses"): "lesson_answers",
    ("mod_glossary", "entry"): "glossary_entries", ("mod_glossary", "attachment"): "glossary_entries",
    ("mod_data", "content"): "data_content",
    ("mod_feedback", "item"): "feedback_item",
}

#: Comment and rating areas -> the table of their itemid.
COMMENT_ITEMS = {"page_comments": None, "submission_comments": "assign_submission",
                 "database_entry": "data_records", "glossary_entry": "glossary_entries"}
RATING_ITEMS = {("mod_forum", "post"): "forum_posts", ("mod_glossary", "entry"): "glossary_entries",
                ("mod_data", "entry"): "data_records"}


def _slot_item(row: dict) -> str | None:
    """A question reference's item: a quiz slot (the only using area in the corpus)."""
    return "quiz_slots" if (row.get("component"), row.get("questionarea")) == ("mod_quiz", "slot") else None


def _module_table(side: "Side", module_id: Any) -> str | None:
    return side.module_name(module_id)


#: References the schema does not declare: table -> column -> table, or a function of
#: (row, side) giving the table (``None``: the value is no id).
REFERENCES: dict[str, dict[str, Any]] = {
    "context": {"instanceid": lambda row, side: CONTEXT_LEVELS.get(row["contextlevel"])},
    "course": {"defaultgroupingid": "groupings"},
    "course_sections": {"course": "course"},
    "course_modules": {"course": "course", "module": "modules", "section": "course_sections",
                       "instance": lambda row, side: _module_table(side, row["module"])},
    "course_format_options": {"sectionid": "course_sections"},
    "enrol": {"courseid": "course"},
    "groups": {"courseid": "course"},
    "groupings": {"courseid": "course"},
    "groupings_groups": {"groupingid": "groupings", "groupid": "groups"},
    "groups_members": {"groupid": "groups", "userid": "user"},
    "user_preferences": {"userid": "user"},
    "role_assignments": {"modifierid": "user"},
    "tag": {"userid": "user"},
    "tag_instance": {"itemid": lambda row, side: row["itemtype"] if row["itemtype"] in schema.tables() else None,
                     "tiuserid": "user"},
    "event": {"courseid": "course", "groupid": "groups", "userid": "user", "repeatid": "event",
              "instance": lambda row, side: row["modulename"] or None},
    "block_positions": {"subpage": None},
    "filter_config": {"contextid": "context"},
    "comments": {"contextid": "context",
                 "itemid": lambda row, side: COMMENT_ITEMS.get(row["commentarea"])},
    "files": {"itemid": lambda row, side: FILE_ITEMS.get((row["component"], row["filearea"]))},
    "logstore_standard_log": {
        "contextinstanceid": lambda row, side: CONTEXT_LEVELS.get(row["contextlevel"]),
        "objectid": lambda row, side: row["objecttable"] if row["objecttable"] in schema.tables() else None},
    "rating": {"itemid": lambda row, side: RATING_ITEMS.get((row["component"], row["ratingarea"])),
               "scaleid": lambda row, side: "scale" if (_int(row["scaleid"]) or 0) < 0 else None},
    "forum": {"course": "course"},
    "forum_discussions": {"course": "course", "userid": "user", "groupid": "groups",
                          "firstpost": "forum_posts"},
    "forum_posts": {"userid": "user", "privatereplyto": "user"},
    "forum_subscriptions": {"userid": "user", "forum": "forum"},
    "forum_discussion_subs": {"userid": "user", "forum": "forum", "discussion": "forum_discussions"},
    "forum_digests": {"userid": "user", "forum": "forum"},
    "forum_read": {"userid": "user", "forumid": "forum", "discussionid": "forum_discussions",
                   "postid": "forum_posts"},
    "forum_track_prefs": {"userid": "user", "forumid": "forum"},
    "forum_grades": {"forum": "forum", "userid": "user"},
    "book_chapters": {"bookid": "book"},
    "grade_items": {"courseid": "course", "categoryid": "grade_categories", "scaleid": "scale",
                    "outcomeid": "grade_outcomes",
                    "iteminstance": lambda row, side: ("grade_categories" if row["itemtype"] in ("course", "category")
                                                       else row["itemmodule"] or None)},
    "grade_items_history": {"iteminstance": lambda row, side: (
        "grade_categories" if row["itemtype"] in ("course", "category") else row["itemmodule"] or None)},
    "grade_categories": {"courseid": "course", "parent": "grade_categories"},
    "grade_grades": {"itemid": "grade_items", "userid": "user", "usermodified": "user"},
    "grade_settings": {"courseid": "course"},
    # Moodle keeps the backup's (old) user id here, mbx maps it: compared as a number.
    "grade_grades_history": {"loggeduser": None},
    "grading_areas": {"contextid": "context"},
    "course_modules_completion": {"coursemoduleid": "course_modules", "userid": "user"},
    "course_modules_viewed": {"coursemoduleid": "course_modules", "userid": "user"},
    "course_completion_criteria": {"course": "course", "moduleinstance": "course_modules"},
    "course_completions": {"course": "course", "userid": "user"},
    "course_completion_aggr_methd": {"course": "course"},
    "user": {},
    "scale": {"courseid": "course", "userid": "user"},
    "grade_letters": {"contextid": "context"},
    "question_categories": {"contextid": "context"},
    "question_references": {"itemid": lambda row, side: _slot_item(row)},
    "question_set_references": {"itemid": lambda row, side: _slot_item(row)},
    "question_dataset_items": {"definition": "question_dataset_definitions"},
    "quiz_grades": {"userid": "user"},
    "assign_grades": {"userid": "user", "grader": "user"},
    "assign_submission": {"userid": "user", "groupid": "groups"},
    "course_completion_crit_compl": {"course": "course", "userid": "user",
                                     "criteriaid": "course_completion_criteria"},
}
for _name in ("page", "label", "url", "resource", "folder", "book", "quiz", "assign", "lesson",
              "choice", "data", "feedback", "glossary", "wiki", "scorm", "h5pactivity"):
    REFERENCES.setdefault(_name, {})["course"] = "course"


def references(table: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if table in schema.tables():
        for column, other, _ in schema.table(table).foreign_keys:
            found[column] = other
    found.update(REFERENCES.get(table, {}))
    return {column: other for column, other in found.items() if other is not None}


#: Natural anchors for pairing by likeness: table -> columns (compared translated).
ANCHORS = {
    "user": ("username",), "course_sections": ("section",), "course_format_options": ("name", "sectionid"),
    "context": ("contextlevel",), "course_modules": ("module",),
    "user_preferences": ("userid", "name"), "enrol": ("enrol",), "files": ("contenthash", "filename"),
    "role_assignments": ("userid",), "user_enrolments": ("userid",), "block_instances": ("blockname",),
    "logstore_standard_log": ("eventname",), "tag": ("name",),
}


#: Tables paired by likeness first: the ones most others refer to.
PAIRING_ORDER = ("course", "user", "course_sections", "modules", "course_modules", "block_instances",
                 "context", "groups", "groupings", "enrol")


# -- the two sides ----------------------------------------------------------------------

class Unknown:
    """A reference to a row not paired (yet): equal to nothing."""

    __slots__ = ("table", "value")

    def __init__(self, table: str, value: Any) -> None:
        self.table, self.value = table, value

    def __repr__(self) -> str:
        return f"<unpaired {self.table} {self.value}>"


class Side:
    """One restore's new rows (mbx's or Moodle's) with what is needed to read them."""

    def __init__(self, tables: dict[str, list[dict]], base: dict, base_max_ids: dict[str, int],
                 window: tuple[int, int]) -> None:
        self.tables = tables
        self.by_id = {table: {row["id"]: row for row in rows} for table, rows in tables.items()}
        self.base_max_ids = base_max_ids
        self.window = (window[0] - SLACK, window[1] + SLACK)
        self.modules = {row["id"]: row["name"] for row in base["tables"]["modules"]}
        for row in tables.get("modules", ()):
            self.modules[row["id"]] = row["name"]

    def module_name(self, module_id: Any) -> str | None:
        name = self.modules.get(_int(module_id))
        return name if name and name in schema.tables() else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def normalise(table: str, column: str, value: Any) -> Any:
    """A value as the schema types it, so that 100 and 100.00000 compare equal."""
    if value is None or table not in schema.tables():
        return value
    facts = schema.table(table).by_name.get(column)
    if facts is not None and facts.type in schema.NUMERIC_TYPES:
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return value
        if facts.type == "float":
            return round(float(number), 6)
        return number.normalize() if number else Decimal(0)
    return value


ID_URLS = (
    (re.compile(r"(/pluginfile\.php/)(\d+)(/)"), "context"),
    (re.compile(r"(/mod/\w+/view\.php\?id=)(\d+)()"), "course_modules"),
    (re.compile(r"(/course/view\.php\?id=)(\d+)()"), "course"),
    (re.compile(r"(/mod/\w+/index\.php\?id=)(\d+)()"), "course"),
    (re.compile(r"(/mod/forum/discuss\.php\?d=)(\d+)()"), "forum_discussions"),
    (re.compile(r"(/course/section\.php\?id=)(\d+)()"), "course_sections"),
)


class Correspondence:
    """mbx id -> Moodle id, per table, and the translation of mbx's values through it."""

    def __init__(self, mine: Side, theirs: Side, masks: dict[str, dict[str, str]]) -> None:
        self.mine, self.theirs, self.masks = mine, theirs, masks
        self.forward: dict[str, dict[int, int]] = defaultdict(dict)
        self.backward: dict[str, dict[int, int]] = defaultdict(dict)
        self._refs = {}

    def refs(self, table: str) -> dict[str, Any]:
        if table not in self._refs:
            self._refs[table] = references(table)
        return self._refs[table]

    def pair(self, table: str, mine: int, theirs: int) -> None:
        self.forward[table][mine] = theirs
        self.backward[table][theirs] = mine

    def translate_id(self, table: str | None, value: Any) -> Any:
        number = _int(value)
        if table is None or number is None or number <= 0:
            return value
        if number <= self.mine.base_max_ids.get(table, 0):
            return number
        found = self.forward.get(table, {}).get(number)
        return found if found is not None else Unknown(table, number)

    # -- one row's comparable values ----------------------------------------------------
    def values(self, table: str, row: dict, side: Side, translate: bool) -> dict[str, Any]:
        """Every compared column of a row: mbx's translated, Moodle's as they are."""
        masks = self.masks.get(table, {})
        refs = self.refs(table)
        out = {}
        for column, value in row.items():
            if column == "id" or masks.get(column) == "random":
                continue
            if masks.get(column) == "clock" and _int(value) is not None and \
                    side.window[0] <= int(value) <= side.window[1]:
                out[column] = "<restore time>"
                continue
            target = refs.get(column)
            if callable(target):
                target = target(row, side)
            if target is not None and translate:
                value = self.translate_id(target, value)
            elif target is not None:
                value = _int(value) if _int(value) is not None else value
            else:
                value = normalise(table, column, value)
            out[column] = value
        self._derived(table, row, out, translate)
        return out

    def _derived(self, table: str, row: dict, out: dict, translate: bool) -> None:
        if not translate:
            if table == "context" and row.get("path"):
                out["path"] = row["path"].rsplit("/", 1)[0] + "/<self>"
            for column, value in out.items():
                if isinstance(value, str) and column in ("availability",) and value:
                    out[column] = _json_canonical(value)
            return
        if table == "context" and row.get("path"):
            # Its own id ends the path: that part is the row itself, whatever its number.
            parts = row["path"].split("/")
            out["path"] = "/".join([str(self.translate_id("context", part)) if part else ""
                                    for part in parts[:-1]] + ["<self>"])
        if table == "course_sections" and row.get("sequence"):
            out["sequence"] = ",".join(str(self.translate_id("course_modules", part))
                                       for part in row["sequence"].split(","))
        if table == "files":
            context, item = out.get("contextid"), out.get("itemid")
            if not isinstance(context, Unknown) and not isinstance(item, Unknown):
                path = row["filepath"]
                out["pathnamehash"] = hashlib.sha1(
                    f"/{context}/{row['component']}/{row['filearea']}/{item}{path}{row['filename']}"
                    .encode()).hexdigest()
        if table in ("grade_items", "grade_items_history") and row.get("calculation"):
            out["calculation"] = re.sub(r"##gi(\d+)##", lambda m: f"##gi{_jsonable(self.translate_id('grade_items', m[1]))}##",
                                        row["calculation"])
        if row.get("availability") and "availability" in out:
            out["availability"] = self._availability(row["availability"])
        for column, value in out.items():
            if isinstance(value, str) and WWWROOT in value:
                out[column] = self._links(value)

    def _availability(self, text: str) -> str:
        try:
            tree = json.loads(text)
        except ValueError:
            return text

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                kind = node.get("type")
                table = {"completion": "course_modules", "group": "groups", "grouping": "groupings",
                         "grade": "grade_items"}.get(kind)
                key = "cm" if kind == "completion" else "id"
                if table and isinstance(node.get(key), int):
                    node[key] = _jsonable(self.translate_id(table, node[key]))
                for child in node.get("c", ()):
                    walk(child)
        walk(tree)
        return json.dumps(tree, sort_keys=True, separators=(",", ":"))

    def _links(self, text: str) -> str:
        for pattern, table in ID_URLS:
            text = pattern.sub(lambda m: m[1] + str(_jsonable(self.translate_id(table, m[2]))) + m[3], text)
        return text


def _jsonable(value: Any) -> Any:
    return repr(value) if isinstance(value, Unknown) else value


def _json_canonical(text: str) -> str:
    try:
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return text


def _signature(values: dict[str, Any]) -> tuple | None:
    items = []
    for column in sorted(values):
        value = values[column]
        if isinstance(value, Unknown) or (isinstance(value, str) and "<unpaired" in value):
            return None
        items.append((column, value))
    return tuple(items)


# -- pairing and comparing --------------------------------------------------------------

@dataclass
class Difference:
    table: str
    column: str          # a column, or "rows" for a count difference
    detail: str

    @property
    def key(self) -> tuple[str, str]:
        return self.table, self.column


@dataclass
class Comparison:
    differences: list[Difference] = field(default_factory=list)

    def keys(self) -> set[tuple[str, str]]:
        return {difference.key for difference in self.differences}


def compare(mine: Side, theirs: Side, masks: dict[str, dict[str, str]],
            compared: Callable[[str], bool]) -> Comparison:
    """Pairs the rows of both sides and returns every difference of a compared table."""
    match = Correspondence(mine, theirs, masks)
    tables = sorted(set(mine.tables) | set(theirs.tables))
    theirs_values = {table: {row["id"]: match.values(table, row, theirs, False)
                             for row in theirs.tables.get(table, ())} for table in tables}
    progress = True
    while progress:
        progress = False
        for table in tables:
            progress |= _pair_equal(match, table, theirs_values[table])
    for table in sorted(tables, key=lambda name: (PAIRING_ORDER.index(name) if name in PAIRING_ORDER
                                                  else len(PAIRING_ORDER), name)):
        _pair_alike(match, table, theirs_values[table])
        while any(_pair_equal(match, other, theirs_values[other]) for other in tables):
            pass
    result = Comparison()
    for table in tables:
        if compared(table):
            _compare_table(match, table, theirs_values[table], result)
    return result


def _unpaired_mine(match: Correspondence, table: str) -> list[dict]:
    done = match.forward.get(table, {})
    return [row for row in match.mine.tables.get(table, ()) if row["id"] not in done]


def _pair_equal(match: Correspondence, table: str, theirs_values: dict[int, dict]) -> bool:
    taken = match.backward.get(table, {})
    waiting: dict[tuple, list[int]] = defaultdict(list)
    for row_id, values in theirs_values.items():
        if row_id not in taken:
            waiting[_signature(values)].append(row_id)
    found = False
    for row in _unpaired_mine(match, table):
        signature = _signature(match.values(table, row, match.mine, True))
        if signature is not None and waiting.get(signature):
            match.pair(table, row["id"], waiting[signature].pop(0))
            found = True
    return found


def _pair_alike(match: Correspondence, table: str, theirs_values: dict[int, dict]) -> None:
    taken = match.backward.get(table, {})
    left = [row_id for row_id in theirs_values if row_id not in taken]
    mine = _unpaired_mine(match, table)
    if not left or not mine:
        return
    anchor = ANCHORS.get(table, ())
    groups: dict[tuple, list[int]] = defaultdict(list)
    for row_id in left:
        groups[tuple(repr(theirs_values[row_id].get(c)) for c in anchor)].append(row_id)
    for row in mine:
        values = match.values(table, row, match.mine, True)
        group = groups.get(tuple(repr(values.get(c)) for c in anchor))
        if not group:
            continue
        if len(group) * len(values) > 20000:
            best = group[0]
        else:
            best = max(group, key=lambda other: sum(
                1 for column, value in values.items() if _same(value, theirs_values[other].get(column))))
        group.remove(best)
        match.pair(table, row["id"], best)


def _same(mine: Any, theirs: Any) -> bool:
    if isinstance(mine, Unknown):
        return False
    return mine == theirs


def _compare_table(match: Correspondence, table: str, theirs_values: dict[int, dict],
                   result: Comparison) -> None:
    forward = match.forward.get(table, {})
    mine_rows = match.mine.tables.get(table, ())
    extra = [row["id"] for row in mine_rows if row["id"] not in forward]
    missing = [row_id for row_id in theirs_values if row_id not in match.backward.get(table, {})]
    if extra or missing:
        result.differences.append(Difference(
            table, "rows", f"mbx {len(mine_rows)}, Moodle {len(theirs_values)}; "
            f"{len(extra)} of mbx's unpaired, {len(missing)} of Moodle's"))
    seen: dict[str, list[str]] = {}
    for row in mine_rows:
        partner = forward.get(row["id"])
        if partner is None:
            continue
        values = match.values(table, row, match.mine, True)
        other = theirs_values[partner]
        for column in values:
            if not _same(values[column], other.get(column)):
                seen.setdefault(column, []).append(
                    f"mbx id {row['id']}: {_short(values[column])} / Moodle id {partner}: {_short(other.get(column))}")
    for column, examples in seen.items():
        result.differences.append(Difference(table, column, f"{len(examples)} rows, e.g. {examples[0]}"))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def compare_changed_base(restored: Restored, golden_rows: dict) -> list[Difference]:
    """The pristine rows the restore updated (category course counts)."""
    found = []
    for table in CHANGED_BASE_TABLES:
        wanted = {row["id"]: row for row in golden_rows.get(table, {}).get("updated", ())}
        for row in restored.changed.get(table, ()):
            if row["id"] in wanted:
                for column, value in wanted[row["id"]].items():
                    if column == "timemodified":
                        continue
                    if normalise(table, column, row.get(column)) != normalise(table, column, value):
                        found.append(Difference(table, column, f"changed base row {row['id']}: "
                                                f"{row.get(column)!r} / {value!r}"))
    return found
