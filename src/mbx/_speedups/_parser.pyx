# cython: language_level=3
"""Compiled parser engine: our own XML tokenizer, path tracker and record builder.

Compiled twin of ``mbx/xml/_parser_py.py`` (expat + ``_records_py``). The loop
below scans large byte buffers and never calls Python per XML event: names are
matched against the registered-path table in C, leaf text is gathered in a C
buffer, and Python objects are made only for the records that get dispatched.
Semantics are documented in ``mbx.xml.parser``; this file must keep them
identical to the pure path (the test suite compares both on every real backup).

Input may be split anywhere: what cannot be decided yet (a tag cut in two, a
partial UTF-8 sequence, a CR that may be followed by LF) stays in the buffer
until more bytes come. Long text is consumed as it arrives.
"""

cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_Contains, PyDict_Copy, PyDict_GetItem, PyDict_SetItem, PyDict_Update, PyDict_Next, PyDict_DelItem
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcmp, memcpy, memmove

import re

from mbx.errors import MbxError, XmlForbiddenError, XmlLimitError, XmlSyntaxError
from mbx._recordspec import (GROUPED, IN_GROUP, JUNK_AFTER_ROOT_CODES, REGISTERED,
                             SELECTED_PARENT, SKIP, attach_to_group, token_guard)

cdef extern from "_scan.h":
    size_t mbx_plain_text_run(const unsigned char* p, size_t n) nogil

cdef extern from "Python.h":
    PyObject* PyDict_SetDefault(object, object, object) except NULL
    dict _PyDict_NewPresized(Py_ssize_t)
    int PyUnicode_KIND(object)
    Py_UCS4 PyUnicode_READ(int, void*, Py_ssize_t)
    void Py_XDECREF(PyObject*)
    void Py_XINCREF(PyObject*)
    void* PyUnicode_DATA(object)
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    object PyUnicode_FromStringAndSize(const char*, Py_ssize_t)

ctypedef unsigned char uchar

# Byte classes: 0 plain, 1 needs a look (in text, and in attribute values).
cdef uchar c_text_class[256]
cdef uchar c_attr_class[256]
# Byte classes for names: 1 start char, 2 later char only.
cdef uchar c_name_class[256]


cdef void c_init_tables():
    cdef int b
    for b in range(256):
        c_text_class[b] = 1 if (b < 0x20 and b != 0x09 and b != 0x0A) or b >= 0x80 else 0
        c_attr_class[b] = 1 if b < 0x20 or b >= 0x80 else 0
        c_name_class[b] = 0
        if (b >= ord('a') and b <= ord('z')) or (b >= ord('A') and b <= ord('Z')) or b == ord('_') or b == ord(':'):
            c_name_class[b] = 1
        elif (b >= ord('0') and b <= ord('9')) or b == ord('-') or b == ord('.'):
            c_name_class[b] = 2
    for b in (ord('<'), ord('&'), ord(']')):
        c_text_class[b] = 1
    for b in (ord('<'), ord('&'), ord('"'), ord("'")):
        c_attr_class[b] = 1


c_init_tables()

DEF NEED_MORE = -1
DEF WS_CHARS = b" \t\n\r"

cdef enum:
    F_CAPTURE = 1
    F_HAS_ATTRS = 2
    F_WRAPPER = 4


cdef struct c_Frame:
    int node
    Py_ssize_t name_start
    Py_ssize_t name_len
    int flags


cdef struct c_Node:
    int parent
    int first_child
    int next_sibling
    int flags
    int group_root
    const char* name
    Py_ssize_t name_len


cdef struct c_NameSlot:
    size_t hash
    PyObject* obj


cdef inline bint c_is_ws(uchar c):
    return c == 0x20 or c == 0x0A or c == 0x09 or c == 0x0D


cdef inline bint c_is_blank(object text):
    """Whether a str is empty or holds only space, tab, CR and LF."""
    cdef Py_ssize_t i, size = PyUnicode_GET_LENGTH(text)
    cdef int kind = PyUnicode_KIND(text)
    cdef void* data = PyUnicode_DATA(text)
    cdef Py_UCS4 c
    for i in range(size):
        c = PyUnicode_READ(kind, data, i)
        if c != 32 and c != 10 and c != 9 and c != 13:
            return False
    return True


cdef inline int c_utf8_length(const uchar* p, const uchar* end):
    """Length of the valid, XML-legal UTF-8 sequence at p; 0 if more bytes are
    needed; -1 if it is invalid or not an XML character."""
    cdef uchar c = p[0]
    cdef Py_ssize_t avail = end - p
    if c < 0xC2:
        return -1
    if c < 0xE0:
        if avail < 2:
            return 0
        return 2 if (p[1] & 0xC0) == 0x80 else -1
    if c < 0xF0:
        if avail < 2:
            return 0
        if (p[1] & 0xC0) != 0x80:
            return -1
        if c == 0xE0 and p[1] < 0xA0:
            return -1
        if c == 0xED and p[1] >= 0xA0:
            return -1
        if avail < 3:
            return 0
        if (p[2] & 0xC0) != 0x80:
            return -1
        if c == 0xEF and p[1] == 0xBF and (p[2] == 0xBE or p[2] == 0xBF):
            return -1
        return 3
    if c < 0xF5:
        if avail < 2:
            return 0
        if (p[1] & 0xC0) != 0x80:
            return -1
        if c == 0xF0 and p[1] < 0x90:
            return -1
        if c == 0xF4 and p[1] >= 0x90:
            return -1
        if avail < 3:
            return 0
        if (p[2] & 0xC0) != 0x80:
            return -1
        if avail < 4:
            return 0
        return 4 if (p[3] & 0xC0) == 0x80 else -1
    return -1


cdef inline int c_encode_utf8(unsigned long cp, uchar* out):
    if cp < 0x80:
        out[0] = <uchar>cp
        return 1
    if cp < 0x800:
        out[0] = <uchar>(0xC0 | (cp >> 6))
        out[1] = <uchar>(0x80 | (cp & 0x3F))
        return 2
    if cp < 0x10000:
        out[0] = <uchar>(0xE0 | (cp >> 12))
        out[1] = <uchar>(0x80 | ((cp >> 6) & 0x3F))
        out[2] = <uchar>(0x80 | (cp & 0x3F))
        return 3
    out[0] = <uchar>(0xF0 | (cp >> 18))
    out[1] = <uchar>(0x80 | ((cp >> 12) & 0x3F))
    out[2] = <uchar>(0x80 | ((cp >> 6) & 0x3F))
    out[3] = <uchar>(0x80 | (cp & 0x3F))
    return 4


@cython.final
cdef class _Record:
    """State of one open element whose path is registered (see ``_records_py``)."""
    cdef int node
    cdef int depth
    cdef object attrs
    cdef bint attrs_pending
    cdef dict pending
    cdef bint nonleaf
    cdef object built
    cdef _Record owner


@cython.final
cdef class Engine:
    """Parses one document fed in chunks, calling handlers with records."""

    # input
    cdef uchar* buf
    cdef Py_ssize_t buf_len, buf_cap, pos
    cdef Py_ssize_t retry_len        # wait for this many pending bytes before retrying
    cdef long long consumed          # bytes dropped from the front of buf so far
    cdef long long line_base         # newlines in dropped bytes
    cdef long long last_nl           # absolute offset just after the last dropped newline
    cdef bint at_start, root_seen, root_done, closed
    # element stack
    cdef c_Frame* frames
    cdef int depth, max_depth
    cdef uchar* names
    cdef Py_ssize_t names_len, names_cap
    # captured leaf text
    cdef uchar* text
    cdef Py_ssize_t text_len, text_cap
    cdef long long text_bytes, record_bytes
    cdef long long max_text, max_record, token_guard
    cdef int max_name, max_attrs
    # attribute scratch: start/len of each name in the current tag
    cdef Py_ssize_t* attr_spans
    # path table
    cdef c_Node* nodes
    cdef int node_count
    cdef list node_names              # keeps node name bytes alive
    cdef list handlers
    cdef list group_paths
    cdef list wrappers                # per node: frozenset of wrapper child names
    cdef list records                 # per depth: _Record or None
    cdef PyObject** leaf_names         # per depth: field name of a capturing frame (owned)
    cdef int skip_depth
    # name interning
    cdef c_NameSlot* name_slots
    cdef int name_count
    cdef list name_refs
    cdef object source
    cdef public object handler_error
    cdef Py_ssize_t text_bytes_scratch   # size of the last decoded reference

    def __cinit__(self):
        self.buf = NULL
        self.frames = NULL
        self.names = NULL
        self.text = NULL
        self.attr_spans = NULL
        self.nodes = NULL
        self.name_slots = NULL
        self.leaf_names = NULL

    def __init__(self, nodes, limits, source):
        cdef int i, count = len(nodes)
        self.source = source
        self.max_depth = limits.max_depth
        self.max_name = limits.max_name_length
        self.max_attrs = limits.max_attributes
        self.max_text = limits.max_text
        self.max_record = limits.max_record
        self.token_guard = token_guard(limits.max_text)
        self.buf_cap = 1 << 16
        self.buf = <uchar*>malloc(self.buf_cap)
        self.frames = <c_Frame*>malloc((self.max_depth + 2) * sizeof(c_Frame))
        self.names_cap = 4096
        self.names = <uchar*>malloc(self.names_cap)
        self.text_cap = 4096
        self.text = <uchar*>malloc(self.text_cap)
        self.attr_spans = <Py_ssize_t*>malloc((self.max_attrs + 1) * 2 * sizeof(Py_ssize_t))
        self.nodes = <c_Node*>malloc(count * sizeof(c_Node))
        self.name_slots = <c_NameSlot*>malloc(8192 * sizeof(c_NameSlot))
        if (self.buf == NULL or self.frames == NULL or self.names == NULL or self.text == NULL
                or self.attr_spans == NULL or self.nodes == NULL or self.name_slots == NULL):
            raise MemoryError()
        for i in range(8192):
            self.name_slots[i].obj = NULL
        self.name_refs = []
        self.node_names = []
        self.handlers = []
        self.group_paths = []
        self.wrappers = []
        self.node_count = count
        for i in range(count):
            node = nodes[i]
            encoded = node.name.encode("ascii")
            self.node_names.append(encoded)
            self.nodes[i].parent = node.parent
            self.nodes[i].first_child = -1
            self.nodes[i].next_sibling = -1
            self.nodes[i].flags = node.flags
            self.nodes[i].group_root = node.group_root
            self.nodes[i].name = PyBytes_AS_STRING(encoded)
            self.nodes[i].name_len = PyBytes_GET_SIZE(encoded)
            self.handlers.append(node.handler)
            self.group_paths.append(node.group_path)
            self.wrappers.append(set())
        for i in range(count - 1, 0, -1):
            parent = self.nodes[i].parent
            self.nodes[i].next_sibling = self.nodes[parent].first_child
            self.nodes[parent].first_child = i
            if self.nodes[i].flags & (REGISTERED | SELECTED_PARENT):
                self.wrappers[parent].add(nodes[i].name)
        self.records = [None] * (self.max_depth + 2)
        self.leaf_names = <PyObject**>malloc((self.max_depth + 2) * sizeof(PyObject*))
        if self.leaf_names == NULL:
            raise MemoryError()
        for i in range(self.max_depth + 2):
            self.leaf_names[i] = NULL
        self.frames[0].node = 0
        self.frames[0].flags = 0
        self.frames[0].name_start = 0
        self.frames[0].name_len = 0
        self.at_start = True
        self.handler_error = None

    def __dealloc__(self):
        free(self.buf)
        free(self.frames)
        free(self.names)
        free(self.text)
        free(self.attr_spans)
        free(self.nodes)
        free(self.name_slots)
        cdef int i
        if self.leaf_names != NULL:
            for i in range(self.max_depth + 2):
                Py_XDECREF(self.leaf_names[i])
            free(self.leaf_names)

    # ------------------------------------------------------------------ feeding

    def feed(self, data):
        cdef const uchar[::1] view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        cdef Py_ssize_t n = view.shape[0]
        if self.closed:
            raise MbxError("feed() after close()", code="xml-closed")
        if n == 0:
            return
        self._compact()
        if self.buf_len + n > self.buf_cap:
            self._grow(self.buf_len + n)
        memcpy(self.buf + self.buf_len, &view[0], n)
        self.buf_len += n
        if self.buf_len - self.pos < self.retry_len and self.buf_len - self.pos <= self.token_guard:
            return
        self._run(False)

    def close(self):
        if self.closed:
            return
        self._run(True)
        self.closed = True

    cdef void _grow(self, Py_ssize_t need) except *:
        cdef Py_ssize_t cap = self.buf_cap
        while cap < need:
            cap *= 2
        cdef uchar* grown = <uchar*>realloc(self.buf, cap)
        if grown == NULL:
            raise MemoryError()
        self.buf = grown
        self.buf_cap = cap

    cdef void _compact(self):
        """Drops consumed bytes from the buffer, remembering line positions."""
        cdef Py_ssize_t drop = self.pos, i, lines = 0
        cdef const uchar* p = self.buf
        if drop == 0:
            return
        for i in range(drop):  # a loop the compiler vectorises
            lines += p[i] == 10
        if lines:
            self.line_base += lines
            i = drop - 1
            while p[i] != 10:
                i -= 1
            self.last_nl = self.consumed + i + 1
        memmove(self.buf, self.buf + drop, self.buf_len - drop)
        self.buf_len -= drop
        self.pos = 0
        self.consumed += drop

    # ------------------------------------------------------------------ errors

    cdef object _where(self, Py_ssize_t at):
        """(line, column) of buffer offset ``at``."""
        cdef long long line = self.line_base + 1
        cdef long long line_start = self.last_nl
        cdef Py_ssize_t i
        for i in range(at if at < self.buf_len else self.buf_len):
            if self.buf[i] == b'\n':
                line += 1
                line_start = self.consumed + i + 1
        return line, self.consumed + at - line_start + 1

    cdef str _path(self):
        cdef int i
        parts = []
        for i in range(1, self.depth + 1):
            parts.append((<bytes>self.names[self.frames[i].name_start:self.frames[i].name_start + self.frames[i].name_len]).decode("ascii"))
        return "/" + "/".join(parts)

    cdef int _fail(self, Py_ssize_t at, str code, str message, type cls=XmlSyntaxError) except -1:
        line, column = self._where(at)
        if self.root_done and code in JUNK_AFTER_ROOT_CODES:
            code = "xml-junk-after-root"
        raise cls(message, code=code, source=self.source, line=line, column=column,
                  path=self._path())

    cdef int _locate(self, exc, Py_ssize_t at) except -1:
        """Attaches the location to an error raised below the tokenizer."""
        line, column = self._where(at)
        if isinstance(exc, MbxError) and exc is not self.handler_error:
            if exc.source is None:
                exc.source = self.source
            if exc.line is None:
                exc.line, exc.column = line, column
            if exc.path is None:
                exc.path = self._path()
        elif exc is self.handler_error:
            exc.mbx_location = {"source": self.source, "line": line, "column": column,
                                "path": self._path()}
            exc.add_note(f"raised by the handler of a record ending at "
                         f"{self.source or '<input>'}:{line}:{column} (in {self._path()})")
        return 0

    # ------------------------------------------------------------------ main loop

    cdef int _run(self, bint final) except -1:
        cdef Py_ssize_t i = self.pos, n = self.buf_len, r
        cdef uchar c
        self.retry_len = 0
        try:
            if self.at_start and self.consumed + i == 0:
                # the very first bytes: a UTF-8 byte-order mark is skipped, UTF-16/32 refused
                if n - i < 2 and not final:
                    self.retry_len = 2
                    return 0
                elif n - i >= 2 and ((self.buf[i] == 0xFF and self.buf[i + 1] == 0xFE)
                                   or (self.buf[i] == 0xFE and self.buf[i + 1] == 0xFF)
                                   or self.buf[i] == 0 or self.buf[i + 1] == 0):
                    self._fail(i, "xml-unsupported", "UTF-16 or UTF-32 input is not supported: mbx reads UTF-8 only")
                if n - i < 3 and not final and memcmp(self.buf + i, b"\xef\xbb\xbf", n - i) == 0:
                    self.retry_len = n - i + 1
                    return 0
                if n - i >= 3 and memcmp(self.buf + i, b"\xef\xbb\xbf", 3) == 0:
                    i += 3
                    self.pos = i
            while i < n:
                c = self.buf[i]
                if c == b'<':
                    if i + 1 >= n:
                        r = NEED_MORE
                    else:
                        c = self.buf[i + 1]
                        if c == b'/':
                            r = self._end_tag(i, n)
                        elif c == b'!':
                            r = self._bang(i, n, final)
                        elif c == b'?':
                            r = self._instruction(i, n)
                        else:
                            r = self._start_tag(i, n)
                    if r == NEED_MORE:
                        # retry once the pending token has doubled (linear time overall),
                        # but often enough that limits are checked as the token grows
                        self.retry_len = min(2 * (n - i), (n - i) + self.max_text // 4 + 65536)
                        if self.retry_len < 64:
                            self.retry_len = n - i + 1
                        break
                    self.at_start = False
                    i = r
                    self.pos = i
                else:
                    self.at_start = False
                    r = self._text(i, n, final)
                    if r == i:
                        self.retry_len = n - i + 1
                        break
                    i = r
                    self.pos = i
            if n - self.pos > self.token_guard:
                self._fail(self.pos, "xml-limit-text",
                           f"a single markup token is larger than {self.token_guard} bytes "
                           f"(2 x max_text + 1 MiB)", XmlLimitError)
            if final:
                self._finish()
        except BaseException as exc:
            self._locate(exc, self.pos)
            self.closed = True
            raise
        return 0

    cdef int _finish(self) except -1:
        cdef Py_ssize_t i = self.pos
        if i < self.buf_len:
            if self.buf[i] == b'<' or self.depth > 0:
                self._fail(i, "xml-unclosed", "document ends inside a token")
            self._fail(i, "xml-syntax", "incomplete character data at end of document")
        if self.depth > 0:
            self._fail(i, "xml-unclosed", f"document ends with {self.depth} element(s) open")
        if not self.root_seen:
            self._fail(i, "xml-unclosed", "no root element found")
        return 0

    # ------------------------------------------------------------------ text

    cdef Py_ssize_t _text(self, Py_ssize_t i, Py_ssize_t n, bint final) except -2:
        """Scans character data from i; returns where it stopped (at '<' or
        before bytes that need more input)."""
        cdef const uchar* buf = self.buf
        cdef Py_ssize_t start
        cdef uchar c
        cdef int k
        cdef uchar decoded[4]
        cdef bint capture = (self.frames[self.depth].flags & F_CAPTURE) != 0
        if self.depth == 0:
            return self._outside_text(i, n, final)
        start = i
        while i < n:
            i += mbx_plain_text_run(buf + i, n - i)
            if i >= n:
                break
            c = buf[i]
            if c_text_class[c] == 0:
                i += 1
                continue
            if c >= 0x80:
                # a run of non-ASCII characters is checked here, not a call to the scan each
                k = c_utf8_length(buf + i, buf + n)
                while k > 0:
                    i += k
                    if i >= n or buf[i] < 0x80:
                        break
                    k = c_utf8_length(buf + i, buf + n)
                if k > 0:
                    continue
                if k == 0:
                    if not final:
                        break
                    self._fail(i, "xml-unclosed", "document ends inside a UTF-8 sequence")
                self._fail(i, "xml-invalid-char", "invalid UTF-8 or a character XML does not allow")
            if c == b']':
                if i + 2 >= n and not final:
                    break
                if i + 2 < n and buf[i + 1] == b']' and buf[i + 2] == b'>':
                    self._fail(i, "xml-syntax", "']]>' in character data")
                i += 1
                continue
            if i > start:
                self._add_text(buf + start, i - start, capture)
            start = i
            if c == b'<':
                return i
            if c == b'&':
                # &lt; &gt; &amp; are most references in Moodle's text (escaped HTML)
                if i + 3 < n and buf[i + 3] == b';' and buf[i + 2] == b't' and (
                        buf[i + 1] == b'l' or buf[i + 1] == b'g'):
                    decoded[0] = b'<' if buf[i + 1] == b'l' else b'>'
                    self._add_text(decoded, 1, capture)
                    i += 4
                elif (i + 4 < n and buf[i + 4] == b';' and buf[i + 1] == b'a'
                        and buf[i + 2] == b'm' and buf[i + 3] == b'p'):
                    decoded[0] = b'&'
                    self._add_text(decoded, 1, capture)
                    i += 5
                else:
                    k = self._reference(i, n, decoded)
                    if k == NEED_MORE:
                        return i
                    self._add_text(decoded, self.text_bytes_scratch, capture)
                    i = k
            elif c == b'\r':
                if i + 1 >= n and not final:
                    return i
                self._add_text(<const uchar*>b"\n", 1, capture)
                i += 2 if (i + 1 < n and buf[i + 1] == b'\n') else 1
            else:
                self._fail(i, "xml-invalid-char", f"character 0x{c:02X} is not allowed in XML")
            start = i
        if i > start:
            self._add_text(buf + start, i - start, capture)
        return i

    cdef Py_ssize_t _outside_text(self, Py_ssize_t i, Py_ssize_t n, bint final) except -2:
        """Whitespace before or after the root element; anything else is refused."""
        cdef const uchar* buf = self.buf
        cdef uchar c
        while i < n:
            c = buf[i]
            if c == b'<':
                return i
            if c == b'\r' and i + 1 >= n and not final:
                return i
            if not c_is_ws(c):
                if self.root_done:
                    self._fail(i, "xml-junk-after-root", "text after the root element")
                self._fail(i, "xml-syntax", "text before the root element")
            i += 1
        return i

    cdef inline int _add_text(self, const uchar* data, Py_ssize_t size, bint capture) except -1:
        self.text_bytes += size
        if self.text_bytes > self.max_text:
            return self._text_too_long()
        if capture:
            self.record_bytes += size
            if self.record_bytes > self.max_record:
                return self._record_too_large()
            if self.text_len + size > self.text_cap:
                self._grow_text(self.text_len + size)
            memcpy(self.text + self.text_len, data, size)
            self.text_len += size
        return 0

    cdef int _text_too_long(self) except -1:
        return self._fail(self.pos, "xml-limit-text",
                          f"text longer than max_text={self.max_text} bytes", XmlLimitError)

    cdef int _record_too_large(self) except -1:
        return self._fail(self.pos, "xml-limit-record",
                          f"record larger than max_record={self.max_record} bytes", XmlLimitError)

    cdef int _grow_text(self, Py_ssize_t need) except -1:
        cdef Py_ssize_t cap = self.text_cap
        while cap < need:
            cap *= 2
        cdef uchar* grown = <uchar*>realloc(self.text, cap)
        if grown == NULL:
            raise MemoryError()
        self.text = grown
        self.text_cap = cap
        return 0

    cdef inline int _count(self, Py_ssize_t size) except -1:
        self.record_bytes += size
        if self.record_bytes > self.max_record:
            return self._record_too_large()
        return 0

    cdef int _reference(self, Py_ssize_t i, Py_ssize_t n, uchar* out) except -2:
        """Decodes the reference at buf[i] == '&' into out (its size goes to
        text_bytes_scratch); returns the index after ';' or NEED_MORE."""
        cdef const uchar* buf = self.buf
        cdef Py_ssize_t j = i + 1, start
        cdef unsigned long cp = 0
        cdef bint hexa = False
        cdef uchar c
        if j >= n:
            return NEED_MORE
        if buf[j] == b'#':
            j += 1
            if j >= n:
                return NEED_MORE
            if buf[j] == b'x':
                hexa = True
                j += 1
            start = j
            while j < n:
                c = buf[j]
                if c >= b'0' and c <= b'9':
                    cp = cp * (16 if hexa else 10) + (c - 48)
                elif hexa and c >= b'a' and c <= b'f':
                    cp = cp * 16 + (c - 87)
                elif hexa and c >= b'A' and c <= b'F':
                    cp = cp * 16 + (c - 55)
                else:
                    break
                if cp > 0x10FFFF:
                    cp = 0x110000
                j += 1
            if j >= n:
                return NEED_MORE
            if j == start or buf[j] != b';':
                self._fail(j, "xml-syntax", "malformed character reference")
            if not (cp == 0x9 or cp == 0xA or cp == 0xD or (0x20 <= cp <= 0xD7FF)
                    or (0xE000 <= cp <= 0xFFFD) or (0x10000 <= cp <= 0x10FFFF)):
                self._fail(i, "xml-bad-reference", "reference to a character XML does not allow")
            self.text_bytes_scratch = c_encode_utf8(cp, out)
            return j + 1
        start = j
        while j < n and c_name_class[buf[j]] != 0:
            if j == start and c_name_class[buf[j]] != 1:
                self._fail(j, "xml-syntax", "malformed entity reference")
            j += 1
            if j - start > self.max_name:
                self._fail(j, "xml-limit-name", f"name longer than max_name_length={self.max_name}", XmlLimitError)
        if j >= n:
            return NEED_MORE
        if j == start or buf[j] != b';':
            if buf[j] >= 0x80:
                self._fail(j, "xml-unsupported", "non-ASCII entity name")
            self._fail(j, "xml-syntax", "malformed entity reference")
        cdef Py_ssize_t length = j - start
        if length == 3 and memcmp(buf + start, b"amp", 3) == 0:
            out[0] = b'&'
        elif length == 2 and memcmp(buf + start, b"lt", 2) == 0:
            out[0] = b'<'
        elif length == 2 and memcmp(buf + start, b"gt", 2) == 0:
            out[0] = b'>'
        elif length == 4 and memcmp(buf + start, b"quot", 4) == 0:
            out[0] = b'"'
        elif length == 4 and memcmp(buf + start, b"apos", 4) == 0:
            out[0] = b"'"
        else:
            self._fail(i, "xml-bad-reference", "undefined entity (only the five predefined ones exist)")
        self.text_bytes_scratch = 1
        return j + 1

    # ------------------------------------------------------------------ markup

    cdef Py_ssize_t _name(self, Py_ssize_t i, Py_ssize_t n) except -2:
        """Scans a name at i; returns its end or NEED_MORE."""
        cdef const uchar* buf = self.buf
        cdef Py_ssize_t j = i
        if j >= n:
            return NEED_MORE
        if c_name_class[buf[j]] != 1:
            if buf[j] >= 0x80:
                return self._non_ascii_name(j, n)
            self._fail(j, "xml-syntax", "a name was expected here")
        while j < n and c_name_class[buf[j]] != 0:
            j += 1
            if j - i > self.max_name:
                self._fail(i, "xml-limit-name", f"name longer than max_name_length={self.max_name}", XmlLimitError)
        if j >= n:
            return NEED_MORE
        if buf[j] >= 0x80:
            return self._non_ascii_name(j, n)
        return j

    cdef Py_ssize_t _non_ascii_name(self, Py_ssize_t j, Py_ssize_t n) except -2:
        """Refuses a name byte >= 0x80: bad UTF-8, or a non-ASCII name; NEED_MORE
        while the sequence is incomplete (so the verdict does not depend on chunking)."""
        cdef int k = c_utf8_length(self.buf + j, self.buf + n)
        if k == 0:
            return NEED_MORE
        if k < 0:
            self._fail(j, "xml-invalid-char", "invalid UTF-8 or a character XML does not allow")
        self._fail(j, "xml-unsupported", "non-ASCII names are not supported")

    cdef Py_ssize_t _start_tag(self, Py_ssize_t i, Py_ssize_t n) except -2:
        cdef const uchar* buf = self.buf
        cdef Py_ssize_t name_end, j, k, a_start, a_end, count = 0
        cdef long long attr_total = 0
        cdef int node = -1, parent_node, child, q
        cdef bint registered = False, had_ws, empty = False
        cdef uchar c, quote
        cdef uchar decoded[4]
        cdef dict attrs = None
        if self.root_done:
            self._fail(i, "xml-junk-after-root", "element after the root element")
        name_end = self._name(i + 1, n)
        if name_end == NEED_MORE:
            return NEED_MORE
        if self.depth + 1 > self.max_depth:
            self._fail(i, "xml-limit-depth", f"elements nested deeper than max_depth={self.max_depth}", XmlLimitError)
        parent_node = self.frames[self.depth].node
        if parent_node >= 0:
            child = self.nodes[parent_node].first_child
            while child >= 0:
                if (self.nodes[child].name_len == name_end - i - 1
                        and memcmp(self.nodes[child].name, buf + i + 1, name_end - i - 1) == 0):
                    node = child
                    break
                child = self.nodes[child].next_sibling
        if node >= 0 and (self.nodes[node].flags & REGISTERED) and self.skip_depth == 0:
            registered = True
            attrs = {}
        j = name_end
        while True:
            had_ws = False
            while j < n and c_is_ws(buf[j]):
                j += 1
                had_ws = True
            if j >= n:
                return NEED_MORE
            c = buf[j]
            if c == b'>':
                j += 1
                break
            if c == b'/':
                if j + 1 >= n:
                    return NEED_MORE
                if buf[j + 1] != b'>':
                    self._fail(j, "xml-syntax", "'/' must be followed by '>'")
                j += 2
                empty = True
                break
            if not had_ws:
                self._fail(j, "xml-syntax", "whitespace is needed before an attribute")
            a_start = j
            a_end = self._name(j, n)
            if a_end == NEED_MORE:
                return NEED_MORE
            j = a_end
            while j < n and c_is_ws(buf[j]):
                j += 1
            if j >= n:
                return NEED_MORE
            if buf[j] != b'=':
                self._fail(j, "xml-syntax", "'=' expected after an attribute name")
            j += 1
            while j < n and c_is_ws(buf[j]):
                j += 1
            if j >= n:
                return NEED_MORE
            quote = buf[j]
            if quote != b'"' and quote != b"'":
                self._fail(j, "xml-syntax", "attribute value must be quoted")
            j += 1
            if count >= self.max_attrs:
                self._fail(a_start, "xml-limit-attributes", f"more than max_attributes={self.max_attrs} attributes", XmlLimitError)
            for q in range(count):
                if (self.attr_spans[2 * q + 1] == a_end - a_start
                        and memcmp(buf + self.attr_spans[2 * q], buf + a_start, a_end - a_start) == 0):
                    self._fail(a_start, "xml-duplicate-attribute", "duplicate attribute")
            self.attr_spans[2 * count] = a_start
            self.attr_spans[2 * count + 1] = a_end - a_start
            count += 1
            # the value: validated always, decoded only for registered elements
            if registered:
                self.text_len = 0
            while True:
                k = j
                while j < n and c_attr_class[buf[j]] == 0:
                    j += 1
                attr_total += j - k
                if attr_total > self.max_text:
                    self._fail(a_start, "xml-limit-text",
                               f"attribute values longer than max_text={self.max_text} bytes",
                               XmlLimitError)
                if registered and j > k:
                    self._attr_append(buf + k, j - k)
                if j >= n:
                    return NEED_MORE
                c = buf[j]
                if c == quote:
                    j += 1
                    break
                if c < 0x80:
                    if c == b'&':
                        k = self._reference(j, n, decoded)
                        if k == NEED_MORE:
                            return NEED_MORE
                        if registered:
                            self._attr_append(decoded, self.text_bytes_scratch)
                        attr_total += self.text_bytes_scratch
                        j = k
                    elif c == b'<':
                        self._fail(j, "xml-syntax", "'<' is not allowed in an attribute value")
                    elif c == b'\t' or c == b'\n' or c == b'\r':
                        if c == b'\r' and j + 1 < n and buf[j + 1] == b'\n':
                            j += 1
                        elif c == b'\r' and j + 1 >= n:
                            return NEED_MORE
                        if registered:
                            self._attr_append(<const uchar*>b" ", 1)
                        attr_total += 1
                        j += 1
                    elif c == b'"' or c == b"'":
                        if registered:
                            self._attr_append(buf + j, 1)
                        attr_total += 1
                        j += 1
                    else:
                        self._fail(j, "xml-invalid-char", f"character 0x{c:02X} is not allowed in XML")
                else:
                    k = c_utf8_length(buf + j, buf + n)
                    if k == 0:
                        return NEED_MORE
                    if k < 0:
                        self._fail(j, "xml-invalid-char", "invalid UTF-8 or a character XML does not allow")
                    if registered:
                        self._attr_append(buf + j, k)
                    attr_total += k
                    j += k
                if attr_total > self.max_text:
                    self._fail(a_start, "xml-limit-text",
                               f"attribute values longer than max_text={self.max_text} bytes",
                               XmlLimitError)
            if registered:
                PyDict_SetItem(attrs, self._intern(buf + a_start, a_end - a_start),
                               PyUnicode_DecodeUTF8(<const char*>self.text, self.text_len, NULL))
                self.text_len = 0
        self._open(i + 1, name_end - i - 1, node, attrs, count > 0, attr_total)
        if empty:
            self._close_element()
        return j

    cdef inline int _attr_append(self, const uchar* data, Py_ssize_t size) except -1:
        if self.text_len + size > self.text_cap:
            self._grow_text(self.text_len + size)
        memcpy(self.text + self.text_len, data, size)
        self.text_len += size
        return 0

    cdef Py_ssize_t _end_tag(self, Py_ssize_t i, Py_ssize_t n) except -2:
        cdef const uchar* buf = self.buf
        cdef Py_ssize_t name_end, j
        cdef c_Frame* open_element
        if self.depth == 0:
            if self.root_done:
                self._fail(i, "xml-junk-after-root", "end tag after the root element")
            self._fail(i, "xml-syntax", "end tag before any element")
        # fast path: the name of the open element, then '>'
        open_element = &self.frames[self.depth]
        j = i + 2 + open_element.name_len
        if (j < n and buf[j] == b'>'
                and memcmp(self.names + open_element.name_start, buf + i + 2, open_element.name_len) == 0):
            self._close_element()
            return j + 1
        name_end = self._name(i + 2, n)
        if name_end == NEED_MORE:
            return NEED_MORE
        j = name_end
        while j < n and c_is_ws(buf[j]):
            j += 1
        if j >= n:
            return NEED_MORE
        if buf[j] != b'>':
            self._fail(j, "xml-syntax", "'>' expected to end the end tag")
        cdef c_Frame* top = &self.frames[self.depth]
        if (top.name_len != name_end - i - 2
                or memcmp(self.names + top.name_start, buf + i + 2, top.name_len) != 0):
            self._fail(i, "xml-mismatched-tag", "end tag does not match the open element")
        self._close_element()
        return j + 1

    cdef Py_ssize_t _bang(self, Py_ssize_t i, Py_ssize_t n, bint final) except -2:
        cdef const uchar* buf = self.buf
        cdef Py_ssize_t j, k
        if n - i < 4 and memcmp(buf + i, b"<!--", n - i) == 0:
            return NEED_MORE
        if n - i >= 4 and memcmp(buf + i, b"<!--", 4) == 0:
            j = i + 4
            while True:
                k = self._scan_chars(j, n, b'-')
                if k == NEED_MORE:
                    return NEED_MORE
                if k + 1 >= n:
                    return NEED_MORE
                if buf[k + 1] == b'-':
                    if k + 2 >= n:
                        return NEED_MORE
                    if buf[k + 2] != b'>':
                        self._fail(k, "xml-syntax", "'--' is not allowed inside a comment")
                    if k - i - 4 > self.max_text:
                        self._fail(i, "xml-limit-text", f"text longer than max_text={self.max_text} bytes", XmlLimitError)
                    return k + 3
                j = k + 1
        if n - i >= 9 and memcmp(buf + i, b"<![CDATA[", 9) == 0:
            if self.depth == 0:
                if self.root_done:
                    self._fail(i, "xml-junk-after-root", "CDATA section after the root element")
                self._fail(i, "xml-syntax", "CDATA section outside the root element")
            return self._cdata(i, n)
        if n - i < 9 and (memcmp(buf + i, b"<![CDATA[", n - i) == 0
                          or memcmp(buf + i, b"<!DOCTYPE", n - i) == 0):
            return NEED_MORE
        if n - i >= 9 and memcmp(buf + i, b"<!DOCTYPE", 9) == 0 and self.depth == 0 and not self.root_done:
            self._fail(i, "xml-dtd-forbidden",
                       "DOCTYPE declarations are refused (no DTDs, no entities)", XmlForbiddenError)
        if self.root_done:
            self._fail(i, "xml-junk-after-root", "markup after the root element")
        self._fail(i, "xml-syntax", "unknown markup declaration")

    cdef Py_ssize_t _scan_chars(self, Py_ssize_t j, Py_ssize_t n, uchar stop) except -2:
        """Validates characters from j up to the next ``stop`` byte; returns its
        index or NEED_MORE."""
        cdef const uchar* buf = self.buf
        cdef uchar c
        cdef int k
        while j < n:
            c = buf[j]
            if c == stop:
                return j
            if c < 0x80:
                if c < 0x20 and c != b'\t' and c != b'\n' and c != b'\r':
                    self._fail(j, "xml-invalid-char", f"character 0x{c:02X} is not allowed in XML")
                j += 1
            else:
                k = c_utf8_length(buf + j, buf + n)
                if k == 0:
                    return NEED_MORE
                if k < 0:
                    self._fail(j, "xml-invalid-char", "invalid UTF-8 or a character XML does not allow")
                j += k
        return NEED_MORE

    cdef Py_ssize_t _cdata(self, Py_ssize_t i, Py_ssize_t n) except -2:
        cdef const uchar* buf = self.buf
        cdef Py_ssize_t j = i + 9, k, start = i + 9, run
        cdef bint capture = (self.frames[self.depth].flags & F_CAPTURE) != 0
        while True:
            k = self._scan_chars(j, n, b']')
            if k == NEED_MORE or k + 2 >= n:
                if (n - start) > self.max_text - self.text_bytes + 3:
                    self._fail(i, "xml-limit-text", f"text longer than max_text={self.max_text} bytes", XmlLimitError)
                return NEED_MORE
            if buf[k + 1] == b']' and buf[k + 2] == b'>':
                break
            j = k + 1
        # emit the content, turning CRLF and CR into LF
        j = start
        while j < k:
            run = j
            while j < k and buf[j] != b'\r':
                j += 1
            if j > run:
                self._add_text(buf + run, j - run, capture)
            if j < k:
                self._add_text(<const uchar*>b"\n", 1, capture)
                j += 2 if (j + 1 < k and buf[j + 1] == b'\n') else 1
        return k + 3

    cdef Py_ssize_t _instruction(self, Py_ssize_t i, Py_ssize_t n) except -2:
        cdef const uchar* buf = self.buf
        cdef Py_ssize_t target_end, j, k
        cdef bint at_start = self.at_start and i == self.pos
        target_end = self._name(i + 2, n)
        if target_end == NEED_MORE:
            return NEED_MORE
        if target_end - i - 2 == 3 and (buf[i + 2] | 0x20) == b'x' and (buf[i + 3] | 0x20) == b'm' and (buf[i + 4] | 0x20) == b'l':
            if memcmp(buf + i + 2, b"xml", 3) == 0:
                if at_start and self.consumed + i <= 3 and not self.root_seen:
                    return self._declaration(i, n, target_end)
                self._fail(i, "xml-bad-declaration", "XML declaration not at the start of the document")
            self._fail(i, "xml-syntax", "processing instruction target 'xml' is reserved")
        j = target_end
        if j < n and not c_is_ws(buf[j]):
            if buf[j] != b'?':
                self._fail(j, "xml-syntax", "whitespace expected after the instruction target")
            if j + 1 >= n:
                return NEED_MORE
            if buf[j + 1] != b'>':
                self._fail(j, "xml-syntax", "'?>' expected")
            return j + 2
        while True:
            k = self._scan_chars(j, n, b'?')
            if k == NEED_MORE or k + 1 >= n:
                return NEED_MORE
            if buf[k + 1] == b'>':
                if k - target_end > self.max_text:
                    self._fail(i, "xml-limit-text", f"text longer than max_text={self.max_text} bytes", XmlLimitError)
                return k + 2
            j = k + 1

    cdef Py_ssize_t _declaration(self, Py_ssize_t i, Py_ssize_t n, Py_ssize_t j) except -2:
        """Parses ``<?xml version=.. encoding=.. standalone=..?>`` from j."""
        cdef const uchar* buf = self.buf
        cdef Py_ssize_t k = j
        cdef int seen = 0
        while k + 1 < n and not (buf[k] == b'?' and buf[k + 1] == b'>'):
            if k - i > 512:
                self._fail(i, "xml-bad-declaration", "XML declaration not well-formed")
            k += 1
        if k + 1 >= n:
            return NEED_MORE
        text = (<bytes>buf[j:k]).decode("latin-1")
        match = re.fullmatch(
            r"[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(\"[^\"]*\"|'[^']*')"
            r"(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(\"[A-Za-z][A-Za-z0-9._\-]*\"|'[A-Za-z][A-Za-z0-9._\-]*'))?"
            r"(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(\"(?:yes|no)\"|'(?:yes|no)'))?[ \t\r\n]*", text)
        if match is None:
            self._fail(i, "xml-bad-declaration", "XML declaration not well-formed")
        version = match.group(1)[1:-1]
        if re.fullmatch(r"1\.[0-9]+", version) is None:
            self._fail(i, "xml-bad-declaration", f"XML version {version!r} is not 1.x")
        encoding = match.group(2)
        if encoding is not None and encoding[1:-1].lower() != "utf-8":
            self._fail(i, "xml-unsupported",
                       f"encoding {encoding[1:-1]!r} is not supported: mbx reads UTF-8 only")
        return k + 2

    # ------------------------------------------------------------------ records

    cdef object _intern(self, const uchar* name, Py_ssize_t size):
        """The str for an ASCII name, shared across the whole parse."""
        # a cheap hash: names are short and few; memcmp settles collisions
        cdef size_t h = <size_t>size * 0x9E3779B1u
        cdef int slot
        cdef object obj
        h ^= (<size_t>name[0] << 3) ^ (<size_t>name[size - 1] << 9) ^ (<size_t>name[size >> 1] << 15)
        if size > 3:
            h ^= (<size_t>name[1] << 21) ^ (<size_t>name[size - 2] << 26)
        h = h * 0x85EBCA6Bu
        h ^= h >> 13
        slot = <int>(h & 8191)
        while self.name_slots[slot].obj != NULL:
            if self.name_slots[slot].hash == h:
                obj = <object>self.name_slots[slot].obj
                if PyUnicode_GET_LENGTH(obj) == size and memcmp(PyUnicode_DATA(obj), name, size) == 0:
                    return obj
            slot = (slot + 1) & 8191
        obj = PyUnicode_FromStringAndSize(<const char*>name, size)
        if self.name_count < 4096:
            self.name_refs.append(obj)
            self.name_slots[slot].hash = h
            self.name_slots[slot].obj = <PyObject*>obj
            self.name_count += 1
        return obj

    cdef int _open(self, Py_ssize_t name_at, Py_ssize_t name_len, int node, dict attrs,
                   bint has_attrs, long long attr_total) except -1:
        cdef int depth = self.depth
        cdef c_Frame* parent = &self.frames[depth]
        cdef c_Frame* frame
        cdef _Record owner, record
        cdef int flags
        self.text_bytes = 0
        if parent.flags & F_CAPTURE:
            # the parent was a candidate leaf; it has a child, so its record's chunk ends
            owner = <_Record>self.records[depth - 1]
            parent.flags &= ~F_CAPTURE
            self.text_len = 0
            if parent.flags & F_HAS_ATTRS:
                owner.nonleaf = True
            self._flush(owner)
        if self.names_len + name_len > self.names_cap:
            while self.names_len + name_len > self.names_cap:
                self.names_cap *= 2
            self.names = <uchar*>realloc(self.names, self.names_cap)
            if self.names == NULL:
                raise MemoryError()
        memcpy(self.names + self.names_len, self.buf + name_at, name_len)
        depth += 1
        self.depth = depth
        self.root_seen = True
        frame = &self.frames[depth]
        frame.node = node
        frame.name_start = self.names_len
        frame.name_len = name_len
        frame.flags = 0
        self.names_len += name_len
        if self.skip_depth:
            return 0
        if self.records[depth - 1] is not None:
            frame.flags = F_CAPTURE | (F_HAS_ATTRS if has_attrs else 0)
            name = self._intern(self.buf + name_at, name_len)
            Py_XINCREF(<PyObject*>name)
            Py_XDECREF(self.leaf_names[depth])
            self.leaf_names[depth] = <PyObject*>name
            self.text_len = 0
        if node >= 0:
            flags = self.nodes[node].flags
            if flags & REGISTERED:
                if attrs:
                    self._count(attr_total)
                record = _Record.__new__(_Record)
                record.node = node
                record.depth = depth
                record.attrs = attrs
                record.attrs_pending = bool(attrs)
                record.pending = {}
                record.owner = None
                if flags & IN_GROUP:
                    record.owner = self._group_of(node)
                if flags & GROUPED:
                    record.owner = record
                    record.built = {}
                self.records[depth] = record
        return 0

    cdef _Record _group_of(self, int node):
        cdef int root = self.nodes[node].group_root
        cdef int d
        for d in range(self.depth, 0, -1):
            if self.frames[d].node == root:
                return <_Record>self.records[d]
        raise AssertionError("grouped ancestor not on the stack")

    cdef int _close_element(self) except -1:
        cdef int depth = self.depth
        cdef c_Frame* frame = &self.frames[depth]
        cdef _Record owner, record
        cdef object value, name
        cdef dict pending
        self.text_bytes = 0
        if frame.flags & F_CAPTURE:
            owner = <_Record>self.records[depth - 1]
            if self.text_len == 8 and memcmp(self.text, b"$@NULL@$", 8) == 0:
                value = None
            else:
                value = PyUnicode_DecodeUTF8(<const char*>self.text, self.text_len, NULL)
            self.text_len = 0
            name = <object>self.leaf_names[depth]
            pending = owner.pending
            # the last non-empty repetition wins; a blank one never overwrites
            if (<object>PyDict_SetDefault(pending, name, value) is not value
                    and value is not None and not c_is_blank(value)):
                PyDict_SetItem(pending, name, value)
        record_obj = self.records[depth]
        if record_obj is not None:
            record = <_Record>record_obj
            self.records[depth] = None
            self._flush(record)
            if record.owner is record:
                self._close_group(record)
        self.names_len = frame.name_start
        self.depth = depth - 1
        if self.depth == 0:
            self.root_done = True
        if self.skip_depth == depth:
            self.skip_depth = 0
        return 0

    cdef int _flush(self, _Record record) except -1:
        cdef dict pending = record.pending
        cdef dict fields
        cdef bint blank = True
        cdef Py_ssize_t ppos = 0
        cdef PyObject* key
        cdef PyObject* val
        if not pending and not record.nonleaf:
            return 0
        record.nonleaf = False
        wrappers = self.wrappers[record.node]
        if wrappers:
            for name in wrappers:
                val = PyDict_GetItem(pending, name)
                if val != NULL and (<object>val is None or (<str><object>val).startswith("\n")):
                    PyDict_DelItem(pending, name)
        while PyDict_Next(pending, &ppos, &key, &val):
            if <object>val is not None and not c_is_blank(<object>val):
                blank = False
                break
        record.pending = {}
        if record.attrs_pending:
            record.attrs_pending = False
            fields = _PyDict_NewPresized(len(record.attrs) + len(pending))
            PyDict_Update(fields, record.attrs)
            PyDict_Update(fields, pending)
            blank = False
        else:
            fields = pending
        if blank or not fields:
            return 0
        if record.owner is None:
            self._dispatch(record, fields)
        elif record.built is not None:
            PyDict_Update(record.built, fields)
        else:
            record.built = fields
            attach_to_group(record.owner.built, self.group_paths[record.node], fields)
        return 0

    cdef int _dispatch(self, _Record record, dict fields) except -1:
        cdef int d
        self.record_bytes = 0
        try:
            result = self.handlers[record.node](fields)
        except BaseException as exc:
            self.handler_error = exc
            raise
        if result is SKIP:
            self.skip_depth = record.depth
            for d in range(record.depth + 1, self.depth + 1):
                self.records[d] = None
                self.frames[d].flags &= ~F_CAPTURE
            self.text_len = 0
        return 0

    cdef int _close_group(self, _Record record) except -1:
        built = record.built
        if record.attrs_pending:
            for key, value in record.attrs.items():
                built.setdefault(key, value)
        self._dispatch(record, built)
        return 0
