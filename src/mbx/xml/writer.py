"""The streaming XML writer: records in, Moodle-shaped XML bytes out.

Sits at the end of the data flow (transforms, synthetic courses, backup), in
front of the archive writer. Output follows Moodle's own writer
(``backup/util/xml``): the exact prologue, two-space indentation, a leaf per
line, ``$@NULL@$`` for ``None``, empty wrappers as an open tag and a close tag
on the next line, nothing after the root. It is a state machine: a mismatched
``end()`` or closing with elements open raises :class:`XmlWriterError`.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, BinaryIO, Iterator, Mapping

from mbx.errors import XmlWriterError
from mbx.xml._escaping import escape_attribute, escape_text

PROLOGUE = b'<?xml version="1.0" encoding="UTF-8"?>\n'
NULL_TOKEN = b"$@NULL@$"
_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:.\-]*\Z")


class XmlWriter:
    """Writes one XML document to a binary stream, in constant memory.

    Values may be ``str``, ``None`` (written ``$@NULL@$``), ``bool`` (``1`` or
    empty, as PHP prints them) or anything ``str()`` turns into text.
    """

    def __init__(self, stream: BinaryIO, *, buffer_size: int = 1 << 16) -> None:
        self._stream = stream
        self._buffer: list[bytes] = [PROLOGUE]
        self._buffered = len(PROLOGUE)
        self._buffer_size = buffer_size
        self._open: list[str] = []
        self._root_done = False

    # -- the state machine ----------------------------------------------------------

    def start(self, name: str, attrs: Mapping[str, Any] | None = None) -> None:
        """Opens an element that will have child elements."""
        self._before_child(name)
        self._put(b"<" + name.encode())
        if attrs:
            self._put_attributes(attrs)
        self._put(b">")
        self._open.append(name)

    def end(self, name: str) -> None:
        """Closes the innermost element, which must be ``name``."""
        if not self._open:
            raise XmlWriterError(f"end({name!r}) with no element open")
        if self._open[-1] != name:
            raise XmlWriterError(f"end({name!r}) while <{self._open[-1]}> is open")
        self._open.pop()
        self._put(b"\n" + b"  " * len(self._open) + b"</" + name.encode() + b">")
        if not self._open:
            self._root_done = True

    def leaf(self, name: str, value: Any, attrs: Mapping[str, Any] | None = None) -> None:
        """Writes ``<name>value</name>`` on its own line."""
        self._before_child(name)
        self._put(b"<" + name.encode())
        if attrs:
            self._put_attributes(attrs)
        self._put(b">" + _text(value) + b"</" + name.encode() + b">")
        if not self._open:
            self._root_done = True

    @contextmanager
    def element(self, name: str, attrs: Mapping[str, Any] | None = None) -> Iterator[None]:
        """``with writer.element("posts"):`` opens and closes around the block."""
        self.start(name, attrs)
        yield
        self.end(name)

    def record(self, name: str, fields: Mapping[str, Any],
               attrs: Mapping[str, Any] | None = None) -> None:
        """Writes an element holding one leaf per field, in order."""
        self.start(name, attrs)
        for key, value in fields.items():
            self.leaf(key, value)
        self.end(name)

    def close(self) -> None:
        """Flushes everything; raises if the document is not complete."""
        if self._open:
            raise XmlWriterError(f"close() with elements still open: /{'/'.join(self._open)}")
        if not self._root_done:
            raise XmlWriterError("close() before any root element was written")
        self.flush()

    def flush(self) -> None:
        """Writes buffered output to the stream."""
        if self._buffer:
            self._stream.write(b"".join(self._buffer))
            self._buffer.clear()
            self._buffered = 0

    # -- internals ------------------------------------------------------------------

    def _before_child(self, name: str) -> None:
        if not _NAME.match(name):
            raise XmlWriterError(f"invalid element name {name!r}")
        if self._root_done:
            raise XmlWriterError(f"<{name}> after the root element was closed")
        if self._open:
            self._put(b"\n" + b"  " * len(self._open))

    def _put_attributes(self, attrs: Mapping[str, Any]) -> None:
        for key, value in attrs.items():
            if not _NAME.match(key):
                raise XmlWriterError(f"invalid attribute name {key!r}")
            text = b"" if value is None else escape_attribute(_as_text(value))
            self._put(b" " + key.encode() + b'="' + text + b'"')

    def _put(self, data: bytes) -> None:
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered >= self._buffer_size:
            self.flush()


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else ""
    return str(value)


def _text(value: Any) -> bytes:
    if value is None:
        return NULL_TOKEN
    return escape_text(_as_text(value))
