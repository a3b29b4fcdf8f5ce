"""prune-questions: the question bank cut down to what the backup's quizzes use.

A course backup carries whole question banks (Moodle annotates every category
of each context a quiz draws from), often far more than its quizzes hold. This
keeps what restore needs for the quizzes (their slots point into the bank):

* the questions quiz slots name: a 4.0+ ``question_reference`` names a bank
  entry (kept with all its versions), a pre-4.0 slot its question
  (``questionid``, or ``question`` in 2.x, and the quiz's legacy ``questions``
  list), and every question an attempt used (``question_attempt/questionid``);
* for a random slot, its whole category, with the categories below it when
  the slot includes subcategories: a 4.0+ ``question_set_reference`` (its
  ``filtercondition`` JSON, before and after 4.3), a 3.x slot's own
  ``questioncategoryid``, or a pre-4.0 slot naming a ``random`` question
  (whose ``questiontext`` 1 means "and subcategories");
* the categories any other module's ``inforef.xml`` names, whole: modules other
  than the quiz that use questions (StudentQuiz, 5.0's qbank) say which
  categories only that way, so they are taken to use every question in them;
* what a kept question needs: the questions of its bank entry, its parent and
  its children (a cloze question's subquestions), the category of a shared
  calculated dataset, the categories above each kept category (the tree), and
  the ``top`` category of every context.

The rest goes: whole categories through the closure (``question_category``
ids, out of ``questions.xml`` and every inforef), single questions (pre-4.0)
or bank entries (4.0+) inside kept categories by rewrite rules, and the files
of every dropped question (the areas the declarations give, keyed by the
question, its answers, hints, drags or subquestions; an undeclared area of a
``qtype_<name>`` component is taken as keyed by the question id when that
question is of type ``<name>``) with their blobs. The quizzes themselves are
not touched.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from typing import Any

from mbx.moodle2 import questions as declared
from mbx.moodle2.files import QUESTION_TYPE_PREFIX, is_question_file
from mbx.moodle2.members import QUESTIONS
from mbx.moodle2.modules import facts as module_facts
from mbx.transform.base import Facts, Transform
from mbx.transform.pipeline import run

__all__ = ["PruneQuestions", "prune_questions"]

CATEGORY = f"{declared.ROOT}/{declared.CATEGORY.path}"
ENTRY = f"{declared.ROOT}/{declared.ENTRY.path}"
#: Where a question sits, in each layout.
LAYOUTS = (f"{declared.ROOT}/{declared.LAYOUT_40}", f"{declared.ROOT}/{declared.LAYOUT_PRE40}")
PRE40_QUESTION = f"{declared.ROOT}/{declared.LAYOUT_PRE40}"
#: A file's itemid is the question's own id (the question's text and feedback areas).
BY_QUESTION = "question_created"
#: Other modules' inforefs (a quiz's uses are read from its slots instead).
OTHER_INFOREF = r"activities/(?!quiz_)[a-z0-9]+_\d+/inforef\.xml"
QUIZ_DOCUMENT = r"activities/quiz_\d+/quiz\.xml"
#: A top category (3.5+): the root of a context's tree.
TOP_NAME = "top"


def _quiz_paths() -> dict[str, str]:
    """The quiz document's paths this reads, by the table each element fills."""
    quiz = module_facts("quiz")
    step = quiz.step()
    return {element.table: step.absolute(element) for element in step.elements
            if element.table in ("quiz", "quiz_slots", "question_references",
                                 "question_set_references", "question_attempts")}


def _file_areas() -> dict[tuple[str, str], str]:
    """(component, file area) of the question bank -> what its itemid is: the
    question's id (:data:`BY_QUESTION`) or the id of a part (``question_answer``...)."""
    areas = {}
    for element in declared.QUESTIONS_STEP.elements:
        for area in element.files:
            component, _, name = area.rpartition("/")
            areas[(component, name)] = element.files_by or BY_QUESTION
    return areas


def _part_paths() -> dict[str, str]:
    """Absolute path of each question part owning files by its own id -> that kind."""
    paths = {}
    for element in declared.QUESTIONS_STEP.elements:
        if element.files and element.files_by not in (None, BY_QUESTION) and element.kind is None:
            paths[f"{declared.ROOT}/{element.path}"] = element.files_by
    return paths


def _category_refs() -> list[tuple[str, str]]:
    """(absolute path, leaf) of question parts naming a category (a shared dataset)."""
    found = []
    for part in declared.QUESTION_PARTS:
        for column, target in part.references().items():
            if target.kind == "question_category":
                found += [(f"{layout}/{part.path}", column) for layout in LAYOUTS]
    return found


def _flag(value: Any) -> bool:
    return value in (True, 1, "1", "true")


def random_categories(filtercondition: str | None) -> list[tuple[str, bool]]:
    """The (category id, with subcategories) a random slot's ``filtercondition`` draws
    from: 4.0-4.2 ``questioncategoryid``/``includingsubcategories``, 4.3+
    ``filter.category.values``/``filteroptions.includesubcategories`` (and ``cat``)."""
    try:
        condition = json.loads(filtercondition) if filtercondition else None
    except ValueError:
        return []
    if not isinstance(condition, dict):
        return []
    found = []
    if condition.get("questioncategoryid") not in (None, "", 0, "0"):
        found.append((str(condition["questioncategoryid"]),
                      _flag(condition.get("includingsubcategories"))))
    chosen = condition.get("filter")
    category = chosen.get("category") if isinstance(chosen, dict) else None
    if isinstance(category, dict):
        options = category.get("filteroptions")
        below = _flag(options.get("includesubcategories")) if isinstance(options, dict) else False
        values = category.get("values")
        found += [(str(value), below) for value in values or () if value not in (None, "")] \
            if isinstance(values, list) else []
    if isinstance(condition.get("cat"), str) and not found:
        found.append((condition["cat"].split(",", 1)[0], False))
    return found


class _Bank:
    """The question bank as the survey found it."""

    def __init__(self) -> None:
        #: category id -> (contextid, parent id, name)
        self.categories: dict[str, tuple[str | None, str | None, str | None]] = {}
        #: question id -> (category id, entry id or None, parent id, qtype, questiontext)
        self.questions: dict[str, tuple[str, str | None, str | None, str | None, str | None]] = {}
        self.entry_questions: dict[str, set[str]] = {}
        self.entry_category: dict[str, str] = {}
        #: (part kind, part id) -> question id
        self.parts: dict[tuple[str, str], str] = {}
        #: question id -> categories its parts name
        self.needs: dict[str, set[str]] = {}
        self._category = ""
        self._entry: str | None = None
        self._question = ""

    def category(self, record: dict) -> None:
        self._category, self._entry = record.get("id") or "", None
        self.categories[self._category] = (record.get("contextid"), record.get("parent"),
                                           record.get("name"))

    def entry(self, record: dict) -> None:
        self._entry = record.get("id") or ""
        self.entry_questions.setdefault(self._entry, set())
        self.entry_category[self._entry] = self._category

    def question(self, layout: str):
        def note(record: dict) -> None:
            entry = self._entry if layout != PRE40_QUESTION else None
            self._question = record.get("id") or ""
            self.questions[self._question] = (self._category, entry, record.get("parent"),
                                              record.get("qtype"), record.get("questiontext"))
            if entry is not None:
                self.entry_questions[entry].add(self._question)
        return note

    def part(self, kind: str):
        def note(record: dict) -> None:
            if record.get("id"):
                self.parts[(kind, record["id"])] = self._question
        return note

    def needing(self, leaf: str):
        def note(record: dict) -> None:
            value = record.get(leaf)
            if value and value != "0":
                self.needs.setdefault(self._question, set()).add(value)
        return note

    def children(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for question, (_, _, parent, _, _) in self.questions.items():
            if parent and parent != "0" and parent != question:
                found.setdefault(parent, set()).add(question)
        return found

    def below(self, category: str) -> set[str]:
        """``category`` and every category under it."""
        children: dict[str, set[str]] = {}
        for child, (_, parent, _) in self.categories.items():
            children.setdefault(parent or "", set()).add(child)
        found, pending = set(), [category]
        while pending:
            current = pending.pop()
            if current not in found:
                found.add(current)
                pending += children.get(current, ())
        return found


class PruneQuestions(Transform):
    """Drops the questions and categories no quiz uses; see the module docstring."""

    name = "prune-questions"

    def __init__(self) -> None:
        self.bank = _Bank()
        self.used_entries: set[str] = set()
        self.used_questions: set[str] = set()
        #: (category id, with subcategories) drawn from by random slots or other modules
        self.whole: set[tuple[str, bool]] = set()
        self.kept_questions: set[str] = set()
        self.kept_categories: set[str] = set()
        self.kept_entries: set[str] = set()
        self.counts: dict[str, int] = {}

    # -- pass 1 ------------------------------------------------------------------------
    def survey(self, facts: Facts):
        found = self.bank
        yield QUESTIONS, CATEGORY, found.category
        yield QUESTIONS, ENTRY, found.entry
        for layout in LAYOUTS:
            yield QUESTIONS, layout, found.question(layout)
        for path, kind in _part_paths().items():
            yield QUESTIONS, path, found.part(kind)
        for path, leaf in _category_refs():
            yield QUESTIONS, path, found.needing(leaf)
        quiz, other = re.compile(QUIZ_DOCUMENT), re.compile(OTHER_INFOREF)
        paths = _quiz_paths()
        yield quiz, paths["quiz"], self._legacy_layout
        yield quiz, paths["quiz_slots"], self._slot
        yield quiz, paths["question_references"], lambda record: self.used_entries.add(
            record.get("questionbankentryid") or "")
        yield quiz, paths["question_set_references"], lambda record: self.whole.update(
            random_categories(record.get("filtercondition")))
        yield quiz, paths["question_attempts"], lambda record: self.used_questions.add(
            record.get("questionid") or "")
        yield other, "/inforef/question_categoryref/question_category", lambda record: \
            self.whole.add((record.get("id") or "", False))

    def _legacy_layout(self, record: dict) -> None:
        """A 2.x quiz lists its questions (page breaks as 0) in ``questions``."""
        self.used_questions.update(question for question in (record.get("questions") or "").split(",")
                                   if question.strip() not in ("", "0"))

    def _slot(self, record: dict) -> None:
        category = record.get("questioncategoryid")
        if category and category != "0":  # a 3.x random slot
            self.whole.add((category, _flag(record.get("includingsubcategories"))))
        question = record.get("questionid") or record.get("question")
        if question:
            self.used_questions.add(question)

    # -- the choice --------------------------------------------------------------------
    def prepare(self, facts: Facts) -> None:
        found = self.bank
        questions = found.questions
        whole = set(self.whole)
        for question in self.used_questions & set(questions):
            category, _, _, qtype, text = questions[question]
            if qtype == "random":  # a pre-4.0 random slot: its category, 1 = and below
                whole.add((category, (text or "").strip() == "1"))
        drawn = set()
        for category, below in whole:
            if category in found.categories:
                drawn |= found.below(category) if below else {category}
        seeds = set(self.used_questions)
        for entry in self.used_entries:
            seeds |= found.entry_questions.get(entry, set())
        seeds |= {question for question, (category, *_) in questions.items() if category in drawn}
        self.kept_questions = kept = self._needed(seeds)
        categories = drawn | {questions[question][0] for question in kept}
        for question in kept:
            categories |= found.needs.get(question, set()) & set(found.categories)
        self.kept_categories = self._with_tree(categories)
        self.kept_entries = {entry for entry, members in found.entry_questions.items()
                             if members & kept}
        removed = set(found.categories) - self.kept_categories
        facts.remove("question_category", removed)
        dropped = set(questions) - kept
        files = list(self._files_of(dropped, facts))
        facts.remove("file", files)
        self.counts = {"categories_removed": len(removed), "questions_removed": len(dropped),
                       "files_removed": len(files)}

    def _needed(self, seeds: Iterable[str]) -> set[str]:
        """The questions ``seeds`` need: themselves, the other versions of their bank
        entries, their parents and their children, and so on."""
        questions, entries = self.bank.questions, self.bank.entry_questions
        children = self.bank.children()
        kept: set[str] = set()
        pending = list(seeds)
        while pending:
            question = pending.pop()
            if question in kept or question not in questions:
                continue
            kept.add(question)
            _, entry, parent, _, _ = questions[question]
            if entry is not None:
                pending += entries.get(entry, ())
            if parent and parent != question:
                pending.append(parent)
            pending += children.get(question, ())
        return kept

    def _with_tree(self, categories: set[str]) -> set[str]:
        """``categories``, the categories above them, and every context's top."""
        known = self.bank.categories
        kept = {category for category, (_, parent, name) in known.items()
                if (parent or "0") == "0" and name == TOP_NAME}
        for category in categories:
            while category in known and category not in kept:
                kept.add(category)
                category = known[category][1] or "0"
        return kept

    def _files_of(self, dropped: set[str], facts: Facts) -> Iterable[str]:
        """The ids of the files of the dropped questions."""
        found = self.bank
        areas = _file_areas()
        for file_id, (_, contextid, component, filearea, itemid, _) in facts.files.records.items():
            if not is_question_file(component):
                continue
            kind = areas.get((component, filearea))
            if kind == BY_QUESTION:
                question = itemid
            elif kind is not None:
                question = found.parts.get((kind, itemid))
            elif component.startswith(QUESTION_TYPE_PREFIX):
                # an area mbx does not declare: a question type's own, keyed by the question
                question = itemid if found.questions.get(itemid, (None,) * 4)[3] == \
                    component[len(QUESTION_TYPE_PREFIX):] else None
            else:
                continue  # the question engine's areas (attempt responses): the quiz's
            if question in dropped:
                category = found.questions[question][0]
                if found.categories.get(category, (None,))[0] == contextid:
                    yield file_id

    # -- pass 2 ------------------------------------------------------------------------
    def rewrites(self, name: str, facts: Facts):
        if name == QUESTIONS:
            yield ENTRY, self._entry
            yield PRE40_QUESTION, self._question

    def _entry(self, element) -> None:
        entry = element.get("id")
        if entry not in self.kept_entries and element.first and \
                self.bank.entry_category.get(entry) in self.kept_categories:
            element.drop()

    def _question(self, element) -> None:
        question = element.get("id")
        found = self.bank.questions.get(question)
        if question not in self.kept_questions and element.first and found is not None \
                and found[0] in self.kept_categories:
            element.drop()

    def report(self) -> dict[str, Any]:
        return dict(self.counts)


def prune_questions(source: str | os.PathLike, output: str | os.PathLike, *, format: str = "tgz",
                    progress=None):
    """Writes ``output``: ``source`` without the questions and categories no quiz uses."""
    return run(source, output, [PruneQuestions()], format=format, progress=progress)
