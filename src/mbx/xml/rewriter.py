"""The byte-preserving rewriter: a document in, the same document out, changed only where asked.

Transforms (anonymise, roll dates, strip user data...) change a few values in
large XML members. Re-serialising records would lose what Moodle and plugins
wrote around them (attribute quoting, whitespace, CDATA, comments, elements
nobody registered), so the rewriter copies the input and splices in only the
changes::

    rewriter = Rewriter(out.write, source="users.xml")
    rewriter.add_path("/users/user", lambda user: user.replace("firstname", "Ada"))
    rewriter.rewrite(stream)

Handlers receive an :class:`Element`: the record the parser would give
(``element.fields``, same semantics as :class:`mbx.xml.Parser`) and where it
sits. They can replace leaf values (escaped by the writer's rules, ``None``
writing Moodle's ``$@NULL@$``), drop the element with its subtree, and insert
bytes before it, after it or as its last child. Every byte no handler changed
passes through verbatim.

How it stays streaming: the parser engine runs in *located* mode, in which it
reports the byte offsets of each registered element and of each of its leaf
values, and tells, after every chunk, the earliest offset a later record may
still refer to (``hold()``: the start of a record chunk not yet dispatched).
Everything before that is written out at once; only a pending chunk is held,
which the parser's ``max_record`` already bounds. A dropped element's bytes are
discarded as they arrive. Both engines support located mode and give the same
offsets, hence the same output (``tests/test_rewriter.py`` compares them).

Several handlers may share a path (composed transforms): they run in the order
added, each seeing the original values; once one drops the element, the others
are not called. Attributes cannot be changed, and an element can only be
dropped or preceded by an insertion while its start is still held, that is by
a handler of its first record, which holds for every element Moodle writes
(leaves come before nested elements).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

from mbx.errors import MbxError
from mbx.xml import _core
from mbx.xml._escaping import escape_text
from mbx.xml._paths import SKIP, Limits, RegistrationError, compile_paths, split_path
from mbx.xml.parser import READ_SIZE, Source

__all__ = ["Element", "RewriteError", "Rewriter"]

NULL_TEXT = b"$@NULL@$"
_OPEN = -1  # the end of a drop whose element has not closed yet


class RewriteError(MbxError):
    """A handler asked for a change the rewriter cannot make (a programming error)."""

    code = "xml-rewrite"


class Element:
    """One registered element being rewritten: its record and where it sits."""

    __slots__ = ("fields", "start", "spans", "first", "dropped", "_rewriter")

    def __init__(self, rewriter: Rewriter, fields: dict, start: int, spans: dict,
                 first: bool) -> None:
        #: The record, as :class:`mbx.xml.Parser` gives it (original values).
        self.fields = fields
        #: Offset of the element's start tag in the input.
        self.start = start
        #: Leaf name -> (tag start, content start or -1 for ``<x/>``, end tag start, end).
        self.spans = spans
        #: Whether this is the element's first record (leaves after a nested element
        #: come as a second one, as in Moodle's parser).
        self.first = first
        self.dropped = False
        self._rewriter = rewriter

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)

    def __contains__(self, name: str) -> bool:
        return name in self.fields

    def replace(self, name: str, value: str | None) -> None:
        """Writes ``value`` as the text of leaf ``name`` (``None``: ``$@NULL@$``)."""
        span = self.spans.get(name)
        if span is None:
            raise RewriteError(f"{name!r} is not a leaf of this element (attributes and "
                               "absent leaves cannot be replaced)")
        text = NULL_TEXT if value is None else escape_text(value)
        tag_start, content_start, close_start, end = span
        if content_start < 0:  # <name/>: the whole tag becomes <name>value</name>
            encoded = name.encode("ascii")
            self._rewriter._edit(tag_start, end, b"<%s>%s</%s>" % (encoded, text, encoded))
        else:
            self._rewriter._edit(content_start, close_start, text)

    def drop(self) -> None:
        """Removes the element with everything inside it (from its first record)."""
        self._check_first("dropped")
        if not self.dropped:
            self.dropped = True
            self._rewriter._drop(self.start)

    def insert_before(self, data: bytes) -> None:
        """Writes ``data`` (serialised XML) just before the element's start tag."""
        self._check_first("preceded by an insertion")
        self._rewriter._edit(self.start, self.start, bytes(data))

    def insert_after(self, data: bytes) -> None:
        """Writes ``data`` just after the element's end tag."""
        self._rewriter._at_end(self.start, "after", bytes(data))

    def append(self, data: bytes) -> None:
        """Writes ``data`` as the element's last content, before its end tag."""
        self._rewriter._at_end(self.start, "append", bytes(data))

    def _check_first(self, what: str) -> None:
        if not self.first:
            raise RewriteError(f"an element can only be {what} by a handler of its first "
                               "record: its start tag is written by the time leaves after "
                               "a nested element arrive")


Handler = Callable[[Element], Any]


class Rewriter:
    """Copies one XML document to ``write``, applying what the handlers ask.

    ``source`` names the input in errors. The rewriter can be reused for the
    next document once :meth:`close` (or :meth:`rewrite`) returns.
    """

    def __init__(self, write: Callable[[bytes], Any], *, limits: Limits | None = None,
                 source: str | None = None) -> None:
        self.write = write
        self.limits = limits or Limits()
        self.source = source
        self._handlers: dict[tuple[str, ...], list[Handler]] = {}
        self._once: dict[tuple[str, ...], bool] = {}
        self._engine = None
        self._done = False
        #: How many edits the last document received (0: output equals input).
        self.edits = 0

    def add_path(self, path: str, handler: Handler, *, once: bool = False) -> None:
        """Calls ``handler(element)`` for each element at exactly ``path``.

        ``once``: only the first record at ``path`` matters (a document's root
        element, say). When every path is registered so and each has had its record,
        with no drop or insertion waiting for an element's end, the rest of the
        document is copied without parsing it, as an untouched member is.
        """
        if self._engine is not None:
            raise RegistrationError("add_path() during a rewrite")
        if not callable(handler):
            raise RegistrationError(f"handler for {path} is not callable: {handler!r}")
        names = split_path(path)
        self._handlers.setdefault(names, []).append(handler)
        self._once[names] = self._once.get(names, True) and once

    @property
    def paths(self) -> list[str]:
        return ["/" + "/".join(names) for names in self._handlers]

    # -- feeding ------------------------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._done:
            if data:
                self.write(bytes(data))
            return
        if self._engine is None:
            self._start()
        self._pending += data
        self._fed += len(data)
        self._engine.feed(data)
        if self._waiting_once is not None and not self._waiting_once and not self._ends:
            self._emit(self._fed)  # every change is known: the rest is copied as it comes
            self._done = True
            return
        self._emit(self._keep_indentation(self._engine.hold()))

    def close(self) -> None:
        """Ends the document (raising if it is incomplete) and writes the rest."""
        if self._done:
            self._done, self._engine = False, None
            return
        if self._engine is None:
            self._start()
        engine, self._engine = self._engine, None
        engine.close()
        self._emit(self._fed)

    def rewrite(self, source: Source) -> None:
        """Rewrites a whole document from a path, bytes, a binary file or chunks."""
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as stream:
                self._rewrite_chunks(_read_chunks(stream))
        elif isinstance(source, (bytes, bytearray, memoryview)):
            self._rewrite_chunks((source,))
        elif hasattr(source, "read"):
            self._rewrite_chunks(_read_chunks(source))
        else:
            self._rewrite_chunks(source)

    def _rewrite_chunks(self, chunks: Iterable[bytes]) -> None:
        self._engine, self._done = None, False
        try:
            for chunk in chunks:
                self.feed(chunk)
            self.close()
        finally:
            self._engine, self._done = None, False

    def _start(self) -> None:
        registrations = {names: (self._dispatcher(names, handlers), False)
                         for names, handlers in self._handlers.items()}
        #: The once-only paths still to see, or None when some path is not once-only.
        self._waiting_once = (set(self._handlers) if all(self._once.values()) and self._once
                              else None)
        self._engine = _core.Engine(compile_paths(registrations), self.limits, self.source,
                                    self._closed)
        self._pending = bytearray()   # input from _cursor on, not yet written
        self._cursor = 0
        self._fed = 0
        self._edits: list[list] = []  # [start, end, sequence, bytes]
        self._ends: dict[int, list[tuple[str, bytes]]] = {}  # element start -> end work
        self._sequence = 0
        self._dispatched: set[int] = set()  # open elements that had a record: bounded by depth
        self.edits = 0

    def _dispatcher(self, names: tuple[str, ...], handlers: list[Handler]):
        def dispatch(fields: dict, start: int, spans: dict):
            if self._waiting_once is not None:
                self._waiting_once.discard(names)
            first = start not in self._dispatched
            self._dispatched.add(start)
            element = Element(self, fields, start, spans, first)
            for handler in handlers:
                handler(element)
                if element.dropped:
                    return SKIP
            return None
        return dispatch

    # -- edits --------------------------------------------------------------------------

    def _edit(self, start: int, end: int, data: bytes) -> None:
        if start < self._cursor:
            raise RewriteError(f"offset {start} of {self.source or 'the document'} is already "
                               "written: only a handler of an element's first record can "
                               "change what comes before its first nested element")
        self._sequence += 1
        self._edits.append([start, end, self._sequence, data])
        self.edits += 1

    def _drop(self, start: int) -> None:
        """Drops the element at ``start``, with the line break and indentation before it
        when only those stand between it and the previous line (no blank line is left)."""
        at = start - self._cursor
        pending = self._pending
        while at > 0 and pending[at - 1] in b" \t":
            at -= 1
        begin = self._cursor + at - 1 if at > 0 and pending[at - 1] == 0x0A else start
        self._edit(begin, _OPEN, b"")
        self._ends.setdefault(start, []).append(("drop", self._edits[-1]))

    def _keep_indentation(self, upto: int) -> int:
        """``upto``, moved back before a line break and indentation it would end in (an
        element's drop may take them; see :meth:`_drop`), and before any edit it would
        cut in two."""
        pending, at = self._pending, upto - self._cursor
        while at > 0 and pending[at - 1] in b" \t":
            at -= 1
        if at > 0 and pending[at - 1] == 0x0A:
            upto = self._cursor + at - 1
        for start, end, _, _ in self._edits:
            if start < upto < end:
                upto = start
        return upto

    def _at_end(self, start: int, where: str, data: bytes) -> None:
        self._ends.setdefault(start, []).append((where, data))
        self.edits += 1

    def _closed(self, start: int, close_start: int, end: int) -> None:
        """The engine's end handler: a registered element closed."""
        self._dispatched.discard(start)
        work = self._ends.pop(start, None)
        if not work:
            return
        for where, data in work:
            if where == "drop":
                data[1] = end  # the drop's edit
            else:
                self._sequence += 1
                at = close_start if where == "append" else end
                self._edits.append([at, at, self._sequence, data])

    def _emit(self, upto: int) -> None:
        """Writes the input up to offset ``upto`` with the edits that fall before it."""
        cursor = self._cursor
        if upto <= cursor:
            return
        pending = self._pending
        position = cursor   # input before this is written or discarded
        keep: list[list] = []
        pieces: list = []
        for edit in sorted(self._edits, key=lambda edit: (edit[0], edit[2])):
            start, end, _, data = edit
            if start > upto or (start == upto and end != start):
                keep.append(edit)  # not reached yet
            elif start < position:
                # inside what an earlier edit replaced or dropped
                if end == _OPEN:  # a drop begun earlier, still open: discard all that came
                    keep.append(edit)
                    position = upto
                elif end > position:
                    position = end
            elif end == _OPEN:
                # a drop still open: write up to it, discard what has arrived of it
                pieces.append(bytes(pending[position - cursor:start - cursor]))
                position = upto
                keep.append(edit)
            else:
                pieces.append(bytes(pending[position - cursor:start - cursor]))
                pieces.append(data)
                position = end
        if position < upto:
            pieces.append(bytes(pending[position - cursor:upto - cursor]))
        self._edits = keep
        for piece in pieces:
            if piece:
                self.write(piece)
        del pending[:upto - cursor]
        self._cursor = upto


def _read_chunks(stream: BinaryIO) -> Iterable[bytes]:
    while chunk := stream.read(READ_SIZE):
        yield chunk
