"""Which declared steps read which member of a backup: member name -> steps.

Restore walks a plan of tasks; the transforms walk the archive, member by
member, and need the other direction: for ``activities/forum_12/forum.xml``,
the forum's declaration; for ``course/roles.xml`` or
``activities/quiz_3/roles.xml``, the roles step. One table says it, built from
the declarations of :mod:`.structure`, :mod:`.grades`, :mod:`.questions` and
:mod:`.modules`, so a new module or step is known here without a change.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

from mbx.moodle2 import grades, questions, structure
from mbx.moodle2.declare import Element, Step
from mbx.moodle2.modules import facts as module_facts

__all__ = ["elements_of", "steps_for"]

_ACTIVITY = r"activities/([a-z0-9]+)_\d+/"
_BLOCK = r"(?:course/|activities/[a-z0-9]+_\d+/)blocks/[^/]+/"

#: (member pattern, steps); the first pattern that matches decides.
TABLE: tuple[tuple[re.Pattern, tuple[Step, ...]], ...] = tuple(
    (re.compile(pattern), steps) for pattern, steps in (
        (r"users\.xml", (structure.USERS,)),
        (r"groups\.xml", (structure.GROUPS, structure.GROUP_MEMBERS)),
        (r"scales\.xml", (structure.SCALES,)),
        (r"outcomes\.xml", (structure.OUTCOMES,)),
        (r"gradebook\.xml", (grades.GRADEBOOK,)),
        (r"grade_history\.xml", (grades.GRADE_HISTORY,)),
        (r"completion\.xml", (grades.COURSE_COMPLETION,)),
        (r"course/course\.xml", (structure.COURSE_XML,)),
        (r"course/enrolments\.xml", (structure.ENROLMENTS,)),
        (r"course/logstores\.xml", (structure.COURSE_LOGSTORES,)),
        (r"sections/section_\d+/section\.xml", (structure.SECTION,)),
        (_ACTIVITY + r"module\.xml", (structure.MODULE_XML,)),
        (_ACTIVITY + r"grade_history\.xml", (grades.ACTIVITY_GRADE_HISTORY,)),
        (_BLOCK + r"block\.xml", (structure.BLOCK,)),
    ))
#: Steps read in every task folder (course, activity or block): by file name.
TASK_STEPS = {step.member: step for step in (*structure.COURSE_STEPS[3:],
                                             *structure.ACTIVITY_STEPS)}
_TASK_FOLDER = re.compile(r"(?:course/|" + _ACTIVITY + r")(?:blocks/[^/]+/)?([a-z_]+\.xml)")
_MODULE_DOCUMENT = re.compile(_ACTIVITY + r"([a-z0-9]+)\.xml")


@functools.cache
def steps_for(name: str) -> tuple[Step, ...]:
    """The declared steps that read member ``name`` (none for blobs and unknown members)."""
    if name == "questions.xml":
        return (questions.step(),)
    for pattern, steps in TABLE:
        if pattern.fullmatch(name):
            return steps
    document = _MODULE_DOCUMENT.fullmatch(name)
    if document and document.group(1) == document.group(2):
        module = module_facts(document.group(1))
        return (module.step(),) if module is not None else ()
    task = _TASK_FOLDER.fullmatch(name)
    if task:
        step = TASK_STEPS.get(task.group(task.lastindex))
        return (step,) if step is not None else ()
    return ()


def elements_of(name: str) -> Iterator[tuple[str, Element]]:
    """``(absolute path, element)`` for every element declared for member ``name``."""
    for step in steps_for(name):
        for element in step.elements:
            yield step.absolute(element), element
