"""A restore's per-row work, pure twin of ``mbx/_speedups/_rows.pyx``.

Two small loops run once for every row a restore writes, and so are compiled:

* :func:`row_values`: a row (a dict, as the engine and the hooks build it) as the
  tuple the target inserts: every column in the table's order, a missing one
  filled, an empty NOT NULL one given its fill, a number column's text parsed the
  way :meth:`mbx.moodle2.schema.Column.coerce` parses it;
* :func:`word_text` and :func:`count_text`: the text Moodle's ``count_words``
  counts in (tags stripped, a space after each tag that ends a word), and the
  words and non-white-space characters of a text as ``str.split`` and
  ``str.isspace`` see them (a forum post's ``wordcount`` and ``charcount``).

:mod:`mbx._impl` decides which twin runs; :mod:`mbx.restore.rowvalues` is the seam.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["count_text", "row_values", "word_text"]


def row_values(row: dict, names: tuple, fills: tuple, checked: tuple) -> tuple | None:
    """``row``'s values in ``names`` order; ``None`` when a number column's value is
    not a number (``Column.coerce`` refused it).

    ``fills[i]`` stands in for a column missing from ``row``; ``checked`` lists
    ``(i, notnull, column)`` for the columns to look at again: a ``None`` in a NOT
    NULL column becomes its fill, and a value of a number column (``column`` is
    not ``None``) that is not an ``int`` goes through ``column.coerce``, plain
    ASCII digits without it."""
    values: list[Any] = list(map(row.get, names, fills))
    for index, notnull, column in checked:
        value = values[index]
        if value is None:
            if notnull:
                values[index] = fills[index]
        elif column is not None and value.__class__ is not int:
            if value.__class__ is str and value.isascii() and value.isdigit():
                values[index] = int(value)
                continue
            try:
                values[index] = column.coerce(value)
            except (ValueError, ArithmeticError):
                return None
    return tuple(values)


def count_text(text: str) -> tuple[int, int]:
    """(words, characters that are not white space) of ``text``: ``len(text.split())``
    and the length of those words together."""
    words = text.split()
    return len(words), sum(map(len, words))


TAGS = re.compile(r"<[^>]*>")
#: What ends a word in Moodle's ``count_words``: a close tag other than an inline one's, a <br>.
WORD_BREAKS = re.compile(r"(</(?!(?:a|b|del|em|i|ins|s|small|span|strong|sub|sup|u)>)\w+>|<br>|<br\s*/>)")


def word_text(message: str) -> str:
    """``message`` with a space after each break and then every tag stripped (an
    inline tag inside a word leaves it one word); entities stay as they are.

    ``split`` puts the breaks at the odd places, which is what
    ``WORD_BREAKS.sub(r"\\1 ", …)`` does without expanding a template per match."""
    if "<" not in message:
        return message
    pieces = WORD_BREAKS.split(message)
    pieces[1::2] = [piece + " " for piece in pieces[1::2]]
    return TAGS.sub("", "".join(pieces))
