"""Folding raw XML for name search, in pure Python (twin of ``mbx/_speedups/_fold.pyx``).

:func:`fold_xml` reads the bytes of an XML document as they are stored and
returns the text a reader sees, folded for comparison (:mod:`._foldtable`),
with the input offset each folded character came from:

* element text, CDATA sections and comments are folded; XML's entities and
  character references are decoded first, then HTML's (``&amp;eacute;`` is
  ``é`` in the HTML a leaf holds);
* XML markup (tags with their attributes, processing instructions, the
  CDATA and comment delimiters) becomes one ``"\\x00"``: nothing matches
  across it; an HTML ``<`` (``&lt;``, or ``<`` inside CDATA) becomes ``"\\x01"``
  and the rest of the HTML tag stays text, so ``alt``, ``title`` and
  ``href="mailto:..."`` values are searched too;
* runs of white space (any Unicode space, ``&nbsp;``) become one ``" "``.

``origins[k]`` is the offset of the input token (a character, an entity, a
character reference) folded character ``k`` came from; ``origins[len(folded)]``
is ``consumed``. A match ``folded[a:b]`` therefore stands for the input bytes
``data[origins[a]:origins[b]]``, whole tokens only.

Streaming: with ``final`` false, folding stops at the start of the last open
*region* (the trailing text run, or markup that has not closed) and
``consumed`` says where; the caller feeds ``data[consumed:]`` again with the
next bytes. Regions start in text, so the fold needs no state between calls.
"""

from __future__ import annotations

import re
from array import array

from mbx.xml._foldtable import HTML_ENTITIES, bmp_table

__all__ = ["NameTrie", "find_names", "fold_xml"]

_XML_ENTITIES = {b"amp": "&", b"lt": "<", b"gt": ">", b"quot": '"', b"apos": "'"}
#: The longest entity (name and ``;``) looked for after an ``&``.
_ENTITY_SPAN = 40
_SPACES = frozenset(b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f ")
#: Bytes folding to themselves, copied a run at a time.
_PLAIN = re.compile(rb"[^<&\t\n\x0b\x0c\r\x1c-\x1f A-Z\x80-\xff]+")
_PLAIN_LITERAL = re.compile(rb"[^<&\-\]\t\n\x0b\x0c\r\x1c-\x1f A-Z\x80-\xff]+")
_HTML_NAME = re.compile(rb"[A-Za-z][A-Za-z0-9]*")
_DECIMAL = re.compile(rb"#([0-9]+)")
_HEX = re.compile(rb"#[xX]([0-9a-fA-F]+)")

TEXT, TAG, TAG_DQ, TAG_SQ, COMMENT, CDATA, PI = range(7)
_CLOSERS = {COMMENT: b"-->", CDATA: b"]]>", PI: b"?>"}


class _NeedMore(Exception):
    """The input ends inside a token: fold again with more bytes."""


class _Folder:
    __slots__ = ("out", "origins", "table", "last_space")

    def __init__(self) -> None:
        self.out: list[str] = []
        self.origins = array("q")
        self.table = bmp_table()
        self.last_space = False

    def emit(self, text: str, origin: int) -> None:
        for char in text:
            if char == " ":
                if self.last_space:
                    continue
                self.last_space = True
            else:
                self.last_space = False
            self.out.append(char)
            self.origins.append(origin)

    def emit_char(self, code: int, origin: int) -> None:
        if code < 0x80:
            if code in _SPACES:
                self.emit(" ", origin)
            elif 0x41 <= code <= 0x5A:
                self.emit(chr(code + 32), origin)
            elif code == 0x3C:
                self.emit("\x01", origin)
            else:
                self.emit(chr(code), origin)
        else:
            self.emit(self.table.get(code, chr(code)), origin)


def _code_point(data: bytes, i: int, n: int, final: bool) -> tuple[int, int]:
    """(code point, length) of the UTF-8 sequence at ``i``; invalid: (U+FFFD, 1)."""
    lead = data[i]
    if 0xC2 <= lead <= 0xDF:
        length, code = 2, lead & 0x1F
    elif 0xE0 <= lead <= 0xEF:
        length, code = 3, lead & 0x0F
    elif 0xF0 <= lead <= 0xF4:
        length, code = 4, lead & 0x07
    else:
        return 0xFFFD, 1
    if i + length > n:
        if not final:
            raise _NeedMore
        return 0xFFFD, 1
    for k in range(1, length):
        byte = data[i + k]
        if byte & 0xC0 != 0x80:
            return 0xFFFD, 1
        code = (code << 6) | (byte & 0x3F)
    if (length == 3 and code < 0x800) or (length == 4 and not 0x10000 <= code <= 0x10FFFF):
        return 0xFFFD, 1
    return code, length


def _reference(name: bytes) -> int | None:
    """The code point of ``#NNN`` or ``#xHH`` (no entity name), if valid."""
    match = _DECIMAL.fullmatch(name)
    if match:
        code = int(match.group(1)) if len(match.group(1)) <= 8 else -1
    else:
        match = _HEX.fullmatch(name)
        if not match:
            return None
        code = int(match.group(1), 16) if len(match.group(1)) <= 8 else -1
    if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
        return code
    return None


def _html_entity(data: bytes, at: int, n: int, final: bool) -> tuple[str | None, int]:
    """An HTML entity written after a decoded ``&`` at ``at``: (text, end) or (None, at)."""
    end = data.find(b";", at, at + _ENTITY_SPAN)
    if end < 0:
        if not final and at + _ENTITY_SPAN > n:
            raise _NeedMore
        return None, at
    name = data[at:end]
    if _HTML_NAME.fullmatch(name):
        value = HTML_ENTITIES.get(name.decode("ascii") + ";")
        return (value, end + 1) if value is not None else (None, at)
    code = _reference(name)
    return (chr(code), end + 1) if code is not None else (None, at)


def fold_xml(data: bytes, final: bool) -> tuple[str, array, int]:
    """Folds ``data`` (raw XML, UTF-8): returns ``(folded, origins, consumed)``."""
    folder = _Folder()
    emit, emit_char = folder.emit, folder.emit_char
    n = len(data)
    state = TEXT
    region, region_length = 0, 0  # where the open region starts, and the fold before it
    i = 0
    try:
        while i < n:
            byte = data[i]
            if state == TEXT:
                plain = _PLAIN.match(data, i)
                if plain:
                    end = plain.end()
                    _emit_run(folder, data, i, end)
                    i = end
                    continue
                if byte == 0x3C:  # <
                    region, region_length = i, len(folder.out)
                    if not final and (_partial(data, i, b"<![CDATA[")
                                      or _partial(data, i, b"<!--")):
                        raise _NeedMore
                    emit("\x00", i)
                    if data.startswith(b"<!--", i):
                        state, i = COMMENT, i + 4
                    elif data.startswith(b"<![CDATA[", i):
                        state, i = CDATA, i + 9
                    elif data.startswith(b"<?", i):
                        state, i = PI, i + 2
                    else:
                        state, i = TAG, i + 1
                elif byte == 0x26:  # &
                    i = _xml_entity(folder, data, i, n, final)
                elif byte < 0x80:
                    emit_char(byte, i)
                    i += 1
                else:
                    code, length = _code_point(data, i, n, final)
                    emit_char(code, i)
                    i += length
            elif state == TAG:
                if byte == 0x22:
                    state = TAG_DQ
                elif byte == 0x27:
                    state = TAG_SQ
                elif byte == 0x3E:
                    state = TEXT
                    region, region_length = i + 1, len(folder.out)
                i += 1
            elif state == TAG_DQ or state == TAG_SQ:
                end = data.find(b'"' if state == TAG_DQ else b"'", i)
                if end < 0:
                    i = n
                else:
                    state, i = TAG, end + 1
            elif state == PI:
                end = data.find(b"?>", i)
                if end < 0:
                    i = n
                else:
                    state, i = TEXT, end + 2
                    region, region_length = i, len(folder.out)
            else:  # COMMENT, CDATA: literal text up to the closer
                closer = _CLOSERS[state]
                if data.startswith(closer, i):
                    emit("\x00", i)
                    state, i = TEXT, i + len(closer)
                    region, region_length = i, len(folder.out)
                    continue
                if not final and _partial(data, i, closer):
                    raise _NeedMore
                plain = _PLAIN_LITERAL.match(data, i)
                if plain:
                    end = plain.end()
                    _emit_run(folder, data, i, end)
                    i = end
                elif byte == 0x26 and state == CDATA:
                    value, end = _html_entity(data, i + 1, n, final)
                    _emit_decoded(folder, value if value is not None else "&", i)
                    i = end
                elif byte < 0x80:
                    emit_char(byte, i)
                    i += 1
                else:
                    code, length = _code_point(data, i, n, final)
                    emit_char(code, i)
                    i += length
    except _NeedMore:
        i = n
    if final:
        consumed = n
    else:  # the open region is folded again with the next bytes
        consumed = region
        del folder.out[region_length:]
        del folder.origins[region_length:]
    folder.origins.append(consumed)
    return "".join(folder.out), folder.origins, consumed


def _partial(data: bytes, i: int, prefix: bytes) -> bool:
    """Whether the input ends inside ``prefix``, starting at ``i`` (a token cut off)."""
    return len(data) - i < len(prefix) and prefix.startswith(data[i:])


def _emit_run(folder: _Folder, data: bytes, start: int, end: int) -> None:
    """A run of bytes folding to themselves (no space among them)."""
    folder.out.extend(data[start:end].decode("ascii"))
    folder.origins.extend(range(start, end))
    folder.last_space = False


def _emit_decoded(folder: _Folder, text: str, origin: int) -> None:
    for char in text:
        folder.emit_char(ord(char), origin)


def _xml_entity(folder: _Folder, data: bytes, i: int, n: int, final: bool) -> int:
    """Folds the XML entity at ``i`` (and an HTML one behind a decoded ``&``); returns
    the offset after it."""
    end = data.find(b";", i + 1, i + 1 + _ENTITY_SPAN)
    if end < 0:
        if not final and i + 1 + _ENTITY_SPAN > n:
            raise _NeedMore
        folder.emit("&", i)
        return i + 1
    name = data[i + 1:end]
    value = _XML_ENTITIES.get(name)
    if value is None:
        code = _reference(name)
        if code is None:
            folder.emit("&", i)
            return i + 1
        value = chr(code)
    end += 1
    if value == "&":
        decoded, after = _html_entity(data, end, n, final)
        if decoded is not None:
            _emit_decoded(folder, decoded, i)
            return after
    _emit_decoded(folder, value, i)
    return end


# -- names in folded text --------------------------------------------------------------------

def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


class NameTrie:
    """The folded names searched for (``patterns[i]`` found reports ``i``), as a trie."""

    def __init__(self, patterns: list[str]) -> None:
        self.root: dict = {}
        self.size = 0
        for index, pattern in enumerate(patterns):
            if not pattern:
                continue
            node = self.root
            for char in pattern:
                node = node.setdefault(char, {})
            node.setdefault(None, index)  # the first pattern of a text wins
            self.size += 1
        self._starts = re.compile("|".join(re.escape(char) for char in sorted(self.root))
                                  ) if self.root else None


def find_names(data: bytes, final: bool, trie: NameTrie) -> tuple[list, int]:
    """Folds ``data`` as :func:`fold_xml` does and finds the names of ``trie`` in it.

    A name matches from a position that starts a word (nothing or no word
    character before it, and not the name of an HTML tag: ``<user``, ``</user``)
    to one that ends a word (no word character after it, nor ``=``: an HTML
    attribute's name). From left to right, the longest name at each start wins and
    the search goes on after it. Returns ``([(raw start, raw end, index), ...],
    consumed)``, the spans in ``data``'s offsets, whole tokens.
    """
    folded, origins, consumed = fold_xml(data, final)
    found = []
    if trie._starts is None:
        return found, consumed
    length = len(folded)
    resume = 0
    for candidate in trie._starts.finditer(folded):
        start = candidate.start()
        if start < resume:
            continue
        if start:
            before = folded[start - 1]
            if _is_word(before) or before == "\x01" or (
                    before == "/" and start > 1 and folded[start - 2] == "\x01"):
                continue
        node, at, best = trie.root, start, None
        while at < length:
            node = node.get(folded[at])
            if node is None:
                break
            at += 1
            if None in node and (at == length or not (_is_word(folded[at])
                                                      or folded[at] == "=")):
                best = (at, node[None])
        if best is not None:
            end, index = best
            found.append((origins[start], origins[end], index))
            resume = end
    return found, consumed
