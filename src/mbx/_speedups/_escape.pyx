# cython: language_level=3
"""Compiled escaping for the XML writer (twin of ``mbx/xml/_escape_py.py``).

Works on the UTF-8 bytes of the value: one pass finds whether anything needs
changing (most values need nothing and are returned as encoded), a second
builds the escaped copy. Lone surrogates arrive as ED A0..BF xx through
``surrogatepass`` and are dropped like the other characters XML cannot carry.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

ctypedef unsigned char uchar


cdef inline bint c_needs_work(const uchar* p, Py_ssize_t n, bint attribute):
    cdef Py_ssize_t i
    cdef uchar c
    for i in range(n):
        c = p[i]
        if c < 0x20:
            if c != 0x09 and c != 0x0A:
                return True
        elif c == b'&' or c == b'<' or c == b'>' or c == 0x7F or c == 0xED or c == 0xEF:
            return True
        elif attribute and c == b'"':
            return True
    return False


cdef bytes c_escape(str value, bint attribute):
    cdef bytes encoded = value.encode("utf-8", "surrogatepass")
    cdef const uchar* p = <const uchar*>PyBytes_AS_STRING(encoded)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(encoded), i = 0, o = 0
    cdef uchar c
    cdef uchar* out
    if not c_needs_work(p, n, attribute):
        return encoded
    out = <uchar*>malloc(n * 6 + 1)
    if out == NULL:
        raise MemoryError()
    try:
        while i < n:
            c = p[i]
            if c == b'&':
                memcpy(out + o, b"&amp;", 5)
                o += 5
            elif c == b'<':
                memcpy(out + o, b"&lt;", 4)
                o += 4
            elif c == b'>':
                memcpy(out + o, b"&gt;", 4)
                o += 4
            elif c == b'"' and attribute:
                memcpy(out + o, b"&quot;", 6)
                o += 6
            elif c == b'\r':
                out[o] = b'\n'
                o += 1
                if i + 1 < n and p[i + 1] == b'\n':
                    i += 1
            elif (c < 0x20 and c != 0x09 and c != 0x0A) or c == 0x7F:
                pass
            elif c == 0xED and i + 2 < n and p[i + 1] >= 0xA0:
                i += 2  # a lone surrogate
            elif c == 0xEF and i + 2 < n and p[i + 1] == 0xBF and (p[i + 2] == 0xBE or p[i + 2] == 0xBF):
                i += 2  # U+FFFE, U+FFFF
            else:
                out[o] = c
                o += 1
            i += 1
        return PyBytes_FromStringAndSize(<const char*>out, o)
    finally:
        free(out)


def escape_text(str value):
    """Escapes ``&``, ``<`` and ``>`` for element content; returns UTF-8 bytes."""
    return c_escape(value, False)


def escape_attribute(str value):
    """Escapes ``&``, ``<``, ``>`` and ``"`` for an attribute value; returns UTF-8 bytes."""
    return c_escape(value, True)
