"""Availability trees (``course_sections.availability``, ``course_modules.availability``):
the JSON conditions Moodle stores, where their dates are, and how to move them.

A date condition is a flat object, ``{"type":"date","d":">=","t":1700000000}``
(``availability_date``); the tree nests conditions under ``"c"``. Dates are
moved in the text itself, so the rest of the JSON keeps its bytes (Moodle's
``json_encode`` escaping included).
"""

from __future__ import annotations

import re

__all__ = ["AVAILABILITY_LEAVES", "date_conditions", "shift_date_conditions"]

#: The leaf holding the tree, by the member's root element.
AVAILABILITY_LEAVES = {"/section": "availabilityjson", "/module": "availability"}

_FLAT_OBJECT = re.compile(r"\{[^{}\[\]]*\}")
_DATE_TYPE = re.compile(r'"type"\s*:\s*"date"')
_TIME = re.compile(r'("t"\s*:\s*)(-?\d+)')


def date_conditions(text: str | None) -> list[int]:
    """The times of every date condition in ``text``, in order."""
    if not text or "date" not in text:
        return []
    return [int(time.group(2)) for condition in _FLAT_OBJECT.finditer(text)
            if _DATE_TYPE.search(condition.group()) for time in _TIME.finditer(condition.group())]


def shift_date_conditions(text: str, offset: int) -> tuple[str, int]:
    """``text`` with every date condition's time moved by ``offset``, and how many moved."""
    moved = 0

    def condition(match: re.Match) -> str:
        body = match.group()
        if not _DATE_TYPE.search(body):
            return body

        def time(found: re.Match) -> str:
            nonlocal moved
            moved += 1
            return f"{found.group(1)}{int(found.group(2)) + offset}"
        return _TIME.sub(time, body)

    if not text or "date" not in text:
        return text, 0
    return _FLAT_OBJECT.sub(condition, text), moved
