"""The question bank and the quiz, restored into SQLite and held against Moodle's own rows.

For each backup below, the oracle is what Moodle 4.5.6 wrote restoring it
(``shared/fixtures/moodle-restored/<item>.json.gz``): per table the rows of the
question bank and quiz tables must number the same, the categories must sit
in contexts of the same levels, and every reference between these tables must
land on a row this restore wrote (no old id left behind).
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from collections import Counter

import pytest

import mbx.restore

from conftest import FIXTURES

ORACLE = FIXTURES.parent / "moodle-restored"

ITEMS = [
    "moodle__moodle/question_attempts_missing_users.mbz",       # attempts, orphan usages, missing users
    "moodle__moodle/question_category_34_format.mbz",           # pre-3.5: no top categories in the file
    "moodle__moodle/question_category_35_format.mbz",           # 3.5: a top per bank
    "moodle__moodle/moodle_28_quiz.mbz",                        # legacy slots -> question_references
    "moodle__moodle/moodle_311_quiz.mbz",                       # random by tag -> set references
    "moodle__moodle/random_by_tag_quiz.mbz",
    "moodle__moodle/pre-40-shared-random-question.mbz",
    "ngandrass__moodle-quiz_archiver/referencequiz.mbz",        # every core qtype, calculated datasets
    "marcusgreen__moodle-tool_driprelease/driprelease_25_quizzes.mbz",
    "maths__moodle-qtype_stack/STACK-syntax-quiz.mbz",          # a qtype Moodle's site lacks
    "studentquiz__moodle-mod_studentquiz/backup-moodle2-course_moodle32_sq203_nofiles.mbz",
]

#: The tables this part of the restore writes.
PREFIXES = ("question", "qtype_", "quiz")

#: Every reference between them (and to context/user): table, column, target table.
REFERENCES = [
    ("question_categories", "contextid", "context"),
    ("question_categories", "parent", "question_categories"),
    ("question_bank_entries", "questioncategoryid", "question_categories"),
    ("question_versions", "questionbankentryid", "question_bank_entries"),
    ("question_versions", "questionid", "question"),
    ("question", "parent", "question"),
    ("question_answers", "question", "question"),
    ("question_hints", "questionid", "question"),
    ("question_truefalse", "question", "question"),
    ("question_truefalse", "trueanswer", "question_answers"),
    ("question_truefalse", "falseanswer", "question_answers"),
    ("qtype_multichoice_options", "questionid", "question"),
    ("qtype_shortanswer_options", "questionid", "question"),
    ("qtype_essay_options", "questionid", "question"),
    ("qtype_match_options", "questionid", "question"),
    ("qtype_match_subquestions", "questionid", "question"),
    ("question_numerical", "question", "question"),
    ("question_numerical", "answer", "question_answers"),
    ("question_numerical_options", "question", "question"),
    ("question_calculated", "question", "question"),
    ("question_calculated", "answer", "question_answers"),
    ("question_calculated_options", "question", "question"),
    ("question_datasets", "question", "question"),
    ("question_datasets", "datasetdefinition", "question_dataset_definitions"),
    ("question_dataset_items", "definition", "question_dataset_definitions"),
    ("question_multianswer", "question", "question"),
    ("question_ddwtos", "questionid", "question"),
    ("question_gapselect", "questionid", "question"),
    ("qtype_ddimageortext", "questionid", "question"),
    ("qtype_ddimageortext_drags", "questionid", "question"),
    ("qtype_ddimageortext_drops", "questionid", "question"),
    ("qtype_ddmarker", "questionid", "question"),
    ("qtype_ddmarker_drags", "questionid", "question"),
    ("qtype_ddmarker_drops", "questionid", "question"),
    ("quiz_slots", "quizid", "quiz"),
    ("quiz_sections", "quizid", "quiz"),
    ("quiz_feedback", "quizid", "quiz"),
    ("quiz_grades", "quiz", "quiz"),
    ("question_references", "itemid", "quiz_slots"),
    ("question_references", "questionbankentryid", "question_bank_entries"),
    ("question_references", "usingcontextid", "context"),
    ("question_set_references", "itemid", "quiz_slots"),
    ("question_set_references", "usingcontextid", "context"),
    ("question_set_references", "questionscontextid", "context"),
    ("quiz_attempts", "quiz", "quiz"),
    ("quiz_attempts", "uniqueid", "question_usages"),
    ("quiz_attempts", "userid", "user"),
    ("question_usages", "contextid", "context"),
    ("question_attempts", "questionusageid", "question_usages"),
    ("question_attempts", "questionid", "question"),
    ("question_attempt_steps", "questionattemptid", "question_attempts"),
    ("question_attempt_step_data", "attemptstepid", "question_attempt_steps"),
]

#: Columns where 0 means "none" (a root category, a question that is no child).
ZERO_IS_NONE = {("question_categories", "parent"), ("question", "parent")}


def _oracle(item: str) -> dict:
    with gzip.open(ORACLE / (item.replace("/", "__") + ".json.gz")) as stream:
        return json.load(stream)


_restored: dict[str, tuple] = {}


def _restore(item: str, tmp_path_factory) -> tuple:
    if item not in _restored:
        folder = tmp_path_factory.mktemp("quiz")
        database = folder / "site.db"
        report = mbx.restore.restore(str(FIXTURES / item), f"sqlite:{database}")
        _restored[item] = (report, sqlite3.connect(database))
    return _restored[item]


def _ours(item: str) -> bool:
    return any(name.startswith(PREFIXES) for name in _oracle(item)["tables"])


@pytest.mark.parametrize("item", ITEMS)
def test_row_counts_match_moodle(item, tmp_path_factory):
    report, _ = _restore(item, tmp_path_factory)
    oracle = _oracle(item)["tables"]
    expected = {table: len(rows) for table, rows in oracle.items() if table.startswith(PREFIXES) and rows}
    written = {table: count for table, count in report.rows.items() if table.startswith(PREFIXES) and count}
    assert written == expected


@pytest.mark.parametrize("item", ITEMS)
def test_categories_sit_in_contexts_of_the_same_levels(item, tmp_path_factory):
    _, db = _restore(item, tmp_path_factory)
    oracle = _oracle(item)
    levels = {1: 10, 3: 40}  # the pristine site's system and category contexts
    levels.update({row["id"]: row["contextlevel"] for row in oracle["tables"].get("context", [])})
    expected = Counter((levels[row["contextid"]], row["name"] == "top", row["parent"] == 0)
                       for row in oracle["tables"].get("question_categories", []))
    got = Counter(db.execute(
        "SELECT x.contextlevel, c.name = 'top', c.parent = 0 FROM mdl_question_categories c "
        "JOIN mdl_context x ON x.id = c.contextid").fetchall())
    assert got == Counter({(level, bool(top), bool(root)): n for (level, top, root), n in expected.items()})


@pytest.mark.parametrize("item", ITEMS)
def test_every_reference_lands_on_a_restored_row(item, tmp_path_factory):
    _, db = _restore(item, tmp_path_factory)
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    checked = 0
    for table, column, target in REFERENCES:
        if f"mdl_{table}" not in tables:
            continue
        skip_zero = " AND t.{c} <> 0".format(c=column) if (table, column) in ZERO_IS_NONE else ""
        dangling = db.execute(
            f'SELECT t.id, t."{column}" FROM mdl_{table} t LEFT JOIN mdl_{target} r ON r.id = t."{column}" '
            f'WHERE t."{column}" IS NOT NULL AND r.id IS NULL{skip_zero.replace("{c}", column)}').fetchall()
        assert dangling == [], f"{table}.{column} -> {target}"
        checked += db.execute(f"SELECT count(*) FROM mdl_{table}").fetchone()[0]
    if _ours(item):
        assert checked > 0


@pytest.mark.parametrize("item", ITEMS)
def test_slots_refer_to_their_own_quiz_and_module(item, tmp_path_factory):
    """A reference's context is the module context of the slot's quiz, and a set
    reference's category is a category of this restore."""
    _, db = _restore(item, tmp_path_factory)
    for table in ("question_references", "question_set_references"):
        wrong = db.execute(
            f"SELECT r.id FROM mdl_{table} r JOIN mdl_quiz_slots s ON s.id = r.itemid "
            "JOIN mdl_course_modules cm ON cm.instance = s.quizid "
            "JOIN mdl_modules m ON m.id = cm.module AND m.name = 'quiz' "
            "LEFT JOIN mdl_context x ON x.contextlevel = 70 AND x.instanceid = cm.id "
            "WHERE x.id IS NULL OR x.id <> r.usingcontextid").fetchall()
        assert wrong == [], table
    categories = {row[0] for row in db.execute("SELECT id FROM mdl_question_categories")}
    for (text,) in db.execute("SELECT filtercondition FROM mdl_question_set_references"):
        condition = json.loads(text)
        category = condition.get("questioncategoryid") or condition["filter"]["category"]["values"][0]
        assert int(category) in categories


def test_question_usages_and_attempts_follow_moodle(tmp_path_factory):
    """``question_attempts_missing_users``: two attempts of users not in the backup are
    left out but their usages stay (Moodle's orphan usages); grades of missing users
    keep userid 0."""
    item = ITEMS[0]
    _, db = _restore(item, tmp_path_factory)
    oracle = _oracle(item)["tables"]
    assert db.execute("SELECT count(*) FROM mdl_question_usages WHERE id NOT IN "
                      "(SELECT uniqueid FROM mdl_quiz_attempts)").fetchone()[0] == 2
    assert sorted(row["userid"] for row in oracle["quiz_grades"]) == \
        sorted(row[0] for row in db.execute("SELECT userid FROM mdl_quiz_grades"))
    assert sorted((row["name"], row["value"]) for row in oracle["question_attempt_step_data"]) == \
        sorted(db.execute("SELECT name, value FROM mdl_question_attempt_step_data").fetchall())


def test_unknown_question_types_are_kept_and_their_data_kept_raw(tmp_path_factory):
    """STACK is no core type: its questions are ``question`` rows of qtype ``stack``
    (as in Moodle's rows) and ``questions.xml`` is kept raw for the type's own data."""
    item = "maths__moodle-qtype_stack/STACK-syntax-quiz.mbz"
    report, db = _restore(item, tmp_path_factory)
    oracle = Counter(row["qtype"] for row in _oracle(item)["tables"]["question"])
    assert Counter(dict(db.execute("SELECT qtype, count(*) FROM mdl_question GROUP BY qtype"))) == oracle
    assert oracle["stack"] > 0
    kept = [raw for raw in report.kept_raw if raw.member == "questions.xml"]
    assert len(kept) == 1 and "stack" in kept[0].reason
    data = b"".join(row[0] for row in db.execute(
        "SELECT data FROM mdl_mbx_raw_members WHERE member = 'questions.xml' ORDER BY part"))
    assert b"<plugin_qtype_stack_question>" in data


@pytest.mark.parametrize("item", ITEMS + ["marcusgreen__moodle-qtype_gapfill/gapfill_example_course.mbz"])
def test_question_files_get_their_rows(item, tmp_path_factory):
    """Files of questions (in the bank's context) and of attempts (in the quiz's): the
    same areas, as many rows, at the same context levels as Moodle's."""
    _, db = _restore(item, tmp_path_factory)
    oracle = _oracle(item)["tables"]
    levels = {1: 10, 3: 40}
    levels.update({row["id"]: row["contextlevel"] for row in oracle.get("context", [])})
    expected = Counter((row["component"], row["filearea"], levels[row["contextid"]])
                       for row in oracle.get("files", [])
                       if row["component"] == "question" or row["component"].startswith("qtype_"))
    got = Counter(db.execute(
        "SELECT f.component, f.filearea, x.contextlevel FROM mdl_files f JOIN mdl_context x ON x.id = f.contextid "
        "WHERE f.component = 'question' OR f.component LIKE 'qtype\\_%' ESCAPE '\\'").fetchall())
    assert got == expected
