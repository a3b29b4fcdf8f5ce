"""Record building in pure Python: turns element events into dispatched records.

This is the pure twin of the compiled record builder, ``mbx/_speedups/_records.pxi``.
It receives start, text and end events (from expat, in ``_parser_py``) and
applies the record semantics documented in :mod:`mbx.xml.parser`: leaf
children become fields, a record is published when its element first goes
two levels deeper or closes, wrappers are dropped, and grouped paths collect
their registered descendants into one nested record.

Located mode (an ``end_handler`` is given, see :mod:`mbx.xml.rewriter`) also
tracks where things sit in the input: handlers receive ``(fields, start,
spans)``, ``spans`` giving each leaf field's ``(tag start, content start or -1
for an empty-element tag, end tag start, end)`` as absolute byte offsets, and
``end_handler(start, close start, end)`` follows the close of every registered
element that was not skipped. :attr:`RecordBuilder.hold` is the earliest offset
a later event may still refer to.
"""

from __future__ import annotations

from mbx.errors import XmlLimitError
from mbx._recordspec import attach_to_group
from mbx.xml._paths import GROUPED, IN_GROUP, REGISTERED, SELECTED_PARENT, SKIP, Limits, PathNode

_WS = " \t\n\r"
NULL_TOKEN = "$@NULL@$"


def utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class _Record:
    """State of one open element whose path is registered."""

    __slots__ = ("node", "depth", "attrs", "attrs_pending", "pending", "nonleaf", "built",
                 "owner", "at", "hold", "spans")

    def __init__(self, node: int, depth: int, attrs: dict, owner: "_Record | None",
                 at: int = -1) -> None:
        self.node = node
        self.depth = depth
        self.attrs = attrs
        self.attrs_pending = bool(attrs)
        #: Leaf fields of the chunk being collected: name -> (value, is_wrapper).
        self.pending: dict = {}
        #: A non-leaf child with attributes ended the chunk; Moodle publishes it
        #: even without leaves (its entry itself never becomes a field).
        self.nonleaf = False
        #: The record dict already delivered into a group (or the group's own dict).
        self.built: dict | None = None
        #: The grouped record this one belongs to (itself for a group root).
        self.owner = owner
        #: Located mode: where the element's start tag begins; where its pending chunk
        #: begins (-1 once published: nothing held); the spans of the pending leaves.
        self.at = at
        self.hold = at
        self.spans: dict = {}


class _Frame:
    """One open element."""

    __slots__ = ("node", "name", "record", "capture", "has_attrs", "wrapper", "text", "at",
                 "content_at")

    def __init__(self, node: int, name: str, at: int = -1) -> None:
        self.node = node
        self.name = name
        #: Located mode: where the start tag begins, and where the content begins
        #: (None until the engine sees what follows the start tag).
        self.at = at
        self.content_at: int | None = None
        self.record: _Record | None = None
        #: The record this element is a candidate leaf field of, while it is a leaf.
        self.capture: _Record | None = None
        self.has_attrs = False
        self.wrapper = False
        self.text: list[str] | None = None


class RecordBuilder:
    """Consumes element events, calls handlers with finished records."""

    def __init__(self, nodes: list[PathNode], limits: Limits, end_handler=None) -> None:
        self.nodes = nodes
        self.end_handler = end_handler
        self.located = end_handler is not None
        self.limits = limits
        self.children = {(node.parent, node.name): at for at, node in enumerate(nodes) if at}
        self.stack: list[_Frame] = [_Frame(0, "")]
        self.skip_depth = 0  # 0: not skipping; else the depth of the element that asked
        self.record_bytes = 0
        self.text_bytes = 0
        #: The exception a handler raised, so the engine can tell it from its own.
        self.handler_error: BaseException | None = None
        self.root_done = False

    # -- events -----------------------------------------------------------------

    @property
    def hold(self) -> int | None:
        """The earliest offset of a record chunk still pending, or None."""
        holds = [frame.record.hold for frame in self.stack
                 if frame.record is not None and frame.record.hold >= 0]
        return min(holds) if holds else None

    def start(self, name: str, attrs: dict, at: int = -1) -> None:
        stack = self.stack
        parent = stack[-1]
        depth = len(stack)
        self.text_bytes = 0
        if parent.capture is not None:
            # The parent turned out not to be a leaf: its own parent's chunk ends here.
            owner = parent.capture
            parent.capture = None
            parent.text = None
            if parent.has_attrs:
                owner.nonleaf = True
            self._flush(owner)
        node = self.children.get((parent.node, name), -1) if parent.node >= 0 else -1
        frame = _Frame(node, name, at)
        stack.append(frame)
        if self.skip_depth:
            return
        if parent.record is not None:
            if parent.record.hold < 0:
                parent.record.hold = at  # a candidate leaf starts a new chunk
            frame.capture = parent.record
            frame.text = []
            frame.has_attrs = bool(attrs)
            frame.wrapper = node >= 0 and bool(self.nodes[node].flags & (REGISTERED | SELECTED_PARENT))
        if node >= 0:
            flags = self.nodes[node].flags
            if flags & REGISTERED:
                if attrs:
                    self._count(sum(utf8_size(v) for v in attrs.values()))
                owner = None
                if flags & IN_GROUP:
                    owner = self._group_of(node)
                record = _Record(node, depth, attrs, owner, at)
                if flags & GROUPED:
                    record.owner = record
                    record.built = {}
                frame.record = record

    def text(self, data: str) -> None:
        size = utf8_size(data)
        self.text_bytes += size
        if self.text_bytes > self.limits.max_text:
            raise XmlLimitError(f"text longer than max_text={self.limits.max_text} bytes",
                                code="xml-limit-text")
        frame = self.stack[-1]
        if frame.text is not None:
            self._count(size)
            frame.text.append(data)

    def end(self, name: str = "", content_at: int = -1, close_at: int = -1,
            end_at: int = -1) -> None:
        frame = self.stack.pop()
        if len(self.stack) == 1:
            self.root_done = True
        self.text_bytes = 0
        if frame.capture is not None:
            value = "".join(frame.text)
            if value == NULL_TOKEN:
                value = None
            pending = frame.capture.pending
            if not (frame.name in pending and (value is None or not value.strip(_WS))):
                pending[frame.name] = (value, frame.wrapper)
                if self.located:
                    frame.capture.spans[frame.name] = (frame.at, content_at, close_at, end_at)
        record = frame.record
        if record is not None:
            self._flush(record)
            if record.owner is record:
                self._close_group(record)
            if self.located:
                self.end_handler(record.at, close_at, end_at)
        if self.skip_depth == len(self.stack):
            self.skip_depth = 0

    # -- records ----------------------------------------------------------------

    def _count(self, size: int) -> None:
        self.record_bytes += size
        if self.record_bytes > self.limits.max_record:
            raise XmlLimitError(f"record larger than max_record={self.limits.max_record} bytes",
                                code="xml-limit-record")

    def _group_of(self, node: int) -> _Record:
        root = self.nodes[node].group_root
        for frame in reversed(self.stack):
            if frame.node == root:
                return frame.record
        raise AssertionError("grouped ancestor not on the stack")

    def _flush(self, record: _Record) -> None:
        """Publishes the pending chunk of ``record``, as Moodle's parser does."""
        pending = record.pending
        record.hold = -1  # the chunk ends here, published or not: nothing before stays held
        if not pending and not record.nonleaf:
            return
        record.nonleaf = False
        spans, record.spans = record.spans, {}
        fields = {}
        blank = True
        for name, (value, wrapper) in pending.items():
            if wrapper and (value is None or value.startswith("\n")):
                continue
            fields[name] = value
            if blank and value and value.strip(_WS):
                blank = False
        record.pending = {}
        if record.attrs_pending:
            record.attrs_pending = False
            fields = {**record.attrs, **fields}
            blank = False
        if blank or not fields:
            return
        if record.owner is None:
            self._dispatch(record, fields, spans)
        elif record.built is not None:
            record.built.update(fields)
        else:
            record.built = fields
            attach_to_group(record.owner.built, self.nodes[record.node].group_path, fields)

    def _dispatch(self, record: _Record, fields: dict, spans: dict | None = None) -> None:
        self.record_bytes = 0
        try:
            if self.located:
                result = self.nodes[record.node].handler(fields, record.at, spans)
            else:
                result = self.nodes[record.node].handler(fields)
        except BaseException as exc:
            self.handler_error = exc
            raise
        if result is SKIP:
            self._skip_below(record)

    def _skip_below(self, record: _Record) -> None:
        self.skip_depth = record.depth
        for frame in self.stack[record.depth + 1:]:
            frame.record = None
            frame.capture = None
            frame.text = None

    def _close_group(self, record: _Record) -> None:
        built = record.built
        if record.attrs_pending:
            for key, value in record.attrs.items():
                built.setdefault(key, value)
        self._dispatch(record, built)
