# cython: language_level=3
# Declarations shared by the two parts of the compiled parser engine (``_parser.pyx``):
# the tokenizer (``_tokenizer.pxi``: bytes to element events) and the record builder
# (``_records.pxi``: element events to records). What one part may use of the other
# is declared here; everything else stays inside its own file.

cimport cython
from cpython.object cimport PyObject

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

# c_Frame.flags
cdef enum:
    F_CAPTURE = 1      # a candidate leaf field of the record one level up
    F_HAS_ATTRS = 2    # ... that has attributes (it publishes the chunk if it turns out a non-leaf)


# one open element
cdef struct c_Frame:
    int node                  # its path-table node, or -1
    Py_ssize_t name_start     # its name in _RecordBuilder.names
    Py_ssize_t name_len
    int flags
    long long at              # located mode: where its start tag begins
    long long content_at      # ... and where its content begins (-1: <x/>)


# one registered path, or a prefix of one (mbx.xml._paths.PathNode)
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


@cython.final
cdef class _Record:
    cdef int node
    cdef int depth
    cdef object attrs
    cdef bint attrs_pending
    cdef dict pending
    cdef bint nonleaf
    cdef object built
    cdef _Record owner
    # located mode: the start tag's offset, the pending chunk's start (-1: none), its spans
    cdef long long at
    cdef long long hold
    cdef dict spans


@cython.final
cdef class _RecordBuilder:
    # the open elements: the tokenizer reads depth and root_seen/root_done, and
    # pushes and pops only through open() and close()
    cdef c_Frame* frames
    cdef int depth, max_depth
    cdef uchar* names
    cdef Py_ssize_t names_len, names_cap
    cdef bint root_seen, root_done
    # captured leaf text
    cdef uchar* text
    cdef Py_ssize_t text_len, text_cap
    cdef long long record_bytes, max_record
    # path table
    cdef c_Node* nodes
    cdef int node_count
    cdef list node_names              # keeps node name bytes alive
    cdef list handlers
    cdef list group_paths
    cdef list wrappers                # per node: set of wrapper child names
    cdef list records                 # per depth: _Record or None
    cdef PyObject** leaf_names        # per depth: field name of a capturing frame (owned)
    cdef int skip_depth
    # name interning
    cdef c_NameSlot* name_slots
    cdef int name_count
    cdef list name_refs
    #: The exception a handler raised, so the tokenizer can tell it from its own.
    cdef object handler_error
    # located mode (the rewriter's): offsets reach handlers, closes reach end_handler
    cdef bint located
    cdef object end_handler

    # used by the tokenizer
    cdef str path(self)
    cdef int child_node(self, const uchar* name, Py_ssize_t size) noexcept
    cdef inline bint records_attributes(self, int node) noexcept
    cdef inline bint capturing(self) noexcept
    cdef inline Py_ssize_t open_name_length(self) noexcept
    cdef inline bint open_name_is(self, const uchar* name, Py_ssize_t size) noexcept
    cdef inline int add_text(self, const uchar* data, Py_ssize_t size) except -1
    cdef object intern(self, const uchar* name, Py_ssize_t size)
    cdef int open(self, const uchar* name, Py_ssize_t size, int node, dict attrs,
                  bint has_attrs, long long attr_total, long long at,
                  long long content_at) except -1
    cdef int close(self, long long close_at, long long end_at) except -1
    cdef long long hold(self, long long position)
    # its own
    cdef int _grow_text(self, Py_ssize_t need) except -1
    cdef inline int _count(self, Py_ssize_t size) except -1
    cdef int _record_too_large(self) except -1
    cdef _Record _group_of(self, int node)
    cdef int _flush(self, _Record record) except -1
    cdef int _dispatch(self, _Record record, dict fields, dict spans=*) except -1
    cdef int _close_group(self, _Record record) except -1


@cython.final
cdef class Engine:
    cdef _RecordBuilder builder
    # input
    cdef uchar* buf
    cdef Py_ssize_t buf_len, buf_cap, pos
    cdef Py_ssize_t retry_len        # wait for this many pending bytes before retrying
    cdef long long consumed          # bytes dropped from the front of buf so far
    cdef long long line_base         # newlines in dropped bytes
    cdef long long last_nl           # absolute offset just after the last dropped newline
    cdef bint at_start, closed
    # limits
    cdef long long text_bytes        # character data since the last tag
    cdef long long max_text, token_guard
    cdef int max_depth, max_name, max_attrs
    # attribute scratch: start/len of each name in the current tag, and the value
    # being decoded
    cdef Py_ssize_t* attr_spans
    cdef uchar* value
    cdef Py_ssize_t value_len, value_cap
    cdef object source
    cdef Py_ssize_t text_bytes_scratch   # size of the last decoded reference

    cdef void _grow(self, Py_ssize_t need) except *
    cdef void _compact(self)
    cdef object _where(self, Py_ssize_t at)
    cdef int _fail(self, Py_ssize_t at, str code, str message, type cls=*) except -1
    cdef int _locate(self, exc, Py_ssize_t at) except -1
    cdef int _run(self, bint final) except -1
    cdef int _finish(self) except -1
    cdef Py_ssize_t _text(self, Py_ssize_t i, Py_ssize_t n, bint final) except -2
    cdef Py_ssize_t _outside_text(self, Py_ssize_t i, Py_ssize_t n, bint final) except -2
    cdef inline int _add_text(self, const uchar* data, Py_ssize_t size, bint capture) except -1
    cdef int _text_too_long(self) except -1
    cdef int _reference(self, Py_ssize_t i, Py_ssize_t n, uchar* out) except -2
    cdef Py_ssize_t _name(self, Py_ssize_t i, Py_ssize_t n) except -2
    cdef Py_ssize_t _non_ascii_name(self, Py_ssize_t j, Py_ssize_t n) except -2
    cdef Py_ssize_t _start_tag(self, Py_ssize_t i, Py_ssize_t n) except -2
    cdef inline int _value_append(self, const uchar* data, Py_ssize_t size) except -1
    cdef Py_ssize_t _end_tag(self, Py_ssize_t i, Py_ssize_t n) except -2
    cdef Py_ssize_t _bang(self, Py_ssize_t i, Py_ssize_t n, bint final) except -2
    cdef Py_ssize_t _scan_chars(self, Py_ssize_t j, Py_ssize_t n, uchar stop) except -2
    cdef Py_ssize_t _cdata(self, Py_ssize_t i, Py_ssize_t n) except -2
    cdef Py_ssize_t _instruction(self, Py_ssize_t i, Py_ssize_t n) except -2
    cdef Py_ssize_t _declaration(self, Py_ssize_t i, Py_ssize_t n, Py_ssize_t j) except -2
