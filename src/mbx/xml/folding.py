"""Text folded for name search: raw XML in, what a reader compares out (compiled or pure twin).

Transforms that look for people's names in free text (anonymise) need one
comparison that is blind to case, accents, white space and escaping, and that
still says which input bytes a match covers, so that a replacement keeps every
other byte. :func:`fold_xml` is that view of a raw XML document (see
:mod:`mbx.xml._fold_py` for what it folds and how it streams); :func:`fold_text`
folds a plain value the same way, for the names searched for, and
:func:`find_names` folds and finds the names of a :class:`NameTrie` in one
compiled pass, handing Python only the matches.

:mod:`mbx._impl` decides which twin runs; type checkers see the pure one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mbx import _impl
from mbx.xml._escaping import escape_text

__all__ = ["BARRIER", "HTML_TAG", "NameTrie", "find_names", "fold_text", "fold_xml"]

if TYPE_CHECKING:
    from mbx.xml._fold_py import NameTrie, find_names, fold_xml
else:
    _twin = _impl.load("_fold")
    fold_xml = _twin.fold_xml
    find_names = _twin.find_names
    NameTrie = _twin.NameTrie

#: What XML markup folds to: no match spans it.
BARRIER = "\x00"
#: What an HTML ``<`` inside text folds to.
HTML_TAG = "\x01"


def fold_text(value: str) -> str:
    """``value`` (a plain string, as a parser gives it) folded as :func:`fold_xml` folds
    text: HTML entities in it are decoded, as they are in element text."""
    return fold_xml(escape_text(value), True)[0]
