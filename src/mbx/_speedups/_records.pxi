# The record builder of the compiled parser engine (included by ``_parser.pyx``;
# its state and interface are declared in ``_parser.pxd``).
#
# Compiled twin of ``mbx/xml/_records_py.py``: it keeps the stack of open elements,
# matches them against the registered-path table, gathers leaf text in a C buffer
# and makes Python objects only for the records it dispatches. The tokenizer calls
# open(), add_text() and close(); errors raised here carry no location, the
# tokenizer adds it.


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


cdef class _Record:
    """State of one open element whose path is registered (see ``_records_py``)."""


cdef class _RecordBuilder:
    """Consumes element events, calls handlers with finished records."""

    def __cinit__(self):
        self.frames = NULL
        self.names = NULL
        self.text = NULL
        self.nodes = NULL
        self.name_slots = NULL
        self.leaf_names = NULL

    def __init__(self, nodes, limits, end_handler=None):
        cdef int i, count = len(nodes)
        self.located = end_handler is not None
        self.end_handler = end_handler
        self.max_depth = limits.max_depth
        self.max_record = limits.max_record
        self.frames = <c_Frame*>malloc((self.max_depth + 2) * sizeof(c_Frame))
        self.names_cap = 4096
        self.names = <uchar*>malloc(self.names_cap)
        self.text_cap = 4096
        self.text = <uchar*>malloc(self.text_cap)
        self.nodes = <c_Node*>malloc(count * sizeof(c_Node))
        self.name_slots = <c_NameSlot*>malloc(8192 * sizeof(c_NameSlot))
        if (self.frames == NULL or self.names == NULL or self.text == NULL
                or self.nodes == NULL or self.name_slots == NULL):
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
        self.handler_error = None

    def __dealloc__(self):
        free(self.frames)
        free(self.names)
        free(self.text)
        free(self.nodes)
        free(self.name_slots)
        cdef int i
        if self.leaf_names != NULL:
            for i in range(self.max_depth + 2):
                Py_XDECREF(self.leaf_names[i])
            free(self.leaf_names)

    # ------------------------------------------------------------------ the open elements

    cdef str path(self):
        """``/a/b`` of the open elements, for error locations."""
        cdef int i
        parts = []
        for i in range(1, self.depth + 1):
            parts.append((<bytes>self.names[self.frames[i].name_start:self.frames[i].name_start + self.frames[i].name_len]).decode("ascii"))
        return "/" + "/".join(parts)

    cdef int child_node(self, const uchar* name, Py_ssize_t size) noexcept:
        """The path-table node of a child ``name`` of the open element, or -1."""
        cdef int parent_node = self.frames[self.depth].node, child
        if parent_node >= 0:
            child = self.nodes[parent_node].first_child
            while child >= 0:
                if (self.nodes[child].name_len == size
                        and memcmp(self.nodes[child].name, name, size) == 0):
                    return child
                child = self.nodes[child].next_sibling
        return -1

    cdef inline bint records_attributes(self, int node) noexcept:
        """Whether an element at ``node`` opens a record, so its attributes are kept."""
        return node >= 0 and (self.nodes[node].flags & REGISTERED) and self.skip_depth == 0

    cdef inline bint capturing(self) noexcept:
        """Whether the open element's text is kept (it may be a leaf field)."""
        return (self.frames[self.depth].flags & F_CAPTURE) != 0

    cdef inline Py_ssize_t open_name_length(self) noexcept:
        return self.frames[self.depth].name_len

    cdef inline bint open_name_is(self, const uchar* name, Py_ssize_t size) noexcept:
        """Whether ``name`` is the open element's name (an end tag matches)."""
        cdef c_Frame* top = &self.frames[self.depth]
        return top.name_len == size and memcmp(self.names + top.name_start, name, size) == 0

    # ------------------------------------------------------------------ events

    cdef inline int add_text(self, const uchar* data, Py_ssize_t size) except -1:
        """Keeps text of the open element, which is capturing."""
        self.record_bytes += size
        if self.record_bytes > self.max_record:
            return self._record_too_large()
        if self.text_len + size > self.text_cap:
            self._grow_text(self.text_len + size)
        memcpy(self.text + self.text_len, data, size)
        self.text_len += size
        return 0

    cdef int _record_too_large(self) except -1:
        raise XmlLimitError(f"record larger than max_record={self.max_record} bytes",
                            code="xml-limit-record")

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

    cdef object intern(self, const uchar* name, Py_ssize_t size):
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

    cdef long long hold(self, long long position):
        """The earliest of ``position`` and the start of every pending record chunk."""
        cdef int d
        cdef _Record record
        for d in range(1, self.depth + 1):
            record_obj = self.records[d]
            if record_obj is not None:
                record = <_Record>record_obj
                if 0 <= record.hold < position:
                    position = record.hold
        return position

    cdef int open(self, const uchar* name_at, Py_ssize_t name_len, int node, dict attrs,
                  bint has_attrs, long long attr_total, long long at,
                  long long content_at) except -1:
        """An element opens: ``node`` from child_node(), ``attrs`` decoded when
        records_attributes(node), else None; ``at`` and ``content_at`` are the
        offsets of its start tag and its content (-1 for an empty-element tag)."""
        cdef int depth = self.depth
        cdef c_Frame* parent = &self.frames[depth]
        cdef c_Frame* frame
        cdef _Record owner, record
        cdef int flags
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
        memcpy(self.names + self.names_len, name_at, name_len)
        depth += 1
        self.depth = depth
        self.root_seen = True
        frame = &self.frames[depth]
        frame.node = node
        frame.name_start = self.names_len
        frame.name_len = name_len
        frame.flags = 0
        frame.at = at
        frame.content_at = content_at
        self.names_len += name_len
        if self.skip_depth:
            return 0
        if self.records[depth - 1] is not None:
            owner = <_Record>self.records[depth - 1]
            if owner.hold < 0:
                owner.hold = at  # a candidate leaf starts a new chunk
            frame.flags = F_CAPTURE | (F_HAS_ATTRS if has_attrs else 0)
            name = self.intern(name_at, name_len)
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
                record.at = at
                record.hold = at
                record.spans = {} if self.located else None
                if flags & IN_GROUP:
                    record.owner = self._group_of(node)
                if flags & GROUPED:
                    record.owner = record
                    record.built = {}
                self.records[depth] = record
        return 0

    cdef int close(self, long long close_at, long long end_at) except -1:
        """The open element closes; ``close_at`` and ``end_at`` are the offsets of its
        end tag and of the byte after it (for ``<x/>``: its start and end)."""
        cdef int depth = self.depth
        cdef c_Frame* frame = &self.frames[depth]
        cdef _Record owner, record
        cdef object value, name
        cdef dict pending
        if frame.flags & F_CAPTURE:
            owner = <_Record>self.records[depth - 1]
            if self.text_len == 8 and memcmp(self.text, b"$@NULL@$", 8) == 0:
                value = None
            else:
                value = PyUnicode_DecodeUTF8(<const char*>self.text, self.text_len, NULL)
            self.text_len = 0
            name = <object>self.leaf_names[depth]
            pending = owner.pending
            if self.located:
                # as below, noting where the value that counts sits
                if (PyDict_GetItem(pending, name) == NULL or
                        (value is not None and not c_is_blank(value))):
                    PyDict_SetItem(pending, name, value)
                    PyDict_SetItem(owner.spans, name,
                                   (frame.at, frame.content_at, close_at, end_at))
            # the last non-empty repetition wins; a blank one never overwrites
            elif (<object>PyDict_SetDefault(pending, name, value) is not value
                    and value is not None and not c_is_blank(value)):
                PyDict_SetItem(pending, name, value)
        record_obj = self.records[depth]
        if record_obj is not None:
            record = <_Record>record_obj
            self.records[depth] = None
            self._flush(record)
            if record.owner is record:
                self._close_group(record)
            if self.located:
                self.end_handler(record.at, close_at, end_at)
        self.names_len = frame.name_start
        self.depth = depth - 1
        if self.depth == 0:
            self.root_done = True
        if self.skip_depth == depth:
            self.skip_depth = 0
        return 0

    # ------------------------------------------------------------------ records

    cdef _Record _group_of(self, int node):
        cdef int root = self.nodes[node].group_root
        cdef int d
        for d in range(self.depth, 0, -1):
            if self.frames[d].node == root:
                return <_Record>self.records[d]
        raise AssertionError("grouped ancestor not on the stack")

    cdef int _flush(self, _Record record) except -1:
        cdef dict pending = record.pending
        cdef dict fields
        cdef bint blank = True
        cdef Py_ssize_t ppos = 0
        cdef PyObject* key
        cdef PyObject* val
        cdef dict spans = None
        record.hold = -1  # the chunk ends here, published or not: nothing before stays held
        if not pending and not record.nonleaf:
            return 0
        record.nonleaf = False
        if self.located:
            spans = record.spans
            record.spans = {}
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
            self._dispatch(record, fields, spans)
        elif record.built is not None:
            PyDict_Update(record.built, fields)
        else:
            record.built = fields
            attach_to_group(record.owner.built, self.group_paths[record.node], fields)
        return 0

    cdef int _dispatch(self, _Record record, dict fields, dict spans=None) except -1:
        cdef int d
        self.record_bytes = 0
        try:
            if self.located:
                result = self.handlers[record.node](fields, record.at, spans)
            else:
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
