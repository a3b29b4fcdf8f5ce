"""The question bank (``questions.xml``): root steps 12–14 and the final task's part.

Moodle restores the bank in three root steps and one final one
(as Moodle 4.5 does):

* *load* (12): the categories some task references (``question_categoryref``);
* *map or create* (13): per bank (one per old context), each category is found
  by ``stamp`` in the bank's target context or marked to create; in a found
  category each question is found by its identity hash or created;
* *create* (14): one parse of ``questions.xml``, the categories and questions
  to create written with their entries, versions, hints, tags and type data,
  then parents fixed up (a category's parent, a question's parent, a
  multianswer's sequence of subquestions);
* *final*: module banks, restored first in the course context, move into the
  module contexts their activities now have.

Steps 12 and 13 are one cheap parse here (categories only), 14 is a declared
step (:data:`mbx.moodle2.questions.QUESTIONS_STEP`) whose hooks
(:mod:`mbx.restore.hooks.questions`) consult the :class:`QuestionBank` built
by 13. Question files need nothing of their own: the declarations register
their areas with the kinds their item ids map through (``question_created``,
``question_answer``, ``question_hint``...), and the final ``files`` step
writes them in the bank's context.

What is kept raw: when ``questions.xml`` holds questions of a type mbx does
not declare (their plugin data has no rows, as in Moodle on a site without
the plugin) or categories of activities kept raw, the whole member is kept
byte for byte in ``mbx_raw_members`` as well, so nothing is lost.
"""

from __future__ import annotations

import hashlib
import random
import string
import time
import urllib.parse
from typing import Any

from mbx.moodle2 import structure
from mbx.moodle2.members import QUESTIONS
from mbx.moodle2.modules import declaration
from mbx.moodle2.questions import QUESTIONS_STEP
from mbx.moodle2.models import as_int
from mbx.restore.engine import Task
from mbx.xml import Parser

__all__ = ["QuestionBank", "finish_question_bank", "restore_question_bank"]

#: Backups from Moodle 3.5 on (``backup_release``) give every bank a ``top`` category.
TOP_CATEGORIES_SINCE = (3, 5)

_STAMP_CHARS = string.ascii_letters + string.digits


class QuestionBank:
    """What steps 13 and 14 know about the bank being restored."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.before35 = _release(engine.info.backup_release or engine.info.moodle_release) < TOP_CATEGORIES_SINCE
        host = urllib.parse.urlsplit(engine.settings.wwwroot or "").hostname
        self.host = host or "unknownhost"
        self.plans: dict[str, tuple[str, int, int | None]] = {}   # old id -> (action, context, existing)
        self.category_info: dict[str, dict] = {}                  # old id -> category record
        self.tops: dict[int, int] = {}                            # context -> its top category
        self.category_context: dict[int, int] = {}                # new category -> context
        self.created_categories: list[tuple[int, str, int]] = []  # (new, old parent, context)
        self.created_questions: list[tuple[int, str]] = []        # (new, old parent)
        self.multianswers: list[tuple[int, str]] = []             # (row id, old sequence)
        self.module_banks: dict[str, list[int]] = {}              # old module context -> new categories
        self.created: set[int] = set()                            # categories this restore made
        self.tasks: dict[int, Task] = {}
        self.entry: dict | None = None                            # the 4.0 bank entry being read
        self.entry_new: int | None = None
        self.version: dict | None = None
        self.current: str | None = None                           # old id of the category being read
        self.entry_idnumbers: set[tuple[int, str]] = set()
        self.shared_definitions: dict[tuple[int, str, str], tuple[int, int]] = {}
        self.unknown_qtypes: set[str] = set()
        self.skipped_raw: set[str] = set()                        # categories of raw activities

    # -- contexts and tops -------------------------------------------------------------
    def task(self, context: int) -> Task:
        """A task whose context is a bank's: question tags are written there."""
        task = self.tasks.get(context)
        if task is None:
            task = self.tasks[context] = Task(kind="root", folder="", context=context,
                                              userinfo=self.engine.userinfo)
        return task

    def new_stamp(self) -> str:
        """A stamp as Moodle's ``make_unique_id_code`` writes it: host, time, six characters."""
        suffix = "".join(random.choice(_STAMP_CHARS) for _ in range(6))
        return f"{self.host}+{time.strftime('%y%m%d%H%M%S', time.gmtime(self.engine.now))}+{suffix}"

    def top(self, context: int) -> int:
        """The context's ``top`` category, found or created."""
        found = self.tops.get(context)
        if found is not None:
            return found
        engine = self.engine
        mark = engine.target.mark
        rows = engine.query(f"SELECT id FROM {engine.t('question_categories')} WHERE contextid = {mark} "
                            f"AND parent = 0 ORDER BY id", (context,))
        # created categories have parent 0 until fix_parents: they are no top
        found = next((row[0] for row in rows if row[0] not in self.created), None)
        if found is None:
            found = engine.insert("question_categories", {
                "name": "top", "contextid": context, "info": "", "infoformat": 0,
                "stamp": self.new_stamp(), "parent": 0, "sortorder": 0, "idnumber": None})
        self.tops[context] = found
        self.category_context[found] = context
        return found

    # -- step 13 -----------------------------------------------------------------------
    def target_context(self, record: dict, stamps_by_context: dict[str, set[str]]) -> int | None:
        """Where a bank's categories go: system banks to the system, course category
        banks to the one category context above the course holding their stamps (else
        the course), course and module banks to the new course."""
        engine = self.engine
        level = as_int(record.get("contextlevel"))
        if level == structure.SYSTEM_LEVEL:
            return engine.system_context
        if level == structure.CATEGORY_LEVEL:
            return self._category_bank_context(record, stamps_by_context)
        return engine.course_context

    def _category_bank_context(self, record: dict, stamps_by_context: dict[str, set[str]]) -> int:
        engine = self.engine
        stamps = sorted(stamps_by_context.get(record.get("contextid") or "", ()))
        path = [int(part) for part in engine.course_context_path.split("/") if part]
        found: set[int] = set()
        if stamps and path:
            mark = engine.target.mark
            rows = engine.query(
                f"SELECT DISTINCT c.contextid FROM {engine.t('question_categories')} c "
                f"JOIN {engine.t('context')} x ON x.id = c.contextid "
                f"WHERE x.contextlevel = {structure.CATEGORY_LEVEL} "
                f"AND c.contextid IN ({', '.join([mark] * len(path))}) "
                f"AND c.stamp IN ({', '.join([mark] * len(stamps))})", (*path, *stamps))
            found = {row[0] for row in rows}
        if len(found) == 1:
            return found.pop()
        old = record.get("contextid")
        if old and engine.ids.get("context", old) is None:
            engine.ids.set("context", old, engine.course_context)
            engine.report.warn("qcategory2coursefallback",
                               f"the questions of course category context {old} are restored "
                               "into the course's own bank", QUESTIONS)
        return engine.course_context

    def plan(self, categories: list[dict]) -> None:
        """Step 13 for the categories of step 12: map by stamp or create."""
        engine = self.engine
        mark = engine.target.mark
        stamps_by_context: dict[str, set[str]] = {}
        for record in categories:
            stamps_by_context.setdefault(record.get("contextid") or "", set()).add(record.get("stamp") or "")
        for record in categories:
            old = record.get("id") or ""
            self.category_info[old] = record
            context = self.target_context(record, stamps_by_context)
            if context is None:
                continue
            found = engine.query(f"SELECT id FROM {engine.t('question_categories')} "
                                 f"WHERE contextid = {mark} AND stamp = {mark}",
                                 (context, record.get("stamp") or ""))
            if found:
                self.plans[old] = ("map", context, found[0][0])
                self.category_context[found[0][0]] = context
            else:
                self.plans[old] = ("create", context, None)

    # -- after step 14 -----------------------------------------------------------------
    def fix_parents(self) -> None:
        engine = self.engine
        for new, old_parent, context in self.created_categories:
            parent = engine.ids.get("question_category", old_parent) if as_int(old_parent) else None
            if parent is None or parent == new or self.category_context.get(parent) != context:
                parent = self.top(context)
            engine.update("question_categories", new, parent=parent)
        for new, old_parent in self.created_questions:
            if as_int(old_parent):
                engine.update("question", new, parent=engine.ids.get("question", old_parent, 0))
        for row_id, sequence in self.multianswers:
            parts = [part for part in (sequence or "").split(",") if part.strip()]
            engine.update("question_multianswer", row_id, sequence=",".join(
                str(engine.ids.get("question", part.strip(), part.strip())) for part in parts))


def restore_question_bank(engine, source, task) -> None:
    """Root steps 12–14 for ``questions.xml``."""
    if not source.exists(QUESTIONS) or source.size(QUESTIONS) == 0:
        return
    bank = QuestionBank(engine)
    engine.question_bank = bank
    only_raw = _referenced_only_by_raw(engine, source)
    categories: list[dict] = []

    def take(record: dict) -> None:
        if not engine.ids.referenced("question_category", record.get("id")):
            return
        if record.get("id") in only_raw:
            bank.skipped_raw.add(record.get("id") or "")
            return
        categories.append(record)

    parser = Parser(source=QUESTIONS)
    parser.add_path("/question_categories/question_category", take)
    with source.open(QUESTIONS) as stream:
        parser.parse(stream)
    bank.plan(categories)
    engine.run_step(QUESTIONS_STEP, task)
    bank.fix_parents()
    reasons = []
    if bank.unknown_qtypes:
        reasons.append("questions of types mbx does not declare (" + ", ".join(sorted(bank.unknown_qtypes))
                       + ") keep their type's data only here")
    if bank.skipped_raw:
        reasons.append("categories of activities kept raw are not restored")
    if reasons:
        with source.open(QUESTIONS) as stream:
            engine.keep_raw(QUESTIONS, stream, "; ".join(reasons), engine.course_context)


def _referenced_only_by_raw(engine, source) -> set[str]:
    """Categories only activities kept raw refer to. Moodle, on a site without their
    module, does not restore those activities, nor what only they refer to."""
    raw = [activity.directory for activity in engine.info.activities
           if activity.directory and declaration(activity.modulename or "") is None]
    if not raw:
        return set()
    others = ["course"] + [entry.directory for entry in engine.info.sections if entry.directory]
    others += [activity.directory for activity in engine.info.activities
               if activity.directory and declaration(activity.modulename or "") is not None]

    def categories(folders: list[str]) -> set[str]:
        found: set[str] = set()
        for folder in folders:
            member = f"{folder}/inforef.xml"
            if source.exists(member):
                parser = Parser(source=member)
                parser.add_path("/inforef/question_categoryref/question_category",
                                lambda record: found.add(record.get("id") or ""))
                with source.open(member) as stream:
                    parser.parse(stream)
        return found
    return categories(raw) - categories(others)


def finish_question_bank(engine, plan) -> None:
    """Final task: module banks into their module contexts, each under a top of its
    own; their question tags and the set references that use them follow."""
    bank: QuestionBank | None = getattr(engine, "question_bank", None)
    if bank is None:
        return
    mark = engine.target.mark
    course_top = bank.tops.get(engine.course_context)
    for old_context, categories in bank.module_banks.items():
        module_context = engine.ids.get("context", old_context)
        if not module_context or module_context == engine.course_context:
            # the activity was not restored: its bank stays in the course, with its files
            engine.ids.set("context", old_context, engine.course_context)
            continue
        top = bank.top(module_context)
        moved = set()
        for category in categories:
            if category == course_top:
                continue
            moved.add(category)
            bank.category_context[category] = module_context
            parent = engine.query(f"SELECT parent FROM {engine.t('question_categories')} WHERE id = {mark}",
                                  (category,))
            values: dict[str, Any] = {"contextid": module_context}
            if not parent or parent[0][0] in (0, course_top):
                values["parent"] = top
            engine.update("question_categories", category, **values)
        for old, new, _ in list(engine.ids.items("question_category")):
            record = bank.category_info.get(old)
            if new == course_top and record and record.get("contextid") == old_context:
                engine.ids.set("question_category", old, top)
        if moved:
            _move_question_tags(engine, moved, module_context)
            _move_set_references(engine, moved, module_context)


def _move_question_tags(engine, categories: set[int], context: int) -> None:
    mark = engine.target.mark
    marks = ", ".join([mark] * len(categories))
    rows = engine.query(
        f"SELECT t.id FROM {engine.t('tag_instance')} t "
        f"JOIN {engine.t('question_versions')} v ON v.questionid = t.itemid "
        f"JOIN {engine.t('question_bank_entries')} e ON e.id = v.questionbankentryid "
        f"WHERE t.component = 'core_question' AND t.itemtype = 'question' "
        f"AND e.questioncategoryid IN ({marks})", tuple(sorted(categories)))
    for (row_id,) in rows:
        engine.update("tag_instance", row_id, contextid=context)


def _move_set_references(engine, categories: set[int], context: int) -> None:
    import json
    span = engine.created("question_set_references")
    if span is None:
        return
    mark = engine.target.mark
    rows = engine.query(f"SELECT id, filtercondition FROM {engine.t('question_set_references')} "
                        f"WHERE id BETWEEN {mark} AND {mark}", span)
    for row_id, text in rows:
        try:
            category = as_int(json.loads(text or "{}").get("questioncategoryid"))
        except (ValueError, AttributeError):
            continue
        if category in categories:
            engine.update("question_set_references", row_id, questionscontextid=context)


def identity_hash(values: Any) -> str:
    """A question's identity in the spirit of Moodle's ``generate_question_identity_hash``:
    its scalar values, numbers as floats, CRLF as LF, sorted, joined, sha1."""
    scalars: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                collect(item)
        elif value is not None:
            text = str(value).replace("\r\n", "\n")
            try:
                text = repr(float(text))
            except ValueError:
                pass
            scalars.append(text)
    collect(values)
    return hashlib.sha1("|HASHDATA|".join(sorted(scalars)).encode("utf-8")).hexdigest()


def _release(text: str | None) -> tuple[int, ...]:
    """``"3.5dev (Build: …)"`` → ``(3, 5)``; unknown: as new as can be."""
    import re
    match = re.match(r"\s*(\d+)\.(\d+)", text or "")
    return (int(match[1]), int(match[2])) if match else (99, 0)


