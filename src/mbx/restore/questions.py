"""The question bank (``questions.xml``): categories, entries, versions, questions.

Until the question bank has its declarations, the referenced part of
``questions.xml`` is kept byte for byte (``mbx_raw_members``), so nothing is lost.
"""

from __future__ import annotations

from mbx.moodle2.members import QUESTIONS

__all__ = ["finish_question_bank", "restore_question_bank"]


def restore_question_bank(engine, source, task) -> None:
    if not source.exists(QUESTIONS) or source.size(QUESTIONS) == 0:
        return
    with source.open(QUESTIONS) as stream:
        engine.keep_raw(QUESTIONS, stream, "the question bank is kept raw", engine.course_context)


def finish_question_bank(engine, plan) -> None:
    return None
