"""Inspection: what a backup holds, read in one streaming pass.

A consumer of the lower layers: ``mbx.archive`` hands over the members of a
``.mbz`` (tar.gz or zip) or an extracted folder in archive order, ``mbx.xml``
turns the few XML files that matter into records as they stream by, and
``mbx.moodle2`` says what the members and records mean. Nothing is extracted
and no member is held in memory.

:func:`summarize` (``mbx ls``) and :func:`describe` (``mbx info``) answer in
the same shape for moodle2 and Moodle 1.9 backups: the same keys with the same
types, dates as Unix-time integers, ``None`` where 1.9 has no such thing.
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO, Callable, Iterator

import msgspec

from mbx.archive import ArchiveLimits, Backup, MemberInfo, as_backup, list_members
from mbx.errors import FormatError
from mbx.progress import Monitor, as_monitor
from mbx.moodle2 import (Information, as_unix_time, file_has_content, file_size,
                         is_question_file, read_backup_information, read_information)
from mbx.moodle2 import members as names
from mbx.moodle2.files import SECTION_FILE_AREA
from mbx.xml import SKIP, Parser

#: The counts of a summary, in the order ``mbx ls`` shows them. ``files`` counts
#: ``files.xml`` records with content (a blob), not archive members.
COUNT_KEYS = ("activities", "sections", "users", "files", "groups", "groupings",
              "question_categories", "questions")
#: Whose bytes the ``files.xml`` records are (``file_bytes`` of a summary).
FILE_OWNERS = ("activities", "course", "sections", "question_bank", "users", "other")
#: The root backup settings a summary shows (``True``/``False``; ``None`` when the
#: backup does not say), as Moodle names them in ``moodle_backup.xml``.
SETTINGS = ("users", "anonymize", "role_assignments", "activities", "blocks", "files",
            "filters", "comments", "badges", "calendarevents", "userscompletion", "logs",
            "grade_histories", "questionbank", "groups", "competencies", "customfield",
            "contentbankcontent", "legacyfiles")

#: Counted member -> {record path: (count key, the collector's set of context ids
#: that the records' ``contextid`` goes to, or None)}.
_COUNTED: dict[str, dict[str, tuple[str, str | None]]] = {
    names.USERS: {"/users/user": ("users", "user_contexts")},
    names.GROUPS: {"/groups/group": ("groups", None),
                   "/groups/groupings/grouping": ("groupings", None)},
    names.QUESTIONS: {
        "/question_categories/question_category": ("question_categories", "question_contexts"),
        "/question_categories/question_category/questions/question": ("questions", None),
        "/question_categories/question_category/question_bank_entries/question_bank_entry"
        "/question_version/question_versions/questions/question": ("questions", None)},
}


def describe(backup: Backup | str | os.PathLike, *,
             limits: ArchiveLimits | None = None) -> dict[str, Any]:
    """Everything a backup says about itself (``mbx info``): the ``information``
    block of ``moodle_backup.xml`` with all settings.

    A Moodle 1.9 backup answers with the same keys (what its ``INFO`` and
    course ``HEADER`` hold, ``None`` or empty lists for the rest) and its raw
    ``INFO`` block under ``moodle1``, which is ``None`` for moodle2. The whole
    backup passes the archive checks first (``Backup.check``).
    """
    with as_backup(backup, limits) as opened:
        opened.check()
        if opened.format == "moodle1":
            with opened.open(_M1_FILE) as stream:
                found = _read_moodle1(stream, _M1_FILE)
            return {"format": "moodle1", **msgspec.to_builtins(_moodle1_information(found)),
                    "moodle1": {"INFO": {**found["info"],
                                         "DETAILS": {**found["details"],
                                                     "MOD": found["info_modules"]}}}}
        information = read_backup_information(opened)
    return {"format": "moodle2", **msgspec.to_builtins(information), "moodle1": None}


def count_records(stream: BinaryIO, paths: dict[str, str], source: str | None = None
                  ) -> dict[str, int]:
    """How many records each of ``{path: count name}`` yields in one XML stream."""
    counts = dict.fromkeys(paths.values(), 0)
    parser = Parser(source=source)
    for path, name in paths.items():
        parser.add_path(path, lambda record, name=name: counts.__setitem__(name, counts[name] + 1))
    parser.parse(stream)
    return counts


def summarize(path: Backup | str | os.PathLike,
              progress: Monitor | Callable[[MemberInfo], None] | None = None, *,
              limits: ArchiveLimits | None = None) -> dict[str, Any]:
    """What a person wants to know before restoring: course, source, settings,
    sections, activities, counts and where the bytes sit (``mbx ls``).

    Works on a ``.mbz`` (tar.gz or zip) or an extracted folder given by path
    (opened with ``limits``), or on an opened :class:`~mbx.archive.Backup`, in
    one pass; ``progress`` (a :class:`~mbx.progress.Monitor`, or a callable
    taking each member, directories included) follows the pass; once its
    token is cancelled the pass stops with :class:`~mbx.errors.Cancelled`. The keys are stable (``mbx ls --json`` prints this
    dict; README lists them).
    """
    with as_backup(path, limits) as backup:
        if backup.format == "moodle1":
            return _summarize_moodle1(backup, progress)
        if backup.format != "moodle2":
            raise FormatError.unsupported(
                backup.format, f"{backup.format} backups cannot be summarised "
                "(moodle2 and moodle1 can)", source=backup.path)
        collected = _Collected()
        sizes = _new_sizes()
        monitor = as_monitor(progress)
        for member, stream in _walk(backup, monitor, sizes, blobs=True):
            collected.read(member, stream)
        monitor.finish()
        if collected.info is None:
            raise FormatError("moodle_backup.xml could not be read",
                              code="format-no-information", source=backup.path)
    return collected.summary(sizes)


def _new_sizes() -> dict[str, Any]:
    return {"members": 0, "directories": 0, "total": 0, "xml": 0, "blobs": 0, "other": 0}


def _walk(backup: Backup, progress, sizes: dict[str, Any], *, blobs: bool
          ) -> Iterator[tuple[MemberInfo, BinaryIO]]:
    """The file members of a backup in archive order, reporting progress for every
    member and adding up ``sizes``: ``members`` counts files (directories apart,
    in ``directories``), ``total`` = ``xml`` + ``blobs`` (the ``files/xx/<sha1>``
    pool, when ``blobs``) + ``other`` (the index, logs, anything else)."""
    monitor = as_monitor(progress)
    monitor.phase("reading", totals=backup.expected_totals)
    for member, stream in backup.iter_members():
        monitor(member)
        if member.is_dir:
            sizes["directories"] += 1
            continue
        sizes["members"] += 1
        sizes["total"] += member.size
        if member.name.endswith(".xml"):
            sizes["xml"] += member.size
        elif blobs and names.BLOB.fullmatch(member.name):
            sizes["blobs"] += member.size
        else:
            sizes["other"] += member.size
        yield member, stream


#: How much of a file is read at a time to find its root's attributes.
_HEAD_READ = 1 << 16


def _root_attributes(stream: BinaryIO, root: str, source: str) -> dict:
    """The first record at ``root`` (its attributes and leading leaves), reading no
    further than it (a forum's posts are not parsed; ``verify`` checks them)."""
    found: list[dict] = []

    def keep(record: dict):
        found.append(record)
        return SKIP

    parser = Parser(source=source)
    parser.add_path(root, keep)
    while not found:
        chunk = stream.read(_HEAD_READ)
        if not chunk:
            parser.close()  # a short file: the root's record comes when it closes
            break
        parser.feed(chunk)
    return found[0] if found else {}


def _first_date(value: int | None, fallback: str | None) -> int | None:
    return value if value is not None else as_unix_time(fallback)


def _setting_flag(value: str | None) -> bool | None:
    return None if value is None else value == "1"


class _Collected:
    """What one pass over a moodle2 backup gathers; :meth:`summary` shapes it.

    Members come in any order (``files.xml`` before ``questions.xml`` and the
    sections in Moodle's), so file bytes wait here by context and are
    attributed to their owners at the end.
    """

    def __init__(self) -> None:
        self.info: Information | None = None
        self.counts = dict.fromkeys(COUNT_KEYS, 0)
        self.activity_xml: dict[str, int] = {}         # activity folder -> bytes of its members
        self.activity_context: dict[str, str] = {}     # activity folder -> its context id
        self.section_xml: dict[str, dict] = {}         # section id -> section.xml record
        self.course_record: dict = {}                  # course/course.xml's root record
        self.user_contexts: set[str] = set()
        self.question_contexts: set[str] = set()
        #: (context id, "question" | "section" | None, section id) -> bytes
        self.file_bytes: dict[tuple, int] = {}

    def read(self, member: MemberInfo, stream: BinaryIO) -> None:
        name = member.name
        if activity := names.ACTIVITY_MEMBER.fullmatch(name):
            folder = activity.group(1)
            self.activity_xml[folder] = self.activity_xml.get(folder, 0) + member.size
            if names.is_activity_file(activity):
                self.activity_context[folder] = _root_attributes(
                    stream, "/activity", name).get("contextid")
        elif name == names.MOODLE_BACKUP:
            self.info = read_information(stream, source=name)
        elif name == names.FILES:
            self._read_files(stream, name)
        elif name == names.COURSE:
            self.course_record = _root_attributes(stream, "/course", name)
        elif name in _COUNTED:
            self._read_counted(stream, name)
        elif match := names.SECTION_XML.fullmatch(name):
            records: list[dict] = []
            parser = Parser(source=name)
            parser.add_path("/section", records.append)
            parser.parse(stream)
            self.section_xml[match.group(1)] = records[0] if records else {}

    def _read_files(self, stream: BinaryIO, source: str) -> None:
        def tally(record: dict) -> None:
            if not file_has_content(record.get("filename"), record.get("contenthash")):
                return
            self.counts["files"] += 1
            component = record.get("component")
            if is_question_file(component):
                key = (record.get("contextid"), "question", None)
            elif (component, record.get("filearea")) == SECTION_FILE_AREA:
                key = (record.get("contextid"), "section", record.get("itemid"))
            else:
                key = (record.get("contextid"), None, None)
            self.file_bytes[key] = self.file_bytes.get(key, 0) + file_size(record.get("filesize"))

        parser = Parser(source=source)
        parser.add_path("/files/file", tally)
        parser.parse(stream)

    def _read_counted(self, stream: BinaryIO, source: str) -> None:
        counts = self.counts

        def counter(key: str, contexts: set[str] | None) -> Callable[[dict], None]:
            def count(record: dict) -> None:
                counts[key] += 1
                if contexts is not None:
                    contexts.add(record.get("contextid"))
            return count

        parser = Parser(source=source)
        for path, (key, contexts) in _COUNTED[source].items():
            parser.add_path(path, counter(key, getattr(self, contexts) if contexts else None))
        parser.parse(stream)

    def _attribute_files(self) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        """Bytes per owner, per activity folder and per section id.

        A question's files go to the question bank when their context holds a
        question category (the course's, an activity's, a category's); section
        files (``course/section``) to their section; everything else to whoever
        owns its context, or ``other`` (blocks, unknown contexts).
        """
        activity_of = {context: folder for folder, context in self.activity_context.items()
                       if context}
        course = self.info.original_course_contextid or self.course_record.get("contextid")
        owners = dict.fromkeys(FILE_OWNERS, 0)
        per_activity: dict[str, int] = {}
        per_section: dict[str, int] = {}
        for (context, area, sectionid), size in self.file_bytes.items():
            if area == "question" and context in self.question_contexts:
                owner = "question_bank"
            elif context in activity_of:
                owner = "activities"
                folder = activity_of[context]
                per_activity[folder] = per_activity.get(folder, 0) + size
            elif context is not None and context == course:
                owner = "sections" if area == "section" else "course"
                if area == "section":
                    per_section[sectionid] = per_section.get(sectionid, 0) + size
            elif context in self.question_contexts:
                owner = "question_bank"
            elif context in self.user_contexts:
                owner = "users"
            else:
                owner = "other"
            owners[owner] += size
        return owners, per_activity, per_section

    def summary(self, sizes: dict[str, Any]) -> dict[str, Any]:
        # releases before 2.6 or so leave the course's format and dates out of the
        # information block; course.xml has them
        course = self.course_record
        info = msgspec.structs.replace(
            self.info,
            original_course_format=self.info.original_course_format or course.get("format"),
            original_course_startdate=_first_date(self.info.original_course_startdate,
                                                  course.get("startdate")),
            original_course_enddate=_first_date(self.info.original_course_enddate,
                                                course.get("enddate")))
        owners, per_activity, per_section = self._attribute_files()

        def activity(entry) -> dict:
            folder = (entry.directory or "").removeprefix("activities/")
            return {"moduleid": entry.moduleid, "modulename": entry.modulename,
                    "title": entry.title, "sectionid": entry.sectionid,
                    "xml_bytes": self.activity_xml.get(folder, 0),
                    "file_bytes": per_activity.get(folder, 0)}

        activities = [activity(entry) for entry in info.activities]
        sections = []
        for position, entry in enumerate(info.sections):
            section_xml = self.section_xml.get(entry.sectionid or "", {})
            number = section_xml.get("number")
            sections.append({
                "number": int(number) if number and number.isdigit() else position,
                "sectionid": entry.sectionid,
                "title": entry.title,
                # section.xml's own name: None for an untitled section (whose title
                # in moodle_backup.xml is its number)
                "name": section_xml.get("name") or None,
                "file_bytes": per_section.get(entry.sectionid, 0),
                "activities": [a for a in activities if a["sectionid"] == entry.sectionid],
            })
        settings = {name: _setting_flag(info.setting(name)) for name in SETTINGS}
        counts = {**self.counts, "activities": len(activities), "sections": len(sections)}
        return _summary(
            "moodle2", info, sections=sections, activities=activities, settings=settings,
            backup_type=info.type,
            has_users=counts["users"] > 0 or settings["users"] is True,
            has_files=counts["files"] > 0, counts=counts, file_bytes=owners, sizes=sizes)


def _summary(format_name: str, info: Information, *, sections: list, activities: list,
             settings: dict, backup_type: str | None, has_users: bool,
             has_files: bool, counts: dict, file_bytes: dict, sizes: dict) -> dict[str, Any]:
    """The summary dict, the same keys in the same order for both formats."""
    ranked = sorted((a for a in activities if a["xml_bytes"] is not None),
                    key=lambda a: a["xml_bytes"] + a["file_bytes"], reverse=True)
    return {
        "format": format_name,
        "name": info.name,
        "moodle_release": info.moodle_release,
        "backup_release": info.backup_release,
        "backup_date": info.backup_date,
        "type": backup_type,
        "course": {"fullname": info.original_course_fullname,
                   "shortname": info.original_course_shortname,
                   "format": info.original_course_format,
                   "startdate": info.original_course_startdate,
                   "enddate": info.original_course_enddate},
        "source_site": info.original_wwwroot,
        "settings": settings,
        "has_users": has_users,
        "has_files": has_files,
        "sections": sections,
        "activities": activities,
        "counts": counts,
        "file_bytes": file_bytes,
        "sizes": sizes,
        "largest_activities": [
            {key: a[key] for key in ("moduleid", "modulename", "title", "xml_bytes", "file_bytes")}
            for a in ranked[:3]],
    }


_M1 = "/MOODLE_BACKUP"
_M1_FILE = "moodle.xml"
#: Summary setting -> (``INFO/DETAILS`` leaf of a 1.9 backup, the values meaning "included").
_M1_SETTINGS = {
    "users": ("USERS", ("course", "all")),
    "logs": ("LOGS", ("true",)),
    "grade_histories": ("GRADEBOOKHISTORIES", ("true",)),
}
#: 1.9 record path -> count key.
_M1_COUNTED = {
    f"{_M1}/COURSE/USERS/USER": "users",
    f"{_M1}/COURSE/GROUPS/GROUP": "groups",
    f"{_M1}/COURSE/GROUPINGS/GROUPING": "groupings",
    f"{_M1}/COURSE/QUESTION_CATEGORIES/QUESTION_CATEGORY": "question_categories",
    f"{_M1}/COURSE/QUESTION_CATEGORIES/QUESTION_CATEGORY/QUESTIONS/QUESTION": "questions",
}


def _read_moodle1(stream: BinaryIO, source: str) -> dict[str, Any]:
    """What ``moodle.xml`` says about itself and its course, in one pass."""
    found: dict[str, Any] = {"info": {}, "details": {}, "info_modules": [], "header": {},
                             "sections": [], "modules": {},
                             "counts": dict.fromkeys(_M1_COUNTED.values(), 0)}
    counts = found["counts"]

    def on_module(record: dict) -> None:
        found["modules"][(record.get("MODTYPE"), record.get("ID"))] = record.get("NAME")

    parser = Parser(source=source)
    parser.add_path(f"{_M1}/INFO", found["info"].update)
    parser.add_path(f"{_M1}/INFO/DETAILS", found["details"].update)
    parser.add_path(f"{_M1}/INFO/DETAILS/MOD", found["info_modules"].append)
    # HEADER has CATEGORY in the middle of its leaves: grouped delivery merges both halves
    parser.add_path(f"{_M1}/COURSE/HEADER", found["header"].update, grouped=True)
    parser.add_path(f"{_M1}/COURSE/SECTIONS/SECTION", found["sections"].append, grouped=True)
    parser.add_path(f"{_M1}/COURSE/SECTIONS/SECTION/MODS/MOD")
    parser.add_path(f"{_M1}/COURSE/MODULES/MOD", on_module)
    for path, key in _M1_COUNTED.items():
        parser.add_path(path, lambda record, key=key: counts.__setitem__(key, counts[key] + 1))
    parser.parse(stream)
    return found


def _moodle1_information(found: dict[str, Any]) -> Information:
    """The leaves of a moodle2 ``information`` block that a 1.9 backup also holds."""
    info, header = found["info"], found["header"]
    return Information(
        name=info.get("NAME"), moodle_version=info.get("MOODLE_VERSION"),
        moodle_release=info.get("MOODLE_RELEASE"), backup_version=info.get("BACKUP_VERSION"),
        backup_release=info.get("BACKUP_RELEASE"), backup_date=as_unix_time(info.get("DATE")),
        original_wwwroot=info.get("ORIGINAL_WWWROOT"), original_course_id=header.get("ID"),
        original_course_format=header.get("FORMAT"),
        original_course_fullname=header.get("FULLNAME"),
        original_course_shortname=header.get("SHORTNAME"),
        original_course_startdate=as_unix_time(header.get("STARTDATE")))


def _summarize_moodle1(backup: Backup, progress) -> dict[str, Any]:
    """The same summary for a Moodle 1.9 ``moodle.xml`` backup (listing only: 1.9
    backups are not restorable by mbx). 1.9 keeps every activity inside
    ``moodle.xml`` and its files by name, not in a blob pool: per-activity sizes,
    blobs and ``files.xml`` counts are ``None``."""
    sizes = _new_sizes()
    found = None
    for member, stream in _walk(backup, progress, sizes, blobs=False):
        if member.name == _M1_FILE:
            found = _read_moodle1(stream, member.name)
    if found is None:
        raise FormatError("moodle.xml could not be read", code="format-no-information",
                          source=backup.path)
    sizes["blobs"] = None
    info = _moodle1_information(found)
    sections, activities = [], []
    for section in found["sections"]:
        mods = section.get("MODS")
        mods = mods.get("MOD", []) if isinstance(mods, dict) else []
        number = section.get("NUMBER") or ""
        listed = [{"moduleid": mod.get("ID"), "modulename": mod.get("TYPE"),
                   "title": found["modules"].get((mod.get("TYPE"), mod.get("INSTANCE"))),
                   "sectionid": section.get("ID"), "xml_bytes": None, "file_bytes": None}
                  for mod in mods]
        activities.extend(listed)
        sections.append({"number": int(number) if number.isdigit() else len(sections),
                         "sectionid": section.get("ID"), "title": None, "name": None,
                         "file_bytes": None, "activities": listed})
    details = found["details"]
    settings = dict.fromkeys(SETTINGS)
    for name, (leaf, included) in _M1_SETTINGS.items():
        if details.get(leaf) is not None:
            settings[name] = details[leaf] in included
    counts = {**dict.fromkeys(COUNT_KEYS, 0), **found["counts"], "files": None,
              "activities": len(activities), "sections": len(sections)}
    return _summary(
        "moodle1", info, sections=sections, activities=activities, settings=settings,
        backup_type="course", has_users=counts["users"] > 0, has_files=sizes["other"] > 0,
        counts=counts, file_bytes=dict.fromkeys(FILE_OWNERS), sizes=sizes)


def copy_member(backup: Backup | str | os.PathLike, name: str, out: BinaryIO, *,
                limits: ArchiveLimits | None = None) -> int:
    """Streams one member to ``out``; returns the number of bytes written.

    Nothing is written before the whole backup has passed the archive checks
    (``Backup.check``): a refused archive leaves ``out`` untouched."""
    with as_backup(backup, limits) as opened:
        opened.check()
        with opened.open(name) as stream:
            written = 0
            while chunk := stream.read(1 << 20):
                out.write(chunk)
                written += len(chunk)
            return written


__all__ = ["COUNT_KEYS", "FILE_OWNERS", "SETTINGS", "copy_member", "count_records", "describe",
           "list_members", "summarize"]
