# cython: language_level=3
"""Compiled per-row work of a restore (twin of ``mbx/restore/_rows_py.py``).

:func:`row_values` builds the insert tuple straight from the row dict, parsing a
number column's plain ASCII digits in C and leaving every other value that is
not an ``int`` to ``Column.coerce``, as the twin does. :func:`count_text` walks
the text's code points once with ``Py_UNICODE_ISSPACE``, the test ``str.split``
and ``str.isspace`` use. :func:`word_text` strips tags in one pass: each tag
(a ``<`` to the first ``>`` after it) goes, and leaves a space when its tail,
from its last ``<``, is a break; ``\\w`` and ``\\s`` are the tests ``re`` makes
(``Py_UNICODE_ISALNUM`` or ``_``, and ``Py_UNICODE_ISSPACE``).
"""

from cpython.dict cimport PyDict_GetItem
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM


cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)
    int PyUnicode_KIND(object text)
    void* PyUnicode_DATA(object text)
    Py_UCS4 PyUnicode_READ(int kind, void* data, Py_ssize_t index)
    bint Py_UNICODE_ISSPACE(Py_UCS4 character)
    bint Py_UNICODE_ISALNUM(Py_UCS4 character)
    void PyUnicode_WRITE(int kind, void* data, Py_ssize_t index, Py_UCS4 value)
    object PyUnicode_FromKindAndData(int kind, const void* buffer, Py_ssize_t size)
    Py_ssize_t PyUnicode_FindChar(object text, Py_UCS4 character, Py_ssize_t start, Py_ssize_t end,
                                  int direction) except -2


cdef object _ascii_int(str text):
    """The int of a short run of ASCII digits, or ``None`` for anything else."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text), i
    cdef const unsigned char* p
    cdef long long value = 0
    if n == 0 or n > 18 or not PyUnicode_IS_ASCII(text):
        return None
    p = <const unsigned char*>PyUnicode_DATA(text)
    for i in range(n):
        if p[i] < 48 or p[i] > 57:
            return None
        value = value * 10 + (p[i] - 48)
    return value


def row_values(dict row, tuple names, tuple fills, tuple checked):
    cdef Py_ssize_t n = len(names), i, index
    cdef tuple values = PyTuple_New(n)
    cdef PyObject* found
    cdef object value, number, column
    cdef list staged = [None] * n
    for i in range(n):
        found = PyDict_GetItem(row, names[i])
        staged[i] = fills[i] if found is NULL else <object>found
    for entry in checked:
        index = entry[0]
        value = staged[index]
        if value is None:
            if entry[1]:
                staged[index] = fills[index]
            continue
        column = entry[2]
        if column is None or type(value) is int:
            continue
        if type(value) is str:
            number = _ascii_int(value)
            if number is not None:
                staged[index] = number
                continue
        try:
            staged[index] = column.coerce(value)
        except (ValueError, ArithmeticError):
            return None
    for i in range(n):
        value = staged[i]
        Py_INCREF(value)
        PyTuple_SET_ITEM(values, i, value)
    return values


ctypedef fused _unit:    # a code point as the string holds it: PyUnicode_1/2/4BYTE_KIND
    unsigned char
    unsigned short
    unsigned int


#: 1 for the Latin-1 code points ``str.isspace`` holds true for, filled at import
cdef unsigned char _LATIN1_SPACE[256]
for _point in range(256):
    _LATIN1_SPACE[_point] = chr(_point).isspace()


cdef (Py_ssize_t, Py_ssize_t) _count(const _unit* data, Py_ssize_t n):
    """Words and spaces without a branch per character (a word starts where a space
    ends), Latin-1 from a table and the rest through ``Py_UNICODE_ISSPACE``."""
    cdef Py_ssize_t i, words = 0, spaces = 0
    cdef unsigned char space, before = 1
    for i in range(n):
        space = _LATIN1_SPACE[data[i]] if data[i] < 256 else Py_UNICODE_ISSPACE(data[i])
        spaces += space
        words += before & (space ^ 1)
        before = space
    return words, n - spaces


def count_text(str text):
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text)
    cdef int kind = PyUnicode_KIND(text)
    cdef void* data = PyUnicode_DATA(text)
    if kind == 1:
        return _count(<const unsigned char*>data, n)
    if kind == 2:
        return _count(<const unsigned short*>data, n)
    return _count(<const unsigned int*>data, n)


#: closing tags that do not end a word
INLINE = frozenset({"a", "b", "del", "em", "i", "ins", "s", "small", "span", "strong", "sub",
                    "sup", "u"})


cdef bint _is_break(str text, int kind, void* data, Py_ssize_t start, Py_ssize_t end):
    """Whether ``text[start:end + 1]`` (``<`` to ``>``) is ``</name>`` of a block
    element, ``<br>`` or ``<br/>`` with white space before the slash."""
    cdef Py_ssize_t i
    cdef Py_UCS4 c
    if end - start < 3:
        return False
    if PyUnicode_READ(kind, data, start + 1) == 0x2F:   # "/"
        for i in range(start + 2, end):
            c = PyUnicode_READ(kind, data, i)
            if not (Py_UNICODE_ISALNUM(c) or c == 0x5F):
                return False
        return text[start + 2:end] not in INLINE
    if PyUnicode_READ(kind, data, start + 1) != 0x62 or PyUnicode_READ(kind, data, start + 2) != 0x72:
        return False                                     # not "br"
    if end == start + 3:
        return True
    if PyUnicode_READ(kind, data, end - 1) != 0x2F:
        return False
    for i in range(start + 3, end - 1):
        if not Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i)):
            return False
    return True


def word_text(str message):
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(message), i = 0, j, k, o = 0, at
    cdef int kind = PyUnicode_KIND(message)
    cdef char* data = <char*>PyUnicode_DATA(message)
    cdef char* out
    if n == 0:
        return message
    out = <char*>malloc(n * kind)   # never longer: a tag of two or more characters leaves one space at most
    if out == NULL:
        raise MemoryError()
    try:
        while i < n:
            at = PyUnicode_FindChar(message, 0x3C, i, n, 1)      # the next "<"
            j = -1 if at < 0 else PyUnicode_FindChar(message, 0x3E, at + 1, n, 1)
            if j < 0:                                           # no tag from here on: the rest is text
                memcpy(out + o * kind, data + i * kind, (n - i) * kind)
                o += n - i
                break
            memcpy(out + o * kind, data + i * kind, (at - i) * kind)
            o += at - i
            k = j - 1
            while PyUnicode_READ(kind, data, k) != 0x3C:
                k -= 1
            if _is_break(message, kind, data, k, j):
                PyUnicode_WRITE(kind, out, o, 0x20)
                o += 1
            i = j + 1
        return PyUnicode_FromKindAndData(kind, out, o)
    finally:
        free(out)
