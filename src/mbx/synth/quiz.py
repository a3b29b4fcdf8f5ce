"""Quiz activities and the course question bank (``questions.xml``), for synth.

Mixed into :class:`~mbx.synth.course.CourseSynthesizer`, whose helpers (``xml``,
``ids``, ``rng``, ``text``, ``write_module`` ...) it uses. Each quiz draws its
questions (true/false and single-answer multiple choice) into the course's
default question category and writes ``quiz.xml`` in Moodle 4.5 shape: slots
that reference the questions' bank entries, one section, the overall
feedback and, with user info, the grade and one finished attempt of each
participating student, with its question usage and steps. ``questions.xml``
is written once, from the questions all quizzes drew, in the 4.x layout
(category -> bank entry -> version -> question; format doc §3.6).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

from mbx.synth.text import xml_text

if TYPE_CHECKING:
    from mbx.synth.course import Activity
    from mbx.xml import XmlWriter

__all__ = ["Attempt", "Question", "QuizMixin", "render_attempt", "write_attempt_with_writer"]

NULL = None  # written $@NULL@$ by XmlWriter
QUESTION_OWNER = 2  # the site admin built the question bank, as in most real backups
QUESTIONS_PER_PAGE = 5
TRUEFALSE_SHARE = 0.4  # the other questions are multiple choice
ATTEMPT_SHARE = 0.8  # students who finished a given quiz
BEHAVIOUR = "deferredfeedback"
STEPS_PER_SLOT = 3  # todo, complete, graded
_STAMP_CHARACTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_MULTICHOICE_FEEDBACK = (("correctfeedback", "<p>Your answer is correct.</p>"),
                         ("partiallycorrectfeedback", "<p>Your answer is partially correct.</p>"),
                         ("incorrectfeedback", "<p>Your answer is incorrect.</p>"))


@dataclass
class Question:
    """One drawn question, kept until ``questions.xml`` is written."""

    id: int
    entry_id: int  # question_bank_entry
    version_id: int  # question_versions
    qtype: str  # "truefalse" or "multichoice"
    name: str
    text: str  # plain; the question text is this in a paragraph
    answers: list[tuple[int, str, bool]]  # (answer id, plain text, correct)
    options_id: int  # the qtype's options record (truefalse / multichoice)
    hint: tuple[int, str] | None  # (hint id, HTML)
    stamp: str
    timecreated: int

    def answer_text(self, index: int) -> str:
        """An answer's text as questions.xml stores it (multiple choice: HTML)."""
        text = self.answers[index][1]
        return text if self.qtype == "truefalse" else f"<p>{escape(text, quote=False)}</p>"

    def correct_index(self) -> int:
        return next(index for index, answer in enumerate(self.answers) if answer[2])


@dataclass
class Attempt:
    """One finished attempt, drawn whole so that it renders without the synthesizer:
    per slot, the answers in display order (indexes into the question's answers)
    and the one chosen. Its question attempts and steps have consecutive ids."""

    id: int
    usage_id: int
    userid: int
    start: int
    finish: int
    questions: list[Question]
    responses: list[tuple[tuple[int, ...], int]]
    first_question_attempt_id: int
    first_step_id: int

    def right_answers(self) -> int:
        return sum(question.answers[chosen][2]
                   for question, (_, chosen) in zip(self.questions, self.responses))

    def fields(self) -> list[tuple[str, Any]]:
        """The attempt's leaves; the layout lists each page's slots, then 0."""
        count = len(self.questions)
        pages = [range(first + 1, min(first + QUESTIONS_PER_PAGE, count) + 1)
                 for first in range(0, count, QUESTIONS_PER_PAGE)]
        layout = ",".join(",".join(map(str, page)) + ",0" for page in pages)
        return [("userid", self.userid), ("attemptnum", 1), ("uniqueid", self.usage_id),
                ("layout", layout), ("currentpage", len(pages) - 1), ("preview", 0),
                ("state", "finished"), ("timestart", self.start), ("timefinish", self.finish),
                ("timemodified", self.finish), ("timemodifiedoffline", 0),
                ("timecheckstate", 0), ("sumgrades", f"{self.right_answers()}.00000"),
                ("gradednotificationsenttime", self.finish)]

    def question_attempt_fields(self, slot: int) -> list[tuple[str, Any]]:
        """The leaves of the question attempt at ``slot`` (1-based)."""
        question = self.questions[slot - 1]
        order, chosen = self.responses[slot - 1]
        summary = question.text
        if question.qtype == "multichoice":
            summary += ": " + "; ".join(question.answers[index][1] for index in order)
        return [("slot", slot), ("behaviour", BEHAVIOUR), ("questionid", question.id),
                ("variant", 1), ("maxmark", "1.0000000"), ("minfraction", "0.0000000"),
                ("maxfraction", "1.0000000"), ("flagged", 0), ("questionsummary", summary),
                ("rightanswer", question.answers[question.correct_index()][1]),
                ("responsesummary", question.answers[chosen][1]),
                ("timemodified", self.finish)]

    def steps(self, slot: int) -> list[tuple[int, list[tuple[str, Any]], list[tuple[str, Any]]]]:
        """(step id, leaves, response variables) of the steps at ``slot``: todo when
        shown, complete when answered, graded when the attempt was finished."""
        question = self.questions[slot - 1]
        order, chosen = self.responses[slot - 1]
        correct = question.answers[chosen][2]
        if question.qtype == "truefalse":
            shown: list[tuple[str, Any]] = []
            answer = 1 if chosen == 0 else 0  # the True answer comes first
        else:
            shown = [("_order", ",".join(str(question.answers[index][0]) for index in order))]
            answer = order.index(chosen)
        answered = self.start + slot * (self.finish - self.start) // (len(self.questions) + 1)
        first = self.first_step_id + STEPS_PER_SLOT * (slot - 1)
        return [(first + number, [("sequencenumber", number), ("state", state),
                                  ("fraction", fraction), ("timecreated", when),
                                  ("userid", self.userid)], variables)
                for number, (state, fraction, when, variables) in enumerate([
                    ("todo", NULL, self.start, shown),
                    ("complete", NULL, answered, [("answer", answer)]),
                    ("gradedright" if correct else "gradedwrong",
                     "1.0000000" if correct else "0.0000000", self.finish,
                     [("-finish", 1)])])]


def write_attempt_with_writer(w: XmlWriter, attempt: Attempt) -> None:
    """The reference rendering of an attempt and its question usage, through XmlWriter."""
    with w.element("attempt", {"id": attempt.id}):
        for leaf, value in attempt.fields():
            w.leaf(leaf, value)
        with w.element("question_usage", {"id": attempt.usage_id}):
            w.leaf("component", "mod_quiz")
            w.leaf("preferredbehaviour", BEHAVIOUR)
            with w.element("question_attempts"):
                for slot in range(1, len(attempt.questions) + 1):
                    with w.element("question_attempt",
                                   {"id": attempt.first_question_attempt_id + slot - 1}):
                        for leaf, value in attempt.question_attempt_fields(slot):
                            w.leaf(leaf, value)
                        with w.element("steps"):
                            for step_id, fields, variables in attempt.steps(slot):
                                with w.element("step", {"id": step_id}):
                                    for leaf, value in fields:
                                        w.leaf(leaf, value)
                                    with w.element("response"):
                                        for name, value in variables:
                                            w.record("variable", {"name": name, "value": value})


def render_attempt(attempt: Attempt) -> str:
    """An attempt as XmlWriter writes it at depth 3 (inside ``activity/quiz/attempts``):
    the fast path, held to :func:`write_attempt_with_writer` by the tests."""
    i3, i4, i5, i6, i7, i8, i9, i10, i11 = ("\n" + "  " * depth for depth in range(3, 12))
    parts = [f'{i3}<attempt id="{attempt.id}">']
    parts += [f"{i4}<{leaf}>{xml_text(value)}</{leaf}>" for leaf, value in attempt.fields()]
    parts.append(f'{i4}<question_usage id="{attempt.usage_id}">{i5}<component>mod_quiz'
                 f"</component>{i5}<preferredbehaviour>{BEHAVIOUR}</preferredbehaviour>"
                 f"{i5}<question_attempts>")
    for slot in range(1, len(attempt.questions) + 1):
        parts.append(f'{i6}<question_attempt id="{attempt.first_question_attempt_id + slot - 1}">')
        parts += [f"{i7}<{leaf}>{xml_text(value)}</{leaf}>"
                  for leaf, value in attempt.question_attempt_fields(slot)]
        parts.append(f"{i7}<steps>")
        for step_id, fields, variables in attempt.steps(slot):
            parts.append(f'{i8}<step id="{step_id}">')
            parts += [f"{i9}<{leaf}>{xml_text(value)}</{leaf}>" for leaf, value in fields]
            parts.append(f"{i9}<response>")
            parts += [f"{i10}<variable>{i11}<name>{xml_text(name)}</name>"
                      f"{i11}<value>{xml_text(value)}</value>{i10}</variable>"
                      for name, value in variables]
            parts.append(f"{i9}</response>{i8}</step>")
        parts.append(f"{i7}</steps>{i6}</question_attempt>")
    parts.append(f"{i5}</question_attempts>{i4}</question_usage>{i3}</attempt>")
    return "".join(parts)


class QuizMixin:
    """Quizzes and ``questions.xml`` for :class:`~mbx.synth.course.CourseSynthesizer`."""

    # -- the question bank -------------------------------------------------------------

    def question_category_ids(self) -> tuple[int, int]:
        """(the course context's "top" category, its default category under it)."""
        top = 7000 + self.seed % 100
        return top, top + 1

    def _draw_questions(self, count: int) -> list[Question]:
        rng = self.rng
        questions = []
        for _ in range(count):
            created = self.start - rng.randint(1, 60) * 86400
            if rng.random() < TRUEFALSE_SHARE:
                qtype, truth = "truefalse", rng.random() < 0.5
                answers = [(self.ids.next("question_answer", 1), "True", truth),
                           (self.ids.next("question_answer", 1), "False", not truth)]
                hint = None
            else:
                qtype, correct = "multichoice", rng.randrange(4)
                answers = [(self.ids.next("question_answer", 1),
                            self.text.words(rng.randint(1, 4)), number == correct)
                           for number in range(4)]
                hint = ((self.ids.next("question_hint", 1), self.text.html(1, 1))
                        if rng.random() < 0.3 else None)
            stamp = (f"moodle.example.org+{time.strftime('%y%m%d%H%M%S', time.gmtime(created))}"
                     f"+{''.join(rng.choices(_STAMP_CHARACTERS, k=6))}")
            questions.append(Question(
                self.ids.next("question", 1), self.ids.next("question_bank_entry", 1),
                self.ids.next("question_version", 1), qtype, self.text.title(2, 5),
                self.text.paragraph(), answers, self.ids.next(f"qtype_{qtype}", 1), hint, stamp,
                created))
        self.stats["questions"] += count
        return questions

    def write_questions(self) -> None:
        """questions.xml: the "top" category of the course context, and its default
        category holding every question the quizzes drew."""
        top, default = self.question_category_ids()
        with self.xml("questions.xml") as w, w.element("question_categories"):
            for category, name, parent, info in (
                    (top, "top", 0, ""),
                    (default, f"Default for {self.shortname}", top,
                     f"The default category for questions shared in context '{self.shortname}'.")):
                with w.element("question_category", {"id": category}):
                    for leaf, value in [("name", name), ("contextid", self.course_context),
                                        ("contextlevel", 50),
                                        ("contextinstanceid", self.course_id), ("info", info),
                                        ("infoformat", 0),
                                        ("stamp", f"moodle.example.org+{self.seed}+{category}"),
                                        ("parent", parent),
                                        ("sortorder", 0 if parent == 0 else 999),
                                        ("idnumber", NULL)]:
                        w.leaf(leaf, value)
                    with w.element("question_bank_entries"):
                        if category == default:
                            for question in self.questions:
                                self._write_bank_entry(w, question, category)

    def _write_bank_entry(self, w: XmlWriter, q: Question, category: int) -> None:
        with w.element("question_bank_entry", {"id": q.entry_id}):
            w.leaf("questioncategoryid", category)
            w.leaf("idnumber", NULL)
            w.leaf("ownerid", QUESTION_OWNER)
            with w.element("question_version"), \
                    w.element("question_versions", {"id": q.version_id}):
                w.leaf("version", 1)
                w.leaf("status", "ready")
                with w.element("questions"), w.element("question", {"id": q.id}):
                    for leaf, value in [
                            ("parent", 0), ("name", q.name),
                            ("questiontext", f"<p>{escape(q.text, quote=False)}</p>"),
                            ("questiontextformat", 1), ("generalfeedback", ""),
                            ("generalfeedbackformat", 1), ("defaultmark", "1.0000000"),
                            ("penalty", "1.0000000" if q.qtype == "truefalse" else "0.3333333"),
                            ("qtype", q.qtype), ("length", 1), ("stamp", q.stamp),
                            ("timecreated", q.timecreated), ("timemodified", q.timecreated),
                            ("createdby", QUESTION_OWNER), ("modifiedby", QUESTION_OWNER)]:
                        w.leaf(leaf, value)
                    self._write_qtype_plugin(w, q)
                    with w.element("plugin_qbank_comment_question"):
                        self.empty(w, "comments")
                    with w.element("plugin_qbank_customfields_question"):
                        self.empty(w, "customfields")
                    with w.element("question_hints"):
                        if q.hint is not None:
                            w.record("question_hint", {"hint": q.hint[1], "hintformat": 1,
                                                       "shownumcorrect": 0, "clearwrong": 0,
                                                       "options": ""},
                                     attrs={"id": q.hint[0]})
                    self.empty(w, "tags")

    def _write_qtype_plugin(self, w: XmlWriter, q: Question) -> None:
        """plugin_qtype_<qtype>_question: the answers, then the qtype's options."""
        with w.element(f"plugin_qtype_{q.qtype}_question"):
            with w.element("answers"):
                for index, (answer_id, _, correct) in enumerate(q.answers):
                    w.record("answer", {"answertext": q.answer_text(index),
                                        "answerformat": 0 if q.qtype == "truefalse" else 1,
                                        "fraction": "1.0000000" if correct else "0.0000000",
                                        "feedback": "", "feedbackformat": 1},
                             attrs={"id": answer_id})
            if q.qtype == "truefalse":
                w.record("truefalse", {"trueanswer": q.answers[0][0],
                                       "falseanswer": q.answers[1][0],
                                       "showstandardinstruction": 0}, attrs={"id": q.options_id})
                return
            with w.element("multichoice", {"id": q.options_id}):
                w.leaf("layout", 0)
                w.leaf("single", 1)
                w.leaf("shuffleanswers", 1)
                for leaf, text in _MULTICHOICE_FEEDBACK:
                    w.leaf(leaf, text)
                    w.leaf(f"{leaf}format", 1)
                w.leaf("answernumbering", "abc")
                w.leaf("shownumcorrect", 1)
                w.leaf("showstandardinstruction", 0)

    # -- the quiz ----------------------------------------------------------------------

    def write_quiz(self, a: Activity) -> None:
        """A quiz of 5 to 12 new questions; with users, graded attempts."""
        rng = self.rng
        a.grade_item = self.ids.next("grade_item", 61)
        questions = self._draw_questions(rng.randint(5, 12))
        self.questions.extend(questions)
        timeopen = self.start + rng.randint(7, 80) * 86400
        attempts = self._draw_attempts(questions, timeopen) if self.include_users else []
        grades = []  # (quiz_grades id, attempt, grade out of 100)
        for attempt in attempts:
            grades.append((self.ids.next("quiz_grade", 1), attempt,
                           f"{100 * attempt.right_answers() / len(questions):.5f}"))
        self.write_module(a)
        with self.activity_xml(a) as w, w.element("quiz", {"id": a.instance}):
            for leaf, value in [
                    ("name", a.title), ("intro", self._intro()), ("introformat", 1),
                    ("timeopen", timeopen), ("timeclose", timeopen + 14 * 86400),
                    ("timelimit", 0), ("overduehandling", "autosubmit"), ("graceperiod", 0),
                    ("preferredbehaviour", BEHAVIOUR), ("canredoquestions", 0),
                    ("attempts_number", 1), ("attemptonlast", 0), ("grademethod", 1),
                    ("decimalpoints", 2), ("questiondecimalpoints", -1),
                    ("reviewattempt", 69888), ("reviewcorrectness", 4352),
                    ("reviewmaxmarks", 69888), ("reviewmarks", 4352),
                    ("reviewspecificfeedback", 4352), ("reviewgeneralfeedback", 4352),
                    ("reviewrightanswer", 4352), ("reviewoverallfeedback", 4352),
                    ("questionsperpage", QUESTIONS_PER_PAGE), ("navmethod", "free"),
                    ("shuffleanswers", 1), ("sumgrades", f"{len(questions)}.00000"),
                    ("grade", "100.00000"), ("timecreated", self.start + a.cmid),
                    ("timemodified", self.start + a.cmid), ("password", ""), ("subnet", ""),
                    ("browsersecurity", "-"), ("delay1", 0), ("delay2", 0),
                    ("showuserpicture", 0), ("showblocks", 0),
                    ("completionattemptsexhausted", 0), ("completionminattempts", 0),
                    ("allowofflineattempts", 0)]:
                w.leaf(leaf, value)
            self.empty(w, "subplugin_quizaccess_seb_quiz", "quiz_grade_items")
            with w.element("question_instances"):
                for slot, question in enumerate(questions, 1):
                    self._write_slot(w, a, slot, question)
            with w.element("sections"):
                w.record("section", {"firstslot": 1, "heading": "", "shufflequestions": 0},
                         attrs={"id": self.ids.next("quiz_section", 1)})
            with w.element("feedbacks"):
                w.record("feedback", {"feedbacktext": "", "feedbacktextformat": 1,
                                      "mingrade": "0.00000", "maxgrade": "101.00000"},
                         attrs={"id": self.ids.next("quiz_feedback", 1)})
            self.empty(w, "overrides")
            with w.element("grades"):
                for grade_id, attempt, grade in grades:
                    w.record("grade", {"userid": attempt.userid, "gradeval": grade,
                                       "timemodified": attempt.finish}, attrs={"id": grade_id})
            with w.element("attempts"):
                w.flush()  # attempts are the bulk: rendered by template, past the writer
                stream = self._current_stream
                for attempt in attempts:
                    stream.write(render_attempt(attempt).encode("utf-8"))
        self.stats["quiz_attempts"] += len(attempts)
        top, default = self.question_category_ids()
        self.write_activity_common(
            a, users={attempt.userid for attempt in attempts},
            grades=[(attempt.userid, grade, attempt.userid, attempt.finish, attempt.finish)
                    for _, attempt, grade in grades],
            question_categories=(top, default))

    def _write_slot(self, w: XmlWriter, a: Activity, slot: int, question: Question) -> None:
        """A question_instance (slot) and its reference to the question's bank entry,
        always the latest version."""
        with w.element("question_instance", {"id": self.ids.next("quiz_slot", 1)}):
            for leaf, value in [("quizid", a.instance), ("slot", slot),
                                ("page", (slot - 1) // QUESTIONS_PER_PAGE + 1),
                                ("displaynumber", NULL), ("requireprevious", 0),
                                ("maxmark", "1.0000000"), ("quizgradeitemid", NULL)]:
                w.leaf(leaf, value)
            w.record("question_reference",
                     {"usingcontextid": a.contextid, "component": "mod_quiz",
                      "questionarea": "slot", "questionbankentryid": question.entry_id,
                      "version": NULL},
                     attrs={"id": self.ids.next("question_reference", 1)})

    def _draw_attempts(self, questions: list[Question], timeopen: int) -> list[Attempt]:
        """One finished attempt by most students, each with an ability that sets how
        often they answer right."""
        rng = self.rng
        attempts = []
        for user in self.students:
            if rng.random() >= ATTEMPT_SHARE:
                continue
            ability = rng.uniform(0.3, 0.95)
            responses = []
            for question in questions:
                count = len(question.answers)
                order = (tuple(range(count)) if question.qtype == "truefalse"
                         else tuple(rng.sample(range(count), count)))
                chosen = (question.correct_index() if rng.random() < ability
                          else rng.randrange(count))
                responses.append((order, chosen))
            start = timeopen + rng.randint(0, 13 * 86400)
            attempts.append(Attempt(
                self.ids.next("quiz_attempt", 1), self.ids.next("question_usage", 1), user.id,
                start, start + rng.randint(60 * len(questions), 3600), questions, responses,
                self.ids.next_block("question_attempt", 1, len(questions)),
                self.ids.next_block("question_attempt_step", 1,
                                    STEPS_PER_SLOT * len(questions))))
        return attempts
