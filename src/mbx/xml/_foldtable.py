"""What one character folds to when text is compared for names: shared by both folding twins.

The fold makes "José", "JOSE", "Jose\u0301" and "jos&eacute;" the same: NFKD
(compatibility decomposition), combining marks removed, case folded, every
Unicode space one ASCII space, and a few Latin letters that have no
decomposition but are read as a base letter with a stroke (``ø``, ``ł``, ``đ``,
``æ``...) written as that base. :mod:`mbx.xml._fold_py` and the compiled
``_fold`` both read :func:`bmp_table` and :func:`char_fold`, so they agree on
every character.
"""

from __future__ import annotations

import functools
import html.entities
import unicodedata

__all__ = ["HTML_ENTITIES", "bmp_table", "char_fold"]

#: Letters that NFKD leaves alone but that readers take as a base letter.
_STROKES = {
    "ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ð": "d", "Ð": "d",
    "ħ": "h", "Ħ": "h", "ı": "i", "ŧ": "t", "Ŧ": "t", "æ": "ae", "Æ": "ae",
    "œ": "oe", "Œ": "oe", "þ": "th", "Þ": "th",
}

#: HTML's named character references without the ``&``: ``"eacute;"`` -> ``"é"`` (HTML5
#: also knows some names without the ``;``; those are left alone).
HTML_ENTITIES = {name: value for name, value in html.entities.html5.items()
                 if name.endswith(";")}


def char_fold(char: str) -> str:
    """What ``char`` is compared as (may be empty, or several characters)."""
    if char in _STROKES:
        return _STROKES[char]
    if char.isspace():
        return " "
    if "\uac00" <= char <= "\ud7a3":  # Hangul syllables: NFKD splits them into jamo, kept whole
        return char
    decomposed = unicodedata.normalize("NFKD", char)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    folded = "".join(_STROKES.get(c, c) for c in stripped.casefold())
    # casefold may bring new composed characters (rare): fold them once more
    if folded != stripped.casefold():
        return folded
    return "".join(c for c in unicodedata.normalize("NFKD", folded)
                   if not unicodedata.combining(c))


@functools.cache
def bmp_table() -> dict[int, str]:
    """Code point -> fold, for the non-ASCII characters of the Basic Multilingual
    Plane whose fold is not themselves (astral characters fold to themselves)."""
    table = {}
    for code in range(0x80, 0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        if not (unicodedata.decomposition(char) or unicodedata.combining(char)
                or char.casefold() != char or char.isspace() or char in _STROKES):
            continue
        folded = char_fold(char)
        if folded != char:
            table[code] = folded
    return table
