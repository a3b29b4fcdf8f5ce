# cython: language_level=3
"""Compiled parser engine: our own XML tokenizer, path tracker and record builder.

Compiled twin of ``mbx/xml/_parser_py.py`` (expat + ``_records_py``), in two parts
that meet only through the declarations in ``_parser.pxd``:

* ``_tokenizer.pxi``: :class:`Engine`, which scans the bytes, checks them and the
  limits, and tells the record builder about elements and the text worth keeping;
* ``_records.pxi``: ``_RecordBuilder``, which matches open elements against the
  registered-path table, gathers leaf text in a C buffer and makes Python objects
  only for the records it dispatches.

Semantics are documented in ``mbx.xml.parser``; this module must keep them
identical to the pure path (the test suite compares both on every real backup).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem, PyDict_Update, PyDict_Next, PyDict_DelItem
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcmp, memcpy, memmove

import re

from mbx.errors import MbxError, XmlForbiddenError, XmlLimitError, XmlSyntaxError
from mbx._recordspec import (GROUPED, IN_GROUP, JUNK_AFTER_ROOT_CODES, REGISTERED,
                             SELECTED_PARENT, SKIP, attach_to_group, token_guard)

include "_records.pxi"
include "_tokenizer.pxi"
