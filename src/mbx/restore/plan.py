"""``mbx.restore()``: one backup into one new course, as Moodle's plan restores it.

The tasks run in Moodle's order: root (ids of the course and its context,
the inforef selection, roles, users, groups, scales, outcomes, the question
bank), course (``course.xml``, enrolments, memberships, roles, filters,
comments, events, blocks), sections, activities (each one's ``module.xml``,
its document, then its roles, filters, comments, events, grades,
completion, logs and blocks), and final (sequences, missing sections,
availability, interlinks, files). See :mod:`mbx.restore.engine` for how the
archive is read in that order.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mbx.archive import as_backup
from mbx.archive.base import ArchiveLimits, MemberInfo
from mbx.errors import FormatError
from mbx.moodle2 import schema, structure
from mbx.moodle2.files import file_has_content
from mbx.moodle2.information import read_information
from mbx.moodle2.members import ACTIVITY_MEMBER, FILES, MOODLE_BACKUP, USERS
from mbx.moodle2.modules import declaration
from mbx.moodle2.models import as_int
from mbx.progress import Monitor, as_monitor
from mbx.restore import final, questions
from mbx.restore import users as user_matching
from mbx.restore.engine import ADDED_MODULE, OWNED_TABLES, Engine, Settings, Task
from mbx.restore.idmap import IdMap
from mbx.restore.pool import FilePool
from mbx.restore.report import RestoreReport
from mbx.restore.source import TwoPassSource
from mbx.restore.targets.ddl import create_statements
from mbx.restore.targets import Target, open_target
from mbx.restore.targets.seed import seed_site
from mbx.xml import Parser

__all__ = ["restore"]

DEFAULT_TARGET = "sqlite:mbx-restore.db"


def restore(archive: Any, into: str = DEFAULT_TARGET, *, files: str | None = None,
            prefix: str = "mdl_", users: bool = True, include_files: bool = True,
            activities: tuple[int, ...] | None = None, sections: tuple[int, ...] | None = None,
            user_conflicts: str = "map", wwwroot: str | None = None,
            start_date: int | None = None, strict: bool = False, category: int | None = None,
            fullname: str | None = None, shortname: str | None = None,
            work_dir: str | None = None, limits: ArchiveLimits | None = None,
            progress: Monitor | Callable[[MemberInfo], None] | None = None) -> RestoreReport:
    """Restores ``archive`` as a new course in ``into`` and returns what it did.

    ``into`` is ``sqlite:PATH`` (created if absent) or ``postgresql://…``;
    ``files`` the file pool folder (default: ``<database>.files`` beside a
    SQLite target, ``mbx-files`` for PostgreSQL). ``activities`` (old course
    module ids) and ``sections`` (section numbers) restrict the restore;
    ``users=False`` leaves out users and their data, ``include_files=False``
    the blobs. ``user_conflicts`` says what a backup user whose username the
    target already has for someone else becomes: ``map`` (that target user),
    ``create`` (a new user, named ``<username>_<site hash>``) or ``fail``.

    One transaction: on any error, cancel or interrupt the target is left as
    it was. Raises :class:`~mbx.errors.MbxError` subclasses with a ``code``.
    ``progress`` follows the phases ``surveying`` (the first pass, members),
    ``preparing`` (the transaction is open: schema, root, course, sections),
    ``restoring`` (the stream pass, members and bytes), ``finishing`` (the
    final task) and ``committing``; a cancel takes effect up to the start of
    ``committing``.
    """
    if user_conflicts not in ("map", "create", "fail"):
        raise ValueError("user_conflicts must be map, create or fail")
    monitor = as_monitor(progress)
    started = time.monotonic()
    settings = Settings(users=users, include_files=include_files, activities=activities,
                        sections=sections, user_conflicts=user_conflicts, wwwroot=wwwroot,
                        start_date=start_date, strict=strict, category=category,
                        fullname=fullname, shortname=shortname)
    with as_backup(archive, limits) as backup:
        return _restore(backup, into, files, prefix, settings, work_dir, monitor, started)


def _restore(backup, into: str, files: str | None, prefix: str, settings: Settings,
             work_dir: str | None, monitor: Monitor, started: float) -> RestoreReport:
    include_files = settings.include_files
    phases: dict[str, float] = {}
    work = tempfile.mkdtemp(prefix="mbx-restore-", dir=work_dir)
    target: Target | None = None
    pool: FilePool | None = None
    source: TwoPassSource | None = None
    ids: IdMap | None = None
    try:
        _refuse_other_formats(backup)
        source = TwoPassSource(backup, work)
        with _phase(phases, "survey"):
            monitor.phase("surveying", totals=backup.expected_totals)
            source.survey(monitor)
        with source.open(MOODLE_BACKUP) as stream:
            info = read_information(stream, source=MOODLE_BACKUP)
        target = open_target(into, prefix=prefix)
        pool_dir = files or _default_pool(target)
        report = RestoreReport(archive=str(backup.path), target=_display(target), files_dir=pool_dir)
        pool = FilePool(pool_dir) if include_files else None
        ids = IdMap(work)
        engine = Engine(source, target, pool, ids, info, settings, report, monitor)
        target.begin()
        try:
            # everything from here to the commit is one transaction, the schema included
            with _phase(phases, "prepare"):
                monitor.phase("preparing")
                target.ensure_schema(schema.tables(), defer_indexes=True)
                _ensure_owned(target)
                seed_site(engine)
            plan = CoursePlan(engine, source, info)
            plan.run(phases)
            with _phase(phases, "commit"):
                monitor.phase("committing")
                engine.flush()
                target.build_indexes()
                if pool is not None:
                    pool.sync()  # the blobs the rows point at are durable before the rows
                target.commit()
        except BaseException:
            target.rollback()
            raise
        report.rows = engine.counts()
        report.files_written = pool.written if pool else 0
        report.files_reused = pool.reused if pool else 0
        report.file_bytes_written = pool.bytes_written if pool else 0
        report.phases = phases
        report.seconds = round(time.monotonic() - started, 3)
        monitor.finish()
        return report
    finally:
        for part in (target, pool, ids, source):
            if part is not None:
                part.close()
        shutil.rmtree(work, ignore_errors=True)


def _refuse_other_formats(backup) -> None:
    kind = backup.format
    if kind == "moodle2":
        return
    if kind == "moodle1":
        raise FormatError.unsupported(
            kind, "this is a Moodle 1.9 backup (moodle.xml): mbx restores moodle2 backups only. "
            "Restore it into Moodle, which converts it, and back it up again from there",
            source=backup.path)
    raise FormatError.unsupported(kind, f"{kind} backups cannot be restored: mbx restores moodle2 "
                                  "backups", source=backup.path)


def _default_pool(target: Target) -> str:
    if target.dialect == "sqlite":
        return target.path + ".files"
    return os.path.abspath("mbx-files")


def _display(target: Target) -> str:
    return target.url.split("@")[-1] if target.dialect == "postgresql" else target.url


def _ensure_owned(target: Target) -> None:
    present = target.existing_tables()
    for name, table in OWNED_TABLES.items():
        if name not in present:
            for statement in create_statements(table, target.prefix, target.dialect):
                target.execute(statement)


@contextmanager
def _phase(phases: dict[str, float], name: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        phases[name] = round(phases.get(name, 0.0) + time.monotonic() - started, 3)


class CoursePlan:
    """The tasks of one restore, built from ``moodle_backup.xml`` and the selection."""

    def __init__(self, engine: Engine, source: TwoPassSource, info) -> None:
        self.engine = engine
        self.source = source
        self.info = info
        self.ids = engine.ids
        self.settings = engine.settings
        self.sections = self._included_sections()
        self.activities = self._included_activities()
        self._block_index: dict[str, set[str]] | None = None   # base folder -> its block folders

    # -- selection ---------------------------------------------------------------------
    def _section_number(self, entry) -> int | None:
        member = f"{entry.directory}/section.xml" if entry.directory else None
        if not member or not self.source.exists(member):
            return None
        found: list[dict] = []
        parser = Parser(source=member)
        parser.add_path("/section", found.append)
        with self.source.open(member) as stream:
            parser.parse(stream)
        try:
            return int(found[0].get("number")) if found else None
        except (TypeError, ValueError):
            return None

    def _included_sections(self) -> list:
        chosen = self.settings.sections
        wanted_activities = self.settings.activities
        listed = [entry for entry in self.info.sections if entry.directory]
        if chosen is None and wanted_activities is None:
            return listed
        result = []
        for entry in listed:
            if chosen is not None and self._section_number(entry) in chosen:
                result.append(entry)
            elif wanted_activities is not None and any(
                    activity.sectionid == entry.sectionid and as_int(activity.moduleid, None) in wanted_activities
                    for activity in self.info.activities):
                result.append(entry)
        return result

    def _included_activities(self) -> list:
        section_ids = {entry.sectionid for entry in self.sections}
        wanted = self.settings.activities
        chosen = []
        for activity in self.info.activities:
            if not activity.directory or not _setting(self.info, f"{activity.modulename}_{activity.moduleid}_included", True):
                continue
            if wanted is not None and as_int(activity.moduleid, None) not in wanted:
                continue
            if self.info.type == "activity" or activity.sectionid in section_ids or (
                    self.settings.sections is None and wanted is None):
                chosen.append(activity)
        return chosen

    # -- the run -----------------------------------------------------------------------
    def run(self, phases: dict[str, float]) -> None:
        engine = self.engine
        with _phase(phases, "root"):
            self.root()
        with _phase(phases, "course"):
            self.course()
            for entry in self.sections:
                task = Task(kind="section", folder=entry.directory + "/", context=engine.course_context,
                            userinfo=engine.userinfo and _setting(self.info, f"section_{entry.sectionid}_userinfo", True))
                engine.run_step(structure.SECTION, task)
        with _phase(phases, "activities"):
            self.stream_pass()
        with _phase(phases, "final"):
            engine.monitor.phase("finishing")
            self.final()

    # -- root --------------------------------------------------------------------------
    def root(self) -> None:
        engine = self.engine
        engine.course_id = engine.target.new_id("course")
        category_context = engine.category_context_path()
        engine.course_context, engine.course_context_path = engine.new_context(
            structure.COURSE_LEVEL, engine.course_id, category_context)
        self.ids.set("context", self.info.original_course_contextid, engine.course_context)
        self.ids.set("context", self.info.original_system_contextid, engine.system_context)
        self.ids.set("course", self.info.original_course_id, engine.course_id)
        if self.settings.restorer is None:
            self.settings.restorer = _site_admin(engine)
        engine.report.course_id = engine.course_id
        engine.report.course_context_id = engine.course_context
        self._load_inforefs()
        self._map_roles()
        self.root_task = Task(kind="root", folder="", context=engine.course_context,
                              userinfo=engine.userinfo)
        if engine.userinfo and self.source.exists(USERS):
            user_matching.restore_users(engine, self.source, self.root_task)
        for step in (structure.GROUPS, structure.SCALES, structure.OUTCOMES):
            engine.run_step(step, self.root_task)
        self._stage_files()
        questions.restore_question_bank(engine, self.source, self.root_task)

    def _tasks_folders(self) -> list[str]:
        """The folders of the tasks whose references count: the course, the sections,
        and the activities of modules the target has (Moodle plans no task for the
        others, so what only they refer to does not come along)."""
        installed = {name for name, in self.engine.query(
            f"SELECT name FROM {self.engine.t('modules')} WHERE search <> {self.engine.target.mark}",
            (ADDED_MODULE,))}
        folders = ["course/"] + [entry.directory + "/" for entry in self.sections]
        folders += [activity.directory + "/" for activity in self.activities
                    if activity.modulename in installed]
        return folders

    def _load_inforefs(self) -> None:
        refs: list[tuple[str, str]] = []
        for folder in self._tasks_folders():
            member = folder + "inforef.xml"
            if not self.source.exists(member):
                continue
            parser = Parser(source=member)
            for kind in ("user", "file", "role", "group", "grouping", "scale", "outcome",
                         "question_category", "grade_item"):
                parser.add_path(f"/inforef/{kind}ref/{kind}",
                                lambda record, kind=kind: refs.append((kind, record.get("id") or "")))
            with self.source.open(member) as stream:
                parser.parse(stream)
            if len(refs) > 4096:
                self.ids.add_refs(refs)
                refs.clear()
        for folder in self._block_folders():
            member = folder + "inforef.xml"
            if self.source.exists(member):
                parser = Parser(source=member)
                parser.add_path("/inforef/fileref/file", lambda record: refs.append(("file", record.get("id") or "")))
                with self.source.open(member) as stream:
                    parser.parse(stream)
        self.ids.add_refs(refs)

    def _block_folders(self, bases: list[str] | None = None) -> list[str]:
        """The block folders (``course/blocks/html_12/``) under the course and the
        included activities, or under ``bases``."""
        if bases is None:
            bases = ["course/"] + [activity.directory + "/" for activity in self.activities]
        if self._block_index is None:  # one walk over the names, not one per base
            self._block_index = {}
            for name in self.source.names():
                at = name.find("blocks/")
                while at != -1:
                    end = name.find("/", at + len("blocks/"))
                    if end == -1:
                        break
                    if at == 0 or name[at - 1] == "/":
                        self._block_index.setdefault(name[:at], set()).add(name[:end + 1])
                    at = name.find("blocks/", at + 1)
        return [folder for base in bases for folder in sorted(self._block_index.get(base, ()))]

    def _map_roles(self) -> None:
        """Backup roles onto the target's: by shortname, else archetype."""
        engine = self.engine
        if not self.source.exists("roles.xml"):
            return
        found: list[dict] = []
        parser = Parser(source="roles.xml")
        parser.add_path("/roles_definition/role", found.append)
        with self.source.open("roles.xml") as stream:
            parser.parse(stream)
        target_roles = engine.query(f"SELECT id, shortname, archetype FROM {engine.t('role')} ORDER BY sortorder, id")
        by_shortname = {shortname: role_id for role_id, shortname, _ in target_roles}
        by_archetype: dict[str, int] = {}
        for role_id, _, archetype in target_roles:
            if archetype:
                by_archetype.setdefault(archetype, role_id)
        for role in found:
            if not self.ids.referenced("role", role.get("id")):
                continue
            new = (by_shortname.get(role.get("shortname"))
                   or by_archetype.get(role.get("archetype") or "")
                   or (by_shortname.get("teacher") if role.get("shortname") == "editingteacher" else None)
                   or 0)
            self.ids.set("role", role.get("id"), new)
            if not new:
                engine.report.warn("restore_role_skipped", f"role {role.get('shortname')!r} has no "
                                   "match in the target: its assignments are not restored", "roles.xml")
            elif role.get("nameincourse"):
                engine.insert("role_names", {"roleid": new, "contextid": engine.course_context,
                                             "name": role["nameincourse"]})

    def _stage_files(self) -> None:
        """``files.xml`` into the work file: the files this restore may write."""
        if not self.source.exists(FILES):
            return
        always = structure.ALWAYS_LOADED_COMPONENTS
        batch: list[tuple[str, dict]] = []
        hashes: list[tuple[str, int]] = []

        def take(record: dict) -> None:
            component = record.get("component") or ""
            if not (self.ids.referenced("file", record.get("id"))
                    or component in always or component.startswith("qtype")):
                return
            batch.append((record.get("id") or "", record))
            if file_has_content(record.get("filename"), record.get("contenthash")):
                hashes.append((record["contenthash"], 1))
            if len(batch) >= 2048:
                self.ids.stage("file", batch)
                self.ids.stage("filehash", hashes)
                batch.clear()
                hashes.clear()

        parser = Parser(source=FILES)
        parser.add_path("/files/file", take)
        with self.source.open(FILES) as stream:
            parser.parse(stream)
        self.ids.stage("file", batch)
        self.ids.stage("filehash", hashes)

    # -- course ------------------------------------------------------------------------
    def course(self) -> None:
        engine = self.engine
        task = Task(kind="course", folder="course/", context=engine.course_context,
                    userinfo=engine.userinfo)
        self.course_task = task
        if self.info.type == "course" or self.source.exists("course/course.xml") and self.info.type != "activity":
            for step in structure.COURSE_STEPS:
                if step is structure.GROUP_MEMBERS:
                    engine.run_step(step, Task(kind="course", folder="", context=engine.course_context,
                                               userinfo=engine.userinfo))
                else:
                    engine.run_step(step, task)
        else:
            engine.skeleton_course()
        self._blocks("course/", task)

    def _blocks(self, base: str, parent: Task) -> None:
        if not self.engine.setting_on("blocks"):
            return
        for folder in self._block_folders([base]):
            task = Task(kind="block", folder=folder, userinfo=parent.userinfo)
            if not self.engine.run_step(structure.BLOCK, task) or not task.context:
                continue
            for step in structure.BLOCK_STEPS:
                self.engine.run_step(step, task)

    # -- activities --------------------------------------------------------------------
    def stream_pass(self) -> None:
        engine = self.engine
        by_folder = {activity.directory + "/": activity for activity in self.activities}
        done: set[str] = set()

        def wanted(name: str) -> bool:
            if name.startswith("files/"):
                return engine.pool is not None and engine.blob_wanted(name)
            match = ACTIVITY_MEMBER.fullmatch(name)
            return match is not None and f"activities/{match[1]}/" in by_folder

        engine.monitor.phase("restoring", total_bytes=self.source.streamed_bytes)
        for info, stream in self.source.stream(wanted):
            engine.monitor.advance(info.size, 1, info.name)
            if info.name.startswith("files/"):
                engine.add_blob(info.name, stream)
                continue
            folder = info.name.rsplit("/", 1)[0] + "/"
            self.activity(by_folder[folder], stream)
            done.add(folder)
        for folder, activity in by_folder.items():
            if folder not in done:
                engine.report.warn("missing_moodle_backup_xml_file",
                                   f"{folder}{activity.modulename}.xml is missing: activity not restored",
                                   folder)

    def activity(self, entry, stream) -> None:
        engine = self.engine
        folder = entry.directory + "/"
        module = declaration(entry.modulename or "")
        userinfo = engine.userinfo and _setting(self.info, f"{entry.modulename}_{entry.moduleid}_userinfo", True)
        task = Task(kind="activity", folder=folder, modulename=entry.modulename, userinfo=userinfo,
                    raw=module is None)
        engine.run_step(structure.MODULE_XML, task)
        if task.module is None:
            return
        self.ids.set("course_module", entry.moduleid, task.module)
        if module is None:
            engine.raw_contexts.add(task.context)
            engine.keep_raw(folder + f"{entry.modulename}.xml", stream,
                            f"mbx has no declaration for module {entry.modulename!r}", task.context)
            for name in sorted(n for n in self.source.names() if n.startswith(folder)):
                if name not in (folder + "module.xml", folder + f"{entry.modulename}.xml"):
                    with self.source.open(name) as member:
                        engine.keep_raw(name, member, "part of an activity kept raw", task.context)
            return
        engine.run_step(module.step(), task, stream=stream)
        if task.instance:
            engine.update("course_modules", task.module, instance=task.instance)
        for activity_step in structure.ACTIVITY_STEPS:
            engine.run_step(activity_step, task)
        self._blocks(folder, task)

    # -- final -------------------------------------------------------------------------
    def final(self) -> None:
        final.finish(self.engine, self)


def _site_admin(engine: Engine) -> int:
    """The user a restore runs as by default: the target's ``admin`` (Moodle's CLI runs as
    the site admin), else none (0)."""
    found = engine.query(f"SELECT id FROM {engine.t('user')} WHERE username = 'admin' AND "
                         f"mnethostid = 1 AND deleted = 0 ORDER BY id")
    return found[0][0] if found else 0



def _setting(info, name: str, default: bool) -> bool:
    for setting in info.settings:
        if setting.name == name:
            return setting.value == "1"
    return default

