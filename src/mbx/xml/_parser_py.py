"""The pure-Python parser engine: expat for tokenizing, ``_records_py`` for records.

Pure twin of ``mbx/_speedups/_parser.pyx``, with the public API its stub
``_parser.pyi`` states (``tests/test_twins.py`` checks). Both engines take the same node
table and limits, accept and refuse the same documents, and hand handlers the
same records; where their reports may differ (messages, error positions) the
differences are listed in ``differences.json``, not here.
"""

from __future__ import annotations

import re
from typing import Callable
from xml.parsers import expat

from mbx._recordspec import JUNK_AFTER_ROOT_CODES, token_guard
from mbx.errors import MbxError, XmlError, XmlForbiddenError, XmlLimitError, XmlSyntaxError
from mbx.xml._paths import Limits, PathNode
from mbx.xml._records_py import RecordBuilder, utf8_size

_VERSION = re.compile(r"1\.[0-9]+\Z")
_ERR = expat.errors.codes
#: expat error number -> (mbx error code, exception class)
_EXPAT_CODES = {
    _ERR[expat.errors.XML_ERROR_TAG_MISMATCH]: "xml-mismatched-tag",
    _ERR[expat.errors.XML_ERROR_NO_ELEMENTS]: "xml-unclosed",
    _ERR[expat.errors.XML_ERROR_UNCLOSED_TOKEN]: "xml-unclosed",
    _ERR[expat.errors.XML_ERROR_PARTIAL_CHAR]: "xml-unclosed",
    _ERR[expat.errors.XML_ERROR_UNCLOSED_CDATA_SECTION]: "xml-unclosed",
    _ERR[expat.errors.XML_ERROR_JUNK_AFTER_DOC_ELEMENT]: "xml-junk-after-root",
    _ERR[expat.errors.XML_ERROR_BAD_CHAR_REF]: "xml-bad-reference",
    _ERR[expat.errors.XML_ERROR_UNDEFINED_ENTITY]: "xml-bad-reference",
    _ERR[expat.errors.XML_ERROR_DUPLICATE_ATTRIBUTE]: "xml-duplicate-attribute",
    _ERR[expat.errors.XML_ERROR_XML_DECL]: "xml-bad-declaration",
    _ERR[expat.errors.XML_ERROR_MISPLACED_XML_PI]: "xml-bad-declaration",
    _ERR[expat.errors.XML_ERROR_INVALID_TOKEN]: "xml-syntax",
    _ERR[expat.errors.XML_ERROR_SYNTAX]: "xml-syntax",
}


class Engine:
    """Parses one document fed in chunks, calling handlers with records."""

    def __init__(self, nodes: list[PathNode], limits: Limits, source: str | None,
                 end_handler: Callable[[int, int, int], object] | None = None) -> None:
        self.source = source
        self.limits = limits
        self._head: bytes | None = b""
        self._guard = token_guard(limits.max_text)
        self._fed = 0
        self._wait = 0
        self._held: list[bytes] = []
        self._held_size = 0
        self.builder = builder = RecordBuilder(nodes, limits, end_handler)
        self.parser = parser = expat.ParserCreate(encoding="UTF-8")
        parser.buffer_size = 1 << 16
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartElementHandler = self._start
        parser.XmlDeclHandler = self._declaration
        parser.ProcessingInstructionHandler = self._instruction
        parser.CommentHandler = self._comment
        self._located = end_handler is not None
        if self._located:
            # expat reports where each event starts; the content of an element starts
            # where the first event after its start tag does, so no text is coalesced
            parser.buffer_text = False
            parser.EndElementHandler = self._end_located
            parser.CharacterDataHandler = self._text_located
            parser.StartCdataSectionHandler = self._touch
            #: The input from just before the last event on, to find where tags end.
            self._window = bytearray()
            self._window_base = 0
        else:
            parser.buffer_text = True
            parser.EndElementHandler = builder.end
            parser.CharacterDataHandler = builder.text
        parser.StartDoctypeDeclHandler = self._doctype
        parser.EntityDeclHandler = self._doctype

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._head is not None:
            # expat would switch to UTF-16 on a byte-order mark or a NUL byte: refuse first
            self._head += bytes(data)
            if len(self._head) < 2:
                return
            data, self._head = self._head, None
            _refuse_utf16(data, self.source)
        if self._wait:
            # expat rescans an unfinished token on every call: hand it more only once
            # the held bytes have doubled, which keeps the total work linear
            self._held.append(bytes(data))
            self._held_size += len(data)
            if self._held_size < self._wait and self._held_size <= self._guard:
                return
            data = b"".join(self._held)
            self._held, self._held_size = [], 0
        self._run(data, False)
        self._fed += len(data)
        unfinished = self._fed - self.parser.CurrentByteIndex
        if unfinished > self._guard:
            raise XmlLimitError(f"a single markup token is larger than {self._guard} bytes "
                                "(2 x max_text + 1 MiB)", code="xml-limit-text",
                                source=self.source, line=self.parser.CurrentLineNumber,
                                column=self.parser.CurrentColumnNumber + 1, path=self._path())
        self._wait = unfinished if unfinished > (1 << 16) else 0

    def close(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            _refuse_utf16(head, self.source)
            self._run(head, False)
        if self._held:
            held, self._held, self._held_size = b"".join(self._held), [], 0
            self._run(held, False)
        self._run(b"", True)

    def hold(self) -> int:
        """Located mode: no later event refers to input before this offset."""
        position = max(self.parser.CurrentByteIndex, 0)
        held = self.builder.hold
        return position if held is None else min(held, position)

    def _run(self, data, final: bool) -> None:
        if self._located:
            self._window += data
        try:
            self.parser.Parse(data, final)
        except expat.ExpatError as exc:
            code = self._after_root(_EXPAT_CODES.get(exc.code, "xml-syntax"))
            raise XmlSyntaxError(expat.errors.messages[exc.code], code=code, source=self.source,
                                 line=exc.lineno, column=exc.offset + 1, path=self._path()) from None
        except MbxError as exc:
            if exc is self.builder.handler_error:
                self._locate_handler_error(exc)
                raise
            self._locate(exc)
            exc.code = self._after_root(exc.code)
            raise
        except BaseException as exc:
            if exc is self.builder.handler_error:
                self._locate_handler_error(exc)
            raise
        if self._located:
            keep = max(self.parser.CurrentByteIndex - 2, self._window_base)
            del self._window[:keep - self._window_base]
            self._window_base = keep

    # -- expat callbacks --------------------------------------------------------

    def _start(self, name: str, attrs: dict) -> None:
        limits = self.limits
        if len(self.builder.stack) > limits.max_depth:
            raise XmlLimitError(f"elements nested deeper than max_depth={limits.max_depth}",
                                code="xml-limit-depth")
        _check_name(name, limits)
        if attrs:
            if len(attrs) > limits.max_attributes:
                raise XmlLimitError(f"more than max_attributes={limits.max_attributes} "
                                    "attributes", code="xml-limit-attributes")
            for key in attrs:
                _check_name(key, limits)
            if sum(utf8_size(value) for value in attrs.values()) > limits.max_text:
                raise XmlLimitError(f"attribute values longer than max_text={limits.max_text} "
                                    "bytes", code="xml-limit-text")
        if self._located:
            at = self.parser.CurrentByteIndex
            self._touch()
            self.builder.start(name, attrs, at)
        else:
            self.builder.start(name, attrs)

    # -- located mode: where each element's parts begin and end ---------------------

    def _touch(self, *_ignored) -> None:
        """An event: the open element's content has begun by here."""
        frame = self.builder.stack[-1]
        if frame.content_at is None:
            frame.content_at = self.parser.CurrentByteIndex

    def _text_located(self, data: str) -> None:
        self._touch()
        self.builder.text(data)

    def _end_located(self, name: str) -> None:
        at = self.parser.CurrentByteIndex  # the end tag, or just after an empty-element tag
        frame = self.builder.stack[-1]
        window, base = self._window, self._window_base
        if frame.content_at is None and window[at - base - 2:at - base] == b"/>":
            self.builder.end(name, -1, frame.at, at)
            return
        content_at = at if frame.content_at is None else frame.content_at
        self.builder.end(name, content_at, at, window.index(b">", at - base) + base + 1)

    def _declaration(self, version, encoding, standalone) -> None:
        if not _VERSION.match(version or ""):
            raise XmlSyntaxError(f"XML version {version!r} is not 1.x",
                                 code="xml-bad-declaration")
        if encoding is not None and encoding.lower() != "utf-8":
            raise XmlSyntaxError(f"encoding {encoding!r} is not supported: mbx reads UTF-8 only",
                                 code="xml-unsupported")

    def _instruction(self, target: str, data: str) -> None:
        _check_name(target, self.limits)
        self._comment(data)  # (also where located mode notes the event)

    def _comment(self, data: str) -> None:
        if self._located:
            self._touch()
        if utf8_size(data) > self.limits.max_text:
            raise XmlLimitError(f"text longer than max_text={self.limits.max_text} bytes",
                                code="xml-limit-text")

    def _doctype(self, *args) -> None:
        raise XmlForbiddenError("DOCTYPE declarations are refused (no DTDs, no entities)",
                                code="xml-dtd-forbidden")

    # -- locations ----------------------------------------------------------------

    def _after_root(self, code: str) -> str:
        if self.builder.root_done and code in JUNK_AFTER_ROOT_CODES:
            return "xml-junk-after-root"
        return code

    def _path(self) -> str:
        return "/" + "/".join(frame.name for frame in self.builder.stack[1:])

    def _locate(self, exc: XmlError) -> None:
        if exc.source is None:
            exc.source = self.source
        if exc.line is None:
            exc.line = self.parser.CurrentLineNumber
            exc.column = self.parser.CurrentColumnNumber + 1
        if exc.path is None:
            exc.path = self._path()

    def _locate_handler_error(self, exc: BaseException) -> None:
        where = (f"{self.source or '<input>'}:{self.parser.CurrentLineNumber}:"
                 f"{self.parser.CurrentColumnNumber + 1}")
        exc.mbx_location = {"source": self.source, "line": self.parser.CurrentLineNumber,
                            "column": self.parser.CurrentColumnNumber + 1, "path": self._path()}
        exc.add_note(f"raised by the handler of a record ending at {where} (in {self._path()})")


def _refuse_utf16(head: bytes, source: str | None) -> None:
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or 0 in head[:2]:
        raise XmlSyntaxError("UTF-16 or UTF-32 input is not supported: mbx reads UTF-8 only",
                             code="xml-unsupported", source=source, line=1, column=1, path="/")


def _check_name(name: str, limits: Limits) -> None:
    if len(name) > limits.max_name_length:
        raise XmlLimitError(f"name longer than max_name_length={limits.max_name_length}",
                            code="xml-limit-name")
    if not name.isascii():
        raise XmlSyntaxError(f"non-ASCII name {name!r} is not supported",
                             code="xml-unsupported")
