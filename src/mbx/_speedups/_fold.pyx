# cython: language_level=3
"""Compiled folding of raw XML for name search (twin of ``mbx/xml/_fold_py.py``,
whose docstring states what the fold is).

One pass over the UTF-8 bytes with a small state machine (text, tag, quoted
attribute, comment, CDATA, processing instruction); non-ASCII characters fold
through a table of the Basic Multilingual Plane built once from
:func:`mbx.xml._foldtable.bmp_table`. HTML's named entities are the only
Python-level lookup, and they are rare.

The fold and the search run without the GIL (HTML's named entities take it back
for their look-up), on a buffer the call owns: :func:`find_names` can search one
chunk in a worker thread while the caller's thread goes on (see
:mod:`mbx.transform.scrub`).
"""

cimport cython
from cpython.array cimport array, clone
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport int32_t, int64_t, uint32_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcpy

from mbx.xml._foldtable import HTML_ENTITIES, bmp_table

ctypedef unsigned char uchar

cdef extern from "Python.h":
    object PyUnicode_FromKindAndData(int kind, const void* buffer, Py_ssize_t size)
    int PyUnicode_4BYTE_KIND

DEF ENTITY_SPAN = 40

cdef enum:
    TEXT, TAG, TAG_DQ, TAG_SQ, COMMENT, CDATA, PI

cdef array _ORIGINS_TEMPLATE = array("q")

# code point -> 0 (folds to itself) or 1 + offset in _pool of (length, chars...)
cdef uint32_t* _index = NULL
cdef uint32_t* _pool = NULL


cdef int c_load_table() except -1:
    global _index, _pool
    if _index != NULL:
        return 0
    table = bmp_table()
    cdef Py_ssize_t size = sum(1 + len(value) for value in table.values())
    cdef uint32_t* index = <uint32_t*>malloc(0x10000 * sizeof(uint32_t))
    cdef uint32_t* pool = <uint32_t*>malloc((size + 1) * sizeof(uint32_t))
    if index == NULL or pool == NULL:
        free(index)
        free(pool)
        raise MemoryError()
    cdef Py_ssize_t at = 0, k
    for k in range(0x10000):
        index[k] = 0
    for code, value in table.items():
        index[<Py_ssize_t>code] = <uint32_t>(at + 1)
        pool[at] = <uint32_t>len(value)
        for k in range(len(value)):
            pool[at + 1 + k] = <uint32_t>ord(value[k])
        at += 1 + len(value)
    _index, _pool = index, pool
    return 0


cdef struct Out:
    uint32_t* chars
    int64_t* origins
    Py_ssize_t length
    Py_ssize_t capacity
    bint last_space


cdef int c_grow(Out* out, Py_ssize_t more, bint exact=False) except -1 nogil:
    """Room for ``more`` characters: doubled, or ``exact`` (a fold's first reservation,
    one per byte, so that a kept scratch buffer is the size of the chunks it folds)."""
    cdef Py_ssize_t capacity
    cdef uint32_t* chars
    cdef int64_t* origins
    if out.length + more <= out.capacity:
        return 0
    capacity = out.length + more + 64 if exact else max(out.capacity * 2,
                                                         out.length + more + 64)
    chars = <uint32_t*>realloc(out.chars, capacity * sizeof(uint32_t))
    if chars == NULL:
        with gil:
            raise MemoryError()
    out.chars = chars
    origins = <int64_t*>realloc(out.origins, (capacity + 1) * sizeof(int64_t))
    if origins == NULL:
        with gil:
            raise MemoryError()
    out.origins = origins
    out.capacity = capacity
    return 0


cdef inline int c_put(Out* out, uint32_t char, int64_t origin) except -1 nogil:
    if char == 0x20:
        if out.last_space:
            return 0
        out.last_space = True
    else:
        out.last_space = False
    if out.length >= out.capacity:
        c_grow(out, 1)
    out.chars[out.length] = char
    out.origins[out.length] = origin
    out.length += 1
    return 0


cdef inline bint c_is_space(uint32_t code) noexcept nogil:
    return code == 0x20 or (0x09 <= code <= 0x0D) or (0x1C <= code <= 0x1F)


cdef inline bint c_plain(uchar c, bint literal) noexcept nogil:
    """Bytes that fold to themselves (the pure twin's ``_PLAIN`` and ``_PLAIN_LITERAL``)."""
    if c >= 0x80 or c == b'<' or c == b'&' or (b'A' <= c <= b'Z') or c_is_space(c):
        return False
    if literal and (c == b'-' or c == b']'):
        return False
    return True


# What a byte of an ASCII text run does: ends the run (RUN_END: non-ASCII, "<", "&"),
# is white space (RUN_SPACE) or is a character (RUN_CHAR); and what it folds to.
cdef enum:
    RUN_END, RUN_SPACE, RUN_CHAR
cdef uchar _run_class[0x100]
cdef uchar _run_fold[0x100]


cdef void c_run_tables() noexcept:
    cdef int c
    for c in range(0x100):
        if c >= 0x80 or c == b'<' or c == b'&':
            _run_class[c], _run_fold[c] = RUN_END, c
        elif c_is_space(c):
            _run_class[c], _run_fold[c] = RUN_SPACE, 0x20
        else:
            _run_class[c] = RUN_CHAR
            _run_fold[c] = c + 32 if b'A' <= c <= b'Z' else c


c_run_tables()


cdef inline Py_ssize_t c_put_run(Out* out, const uchar* p, Py_ssize_t i,
                                 Py_ssize_t n) except -1 nogil:
    """Folds the run of ASCII text from ``i`` up to the next ``<``, ``&`` or non-ASCII
    byte (letters lowered, white space collapsed); returns its end."""
    cdef Py_ssize_t length
    cdef uint32_t* chars
    cdef int64_t* origins
    cdef uchar c, kind
    cdef bint last_space = out.last_space, space
    c_grow(out, n - i)  # at most one character per byte
    length, chars, origins = out.length, out.chars, out.origins
    while i < n:
        c = p[i]
        kind = _run_class[c]
        if kind == RUN_END:
            break
        space = kind == RUN_SPACE
        if not (space and last_space):
            chars[length] = _run_fold[c]
            origins[length] = i
            length += 1
            last_space = space
        i += 1
    out.length = length
    out.last_space = last_space
    return i


cdef inline int c_put_code(Out* out, uint32_t code, int64_t origin) except -1 nogil:
    """Folds one decoded character into ``out``."""
    cdef uint32_t entry, length, k
    if code < 0x80:
        if c_is_space(code):
            c_put(out, 0x20, origin)
        elif 0x41 <= code <= 0x5A:
            c_put(out, code + 32, origin)
        elif code == 0x3C:
            c_put(out, 0x01, origin)
        else:
            c_put(out, code, origin)
    elif code < 0x10000 and _index[code] != 0:
        entry = _index[code] - 1
        length = _pool[entry]
        for k in range(length):
            c_put(out, _pool[entry + 1 + k], origin)
    else:
        c_put(out, code, origin)
    return 0


cdef int c_put_text(Out* out, str text, int64_t origin) except -1:
    cdef Py_UCS4 char
    for char in text:
        c_put_code(out, <uint32_t>char, origin)
    return 0


cdef Py_ssize_t c_find(const uchar* p, Py_ssize_t start, Py_ssize_t stop,
                       uchar wanted) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(start, stop):
        if p[k] == wanted:
            return k
    return -1


cdef bint c_starts(const uchar* p, Py_ssize_t i, Py_ssize_t n, const char* prefix,
                   Py_ssize_t length) noexcept nogil:
    cdef Py_ssize_t k
    if i + length > n:
        return False
    for k in range(length):
        if p[i + k] != <uchar>prefix[k]:
            return False
    return True


cdef bint c_partial(const uchar* p, Py_ssize_t i, Py_ssize_t n, const char* prefix,
                    Py_ssize_t length) noexcept nogil:
    """Whether the input ends inside ``prefix``, starting at ``i`` (a token cut off)."""
    cdef Py_ssize_t k
    if n - i >= length:
        return False
    for k in range(n - i):
        if p[i + k] != <uchar>prefix[k]:
            return False
    return True


cdef int64_t c_reference(const uchar* p, Py_ssize_t start, Py_ssize_t end) noexcept nogil:
    """The code point of ``#NNN`` or ``#xHH`` in ``p[start:end]``, or -1."""
    cdef int64_t code = 0
    cdef Py_ssize_t k, digits
    cdef uchar c
    if end - start < 2 or p[start] != b'#':
        return -1
    if p[start + 1] == b'x' or p[start + 1] == b'X':
        k = start + 2
        digits = end - k
        if digits < 1 or digits > 8:
            return -1
        while k < end:
            c = p[k]
            if b'0' <= c <= b'9':
                code = code * 16 + (c - 48)
            elif b'a' <= c <= b'f':
                code = code * 16 + (c - 87)
            elif b'A' <= c <= b'F':
                code = code * 16 + (c - 55)
            else:
                return -1
            k += 1
    else:
        k = start + 1
        digits = end - k
        if digits < 1 or digits > 8:
            return -1
        while k < end:
            c = p[k]
            if not (b'0' <= c <= b'9'):
                return -1
            code = code * 10 + (c - 48)
            k += 1
    if code <= 0 or code > 0x10FFFF or (0xD800 <= code <= 0xDFFF):
        return -1
    return code


cdef bint c_is_html_name(const uchar* p, Py_ssize_t start, Py_ssize_t end) noexcept nogil:
    cdef Py_ssize_t k
    cdef uchar c
    if end <= start:
        return False
    c = p[start]
    if not ((b'a' <= c <= b'z') or (b'A' <= c <= b'Z')):
        return False
    for k in range(start + 1, end):
        c = p[k]
        if not ((b'a' <= c <= b'z') or (b'A' <= c <= b'Z') or (b'0' <= c <= b'9')):
            return False
    return True


cdef Py_ssize_t c_html_entity(Out* out, const uchar* p, Py_ssize_t at, Py_ssize_t n,
                              bint final, int64_t origin) except -2 nogil:
    """Folds an HTML entity written after a decoded ``&`` at ``at``: returns its end,
    -1 when there is none there (nothing written), -3 when the input is cut off."""
    cdef Py_ssize_t end = c_find(p, at, min(n, at + ENTITY_SPAN), b';')
    cdef int64_t code
    if end < 0:
        if not final and at + ENTITY_SPAN > n:
            return -3
        return -1
    if c_is_html_name(p, at, end):
        with gil:  # the only look-up in Python's objects, and a rare one
            value = HTML_ENTITIES.get((<bytes>(p + at)[:end - at]).decode("ascii") + ";")
            if value is None:
                return -1
            c_put_text(out, value, origin)
        return end + 1
    code = c_reference(p, at, end)
    if code < 0:
        return -1
    c_put_code(out, <uint32_t>code, origin)
    return end + 1


cdef Py_ssize_t c_xml_entity(Out* out, const uchar* p, Py_ssize_t i, Py_ssize_t n,
                             bint final) except -2 nogil:
    """Folds the XML entity at ``i`` (an HTML one behind a decoded ``&`` too); returns the
    offset after it, or -3 when the input is cut off."""
    cdef Py_ssize_t end = c_find(p, i + 1, min(n, i + 1 + ENTITY_SPAN), b';'), after
    cdef int64_t code
    cdef Py_ssize_t length
    if end < 0:
        if not final and i + 1 + ENTITY_SPAN > n:
            return -3
        c_put(out, b'&', i)
        return i + 1
    length = end - i - 1
    if length == 3 and c_starts(p, i + 1, n, "amp", 3):
        code = b'&'
    elif length == 2 and c_starts(p, i + 1, n, "lt", 2):
        code = b'<'
    elif length == 2 and c_starts(p, i + 1, n, "gt", 2):
        code = b'>'
    elif length == 4 and c_starts(p, i + 1, n, "quot", 4):
        code = b'"'
    elif length == 4 and c_starts(p, i + 1, n, "apos", 4):
        code = b"'"
    else:
        code = c_reference(p, i + 1, end)
        if code < 0:
            c_put(out, b'&', i)
            return i + 1
    end += 1
    if code == b'&':
        after = c_html_entity(out, p, end, n, final, i)
        if after == -3:
            return -3
        if after >= 0:
            return after
    c_put_code(out, <uint32_t>code, i)
    return end


cdef inline Py_ssize_t c_utf8(const uchar* p, Py_ssize_t i, Py_ssize_t n, bint final,
                       uint32_t* code) noexcept nogil:
    """Decodes the UTF-8 sequence at ``i`` into ``code`` (U+FFFD when invalid); returns
    its length, or -3 when it is cut off by the end of the input."""
    cdef uchar lead = p[i], byte
    cdef Py_ssize_t length, k
    cdef uint32_t value
    if 0xC2 <= lead <= 0xDF:
        length, value = 2, lead & 0x1F
    elif 0xE0 <= lead <= 0xEF:
        length, value = 3, lead & 0x0F
    elif 0xF0 <= lead <= 0xF4:
        length, value = 4, lead & 0x07
    else:
        code[0] = 0xFFFD
        return 1
    if i + length > n:
        if not final:
            return -3
        code[0] = 0xFFFD
        return 1
    for k in range(1, length):
        byte = p[i + k]
        if (byte & 0xC0) != 0x80:
            code[0] = 0xFFFD
            return 1
        value = (value << 6) | (byte & 0x3F)
    if (length == 3 and value < 0x800) or (length == 4 and not (0x10000 <= value <= 0x10FFFF)):
        code[0] = 0xFFFD
        return 1
    code[0] = value
    return length


cdef inline Py_ssize_t c_put_char(Out* out, const uchar* p, Py_ssize_t i, Py_ssize_t n,
                                  bint final) except -2 nogil:
    """Folds the one character at ``i`` (ASCII or a UTF-8 sequence) into ``out``;
    returns where the next one starts, or -3 when it is cut off by the end of the input."""
    cdef uint32_t code
    cdef Py_ssize_t step
    if p[i] < 0x80:
        c_put_code(out, p[i], i)
        return i + 1
    step = c_utf8(p, i, n, final, &code)
    if step == -3:
        return -3
    c_put_code(out, code, i)
    return i + step


cdef int c_fold(const uchar* p, Py_ssize_t n, bint final, Out* out,
                Py_ssize_t* consumed_out) except -1 nogil:
    """The fold itself, into ``out``; ``out.origins[out.length]`` is set to ``consumed``
    (the fold table loaded first, with the GIL: :func:`c_load_table`)."""
    cdef Py_ssize_t i = 0, step, end
    cdef Py_ssize_t region = 0, region_length = 0, consumed
    cdef int state = TEXT
    cdef uchar c
    cdef uint32_t code
    c_grow(out, n + 16, True)
    while i < n:
        c = p[i]
        if state == TEXT:
            if c < 0x80 and c != b'<' and c != b'&':
                i = c_put_run(out, p, i, n)
            elif c == b'<':
                region, region_length = i, out.length
                if not final and (c_partial(p, i, n, "<![CDATA[", 9)
                                  or c_partial(p, i, n, "<!--", 4)):
                    break
                c_put(out, 0, i)
                if c_starts(p, i, n, "<!--", 4):
                    state, i = COMMENT, i + 4
                elif c_starts(p, i, n, "<![CDATA[", 9):
                    state, i = CDATA, i + 9
                elif c_starts(p, i, n, "<?", 2):
                    state, i = PI, i + 2
                else:
                    state, i = TAG, i + 1
            elif c == b'&':
                step = c_xml_entity(out, p, i, n, final)
                if step == -3:
                    break
                i = step
            else:
                step = c_put_char(out, p, i, n, final)
                if step == -3:
                    break
                i = step
        elif state == TAG:
            while c != b'>' and c != b'"' and c != b"'":  # most of a tag: its name
                i += 1
                if i == n:
                    break
                c = p[i]
            if i == n:
                break
            if c == b'"':
                state = TAG_DQ
            elif c == b"'":
                state = TAG_SQ
            elif c == b'>':
                state = TEXT
                region, region_length = i + 1, out.length
            i += 1
        elif state == TAG_DQ or state == TAG_SQ:
            end = c_find(p, i, n, b'"' if state == TAG_DQ else b"'")
            if end < 0:
                i = n
            else:
                state, i = TAG, end + 1
        elif state == PI:
            if c_starts(p, i, n, "?>", 2):
                state, i = TEXT, i + 2
                region, region_length = i, out.length
            else:
                i += 1
        else:  # COMMENT, CDATA: literal text up to the closer
            if (state == COMMENT and c_starts(p, i, n, "-->", 3)) or (
                    state == CDATA and c_starts(p, i, n, "]]>", 3)):
                c_put(out, 0, i)
                state, i = TEXT, i + 3
                region, region_length = i, out.length
                continue
            if not final and ((state == COMMENT and c_partial(p, i, n, "-->", 3)) or (
                    state == CDATA and c_partial(p, i, n, "]]>", 3))):
                break
            if c_plain(c, True):
                c_put(out, c, i)
                i += 1
            elif c == b'&' and state == CDATA:
                step = c_html_entity(out, p, i + 1, n, final, i)
                if step == -3:
                    break
                if step < 0:
                    c_put(out, b'&', i)
                    i += 1
                else:
                    i = step
            else:
                step = c_put_char(out, p, i, n, final)
                if step == -3:
                    break
                i = step
    if final:
        consumed = n
    else:  # the open region is folded again with the next bytes
        consumed = region
        out.length = region_length
    out.origins[out.length] = consumed
    consumed_out[0] = consumed
    return 0


# Scratch buffers kept between calls: a fresh one per chunk cost page faults worth a
# third of the fold. A call takes one while it holds the GIL and gives it back at its
# end; the fold itself runs without the GIL, so calls in other threads meanwhile take
# another (in one transform: the scrubber's worker and the caller's thread), or, when
# every one is taken, a fresh buffer of their own.
DEF SCRATCH_BUFFERS = 4
cdef Out _scratch[SCRATCH_BUFFERS]   # C statics: zeroed (no buffer, none taken)
cdef bint _scratch_taken[SCRATCH_BUFFERS]


cdef Out* c_begin() except NULL:
    """A buffer for this call, taken with the GIL held (so no other call takes it);
    the fold table loaded."""
    cdef Py_ssize_t k
    cdef Out* out = NULL
    c_load_table()
    for k in range(SCRATCH_BUFFERS):
        if not _scratch_taken[k]:
            _scratch_taken[k] = True
            out = &_scratch[k]
            break
    if out == NULL:
        out = <Out*>calloc(1, sizeof(Out))
        if out == NULL:
            raise MemoryError()
    out.length = 0
    out.last_space = False
    return out


cdef void c_end(Out* out) noexcept:
    """Gives the buffer back (with the GIL held): a scratch buffer freed if it grew for
    more than a few chunks (12 bytes per character), one of the call's own freed."""
    cdef Py_ssize_t k, taken = -1
    for k in range(SCRATCH_BUFFERS):
        if out == &_scratch[k]:
            taken = k
    cdef bint scratch = taken >= 0
    if not scratch or out.capacity > (1 << 22):
        free(out.chars)
        free(out.origins)
        out.chars = NULL
        out.origins = NULL
        out.capacity = 0
    if scratch:
        _scratch_taken[taken] = False
    else:
        free(out)


def fold_xml(bytes data, bint final):
    """Folds ``data`` (raw XML, UTF-8): returns ``(folded, origins, consumed)``."""
    cdef Out* out = c_begin()
    cdef Py_ssize_t consumed
    cdef array origins
    cdef const uchar* p = <const uchar*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    try:
        with nogil:
            c_fold(p, n, final, out, &consumed)
        folded = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, out.chars, out.length)
        origins = clone(_ORIGINS_TEMPLATE, out.length + 1, False)
        memcpy(origins.data.as_voidptr, out.origins, (out.length + 1) * sizeof(int64_t))
    finally:
        c_end(out)
    return folded, origins, consumed


# -- names in folded text --------------------------------------------------------------------

cdef extern from "Python.h":
    bint Py_UNICODE_ISALNUM(Py_UCS4 ch) nogil


cdef uchar _ascii_word[0x80]   # ASCII letters, digits and "_"


cdef void c_ascii_words() noexcept:
    cdef int char
    for char in range(0x80):
        _ascii_word[char] = ((b'a' <= char <= b'z') or (b'0' <= char <= b'9')
                             or (b'A' <= char <= b'Z') or char == b'_')


c_ascii_words()


cdef inline bint c_is_word(uint32_t char) noexcept nogil:
    if char < 0x80:
        return _ascii_word[char]
    return Py_UNICODE_ISALNUM(<Py_UCS4>char)


cdef struct Trie:
    int32_t* root
    int32_t* first_edge
    int32_t* edge_count
    int32_t* terminal
    uint32_t* edge_char
    int32_t* edge_node
    uchar* pairs   # the first two characters of some name, by their low bytes


cdef inline int32_t c_child(const Trie* trie, int32_t node, uint32_t char) noexcept nogil:
    cdef int32_t low, high, middle
    cdef uint32_t found
    if node == 0 and char < 0x10000:
        return trie.root[char]
    low = trie.first_edge[node]
    high = low + trie.edge_count[node] - 1
    while low <= high:
        middle = (low + high) >> 1
        found = trie.edge_char[middle]
        if found == char:
            return trie.edge_node[middle]
        if found < char:
            low = middle + 1
        else:
            high = middle - 1
    return -1


@cython.final
cdef class NameTrie:
    """The folded names searched for (``patterns[i]`` found reports ``i``), as a trie:
    per node a sorted run of (character, child) edges, and a direct table for the
    root's children in the Basic Multilingual Plane."""

    cdef Trie c
    cdef readonly Py_ssize_t size

    def __cinit__(self):
        self.c.root = NULL
        self.c.first_edge = NULL
        self.c.edge_count = NULL
        self.c.terminal = NULL
        self.c.edge_char = NULL
        self.c.edge_node = NULL
        self.c.pairs = NULL
        self.size = 0

    def __init__(self, patterns):
        cdef Py_ssize_t k, nodes, edges, at
        children = [{}]
        terminal = [-1]
        for index, pattern in enumerate(patterns):
            if not pattern:
                continue
            node = 0
            for char in pattern:
                child = children[node].get(char)
                if child is None:
                    child = len(children)
                    children[node][char] = child
                    children.append({})
                    terminal.append(-1)
                node = child
            if terminal[node] < 0:  # the first pattern of a text wins
                terminal[node] = index
            self.size += 1
        nodes = len(children)
        edges = sum(len(node_children) for node_children in children)
        self.c.root = <int32_t*>malloc(0x10000 * sizeof(int32_t))
        self.c.first_edge = <int32_t*>malloc(nodes * sizeof(int32_t))
        self.c.edge_count = <int32_t*>malloc(nodes * sizeof(int32_t))
        self.c.terminal = <int32_t*>malloc(nodes * sizeof(int32_t))
        self.c.edge_char = <uint32_t*>malloc((edges + 1) * sizeof(uint32_t))
        self.c.edge_node = <int32_t*>malloc((edges + 1) * sizeof(int32_t))
        self.c.pairs = <uchar*>calloc(0x10000, 1)
        if (self.c.root == NULL or self.c.first_edge == NULL or self.c.edge_count == NULL
                or self.c.terminal == NULL or self.c.edge_char == NULL
                or self.c.edge_node == NULL or self.c.pairs == NULL):
            raise MemoryError()
        for pattern in patterns:
            if len(pattern) == 1:
                for k in range(0x100):
                    self.c.pairs[((ord(pattern[0]) & 0xFF) << 8) | k] = 1
            elif pattern:
                self.c.pairs[((ord(pattern[0]) & 0xFF) << 8) | (ord(pattern[1]) & 0xFF)] = 1
        for k in range(0x10000):
            self.c.root[k] = -1
        at = 0
        for k in range(nodes):
            self.c.first_edge[k] = <int32_t>at
            self.c.edge_count[k] = <int32_t>len(children[k])
            self.c.terminal[k] = <int32_t>terminal[k]
            for char, child in sorted(children[k].items()):
                self.c.edge_char[at] = <uint32_t>ord(char)
                self.c.edge_node[at] = <int32_t>child
                if k == 0 and ord(char) < 0x10000:
                    self.c.root[ord(char)] = <int32_t>child
                at += 1

    def __dealloc__(self):
        free(self.c.root)
        free(self.c.first_edge)
        free(self.c.edge_count)
        free(self.c.terminal)
        free(self.c.edge_char)
        free(self.c.edge_node)
        free(self.c.pairs)


cdef struct Found:
    int64_t* spans   # (raw start, raw end, index) per match
    Py_ssize_t length
    Py_ssize_t capacity


cdef int c_found(Found* found, int64_t start, int64_t end, int64_t index) except -1 nogil:
    cdef Py_ssize_t capacity
    cdef int64_t* spans
    if found.length + 3 > found.capacity:
        capacity = max(found.capacity * 2, 96)
        spans = <int64_t*>realloc(found.spans, capacity * sizeof(int64_t))
        if spans == NULL:
            with gil:
                raise MemoryError()
        found.spans, found.capacity = spans, capacity
    found.spans[found.length] = start
    found.spans[found.length + 1] = end
    found.spans[found.length + 2] = index
    found.length += 3
    return 0


cdef int c_search(const Out* out, const Trie* trie, Found* found) except -1 nogil:
    """The names of ``trie`` in the folded text ``out``, into ``found``."""
    cdef Py_ssize_t start, at, end, length = out.length
    cdef int32_t node, index
    cdef uint32_t before, char
    cdef const uint32_t* chars = out.chars
    cdef const int32_t* root = trie.root
    cdef const uchar* pairs = trie.pairs
    cdef bint word_before = False  # whether chars[start - 1] is a word character
    start = 0
    while start < length:
        char = chars[start]
        if word_before:  # inside a word, where no name starts: the most common case
            word_before = c_is_word(char)
            start += 1
            continue
        if (root[char] if char < 0x10000 else c_child(trie, 0, char)) < 0 or (
                start + 1 < length
                and not pairs[((char & 0xFF) << 8) | (chars[start + 1] & 0xFF)]):
            word_before = c_is_word(char)
            start += 1
            continue
        if start:
            before = chars[start - 1]
            if before == 0x01 or (before == b'/' and start > 1 and chars[start - 2] == 0x01):
                word_before = c_is_word(char)
                start += 1
                continue
        node, at, end, index = 0, start, -1, -1
        while at < length:
            node = c_child(trie, node, chars[at])
            if node < 0:
                break
            at += 1
            if trie.terminal[node] >= 0 and (
                    at == length or not (c_is_word(chars[at]) or chars[at] == b'=')):
                end, index = at, trie.terminal[node]
        if end < 0:
            word_before = c_is_word(char)
            start += 1
            continue
        c_found(found, out.origins[start], out.origins[end], index)
        start = end
        word_before = c_is_word(chars[end - 1])
    return 0


def find_names(bytes data, bint final, NameTrie trie):
    """Folds ``data`` as :func:`fold_xml` does and finds the names of ``trie`` in it
    (the pure twin's docstring has the rules). Returns ``([(raw start, raw end,
    index), ...], consumed)``. Runs without the GIL but for the lists it returns."""
    cdef Out* out = c_begin()
    cdef Py_ssize_t consumed, k
    cdef const uchar* p = <const uchar*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    cdef const Trie* names = &trie.c
    cdef bint search = trie.size > 0
    cdef Found found
    found.spans, found.length, found.capacity = NULL, 0, 0
    try:
        with nogil:
            c_fold(p, n, final, out, &consumed)
            if search:
                c_search(out, names, &found)
        return [(found.spans[k], found.spans[k + 1], found.spans[k + 2])
                for k in range(0, found.length, 3)], consumed
    finally:
        free(found.spans)
        c_end(out)
