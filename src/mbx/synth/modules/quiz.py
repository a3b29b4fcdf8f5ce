"""mod_quiz: quizzes of questions from the course bank, with graded attempts.

Each quiz draws its questions into the course's question bank
(:mod:`mbx.synth.questions`) and writes ``quiz.xml`` in Moodle 4.5 shape: slots
that reference the questions' bank entries, one section, the overall feedback
and, with user info, the grade and one finished attempt of each participating
student, with its question usage and steps. Attempts are the bulk, so they are
rendered by a template (:func:`render_attempt`), held to
:func:`write_attempt_with_writer` by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mbx.synth.modules.base import ModuleWriter, register
from mbx.synth.plan import NULL, Activity
from mbx.synth.questions import Question, category_ids, draw_questions
from mbx.synth.text import xml_text
from mbx.xml import XmlWriter

__all__ = ["Attempt", "QuizWriter", "render_attempt", "write_attempt_with_writer"]

QUESTIONS_PER_PAGE = 5
ATTEMPT_SHARE = 0.8  # students who finished a given quiz
BEHAVIOUR = "deferredfeedback"
STEPS_PER_SLOT = 3  # todo, complete, graded


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


@register
class QuizWriter(ModuleWriter):
    name = "quiz"

    def write(self, course, a: Activity) -> None:
        """A quiz of 5 to 12 new questions; with users, graded attempts."""
        rng = course.rng
        a.grade_item = course.ids.next("grade_item", 61)
        questions = draw_questions(course, rng.randint(5, 12))
        course.questions.extend(questions)
        if a.appears:  # added during a history's term: opens within two weeks
            timeopen = a.appears + rng.randint(0, 14) * 86400
        else:
            timeopen = course.start + rng.randint(7, course.span // 86400 - 20) * 86400
        attempts = self.draw_attempts(course, questions, timeopen) if course.include_users else []
        grades = []  # (quiz_grades id, attempt, grade out of 100)
        for attempt in attempts:
            grades.append((course.ids.next("quiz_grade", 1), attempt,
                           f"{100 * attempt.right_answers() / len(questions):.5f}"))
        if course.cutoff is not None:  # a history: the attempts finished by its date
            grades = [grade for grade in grades if grade[1].finish <= course.cutoff]
            attempts = [grade[1] for grade in grades]
        self.write_module(course, a)
        with self.activity_xml(course, a) as w, w.element("quiz", {"id": a.instance}):
            for leaf, value in [
                    ("name", a.title), ("intro", self.intro(course)), ("introformat", 1),
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
                    ("grade", "100.00000"), ("timecreated", course.start + a.cmid),
                    ("timemodified", course.start + a.cmid), ("password", ""), ("subnet", ""),
                    ("browsersecurity", "-"), ("delay1", 0), ("delay2", 0),
                    ("showuserpicture", 0), ("showblocks", 0),
                    ("completionattemptsexhausted", 0), ("completionminattempts", 0),
                    ("allowofflineattempts", 0)]:
                w.leaf(leaf, value)
            course.empty(w, "subplugin_quizaccess_seb_quiz", "quiz_grade_items")
            with w.element("question_instances"):
                for slot, question in enumerate(questions, 1):
                    self._write_slot(course, w, a, slot, question)
            with w.element("sections"):
                w.record("section", {"firstslot": 1, "heading": "", "shufflequestions": 0},
                         attrs={"id": course.ids.next("quiz_section", 1)})
            with w.element("feedbacks"):
                w.record("feedback", {"feedbacktext": "", "feedbacktextformat": 1,
                                      "mingrade": "0.00000", "maxgrade": "101.00000"},
                         attrs={"id": course.ids.next("quiz_feedback", 1)})
            course.empty(w, "overrides")
            with w.element("grades"):
                for grade_id, attempt, grade in grades:
                    w.record("grade", {"userid": attempt.userid, "gradeval": grade,
                                       "timemodified": attempt.finish}, attrs={"id": grade_id})
            with w.element("attempts"):
                w.flush()  # attempts are the bulk: rendered by template, past the writer
                stream = course.current_stream
                for attempt in attempts:
                    stream.write(render_attempt(attempt).encode("utf-8"))
        course.stats["quiz_attempts"] += len(attempts)
        top, default = category_ids(course)
        self.write_common(
            course, a, users={attempt.userid for attempt in attempts},
            grades=[(attempt.userid, grade, attempt.userid, attempt.finish, attempt.finish)
                    for _, attempt, grade in grades],
            question_categories=(top, default))

    def _write_slot(self, course, w: XmlWriter, a: Activity, slot: int,
                    question: Question) -> None:
        """A question_instance (slot) and its reference to the question's bank entry,
        always the latest version."""
        with w.element("question_instance", {"id": course.ids.next("quiz_slot", 1)}):
            for leaf, value in [("quizid", a.instance), ("slot", slot),
                                ("page", (slot - 1) // QUESTIONS_PER_PAGE + 1),
                                ("displaynumber", NULL), ("requireprevious", 0),
                                ("maxmark", "1.0000000"), ("quizgradeitemid", NULL)]:
                w.leaf(leaf, value)
            w.record("question_reference",
                     {"usingcontextid": a.contextid, "component": "mod_quiz",
                      "questionarea": "slot", "questionbankentryid": question.entry_id,
                      "version": NULL},
                     attrs={"id": course.ids.next("question_reference", 1)})

    def draw_attempts(self, course, questions: list[Question], timeopen: int) -> list[Attempt]:
        """One finished attempt by most students, each with an ability that sets how
        often they answer right."""
        rng = course.rng
        attempts = []
        for user in course.students:
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
                course.ids.next("quiz_attempt", 1), course.ids.next("question_usage", 1),
                user.id, start, start + rng.randint(60 * len(questions), 3600), questions,
                responses,
                course.ids.next_block("question_attempt", 1, len(questions)),
                course.ids.next_block("question_attempt_step", 1,
                                      STEPS_PER_SLOT * len(questions))))
        return attempts
