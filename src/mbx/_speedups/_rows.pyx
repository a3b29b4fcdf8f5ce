# cython: language_level=3
"""Compiled per-row work of a restore (twin of ``mbx/restore/_rows_py.py``).

:func:`row_values` builds the insert tuple straight from the row dict, parsing a
number column's plain ASCII digits in C and leaving every other value that is
not an ``int`` to ``Column.coerce``, as the twin does. :func:`count_text` walks
the text's code points once with ``Py_UNICODE_ISSPACE``, the test ``str.split``
and ``str.isspace`` use.
"""

from cpython.dict cimport PyDict_GetItem
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


def count_text(str text):
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text), i, words = 0, letters = 0
    cdef int kind = PyUnicode_KIND(text)
    cdef void* data = PyUnicode_DATA(text)
    cdef bint inside = False
    for i in range(n):
        if Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i)):
            inside = False
        else:
            letters += 1
            if not inside:
                words += 1
                inside = True
    return words, letters
