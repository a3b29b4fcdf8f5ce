"""prune-questions: the question bank cut down to what the quizzes use.

On every corpus backup holding questions, the output is checked against what
an independent reading of the input (lxml) says the quizzes use: the questions
kept are exactly those (with what they need: their entries' other versions,
their parents and children, the categories random slots and other modules draw
from), the categories form a tree, the files of the dropped questions are gone
and those of the kept ones stay, ``mbx verify`` finds nothing the input does
not have and ``mbx ls`` counts what is left.
"""

from __future__ import annotations

import json
import re
import tarfile
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from conftest import FIXTURES
from corpus import items, xml_members
from mbx.inspect import summarize
from mbx.transform.questions import prune_questions, random_categories
from mbx.verification import verify

VERDICTS = {entry["item"]: entry for entry in
            json.loads((Path(__file__).parent / "verify_verdicts.json").read_text())}
LAYOUT_40 = "question_bank_entries/question_bank_entry/question_version/question_versions/questions/question"
LAYOUT_PRE40 = "questions/question"
QUIZ = re.compile(r"activities/quiz_\d+/quiz\.xml")
OTHER_INFOREF = re.compile(r"activities/([a-z0-9]+)_\d+/inforef\.xml")
#: File areas keyed by the question's own id (component question).
QUESTION_AREAS = {"questiontext", "generalfeedback", "correctfeedback", "partiallycorrectfeedback",
                  "incorrectfeedback"}
#: (component, area) -> the element below the question whose id keys the area.
PART_AREAS = {("question", "answer"): ".//answers/answer",
              ("question", "answerfeedback"): ".//answers/answer",
              ("question", "hint"): "question_hints/question_hint",
              ("qtype_ddimageortext", "dragimage"): ".//drags/drag",
              ("qtype_match", "subquestion"): ".//matches/match"}


def read_xml(path: Path) -> dict[str, etree._Element]:
    return {name: etree.fromstring(data) for name, data in xml_members(str(path))}


def member_names(path: Path) -> set[str]:
    """Every file member's name."""
    if path.is_dir():
        return {str(file.relative_to(path)) for file in path.rglob("*") if file.is_file()}
    if tarfile.is_tarfile(path):
        with tarfile.open(path, "r:gz") as archive:
            return {member.name.removeprefix("./") for member in archive if member.isfile()}
    with zipfile.ZipFile(path) as archive:
        return {name.removeprefix("./") for name in archive.namelist() if not name.endswith("/")}


def is_record(element) -> bool:
    """Whether Moodle's parser delivers the element as a record (it has a leaf; format §7.2)."""
    return any(len(child) == 0 for child in element)


def with_questions() -> list[str]:
    found = []
    for item in items():
        for name, data in xml_members(item):
            if name == "questions.xml" and b"<question " in data:
                found.append(item)
    return found


class Bank:
    """The question bank of one backup, and what its quizzes use, read with lxml."""

    def __init__(self, xml: dict) -> None:
        root = xml.get("questions.xml")
        self.categories = {}
        self.questions: dict[str, etree._Element] = {}
        self.category_of, self.entry_of, self.entries = {}, {}, {}
        category_id = None
        for category in root.iterfind("question_category") if root is not None else ():
            # as Moodle's parser has it: a category element that is no record (no leaf)
            # is not seen, and what it holds goes to the category before it
            if is_record(category):
                category_id = category.get("id")
                self.categories[category_id] = category
            for question in category.iterfind(LAYOUT_PRE40):
                self.questions[question.get("id")] = question
                self.category_of[question.get("id")] = category_id
            for entry in category.iterfind("question_bank_entries/question_bank_entry"):
                members = self.entries.setdefault(entry.get("id"), set())
                for question in entry.iterfind("question_version/question_versions/questions/question"):
                    self.questions[question.get("id")] = question
                    self.category_of[question.get("id")] = category_id
                    self.entry_of[question.get("id")] = entry.get("id")
                    members.add(question.get("id"))
        self.used_entries, self.used_questions, self.drawn = set(), set(), set()
        for name, document in xml.items():
            if QUIZ.fullmatch(name):
                self._read_quiz(document)
            match = OTHER_INFOREF.fullmatch(name)
            if match and match.group(1) != "quiz":
                self.drawn |= {(node.text, False) for node in
                               document.iterfind("question_categoryref/question_category/id")}

    def _read_quiz(self, document) -> None:
        quiz = document.find("quiz")
        self.used_questions |= set((quiz.findtext("questions") or "").split(",")) - {"", "0"}
        for slot in quiz.iterfind("question_instances/question_instance"):
            question = slot.findtext("questionid") or slot.findtext("question")
            if question:
                self.used_questions.add(question)
                found = self.questions.get(question)
                if found is not None and found.findtext("qtype") == "random":
                    self.drawn.add((self.category_of[question], found.findtext("questiontext") == "1"))
            if slot.findtext("questioncategoryid") not in (None, "", "0"):
                self.drawn.add((slot.findtext("questioncategoryid"),
                                slot.findtext("includingsubcategories") == "1"))
            self.used_entries |= {r.findtext("questionbankentryid")
                                  for r in slot.iterfind("question_reference")}
            for reference in slot.iterfind("question_set_reference"):
                condition = json.loads(reference.findtext("filtercondition"))
                if "questioncategoryid" in condition:
                    self.drawn.add((str(condition["questioncategoryid"]),
                                    str(condition.get("includingsubcategories")) in ("1", "True")))
                else:
                    options = condition["filter"]["category"]
                    self.drawn |= {(str(value), bool(options["filteroptions"]["includesubcategories"]))
                                   for value in options["values"]}
        self.used_questions |= {a.findtext("questionid") for a in quiz.iterfind(
            "attempts/attempt/question_usage/question_attempts/question_attempt")}

    def below(self, category: str) -> set[str]:
        found = {category}
        while True:
            more = {c for c, node in self.categories.items() if node.findtext("parent") in found}
            if more <= found:
                return found
            found |= more

    def drawn_categories(self) -> set[str]:
        found = set()
        for category, subcategories in self.drawn:
            if category in self.categories:
                found |= self.below(category) if subcategories else {category}
        return found

    def expected_questions(self) -> set[str]:
        """The quizzes' questions and what they need, to a fixpoint."""
        kept = {q for q in self.used_questions if q in self.questions}
        for entry in self.used_entries:
            kept |= self.entries.get(entry, set())
        drawn = self.drawn_categories()
        kept |= {q for q, category in self.category_of.items() if category in drawn}
        while True:
            more = set(kept)
            for question in kept:
                more |= self.entries.get(self.entry_of.get(question), set())
                parent = self.questions[question].findtext("parent")
                if parent in self.questions:
                    more.add(parent)
            more |= {q for q, node in self.questions.items() if node.findtext("parent") in kept}
            if more == kept:
                return kept
            kept = more

    def owner(self, file) -> str | None:
        """The question a bank file belongs to (None: not a question's own file)."""
        component, area, item = (file.findtext("component"), file.findtext("filearea"),
                                 file.findtext("itemid"))
        if (component, area) in PART_AREAS:
            for question_id, question in self.questions.items():
                if item in {node.get("id") for node in question.iterfind(PART_AREAS[(component, area)])}:
                    return question_id
            return None
        if component == "question":
            return item if area in QUESTION_AREAS else None
        if component.startswith("qtype_") and item in self.questions:
            # a question type's other areas are keyed by the question (of that type)
            return item if self.questions[item].findtext("qtype") == component[6:] else None
        return None


ITEMS = with_questions()


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("prune")
    made = {}
    for number, item in enumerate(ITEMS):
        made[item] = (root / f"{number}.mbz", prune_questions(FIXTURES / item, root / f"{number}.mbz"))
    return made


def test_the_corpus_has_what_pruning_is_about():
    assert len(ITEMS) >= 30
    kinds = set()
    for item in ITEMS:
        bank = Bank(read_xml(FIXTURES / item))
        kinds |= {"references"} if bank.used_entries else set()
        kinds |= {"random"} if bank.drawn else set()
        kinds |= {"prunable"} if set(bank.questions) - bank.expected_questions() else set()
    assert kinds == {"references", "random", "prunable"}


@pytest.mark.parametrize("item", ITEMS, ids=[item.split("/")[-1][:40] for item in ITEMS])
def test_prune_keeps_what_the_quizzes_use(outputs, item):
    source = FIXTURES / item
    output, report = outputs[item]
    xml_in, xml_out = read_xml(source), read_xml(output)
    before, after = Bank(xml_in), Bank(xml_out)
    expected = before.expected_questions()

    assert {p.code for p in verify(output).errors} <= set(VERDICTS[item]["errors"])
    # every question a quiz references is kept; nothing else but what they need
    referenced = {q for q in before.used_questions if q in before.questions}
    for entry in before.used_entries:
        referenced |= before.entries.get(entry, set())
    assert referenced <= set(after.questions)
    assert set(after.questions) == expected
    assert report.details["prune-questions"]["questions_removed"] == len(before.questions) - len(expected)
    # kept questions are the input's, byte for byte; the quizzes are untouched
    for question_id, question in after.questions.items():
        assert etree.tostring(question, with_tail=False) == \
            etree.tostring(before.questions[question_id], with_tail=False)
    for name in xml_in:
        if QUIZ.fullmatch(name):
            assert etree.tostring(xml_out[name]) == etree.tostring(xml_in[name])
    # categories: those holding kept questions or drawn from, the tree above them, the tops
    kept_categories = set(after.categories)
    assert {after.category_of[q] for q in after.questions} | before.drawn_categories() <= kept_categories
    for category in kept_categories:
        node = after.categories[category]
        parent = node.findtext("parent")
        assert parent in ("0", None, "") or parent in kept_categories or parent not in before.categories
        holds = any(after.category_of[q] == category for q in after.questions)
        above = any(after.categories[c].findtext("parent") == category for c in kept_categories)
        top = parent in ("0", None, "") and node.findtext("name") == "top"
        assert holds or above or top or category in before.drawn_categories(), category
    assert {c for c, node in before.categories.items() if node.findtext("parent") == "0"
            and node.findtext("name") == "top"} <= kept_categories
    # files: the dropped questions' are gone, with blobs no other record needs; the others stay
    files_in = {f.get("id"): f for f in xml_in["files.xml"].iterfind("file")} if "files.xml" in xml_in else {}
    files_out = {f.get("id") for f in xml_out["files.xml"].iterfind("file")} if files_in else set()
    gone = set()
    for file_id, file in files_in.items():
        owner = before.owner(file)
        if owner is None or owner not in before.questions:
            assert file_id in files_out, file_id
        elif owner in expected:
            assert file_id in files_out, file_id
        elif file.findtext("contextid") == before.categories[before.category_of[owner]].findtext("contextid"):
            assert file_id not in files_out, file_id
            gone.add(file_id)
    assert files_out == set(files_in) - gone
    names_in, names_out = member_names(source), member_names(output)
    needed = {f"files/{h[:2]}/{h}" for file_id in files_out
              for h in [files_in[file_id].findtext("contenthash")] if h}
    assert {n for n in names_out if n.startswith("files/")} == needed & names_in
    # mbx ls counts what is left
    counts = summarize(output)["counts"]
    assert counts["questions"] == len(expected)
    assert counts["question_categories"] == len(kept_categories)


@pytest.mark.parametrize("condition,drawn", [
    ('{"questioncategoryid":"12","includingsubcategories":"1"}', [("12", True)]),
    ('{"questioncategoryid":12,"includingsubcategories":0}', [("12", False)]),
    ('{"filter":{"category":{"jointype":1,"values":["7"],"filteroptions":'
     '{"includesubcategories":true}}},"cat":"7,30"}', [("7", True)]),
    ('{"cat":"9,30"}', [("9", False)]),
    ("not json", []), ("[1, 2]", []), (None, []),
])
def test_a_random_slot_draws_from_the_categories_its_condition_names(condition, drawn):
    assert random_categories(condition) == drawn


# -- restored: the quizzes as before, with a smaller bank ------------------------------------

RESTORED = ["ngandrass__moodle-quiz_archiver/referencequiz.mbz",
            "moodle__moodle/moodle_311_quiz.mbz",
            "marcusgreen__moodle-qtype_gapfill/gapfill_example_course.mbz",
            "instructure__moodle2cc/moodle2-backup"]
#: Rows only the question bank (and its files and tags) holds: fewer after pruning.
BANK_TABLES = ("question", "qtype_", "files", "tag")
#: References from the quizzes into the bank that find nothing there.
DANGLING = {
    "question_references": "SELECT COUNT(*) FROM mdl_question_references r LEFT JOIN "
                           "mdl_question_bank_entries e ON e.id = r.questionbankentryid WHERE e.id IS NULL",
    "question_attempts": "SELECT COUNT(*) FROM mdl_question_attempts a LEFT JOIN mdl_question q "
                         "ON q.id = a.questionid WHERE q.id IS NULL",
    "question_versions": "SELECT COUNT(*) FROM mdl_question_versions v LEFT JOIN mdl_question q "
                         "ON q.id = v.questionid WHERE q.id IS NULL",
}


@pytest.mark.parametrize("item", RESTORED, ids=[item.split("/")[-1][:40] for item in RESTORED])
def test_the_pruned_backup_restores_the_same_quizzes(tmp_path, item):
    import sqlite3

    import mbx.restore
    source = FIXTURES / item
    prune_questions(source, tmp_path / "pruned.mbz")
    for name, archive in (("pruned", tmp_path / "pruned.mbz"), ("whole", source)):
        mbx.restore.restore(archive, f"sqlite:{tmp_path / name}.db", files=str(tmp_path / name))
    pruned, whole = (sqlite3.connect(tmp_path / f"{name}.db") for name in ("pruned", "whole"))
    try:
        def counts(db):
            return {table: db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
                    for table, in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        mine, theirs = counts(pruned), counts(whole)
        for table in sorted(set(mine) | set(theirs)):
            if table.removeprefix("mdl_").startswith(BANK_TABLES) and table not in (
                    "mdl_question_references", "mdl_question_set_references", "mdl_question_usages",
                    "mdl_question_attempts", "mdl_question_attempt_steps",
                    "mdl_question_attempt_step_data"):
                assert mine.get(table, 0) <= theirs.get(table, 0), table
            elif table != "sqlite_sequence":
                assert mine.get(table, 0) == theirs.get(table, 0), table
        for what, query in DANGLING.items():
            assert pruned.execute(query).fetchone() == whole.execute(query).fetchone(), what
        slots = ("SELECT s.slot, s.page, s.maxmark, q.name FROM mdl_quiz_slots s JOIN mdl_quiz q "
                 "ON q.id = s.quizid ORDER BY q.name, s.slot")
        assert pruned.execute(slots).fetchall() == whole.execute(slots).fetchall()
    finally:
        pruned.close()
        whole.close()


def test_prune_composes_with_extract(tmp_path):
    """One pass: a quiz extracted from a course, its bank pruned. Each transform
    removes what it would alone (prune counts the uses of every quiz of the input:
    a transform does not see what another drops), and the output verifies."""
    from mbx.transform import run
    from mbx.transform.extract import Extract
    from mbx.transform.questions import PruneQuestions
    item = "maths__moodle-qtype_stack/STACK-demo.mbz"
    xml = read_xml(FIXTURES / item)
    quiz = next(name for name in sorted(xml) if QUIZ.fullmatch(name)
                and xml[name].find("quiz/question_instances/question_instance") is not None)
    cmid = int(quiz.split("/")[1].rsplit("_", 1)[1])
    run(FIXTURES / item, tmp_path / "out.mbz", [Extract(activity=cmid), PruneQuestions()])
    assert verify(tmp_path / "out.mbz").ok
    before, after = Bank(xml), Bank(read_xml(tmp_path / "out.mbz"))
    categories = {node.text for node in xml[quiz.replace("quiz.xml", "inforef.xml")].iterfind(
        "question_categoryref/question_category/id")}
    assert set(after.questions) == {q for q in before.expected_questions()
                                    if before.category_of[q] in categories}
    own = Bank({name: root for name, root in xml.items() if not QUIZ.fullmatch(name) or name == quiz})
    assert own.used_entries and own.used_entries <= set(after.entries)


def test_a_moodle1_backup_is_refused_and_nothing_written(tmp_path):
    from mbx.errors import FormatError
    with pytest.raises(FormatError) as error:
        prune_questions(FIXTURES / "moodle__moodle/moodle1-converter-fixtures", tmp_path / "out.mbz")
    assert error.value.code == "format-unsupported"
    assert list(tmp_path.iterdir()) == []


def test_a_broken_question_bank_is_refused_and_nothing_written(tmp_path):
    import shutil

    from mbx.errors import MbxError
    source = tmp_path / "backup"
    shutil.copytree(FIXTURES / "instructure__moodle2cc/moodle2-backup", source)
    text = (source / "questions.xml").read_bytes()
    (source / "questions.xml").write_bytes(text[:len(text) // 2])
    with pytest.raises(MbxError) as error:
        prune_questions(source, tmp_path / "out.mbz")
    assert error.value.code.startswith("xml-")
    assert {path.name for path in tmp_path.iterdir()} == {"backup"}


def test_a_backup_without_questions_comes_out_the_same(tmp_path):
    item = FIXTURES / "PoetOS__moodle-mod_questionnaire/backup-activity-questionnaire.mbz"
    report = prune_questions(item, tmp_path / "out.mbz")
    assert report.members_changed == 0 and report.members_dropped == 0
    assert report.details["prune-questions"] == {"categories_removed": 0, "questions_removed": 0,
                                                 "files_removed": 0}
