"""The course question bank (``questions.xml``), for synth.

Quizzes draw their questions (true/false and single-answer multiple choice)
into the course's default question category (:func:`draw_questions`);
``questions.xml`` is written once, from the questions all quizzes drew, in the
4.x layout (category -> bank entry -> version -> question).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from mbx.synth.plan import NULL

if TYPE_CHECKING:
    from mbx.synth.course import CourseSynthesizer
    from mbx.xml import XmlWriter

__all__ = ["Question", "category_ids", "draw_questions", "write_questions"]

QUESTION_OWNER = 2  # the site admin built the question bank, as in most real backups
TRUEFALSE_SHARE = 0.4  # the other questions are multiple choice
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


def category_ids(course: CourseSynthesizer) -> tuple[int, int]:
    """(the course context's "top" category, its default category under it)."""
    top = 7000 + course.seed % 100
    return top, top + 1


def draw_questions(course: CourseSynthesizer, count: int) -> list[Question]:
    rng = course.rng
    questions = []
    for _ in range(count):
        created = course.start - rng.randint(1, 60) * 86400
        if rng.random() < TRUEFALSE_SHARE:
            qtype, truth = "truefalse", rng.random() < 0.5
            answers = [(course.ids.next("question_answer", 1), "True", truth),
                       (course.ids.next("question_answer", 1), "False", not truth)]
            hint = None
        else:
            qtype, correct = "multichoice", rng.randrange(4)
            answers = [(course.ids.next("question_answer", 1),
                        course.text.words(rng.randint(1, 4)), number == correct)
                       for number in range(4)]
            hint = ((course.ids.next("question_hint", 1), course.text.html(1, 1))
                    if rng.random() < 0.3 else None)
        stamp = (f"moodle.example.org+{time.strftime('%y%m%d%H%M%S', time.gmtime(created))}"
                 f"+{''.join(rng.choices(_STAMP_CHARACTERS, k=6))}")
        questions.append(Question(
            course.ids.next("question", 1), course.ids.next("question_bank_entry", 1),
            course.ids.next("question_version", 1), qtype, course.text.title(2, 5),
            course.text.paragraph(), answers, course.ids.next(f"qtype_{qtype}", 1), hint, stamp,
            created))
    course.stats["questions"] += count
    return questions


def write_questions(course: CourseSynthesizer) -> None:
    """questions.xml: the "top" category of the course context, and its default
    category holding every question the quizzes drew."""
    top, default = category_ids(course)
    with course.xml("questions.xml") as w, w.element("question_categories"):
        for category, name, parent, info in (
                (top, "top", 0, ""),
                (default, f"Default for {course.shortname}", top,
                 f"The default category for questions shared in context '{course.shortname}'.")):
            with w.element("question_category", {"id": category}):
                for leaf, value in [("name", name), ("contextid", course.course_context),
                                    ("contextlevel", 50),
                                    ("contextinstanceid", course.course_id), ("info", info),
                                    ("infoformat", 0),
                                    ("stamp", f"moodle.example.org+{course.seed}+{category}"),
                                    ("parent", parent),
                                    ("sortorder", 0 if parent == 0 else 999),
                                    ("idnumber", NULL)]:
                    w.leaf(leaf, value)
                with w.element("question_bank_entries"):
                    if category == default:
                        for question in course.questions:
                            _write_bank_entry(course, w, question, category)


def _write_bank_entry(course: CourseSynthesizer, w: XmlWriter, q: Question,
                      category: int) -> None:
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
                _write_qtype_plugin(w, q)
                with w.element("plugin_qbank_comment_question"):
                    course.empty(w, "comments")
                with w.element("plugin_qbank_customfields_question"):
                    course.empty(w, "customfields")
                with w.element("question_hints"):
                    if q.hint is not None:
                        w.record("question_hint", {"hint": q.hint[1], "hintformat": 1,
                                                   "shownumcorrect": 0, "clearwrong": 0,
                                                   "options": ""},
                                 attrs={"id": q.hint[0]})
                course.empty(w, "tags")


def _write_qtype_plugin(w: XmlWriter, q: Question) -> None:
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
