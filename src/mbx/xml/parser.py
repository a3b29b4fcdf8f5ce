"""The streaming XML parser: bytes in, one record per registered element out.

Sits between the archive layer (which hands over member streams) and the
consumers (inspection, verification, restore), who register handlers on exact
element paths::

    parser = Parser()
    parser.add_path("/activity/forum/discussions/discussion/posts/post", on_post)
    parser.parse("activities/forum_12/forum.xml")

What a handler receives
-----------------------
Records follow Moodle's progressive parser and its simplified processor
(``backup/util/xml/parser``), so data reaches mbx's handlers exactly as it
reaches Moodle's restore steps:

* A record is a ``dict`` of ``str``: the element's own attributes plus the
  values of its *leaf* children (children with no child elements). A leaf
  whose text is exactly ``$@NULL@$`` gives ``None``. A leaf wins over an
  attribute of the same name. Attributes of leaves and text mixed between
  child elements are discarded; values are never trimmed.
* A record is published when its element first reaches two levels deeper
  (the first child of a non-leaf child opens) or when it closes, so records
  arrive in document order, parent before children. Leaves written *after* a
  non-leaf child reach the handler as a second record holding only them, as in
  Moodle (Moodle's own writer never does that).
* Among repeated leaves of one record the last non-empty one wins; a
  whitespace-only repetition never overwrites.
* A child whose path is registered, or is the direct parent of a registered
  path, is a wrapper: it is dropped when it is ``$@NULL@$`` or its text starts
  with a newline (``<posts>\\n  </posts>``). ``<posts/>`` stays as ``''``.
* A record whose values are all empty or whitespace, and which carries no
  attributes, is not dispatched. Nor is an element without leaf children
  (unless a non-leaf child of it has attributes, as in Moodle).
* ``grouped=True`` delivers the element once, when it closes, with every
  registered descendant nested inside it as ``wrapper -> name -> [records]``
  (``course["tags"]["tag"][0]["name"]``); a descendant attaches to the last
  occurrence of its parent. Descendants registered under a grouped path take
  no handler. Grouping holds the subtree in memory: use it for small parts.
* A handler returning :data:`SKIP` suppresses every further record from
  inside that element. An exception raised by a handler stops the parse and
  propagates unchanged, with a note (and ``exc.mbx_location``) saying where.

Where mbx departs from Moodle on purpose
----------------------------------------
1. A non-leaf child with attributes that is not a wrapper becomes a ``null``
   field in Moodle; mbx leaves it out (its data belongs to its own record).
2. Inside a grouped element, leaves after a nested child are merged into the
   record they belong to; Moodle appends them as a separate partial record.
3. A grouped element keeps its attributes even when it has no leaf children
   (Moodle loses them), and is dispatched even when it holds nothing.
4. Skipping ends when the element that asked for it closes; Moodle resumes
   at the next record outside its path, which lets that element's own later
   leaves through.
5. Input must be UTF-8 and element, attribute and instruction names ASCII.
   DOCTYPE declarations are refused outright: no DTD, no entities beyond the
   five predefined ones, hence no XXE and no entity expansion.

Limits (:class:`Limits`) bound depth, name length, attribute count, the size
of one text node and the bytes held for records not yet dispatched; each has
its own :class:`~mbx.errors.XmlLimitError` code. Every error names the source,
line, column and element path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO, Union

from mbx.xml import _core
from mbx.xml._paths import Limits, RegistrationError, check_paths, compile_paths, split_path

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, BinaryIO, Iterable[bytes]]

#: How much is read from a file or stream at a time.
READ_SIZE = 1 << 18


class Parser:
    """Dispatches records of registered paths to handlers, in constant memory.

    ``source`` names the input in error messages (an archive member, say); when
    :meth:`parse` gets a file path, that path is used.
    """

    def __init__(self, *, limits: Limits | None = None, source: str | None = None) -> None:
        self.limits = limits or Limits()
        self.source = source
        self._registrations: dict[tuple[str, ...], tuple[Callable | None, bool]] = {}
        self._nodes: list | None = None  # the table every parse starts from, built at its first feed
        self._engine = None

    def add_path(self, path: str, handler: Callable[[dict], Any] | None = None, *,
                 grouped: bool = False) -> None:
        """Registers ``handler(record)`` for elements at exactly ``path``.

        Paths inside a grouped path are registered without a handler: their
        records arrive nested in the grouped record.
        """
        if self._engine is not None:
            raise RegistrationError("add_path() during a parse: call close() first")
        names = split_path(path)
        if names in self._registrations:
            raise RegistrationError(f"path {path} is already registered")
        if handler is not None and not callable(handler):
            raise RegistrationError(f"handler for {path} is not callable: {handler!r}")
        registrations = dict(self._registrations)
        registrations[names] = (handler, grouped)
        check_paths(registrations)  # refuses conflicts now, not at parse time
        self._registrations = registrations
        self._nodes = None

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Parses the next chunk of the document; chunks may split anywhere."""
        if self._engine is None:
            if self._nodes is None:
                self._nodes = compile_paths(self._registrations)
            self._engine = _core.Engine(self._nodes, self.limits, self.source)
        self._engine.feed(data)

    def close(self) -> None:
        """Ends the document, raising if it is incomplete. The parser can then be reused."""
        if self._engine is None:
            self.feed(b"")
        engine, self._engine = self._engine, None
        engine.close()

    def parse(self, source: Source) -> None:
        """Parses a whole document from a path, bytes, a binary file or an iterable of chunks."""
        if isinstance(source, (str, os.PathLike)):
            saved = self.source
            self.source = self.source or os.fspath(source)
            try:
                with open(source, "rb") as stream:
                    self._parse_chunks(_read_chunks(stream))
            finally:
                self.source = saved
        elif isinstance(source, (bytes, bytearray, memoryview)):
            self._parse_chunks((source,))
        elif hasattr(source, "read"):
            self._parse_chunks(_read_chunks(source))
        else:
            self._parse_chunks(source)

    def _parse_chunks(self, chunks: Iterable[bytes]) -> None:
        self._engine = None
        try:
            for chunk in chunks:
                self.feed(chunk)
            self.close()
        finally:
            self._engine = None


def _read_chunks(stream: BinaryIO) -> Iterable[bytes]:
    while chunk := stream.read(READ_SIZE):
        yield chunk
