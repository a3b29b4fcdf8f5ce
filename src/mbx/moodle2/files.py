"""What ``files.xml`` records mean: which have a blob, and whose bytes they are.

A record names its context (``contextid``), the component and file area that
own it, and an ``itemid`` inside that area. Moodle's own file areas decide
where its bytes belong for a person reading a summary: an activity's context, the course's, a section of the course (file
area ``course/section``, itemid = the section id), the question bank
(question components, in a question category's context), users' contexts.
"""

from __future__ import annotations

#: Components whose files belong to questions (the question bank), wherever
#: the category that holds the question lives.
QUESTION_COMPONENT = "question"
QUESTION_TYPE_PREFIX = "qtype_"
#: (component, filearea) of section files: course context, itemid = section id.
SECTION_FILE_AREA = ("course", "section")


def file_has_content(filename: str | None, contenthash: str | None) -> bool:
    """Whether a ``files.xml`` record has a blob: directory entries (``.``) and
    empty hashes have none. Takes the two fields, so typed and raw records share it."""
    return bool(contenthash) and filename != "."


def is_question_file(component: str | None) -> bool:
    """Whether a file belongs to a question (its text, feedback, hints, a type's areas)."""
    return component == QUESTION_COMPONENT or (component or "").startswith(QUESTION_TYPE_PREFIX)


def file_size(value: str | None) -> int:
    """A record's ``filesize``; 0 when absent or not a number."""
    return int(value) if value and value.isdigit() else 0
