"""Finding people's names in the free text of XML members, and writing pseudonyms in their place.

Used by :mod:`mbx.transform.anonymise`. A :class:`NameMatcher` knows the
forms to look for (full names, "Last, First", usernames, e-mails) and what
each becomes. A :class:`TextScrubber` is the byte filter one member's output
passes through: it works on the raw XML as stored, never re-serialises it, and
replaces only the bytes a match covers, so the rest of the member passes byte
for byte.

How it stays fast on a gigabyte course: a member is handled a megabyte at a
time by :func:`mbx.xml.folding.find_names`, one compiled pass that folds the
raw XML (case, accents, white space, XML and HTML escapes, markup blanked out)
and walks a trie of every form of every user from each word start, so the cost
hardly depends on the number of users. Python runs per match only: the look-up
of the enclosing element and the splice. Measured on the 100 MB synth course's
XML with its 50 users: 280-420 MB/s, against 8 MB/s for Python's ``re`` with an
alternation of the forms of 50 users (0.3 MB/s for 1,000), and 55 MB/s for
``pyahocorasick`` over the folded text (whose string and offsets must then be
built too). ``benchmarks/bench_anonymise.py`` times the whole transform.

The compiled search runs without the GIL, so a scrubber searches one chunk in a
worker thread (:func:`_searcher`) while the caller's thread writes out the chunk
before, reads the next and rewrites it: on two cores the search of a gigabyte
course costs little more wall time than the rest of the pass. The output lags
one chunk behind the input; it is the same output, chunk for chunk joined, as a
search in the caller's thread gives.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from mbx.moodle2.personal import CODE_LEAVES, MEMBER_CODE_LEAVES
from mbx.xml.folding import BARRIER, NameTrie, find_names, fold_text

__all__ = ["NameMatcher", "TextScrubber"]

#: Bytes gathered before a fold: fewer, larger folds.
FOLD_CHUNK = 1 << 20
_TAG_NAME = re.compile(rb"<([^\s/>!?]+)")


class NameMatcher:
    """Every form to look for, folded, and the replacement of each.

    ``forms`` are ``(original, replacement)`` pairs; forms that fold to fewer than
    two characters, or to no letter at all (numeric usernames), are left out: they
    would rewrite numbers and single letters everywhere. The first replacement
    given for a form wins.
    """

    def __init__(self, forms: Iterable[tuple[str, str]]) -> None:
        self.replacements: list[str] = []
        self.folded: dict[str, int] = {}
        for original, replacement in forms:
            folded = fold_text(original).strip(" ")
            if (len(folded) < 2 or not any(char.isalpha() for char in folded)
                    or BARRIER in folded or folded in self.folded):
                continue
            self.folded[folded] = len(self.replacements)
            self.replacements.append(replacement)
        self.trie = NameTrie(list(self.folded))

    def __bool__(self) -> bool:
        return bool(self.folded)

    def find(self, data: bytes, final: bool = True) -> tuple[list[tuple[int, int, int]], int]:
        """``([(start, end, replacement index), ...], consumed)`` for raw XML ``data``
        (:func:`~mbx.xml.folding.find_names`)."""
        return find_names(data, final, self.trie)

    def matches(self, text: str) -> bool:
        """Whether plain ``text`` contains any form."""
        return bool(self.find(_escape(text))[0])

    def whole(self, text: str) -> int | None:
        """The replacement index of the form ``text`` is exactly, if any."""
        return self.folded.get(fold_text(text).strip(" "))


def _escape(text: str) -> bytes:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode()


_searcher_lock = threading.Lock()
_searcher_of: tuple[int, ThreadPoolExecutor] | None = None


def _searcher() -> ThreadPoolExecutor:
    """The one worker thread searches run in (started on first use, and again in a
    forked child, which has no copy of the parent's thread)."""
    global _searcher_of
    with _searcher_lock:
        if _searcher_of is None or _searcher_of[0] != os.getpid():
            _searcher_of = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="mbx-scrub"))
        return _searcher_of[1]


class TextScrubber:
    """The byte filter of one XML member: ``feed`` raw bytes, get the rewritten bytes.

    ``member`` (the member's name) chooses which leaves are codes
    (:data:`~mbx.moodle2.personal.MEMBER_CODE_LEAVES`). The search of a chunk runs
    in the worker thread while the next one gathers: ``feed`` gives back the output
    of the chunk before.
    """

    def __init__(self, matcher: NameMatcher, member: str) -> None:
        self.matcher = matcher
        self.codes = CODE_LEAVES | MEMBER_CODE_LEAVES.get(member.rsplit("/", 1)[-1],
                                                          frozenset())
        self.replaced = 0
        self._pending = bytearray()  # the bytes after those being searched
        self._fold_at = FOLD_CHUNK  # pending bytes that make the next fold
        self._last_tag: str | None = None  # the element open before the searched bytes
        self._searching: tuple[bytes, Future] | None = None

    @property
    def changed(self) -> bool:
        return self.replaced > 0

    def feed(self, data: bytes) -> bytes:
        self._pending += data
        if len(self._pending) < max(self._fold_at, FOLD_CHUNK):
            return b""
        out = self._collect()
        if len(self._pending) >= max(self._fold_at, FOLD_CHUNK):
            self._submit(final=False)
        return out

    def close(self) -> bytes:
        out = self._collect()
        # the last search here: this thread would only wait for the worker (a small
        # member is searched whole here, with no hand-over at all)
        data = bytes(self._pending)
        self._pending.clear()
        found, consumed = self.matcher.find(data, True)
        return out + self._scrub(data, found, consumed)

    def _submit(self, final: bool) -> None:
        data = bytes(self._pending)
        self._pending.clear()
        self._searching = (data, _searcher().submit(self.matcher.find, data, final))

    def _collect(self) -> bytes:
        """The output of the search in flight (its unconsumed rest back in front of
        the pending bytes), or nothing."""
        if self._searching is None:
            return b""
        data, future = self._searching
        self._searching = None
        found, consumed = future.result()
        out = self._scrub(data, found, consumed)
        if consumed < len(data):
            self._pending[:0] = memoryview(data)[consumed:]
        # a text longer than a chunk is folded again from its start: wait for twice as
        # much before the next try, so a huge text costs a few folds, not one per chunk
        self._fold_at = 2 * (len(data) - consumed) if not out else FOLD_CHUNK
        return out

    def _scrub(self, data: bytes, found: list[tuple[int, int, int]], consumed: int) -> bytes:
        pieces = []
        position = 0
        enclosing = _Enclosing(data, self._last_tag)
        for raw_start, raw_end, index in found:
            name = enclosing.at(raw_start)
            if name is not None and name in self.codes:
                continue
            replacement = self.matcher.replacements[index]
            if data[raw_start:raw_end].decode("utf-8", "replace").isupper():
                replacement = replacement.upper()
            pieces.append(data[position:raw_start])
            pieces.append(replacement.encode())
            position = raw_end
            self.replaced += 1
        if position == 0:
            out = data[:consumed]
        else:
            pieces.append(data[position:consumed])
            out = b"".join(pieces)
        self._last_tag = enclosing.at(consumed)
        return out


class _Enclosing:
    """The name of the element whose start tag last precedes an offset, for offsets
    asked in increasing order: each byte of the buffer is searched once."""

    __slots__ = ("data", "name", "scanned")

    def __init__(self, data: bytes, name: str | None) -> None:
        self.data = data
        self.name = name      # as of offset ``scanned``
        self.scanned = 0

    def at(self, offset: int) -> str | None:
        data, limit = self.data, offset
        while limit > self.scanned:
            tag = data.rfind(b"<", self.scanned, limit)
            if tag < 0:
                break
            if data.startswith(b"<![CDATA[", tag):  # text: the element is the one before
                limit = tag
                continue
            match = _TAG_NAME.match(data, tag)
            self.name = match.group(1).decode("ascii", "replace") if match else None
            break
        self.scanned = max(self.scanned, offset)
        return self.name
