"""The restore engine: a plan of tasks and steps, run over declared elements.

The plan has Moodle's shape (root, course, sections, activities, blocks,
final) and the steps are data: :mod:`mbx.moodle2.structure` and
:mod:`mbx.moodle2.modules` say, for every element, which table it becomes,
which columns are parent ids, references, dates and files. The engine turns
each parsed record into a row the way Moodle's ``insert_record`` does
(unknown keys dropped, the ``id`` replaced by one the target hands out,
missing columns left to their defaults, empty numbers 0), records old id →
new id in the on-disk :class:`~mbx.restore.idmap.IdMap`, and calls a hook
(:mod:`mbx.restore.hooks`) where Moodle does something data cannot say.

The order problem, and what was chosen
--------------------------------------
In a Moodle tar.gz the activities come first and the users, sections,
``files.xml`` and ``moodle_backup.xml`` last, so one pass would meet every
``userid`` of a forum before the users it names. The engine makes two passes
(:class:`~mbx.restore.source.TwoPassSource`): a survey that inflates the whole
archive, checks it and spools every member except the blobs and the activity
documents, then, after the root, course and section tasks have run from the
spool, a second pass that streams the activity documents and the blobs in
archive order. Every reference is then resolved at insert time, with no
deferred rewrite of rows already written.

Measured on ``mbx synth`` courses (seed 1; ``python benchmarks/bench_restore.py
--compare 100M,1G``), the spool is 1.4 % of the 100 MB course's 191 MB of members
(2.6 MB) and 1.0 % of the 1 GB course's 1.95 GB (18.8 MB): activity documents
(1.02 GB) and blobs (0.91 GB) are the rest, and are read once, from the archive.
The survey of the 1 GB course takes 2.5-2.8 s, 0.31-0.35 of ``gzip -dc`` of the
same file (7.9 s), because isal inflates about five times as fast. The
alternatives cost more: a deferred, set-based remap is one UPDATE per reference
column over every row written (the forum posts alone carry three), after the rows
were written once; seek points into a deflate stream need a 32 KiB window each,
kept for every member read out of order, and zlib's inflate, which can copy its
state, runs at 0.4 of isal's speed; spooling the whole archive is what Moodle does
(97 MB of temporary files for a 50 MB course) and doubles the disk traffic.

Where the time goes
-------------------
A row costs Python work (the row built, its references mapped, a hook), its
insert, and its share of inflating and parsing. The per-row loops that py-spy
found largest are compiled (:mod:`mbx.restore.rowvalues`: the insert tuple,
a forum post's word and letter counts); SQLite takes each full batch as one
multi-row ``INSERT`` and builds the plain indexes of the tables a restore
creates after their rows (:meth:`~mbx.restore.targets.base.Target.ensure_schema`).
On the 1 GB course, old and new code run one after the other on a quiet
machine, the restore into SQLite went from 55.2 s to 31.9 s (``gzip -dc``:
10.7 s; 5.1 × to 3.0 ×).
Measured and left out: the stream pass inflating in a second thread
(:class:`~mbx.archive.inflate.ReadAhead`: no gain on two cores, 6 MiB more),
and inserts in a writer process (msgpack of a forum post's row costs 3.5 µs of
the 6-10 µs its insert would move off this thread).

Everything happens in one database transaction, opened before the first
write and committed last; the file pool takes only verified blobs.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

import msgspec

from mbx.errors import FormatError, MbxError, TargetError
from mbx.moodle2 import schema, structure
from mbx.moodle2.declare import Element, Fixed, Missing, Ref, Step
from mbx.moodle2.members import BLOB
from mbx.moodle2.models import Information
from mbx.progress import Monitor
from mbx.restore import hooks as hook_table
from mbx.restore.idmap import IdMap
from mbx.restore.pool import FilePool
from mbx.restore.report import KeptRaw, RestoreReport
from mbx.restore.rowvalues import row_values
from mbx.restore.source import TwoPassSource
from mbx.restore.targets.base import Target
from mbx.xml import SKIP, Parser

__all__ = ["Engine", "Settings", "Task"]

#: Rows buffered per table before they are sent to the target.
BATCH = 500
#: Bytes of a raw member per row of ``mbx_raw_members``.
RAW_CHUNK = 1 << 20
#: ``modules.search`` of a module row mbx added for an activity it keeps raw: the
#: module is not installed, and later restores must not count it as if it were.
ADDED_MODULE = "mbx:not-installed"
#: Records between two checks of the cancel token.
CHECK_EVERY = 512

TOKEN = re.compile(r"\$@([A-Z0-9]+)((?:\*\d+)+)@\$")
EMPTY = (None, "", "0", 0)


class Settings(msgspec.Struct, kw_only=True):
    users: bool = True
    include_files: bool = True
    activities: tuple[int, ...] | None = None     # old course module ids
    sections: tuple[int, ...] | None = None       # section numbers
    user_conflicts: str = "map"                   # map | create | fail
    wwwroot: str | None = None                    # links are decoded into this site
    start_date: int | None = None                 # the new course start: dates roll
    strict: bool = False
    category: int | None = None
    restorer: int | None = None                   # the user the restore runs as (None: the target's admin)
    same_site: bool = False
    fullname: str | None = None
    shortname: str | None = None


class Task(msgspec.Struct, kw_only=True):
    kind: str                  # root | course | section | activity | block | final
    folder: str                # "" | "course/" | "sections/section_3/" | "activities/forum_12/"
    context: int | None = None
    context_path: str | None = None
    old_context: str | None = None
    instance: int | None = None
    module: int | None = None
    modulename: str | None = None
    userinfo: bool = True
    raw: bool = False


class StepState:
    """Per-step memory: the last new id of each kind (Moodle's get_new_parentid)."""

    __slots__ = ("current", "member", "task")

    def __init__(self, member: str, task: Task) -> None:
        self.current: dict[str, int | None] = {}
        self.member = member
        self.task = task


class _Compiled:
    """An element prepared once per step: its table facts and its handler."""

    __slots__ = ("element", "table", "names", "rename", "parents", "refs", "dates", "fixed",
                 "defaults", "hook")

    def __init__(self, element: Element) -> None:
        self.element = element
        self.table = table_facts(element.table) if element.table else None
        # the columns a record's leaves may fill (the id is the target's), and the rest
        # of the declaration as pairs, walked for every record
        self.names = frozenset(self.table.column_names if self.table else ()) - {"id"}
        self.rename = tuple(element.rename.items())
        self.parents = tuple(element.parents.items())
        self.refs = tuple(element.references().items())
        self.dates = tuple(element.dates)
        self.fixed = tuple(element.fixed.items())
        self.defaults = tuple(element.defaults.items())
        self.hook = hook_table.HOOKS[element.hook] if element.hook else None


class Engine:
    def __init__(self, source: TwoPassSource, target: Target, pool: FilePool | None,
                 ids: IdMap, info: Information, settings: Settings, report: RestoreReport,
                 monitor: Monitor) -> None:
        self.source = source
        self.target = target
        self.pool = pool
        self.ids = ids
        self.info = info
        self.settings = settings
        self.report = report
        self.monitor = monitor
        self.now = int(time.time())
        self.offset = _date_offset(info, settings)
        self._rows: dict[str, list[tuple]] = {}
        self._layouts: dict[str, tuple] = {}
        self._updates: dict[tuple[str, tuple[str, ...]], list[tuple]] = {}
        self._created: dict[str, list[int]] = {}         # table -> [min id, max id, count]
        self._compiled: dict[int, _Compiled] = {}
        self._file_areas: dict[tuple[str, str], str | None] = {}
        self._records = 0
        self.course_id: int | None = None
        self.course_context: int | None = None
        self.course_context_path = ""
        self.system_context = 1
        self.category = settings.category or 1
        self.userinfo = settings.users and info.setting("users") == "1"
        self.module_ids: dict[str, int] = {}
        self.raw_contexts: set[int] = set()
        self.bad_blobs: set[str] = set()
        self.sections_written: list[tuple[int, int]] = []   # (number, new id)
        self.module_rows: dict[int, dict] = {}   # new course module id -> its row (for sequences)
        self.course_format = "topics"
        self.enrol_sortorder = -1
        self.grade_category: int | None = None
        self.course_grade_item: int | None = None

    # -- writing -----------------------------------------------------------------------
    def write(self, table: str, row: dict) -> None:
        """Buffers a row (``row["id"]`` already allocated) for ``table``: every column in
        the table's order, missing ones filled (:func:`_fill`), numbers parsed."""
        layout = self._layouts.get(table)
        if layout is None:
            layout = self._layouts[table] = _layout(table_facts(table))
        values = row_values(row, *layout)
        if values is None:
            raise _bad_value(table, row, layout)
        rows = self._rows.setdefault(table, [])
        rows.append(values)
        created = self._created.get(table)
        new = row["id"]
        if created is None:
            self._created[table] = [new, new, 1]
        else:
            if new < created[0]:
                created[0] = new
            elif new > created[1]:
                created[1] = new
            created[2] += 1
        if len(rows) >= BATCH:
            self._flush_table(table)

    def insert(self, table: str, row: dict) -> int:
        """Allocates an id, buffers the row, returns the id."""
        row["id"] = self.target.new_id(table)
        self.write(table, row)
        return row["id"]

    def update(self, table: str, row_id: int, **values: Any) -> None:
        """A change to a row written earlier (applied after the pending inserts)."""
        columns = tuple(values)
        facts = table_facts(table).by_name
        pending = self._updates.setdefault((table, columns), [])
        pending.append(tuple(facts[c].coerce(v) for c, v in values.items()) + (row_id,))
        if len(pending) >= BATCH:  # held until the end they grow with the course
            self._flush_table(table)
            self.target.update(table, columns, pending)
            pending.clear()

    def flush(self) -> None:
        for table in list(self._rows):
            self._flush_table(table)
        for (table, columns), rows in self._updates.items():
            if rows:
                self.target.update(table, columns, rows)
        self._updates.clear()
        self.ids.flush()

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        """A query against the target, after everything buffered has been written."""
        self.flush()
        self.target.index_tables_in(sql)
        return self.target.query(sql, tuple(params))

    def t(self, table: str) -> str:
        """A table's name in the target, for hand-written SQL."""
        return self.target.name(table)

    def _flush_table(self, table: str) -> None:
        rows = self._rows.pop(table, None)
        if rows:
            self.target.insert(table, table_facts(table).column_names, rows)

    def created(self, table: str) -> tuple[int, int] | None:
        span = self._created.get(table)
        return None if span is None else (span[0], span[1])

    def forget_created(self) -> None:
        """Rows written so far are the site's, not the restore's (see targets.seed)."""
        self._created.clear()

    def counts(self) -> dict[str, int]:
        return {table: span[2] for table, span in sorted(self._created.items())}

    # -- contexts ----------------------------------------------------------------------
    def new_context(self, level: int, instance: int, parent_path: str) -> tuple[int, str]:
        context = self.target.new_id("context")
        path = f"{parent_path}/{context}"
        self.write("context", {"id": context, "contextlevel": level, "instanceid": instance,
                               "path": path, "depth": path.count("/"), "locked": 0})
        self.ids.set("context_info", context, level, instance)
        self.ids.set("context_path", context, path)
        if level == structure.USER_LEVEL:
            self.ids.set("user_context", instance, context)
        return context, path

    # -- what hooks ask of the course being built ----------------------------------------
    def course_names(self, fullname: str, shortname: str) -> tuple[str, str]:
        """Names no other course has (``calculate_course_names``): `` copy N`` / ``_N``."""
        mark = self.target.mark
        base_full, base_short = fullname[:254], shortname[:100]
        number = 0
        while True:
            taken = self.query(f"SELECT 1 FROM {self.t('course')} WHERE (fullname = {mark} OR "
                               f"shortname = {mark}) AND id <> {mark}",
                               (fullname, shortname, self.course_id or 0))
            if not taken:
                return fullname, shortname
            number += 1
            fullname = f"{base_full} copy {number}"
            shortname = f"{base_short}_{number}"

    def format_option(self, section: int, format_name: str, name: str | None, value: Any) -> None:
        if not name:
            return
        key = f"{section}:{format_name}:{name}"
        if self.ids.get("format_option", key) is not None:
            return
        self.ids.set("format_option", key, self.insert("course_format_options", {
            "courseid": self.course_id, "format": format_name, "sectionid": section,
            "name": name, "value": value}))

    def any_section(self) -> int:
        """The course's lowest section, created (as 0 and 1) when there is none."""
        if self.sections_written:
            return min(self.sections_written)[1]
        for number in (0, 1):
            new = self.insert("course_sections", {
                "course": self.course_id, "section": number, "summaryformat": 1,
                "sequence": "", "visible": 1, "timemodified": self.now})
            self.ids.set("section_number", number, new)
            self.sections_written.append((number, new))
        return self.sections_written[-1][1]

    def module_id(self, name: str | None) -> int:
        """``modules.id`` of a module name; a module the target lacks is added, hidden."""
        name = name or ""
        if name not in self.module_ids:
            mark = self.target.mark
            found = self.query(f"SELECT id FROM {self.t('modules')} WHERE name = {mark}", (name,))
            if found:
                self.module_ids[name] = found[0][0]
            else:
                self.module_ids[name] = self.insert("modules", {"name": name, "cron": 0, "lastcron": 0,
                                                                "search": ADDED_MODULE, "visible": 0})
                self.report.warn("missing_module", f"the target has no module {name!r}: "
                                 "added to its modules, hidden, and the activity kept raw")
        return self.module_ids[name]

    def next_enrol_sortorder(self) -> int:
        self.enrol_sortorder += 1
        return self.enrol_sortorder

    def course_grade_category(self) -> int:
        """The course's top grade category (and its course grade item), made on first use."""
        if self.grade_category is None:
            category = self.target.new_id("grade_categories")
            self.write("grade_categories", {
                "id": category, "courseid": self.course_id, "parent": None, "depth": 1,
                "path": f"/{category}/", "fullname": "?", "aggregation": 13,
                "keephigh": 0, "droplow": 0, "aggregateonlygraded": 1, "aggregateoutcomes": 0,
                "timecreated": self.now, "timemodified": self.now, "hidden": 0})
            self.grade_category = category
            self.course_grade_item = self.insert("grade_items", {
                "courseid": self.course_id, "itemtype": "course", "iteminstance": category,
                "gradetype": 1, "grademax": 100, "grademin": 0, "needsupdate": 1,
                "sortorder": 1, "timecreated": self.now, "timemodified": self.now})
        return self.grade_category

    # -- steps -------------------------------------------------------------------------
    def run_step(self, step: Step, task: Task, *, stream: BinaryIO | None = None) -> bool:
        """Runs one declared step over its member; ``False`` when the member is absent."""
        if step.setting is not None and not self.setting_on(step.setting):
            return False
        member = task.folder + step.member
        if stream is None:
            if not self.source.exists(member):
                if step.required:
                    raise FormatError(f"the backup has no {member}", code="missing_moodle_backup_xml_file",
                                      source=member)
                return False
            with self.source.open(member) as opened:
                return self.run_step(step, task, stream=opened)
        state = StepState(member, task)
        parser = Parser(source=member)
        for element in step.elements:
            if element.userdata and not task.userinfo:
                continue
            compiled = self._compile(element)
            self._register_files(step, element)
            path = step.absolute(element)
            grouped_below = any(other.grouped and path.startswith(step.absolute(other) + "/")
                                for other in step.elements if other is not element)
            handler = None if grouped_below else self._handler(compiled, state)
            parser.add_path(path, handler, grouped=element.grouped)
        if task.kind == "activity" and step.component.startswith("mod_"):
            parser.add_path("/activity", lambda record: self._activity_wrapper(record, task))
        parser.parse(stream)
        if step.after is not None:
            hook_table.HOOKS[step.after](self, step, state)
        if task.kind == "activity" and step.component.startswith("mod_"):
            task.instance = state.current.get(task.modulename)
        elif task.kind == "block" and step.root == "/block":
            task.context = state.current.get("block_context")
        return True

    def _activity_wrapper(self, record: dict, task: Task) -> None:
        """``/activity``: the module's old context becomes the new one."""
        if record.get("contextid"):
            self.ids.set("context", record["contextid"], task.context)

    def category_context_path(self) -> str:
        found = self.query(f"SELECT path FROM {self.t('context')} WHERE contextlevel = "
                           f"{structure.CATEGORY_LEVEL} AND instanceid = {self.target.mark}",
                           (self.category,))
        if not found:
            raise TargetError(f"the target has no course category {self.category}",
                              code="target-no-category")
        return found[0][0]

    def skeleton_course(self) -> None:
        """The course row of a backup without ``course.xml`` (an activity backup), as
        Moodle's CLI makes it before restoring."""
        fullname, shortname = self.course_names(self.settings.fullname or self.info.original_course_fullname or "",
                                                self.settings.shortname or self.info.original_course_shortname or "")
        self.write("course", {"id": self.course_id, "category": self.category, "sortorder": 0,
                              "fullname": fullname, "shortname": shortname, "idnumber": "",
                              "format": "topics", "visible": 1, "timecreated": self.now,
                              "timemodified": self.now, "cacherev": self.now, "lang": "",
                              "calendartype": "", "theme": "", "newsitems": 1})

    def setting_on(self, name: str) -> bool:
        if name == "users":
            return self.userinfo
        value = self.info.setting(name)
        defaults_on = name in ("groups", "permissions", "legacyfiles", "blocks", "filters",
                               "calendarevents", "activities")
        user_gated = name in ("role_assignments", "comments", "userscompletion", "logs",
                              "grade_histories", "badges")
        if user_gated and not self.userinfo:
            return False
        return value == "1" if value is not None else defaults_on

    def _compile(self, element: Element) -> _Compiled:
        compiled = self._compiled.get(id(element))
        if compiled is None:
            compiled = self._compiled[id(element)] = _Compiled(element)
        return compiled

    def _register_files(self, step: Step, element: Element) -> None:
        for area in element.files:
            component, _, name = area.rpartition("/")
            self._file_areas[(component or step.component, name)] = element.files_by

    def _handler(self, compiled: _Compiled, state: StepState) -> Callable[[dict], Any]:
        def handle(record: dict) -> Any:
            self._records += 1
            if self._records % CHECK_EVERY == 0:
                self.monitor.check()
            row = self.build_row(compiled, record, state.task, state)
            if row is None or not self.admissible(compiled.element, row):
                return SKIP
            if compiled.hook is not None:
                if compiled.hook(self, compiled.element, record, row, state) is False:
                    return SKIP
            self.commit_row(compiled, record, row, state)
            return None
        return handle

    def build_row(self, compiled: _Compiled, record: dict, task: Task, state: StepState | None
                  ) -> dict | None:
        """A record as the row Moodle would insert, or ``None`` when it is skipped."""
        names = compiled.names
        row = {key: value for key, value in record.items() if key in names}
        for column, leaf in compiled.rename:
            if leaf in record:
                row[column] = record[leaf]
        if state is not None and compiled.parents:
            current = state.current
            for column, kind in compiled.parents:
                row[column] = current.get(kind)
        for column, reference in compiled.refs:
            if column in row:
                mapped = self.map_ref(reference, row[column])
                if mapped is _SKIP_ROW:
                    return None
                row[column] = mapped
        if self.offset:
            for column in compiled.dates:
                value = row.get(column)
                if value not in EMPTY:
                    row[column] = int(value) + self.offset
        for column, value in compiled.fixed:
            row[column] = self.fixed(value, task) if isinstance(value, Fixed) else value
        for column, value in compiled.defaults:
            if row.get(column) in (None, ""):
                row[column] = value
        return row

    def admissible(self, element: Element, row: dict) -> bool:
        """``required`` columns hold ids, and no row with these ``unique`` values exists."""
        for column in element.required:
            if row.get(column) in EMPTY:
                return False
        if element.unique:
            key = "|".join(str(row.get(column)) for column in element.unique)
            kind = f"unique:{element.table}"
            if self.ids.get(kind, key) is not None:
                return False
            self.ids.set(kind, key, 1)
        return True

    def map_ref(self, reference: Ref, value: Any) -> Any:
        if value is None or value == "":
            return value
        if reference.signed:
            number = int(value)
            if number >= 0:
                return number
            mapped = self.ids.get(reference.kind, -number)
            return -mapped if mapped else 0
        if reference.missing is Missing.KEEP:
            return self.ids.get(reference.kind, value, value)
        mapped = None if value in ("0", 0) else self.ids.get(reference.kind, value)
        if mapped is not None:
            return mapped
        missing = reference.missing
        if missing is Missing.SKIP:
            return _SKIP_ROW
        if missing is Missing.NULL:
            return None
        if missing is Missing.RESTORER:
            return self.settings.restorer
        return 0

    def fixed(self, value: Fixed, task: Task) -> Any:
        if value is Fixed.COURSE:
            return self.course_id
        if value is Fixed.CONTEXT:
            return task.context
        if value is Fixed.COURSE_CONTEXT:
            return self.course_context
        if value is Fixed.INSTANCE:
            return task.instance
        if value is Fixed.MODULE:
            return task.module
        if value is Fixed.USER:
            return self.settings.restorer
        return self.now

    def commit_row(self, compiled: _Compiled, record: dict, row: dict, state: StepState) -> None:
        """Writes the row (its id allocated if the hook did not) and maps its kind."""
        element = compiled.element
        new_id = row.get("id")
        if compiled.table is not None:
            if new_id is None:
                new_id = row["id"] = self.target.new_id(element.table)
            self.write(element.table, row)
        if element.kind:
            old = record.get("id")
            if old is not None:
                self.ids.set(element.kind, old, new_id)
            state.current[element.kind] = new_id

    def record_into(self, element: Element, record: dict, task: Task, state: StepState | None = None
                    ) -> int | None:
        """Builds and writes a row for a record outside a parse (staged users, say)."""
        compiled = self._compile(element)
        state = state or StepState("", task)
        row = self.build_row(compiled, record, task, state)
        if row is None or not self.admissible(element, row):
            return None
        if compiled.hook is not None and compiled.hook(self, element, record, row, state) is False:
            return None
        self.commit_row(compiled, record, row, state)
        return row.get("id")

    # -- raw parts ---------------------------------------------------------------------
    def keep_raw(self, member: str, stream: BinaryIO, reason: str, context: int | None) -> None:
        """Stores a member byte for byte in ``mbx_raw_members``, in chunks."""
        size = 0
        part = 0
        while chunk := stream.read(RAW_CHUNK):
            self._raw_chunk(member, part, chunk, context)
            size += len(chunk)
            part += 1
            self.monitor.check()
        if part == 0:
            self._raw_chunk(member, 0, b"", context)
        self.report.kept_raw.append(KeptRaw(member=member, reason=reason, bytes=size, contextid=context))

    def _raw_chunk(self, member: str, part: int, data: bytes, context: int | None) -> None:
        self.insert("mbx_raw_members", {"courseid": self.course_id, "contextid": context,
                                        "member": member, "part": part, "data": data})
        self._flush_table("mbx_raw_members")  # a chunk is large: never hold many

    # -- files -------------------------------------------------------------------------
    def file_kind(self, component: str, area: str) -> tuple[bool, str | None]:
        """Whether a file area was requested by a step that ran, and the kind of its itemid."""
        key = (component, area)
        if key in self._file_areas:
            return True, self._file_areas[key]
        return False, None

    def blob_wanted(self, name: str) -> bool:
        match = BLOB.fullmatch(name)
        if match is None or self.pool is None:
            return False
        return bool(self.ids.sql("SELECT 1 FROM staged WHERE kind = 'filehash' AND key = ?",
                                 (match[2],)))

    def add_blob(self, name: str, stream: BinaryIO) -> None:
        contenthash = BLOB.fullmatch(name)[2]
        if not self.pool.add(contenthash, stream, check=self.monitor.check):
            self.bad_blobs.add(contenthash)
            message = f"the blob {name} does not hash to its name: not restored"
            if self.settings.strict:
                raise MbxError(message, code="restore-bad-blob")
            self.report.warn("file_missing_in_backup", message, name)


def table_facts(name: str) -> schema.Table:
    """A Moodle table, or one of mbx's own (:data:`OWNED_TABLES`)."""
    owned = OWNED_TABLES.get(name)
    return owned if owned is not None else schema.table(name)


def _owned(name: str, *columns: tuple) -> schema.Table:
    return schema.Table(
        name=name, source="mbx",
        columns=(schema.Column("id", "int", 10, None, True, True, None),
                 *(schema.Column(n, kind, length, None, notnull, False, None)
                   for n, kind, length, notnull in columns)),
        indexes=(), foreign_keys=())


#: Tables of mbx's own: what a restore kept raw, byte for byte, in 1 MiB parts.
OWNED_TABLES = {
    "mbx_raw_members": _owned("mbx_raw_members", ("courseid", "int", 10, False),
                              ("contextid", "int", 10, False), ("member", "text", None, True),
                              ("part", "int", 10, True), ("data", "binary", None, True)),
}


class _Absent:
    __slots__ = ()


_ABSENT = _Absent()
_SKIP_ROW = _Absent()


def _layout(table: schema.Table) -> tuple:
    """A table's row plan: its column names, the value of each when missing, and the
    columns to look at again: (index, NOT NULL, the column if its values are numbers)."""
    names = tuple(column.name for column in table.columns)
    fills = tuple(_fill(column) for column in table.columns)
    checked = tuple((index, column.notnull, column if column.type in schema.NUMERIC_TYPES else None)
                    for index, column in enumerate(table.columns)
                    if column.notnull or column.type in schema.NUMERIC_TYPES)
    return names, fills, checked


def _bad_value(table: str, row: dict, layout: tuple) -> FormatError:
    """The error for the number column of ``row`` that :func:`row_values` found no number in."""
    names, _, checked = layout
    for index, _, column in checked:
        value = row.get(names[index])
        if column is not None and value is not None:
            try:
                column.coerce(value)
            except (ValueError, ArithmeticError):
                return FormatError(f"{table}.{column.name}: {value!r} is not a number",
                                   code="restore-bad-value")
    raise AssertionError(f"{table}: row_values refused a row whose values all coerce")


def _fill(column: schema.Column) -> Any:
    """A missing column: its default, or what a NOT NULL column without one needs."""
    if column.default is not None:
        return column.default_value
    if not column.notnull:
        return None
    return 0 if column.type in schema.NUMERIC_TYPES else ""


def _date_offset(info: Information, settings: Settings) -> int:
    original = info.original_course_startdate
    if settings.start_date is None or not original:
        return 0
    return settings.start_date - original


def pathname_hash(contextid: int, component: str, filearea: str, itemid: int,
                  filepath: str, filename: str) -> str:
    """``files.pathnamehash`` as Moodle computes it."""
    if not filepath.startswith("/"):
        filepath = "/" + filepath
    if not filepath.endswith("/"):
        filepath += "/"
    return hashlib.sha1(f"/{contextid}/{component}/{filearea}/{itemid}{filepath}{filename}"
                        .encode("utf-8")).hexdigest()


def guess_mimetype(filename: str) -> str:
    kind, _ = mimetypes.guess_type(filename, strict=False)
    return kind or "document/unknown"


def decode_links(text: str, rules: dict[str, tuple[str, tuple[str, ...]]], ids: IdMap,
                 target_root: str, source_root: str) -> str:
    """Replaces every ``$@TOKEN*id@$`` with a URL (target site if all ids map)."""
    def replace(match: re.Match) -> str:
        rule = rules.get(match[1])
        if rule is None:
            return match[0]
        template, kinds = rule
        old = match[2][1:].split("*")
        if len(old) != len(kinds):
            return match[0]
        new = [ids.get(kind, value) for kind, value in zip(kinds, old)]
        if all(value is not None for value in new):
            url = target_root + _fill_template(template, [str(value) for value in new])
        else:
            url = source_root + _fill_template(template, old)
        if match[1].endswith("URLENCODED"):
            url = urllib.parse.quote(url, safe="")
        return url
    return TOKEN.sub(replace, text)


def _fill_template(template: str, values: list[str]) -> str:
    for number in range(len(values), 0, -1):
        template = template.replace(f"${number}", values[number - 1])
    return template


def remap_availability(text: str | None, ids: IdMap, offset: int) -> str | None:
    """Ids inside an availability tree: cm, grade item, group, grouping; dates rolled."""
    if not text:
        return text
    try:
        tree = json.loads(text)
    except ValueError:
        return text

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            if kind == "completion" and isinstance(node.get("cm"), int) and node["cm"] > 0:
                node["cm"] = ids.get("course_module", node["cm"], 0)
            elif kind == "grade" and "id" in node:
                node["id"] = ids.get("grade_item", node["id"], 0)
            elif kind == "group" and node.get("id"):
                node["id"] = ids.get("group", node["id"], 0)
            elif kind == "grouping" and node.get("id"):
                node["id"] = ids.get("grouping", node["id"], 0)
            elif kind == "date" and offset and isinstance(node.get("t"), int):
                node["t"] += offset
            for child in node.get("c", ()):
                walk(child)
    walk(tree)
    return json.dumps(tree, separators=(",", ":"))


