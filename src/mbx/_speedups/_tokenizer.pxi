# The tokenizer of the compiled parser engine (included by ``_parser.pyx``; its
# state is declared in ``_parser.pxd``).
#
# It scans large byte buffers and never calls Python per XML event: it checks
# well-formedness and the limits, decodes references, and hands elements and the
# text worth keeping to the record builder (``_records.pxi``). Its pure twin is
# expat, driven by ``mbx/xml/_parser_py.py``.
#
# Input may be split anywhere: what cannot be decided yet (a tag cut in two, a
# partial UTF-8 sequence, a CR that may be followed by LF) stays in the buffer
# until more bytes come. Long text is consumed as it arrives.

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

cdef inline bint c_is_ws(uchar c):
    return c == 0x20 or c == 0x0A or c == 0x09 or c == 0x0D


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


cdef class Engine:
    """Parses one document fed in chunks, calling handlers with records."""

    def __cinit__(self):
        self.buf = NULL
        self.attr_spans = NULL
        self.value = NULL

    def __init__(self, nodes, limits, source, end_handler=None):
        self.builder = _RecordBuilder(nodes, limits, end_handler)
        self.source = source
        self.max_depth = limits.max_depth
        self.max_name = limits.max_name_length
        self.max_attrs = limits.max_attributes
        self.max_text = limits.max_text
        self.token_guard = token_guard(limits.max_text)
        self.buf_cap = 1 << 16
        self.buf = <uchar*>malloc(self.buf_cap)
        self.attr_spans = <Py_ssize_t*>malloc((self.max_attrs + 1) * 2 * sizeof(Py_ssize_t))
        self.value_cap = 4096
        self.value = <uchar*>malloc(self.value_cap)
        if self.buf == NULL or self.attr_spans == NULL or self.value == NULL:
            raise MemoryError()
        self.at_start = True

    def __dealloc__(self):
        free(self.buf)
        free(self.attr_spans)
        free(self.value)

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

    def hold(self):
        """Located mode: no later event refers to input before this offset."""
        return self.builder.hold(self.consumed + self.pos)

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

    cdef int _fail(self, Py_ssize_t at, str code, str message, type cls=XmlSyntaxError) except -1:
        line, column = self._where(at)
        if self.builder.root_done and code in JUNK_AFTER_ROOT_CODES:
            code = "xml-junk-after-root"
        raise cls(message, code=code, source=self.source, line=line, column=column,
                  path=self.builder.path())

    cdef int _locate(self, exc, Py_ssize_t at) except -1:
        """Attaches the location to an error raised below the tokenizer (by the
        record builder, or by a handler)."""
        line, column = self._where(at)
        handler_error = self.builder.handler_error
        if isinstance(exc, MbxError) and exc is not handler_error:
            if exc.source is None:
                exc.source = self.source
            if exc.line is None:
                exc.line, exc.column = line, column
            if exc.path is None:
                exc.path = self.builder.path()
        elif exc is handler_error:
            path = self.builder.path()
            exc.mbx_location = {"source": self.source, "line": line, "column": column,
                                "path": path}
            exc.add_note(f"raised by the handler of a record ending at "
                         f"{self.source or '<input>'}:{line}:{column} (in {path})")
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
            if self.buf[i] == b'<' or self.builder.depth > 0:
                self._fail(i, "xml-unclosed", "document ends inside a token")
            self._fail(i, "xml-syntax", "incomplete character data at end of document")
        if self.builder.depth > 0:
            self._fail(i, "xml-unclosed", f"document ends with {self.builder.depth} element(s) open")
        if not self.builder.root_seen:
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
        cdef bint capture = self.builder.capturing()
        if self.builder.depth == 0:
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
                if self.builder.root_done:
                    self._fail(i, "xml-junk-after-root", "text after the root element")
                self._fail(i, "xml-syntax", "text before the root element")
            i += 1
        return i

    cdef inline int _add_text(self, const uchar* data, Py_ssize_t size, bint capture) except -1:
        self.text_bytes += size
        if self.text_bytes > self.max_text:
            return self._text_too_long()
        if capture:
            return self.builder.add_text(data, size)
        return 0

    cdef int _text_too_long(self) except -1:
        return self._fail(self.pos, "xml-limit-text",
                          f"text longer than max_text={self.max_text} bytes", XmlLimitError)

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
        cdef int node, q
        cdef bint registered = False, had_ws, empty = False
        cdef uchar c, quote
        cdef uchar decoded[4]
        cdef dict attrs = None
        if self.builder.root_done:
            self._fail(i, "xml-junk-after-root", "element after the root element")
        name_end = self._name(i + 1, n)
        if name_end == NEED_MORE:
            return NEED_MORE
        if self.builder.depth + 1 > self.max_depth:
            self._fail(i, "xml-limit-depth", f"elements nested deeper than max_depth={self.max_depth}", XmlLimitError)
        node = self.builder.child_node(buf + i + 1, name_end - i - 1)
        if self.builder.records_attributes(node):
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
                self.value_len = 0
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
                    self._value_append(buf + k, j - k)
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
                            self._value_append(decoded, self.text_bytes_scratch)
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
                            self._value_append(<const uchar*>b" ", 1)
                        attr_total += 1
                        j += 1
                    elif c == b'"' or c == b"'":
                        if registered:
                            self._value_append(buf + j, 1)
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
                        self._value_append(buf + j, k)
                    attr_total += k
                    j += k
                if attr_total > self.max_text:
                    self._fail(a_start, "xml-limit-text",
                               f"attribute values longer than max_text={self.max_text} bytes",
                               XmlLimitError)
            if registered:
                PyDict_SetItem(attrs, self.builder.intern(buf + a_start, a_end - a_start),
                               PyUnicode_DecodeUTF8(<const char*>self.value, self.value_len, NULL))
                self.value_len = 0
        self.text_bytes = 0
        self.builder.open(buf + i + 1, name_end - i - 1, node, attrs, count > 0, attr_total,
                          self.consumed + i, -1 if empty else self.consumed + j)
        if empty:
            self.builder.close(self.consumed + i, self.consumed + j)
        return j

    cdef inline int _value_append(self, const uchar* data, Py_ssize_t size) except -1:
        """Keeps decoded bytes of an attribute value of a registered element."""
        cdef Py_ssize_t cap = self.value_cap
        cdef uchar* grown
        if self.value_len + size > cap:
            while cap < self.value_len + size:
                cap *= 2
            grown = <uchar*>realloc(self.value, cap)
            if grown == NULL:
                raise MemoryError()
            self.value = grown
            self.value_cap = cap
        memcpy(self.value + self.value_len, data, size)
        self.value_len += size
        return 0

    cdef Py_ssize_t _end_tag(self, Py_ssize_t i, Py_ssize_t n) except -2:
        cdef const uchar* buf = self.buf
        cdef Py_ssize_t name_end, j, open_len
        if self.builder.depth == 0:
            if self.builder.root_done:
                self._fail(i, "xml-junk-after-root", "end tag after the root element")
            self._fail(i, "xml-syntax", "end tag before any element")
        # fast path: the name of the open element, then '>'
        open_len = self.builder.open_name_length()
        j = i + 2 + open_len
        if j < n and buf[j] == b'>' and self.builder.open_name_is(buf + i + 2, open_len):
            self.text_bytes = 0
            self.builder.close(self.consumed + i, self.consumed + j + 1)
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
        if not self.builder.open_name_is(buf + i + 2, name_end - i - 2):
            self._fail(i, "xml-mismatched-tag", "end tag does not match the open element")
        self.text_bytes = 0
        self.builder.close(self.consumed + i, self.consumed + j + 1)
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
            if self.builder.depth == 0:
                if self.builder.root_done:
                    self._fail(i, "xml-junk-after-root", "CDATA section after the root element")
                self._fail(i, "xml-syntax", "CDATA section outside the root element")
            return self._cdata(i, n)
        if n - i < 9 and (memcmp(buf + i, b"<![CDATA[", n - i) == 0
                          or memcmp(buf + i, b"<!DOCTYPE", n - i) == 0):
            return NEED_MORE
        if n - i >= 9 and memcmp(buf + i, b"<!DOCTYPE", 9) == 0 and self.builder.depth == 0 and not self.builder.root_done:
            self._fail(i, "xml-dtd-forbidden",
                       "DOCTYPE declarations are refused (no DTDs, no entities)", XmlForbiddenError)
        if self.builder.root_done:
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
        cdef bint capture = self.builder.capturing()
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
                if at_start and self.consumed + i <= 3 and not self.builder.root_seen:
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
