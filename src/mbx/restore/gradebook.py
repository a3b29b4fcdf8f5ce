"""The course gradebook (``gradebook.xml``), restored in the final task."""

from __future__ import annotations

from mbx.moodle2.members import MOODLE_BACKUP

__all__ = ["restore_gradebook"]

GRADEBOOK = "gradebook.xml"


def restore_gradebook(engine, plan) -> None:
    if plan.source.exists(GRADEBOOK):
        with plan.source.open(GRADEBOOK) as stream:
            engine.keep_raw(GRADEBOOK, stream, "the course gradebook is kept raw", engine.course_context)
    _ = MOODLE_BACKUP
