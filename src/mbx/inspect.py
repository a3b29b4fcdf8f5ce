"""Inspection: what a backup holds, read in one streaming pass.

A consumer of both lower layers: ``mbx.archive`` hands over the members of a
``.mbz`` (tar.gz or zip) or an extracted folder in archive order, and
``mbx.xml`` turns the few XML files that matter into records as they stream
by. Nothing is extracted and no member is held in memory.
"""

from __future__ import annotations

import os
import re
from typing import Any, BinaryIO, Callable, Iterator

from mbx.archive import MemberInfo, list_members, open_backup
import msgspec

from mbx.errors import FormatError
from mbx.models import Information
from mbx.xml import SKIP, Parser

INFORMATION = "/moodle_backup/information"
_SECTION_XML = re.compile(r"sections/section_(\d+)/section\.xml")
_ACTIVITY_MEMBER = re.compile(r"activities/(([a-z0-9]+)_\d+)/(.+)")
#: member -> {record path: name of the count}
_COUNTED = {
    "users.xml": {"/users/user": "users"},
    "questions.xml": {
        "/question_categories/question_category/questions/question": "questions",
        "/question_categories/question_category/question_bank_entries/question_bank_entry"
        "/question_version/question_versions/questions/question": "questions"},
}


def read_information(stream: BinaryIO | str | os.PathLike, source: str | None = None) -> dict:
    """The grouped ``information`` record of a ``moodle_backup.xml``, as Moodle reads it."""
    found: list[dict] = []
    parser = Parser(source=source)
    parser.add_path(INFORMATION, found.append, grouped=True)
    for below in ("details/detail", "contents/activities/activity", "contents/sections/section",
                  "contents/course", "settings/setting"):
        parser.add_path(f"{INFORMATION}/{below}")
    parser.parse(stream)
    if not found:
        raise FormatError("moodle_backup.xml has no <information> block",
                          code="format-no-information", source=source)
    return found[0]


def describe(path: str | os.PathLike) -> dict[str, Any]:
    """Everything a backup says about itself (``mbx info``): for moodle2 the whole
    ``information`` block with all settings, for moodle1 the ``INFO`` block."""
    with open_backup(path) as backup:
        if backup.format == "moodle1":
            with backup.open("moodle.xml") as stream:
                found: list[dict] = []
                parser = Parser(source="moodle.xml")
                parser.add_path(f"{_M1}/INFO", found.append, grouped=True)
                parser.add_path(f"{_M1}/INFO/DETAILS/MOD")
                parser.parse(stream)
            return {"format": "moodle1", **(found[0] if found else {})}
    return {"format": "moodle2", **msgspec.to_builtins(read_backup_information(path))}


def read_backup_information(path: str | os.PathLike) -> Information:
    """The typed ``information`` block of a moodle2 backup."""
    with open_backup(path) as backup:
        if backup.format != "moodle2":
            raise FormatError.unsupported(
                backup.format, f"{backup.format} backups have no moodle_backup.xml to show",
                source=os.fspath(path))
        with backup.open("moodle_backup.xml") as stream:
            return Information.from_record(read_information(stream, source="moodle_backup.xml"))


def count_records(stream: BinaryIO, paths: dict[str, str], source: str | None = None
                  ) -> dict[str, int]:
    """How many records each of ``{path: count name}`` yields in one XML stream."""
    counts = dict.fromkeys(paths.values(), 0)
    parser = Parser(source=source)
    for path, name in paths.items():
        parser.add_path(path, lambda record, name=name: counts.__setitem__(name, counts[name] + 1))
    parser.parse(stream)
    return counts


def _section_number(stream: BinaryIO, source: str) -> str | None:
    numbers: list[str | None] = []
    parser = Parser(source=source)
    parser.add_path("/section", lambda record: numbers.append(record.get("number")))
    parser.parse(stream)
    return numbers[0] if numbers else None


def summarize(path: str | os.PathLike,
              progress: Callable[[MemberInfo], None] | None = None) -> dict[str, Any]:
    """What a person wants to know before restoring: course, sections, activities, counts.

    Works on a ``.mbz`` (tar.gz or zip) or an extracted folder, in one pass;
    ``progress`` is called with each member as the pass reaches it. The keys
    are stable (``mbx ls --json`` prints this dict).
    """
    with open_backup(path) as backup:
        if backup.format == "moodle1":
            return _summarize_moodle1(backup, progress)
        if backup.format != "moodle2":
            raise FormatError.unsupported(
                backup.format, f"{backup.format} backups cannot be summarised "
                "(moodle2 and moodle1 can)", source=os.fspath(path))
        info = None
        numbers: dict[str, str | None] = {}
        counts = {"users": 0, "files": 0, "questions": 0}
        sizes = _new_sizes()
        activity_xml: dict[str, int] = {}        # activity folder -> bytes of its XML
        activity_context: dict[str, str] = {}    # activity folder -> its context id
        file_bytes: dict[str, int] = {}          # context id -> bytes of its files
        for member, stream in _walk(backup, progress, sizes):
            name = member.name
            if activity := _ACTIVITY_MEMBER.fullmatch(name):
                folder = activity.group(1)
                activity_xml[folder] = activity_xml.get(folder, 0) + member.size
                if activity.group(3) == f"{activity.group(2)}.xml":
                    activity_context[folder] = _activity_context(stream, name)
            elif name == "moodle_backup.xml":
                info = read_information(stream, source=name)
            elif name == "files.xml":
                counts["files"] += _file_sizes(stream, name, file_bytes)
            elif name in _COUNTED:
                for key, value in count_records(stream, _COUNTED[name], source=name).items():
                    counts[key] += value
            elif match := _SECTION_XML.fullmatch(name):
                numbers[match.group(1)] = _section_number(stream, name)
    if info is None:
        raise FormatError("moodle_backup.xml could not be read", code="format-no-information",
                          source=os.fspath(path))
    per_activity = {folder: (xml, file_bytes.get(activity_context.get(folder), 0))
                    for folder, xml in activity_xml.items()}
    return _shape(info, numbers, counts, sizes, per_activity)


def _new_sizes() -> dict[str, int]:
    return {"total": 0, "xml": 0, "files": 0, "members": 0}


def _walk(backup, progress, sizes: dict[str, int]) -> Iterator[tuple[MemberInfo, BinaryIO]]:
    """The files of a backup in archive order, reporting progress and adding up
    sizes (``files`` is everything that is not XML: blobs, the index, logs)."""
    for member, stream in backup.iter_members():
        if progress is not None:
            progress(member)
        if member.is_dir:
            continue
        sizes["members"] += 1
        sizes["total"] += member.size
        sizes["xml" if member.name.endswith(".xml") else "files"] += member.size
        yield member, stream


#: How much of an activity file is read at a time to find its root's attributes.
_HEAD_READ = 1 << 16


def _activity_context(stream: BinaryIO, source: str) -> str | None:
    """The ``contextid`` on an activity file's root, reading no further than the
    root's first records (a forum's posts are not parsed; ``verify`` checks them)."""
    found: list[dict] = []

    def keep(record: dict):
        found.append(record)
        return SKIP

    parser = Parser(source=source)
    parser.add_path("/activity", keep)
    while not found:
        chunk = stream.read(_HEAD_READ)
        if not chunk:
            parser.close()  # a short file: the root's record comes when it closes
            break
        parser.feed(chunk)
    return found[0].get("contextid") if found else None


def _file_sizes(stream: BinaryIO, source: str, by_context: dict[str, int]) -> int:
    """Counts ``files.xml`` records with content, adding their sizes per context."""
    count = 0

    def tally(record: dict) -> None:
        nonlocal count
        if record.get("filename") == "." or not record.get("contenthash"):
            return
        count += 1
        size = record.get("filesize") or "0"
        context = record.get("contextid")
        by_context[context] = by_context.get(context, 0) + (int(size) if size.isdigit() else 0)

    parser = Parser(source=source)
    parser.add_path("/files/file", tally)
    parser.parse(stream)
    return count


def _shape(info: dict, numbers: dict, counts: dict, sizes: dict,
           per_activity: dict[str, tuple[int, int]]) -> dict:
    contents = info.get("contents") or {}
    activities = (contents.get("activities") or {}).get("activity", [])
    sections = []
    for position, section in enumerate((contents.get("sections") or {}).get("section", [])):
        sectionid = section.get("sectionid")
        number = numbers.get(sectionid)
        sections.append({
            "number": int(number) if number and number.isdigit() else position,
            "sectionid": sectionid,
            "title": section.get("title"),
            "activities": [_activity(a, per_activity) for a in activities
                           if a.get("sectionid") == sectionid],
        })
    details = (info.get("details") or {}).get("detail") or [{}]
    settings = {s.get("name"): s.get("value")
                for s in (info.get("settings") or {}).get("setting", [])
                if s.get("level") in (None, "root")}
    ranked = sorted((_activity(a, per_activity) for a in activities),
                    key=lambda a: a["xml_bytes"] + a["file_bytes"], reverse=True)
    return {
        "format": "moodle2",
        "name": info.get("name"),
        "moodle_release": info.get("moodle_release"),
        "backup_release": info.get("backup_release"),
        "backup_date": info.get("backup_date"),
        "type": details[0].get("type"),
        "course": {"fullname": info.get("original_course_fullname"),
                   "shortname": info.get("original_course_shortname")},
        "sections": sections,
        "has_users": counts["users"] > 0 or settings.get("users") == "1",
        "has_files": counts["files"] > 0,
        "counts": {**counts, "activities": len(activities)},
        "sizes": sizes,
        "largest_activities": [
            {key: a[key] for key in ("moduleid", "modulename", "title", "xml_bytes", "file_bytes")}
            for a in ranked[:3]],
    }


def _activity(entry: dict, per_activity: dict[str, tuple[int, int]]) -> dict:
    folder = (entry.get("directory") or "").removeprefix("activities/")
    xml_bytes, file_bytes = per_activity.get(folder, (0, 0))
    return {"moduleid": entry.get("moduleid"), "modulename": entry.get("modulename"),
            "title": entry.get("title"), "xml_bytes": xml_bytes, "file_bytes": file_bytes}


_M1 = "/MOODLE_BACKUP"


def _summarize_moodle1(backup, progress) -> dict[str, Any]:
    """The same summary for a Moodle 1.9 ``moodle.xml`` backup (listing only: 1.9
    backups are not restorable by mbx)."""
    found: dict[str, Any] = {"info": {}, "header": {}, "sections": [], "modules": {},
                             "users": 0, "questions": 0}
    sizes = _new_sizes()

    def on_module(record: dict) -> None:
        found["modules"][(record.get("MODTYPE"), record.get("ID"))] = record.get("NAME")

    for member, stream in _walk(backup, progress, sizes):
        if member.name != "moodle.xml":
            continue
        parser = Parser(source=member.name)
        parser.add_path(f"{_M1}/INFO", found["info"].update)
        # HEADER has CATEGORY in the middle of its leaves: grouped delivery merges both halves
        parser.add_path(f"{_M1}/COURSE/HEADER", found["header"].update, grouped=True)
        parser.add_path(f"{_M1}/COURSE/SECTIONS/SECTION", found["sections"].append, grouped=True)
        parser.add_path(f"{_M1}/COURSE/SECTIONS/SECTION/MODS/MOD")
        parser.add_path(f"{_M1}/COURSE/MODULES/MOD", on_module)
        parser.add_path(f"{_M1}/COURSE/USERS/USER",
                        lambda record: found.__setitem__("users", found["users"] + 1))
        parser.add_path(f"{_M1}/COURSE/QUESTION_CATEGORIES/QUESTION_CATEGORY/QUESTIONS/QUESTION",
                        lambda record: found.__setitem__("questions", found["questions"] + 1))
        parser.parse(stream)
    info, header = found["info"], found["header"]
    sections = []
    for section in found["sections"]:
        mods = (section.get("MODS") or {}).get("MOD", []) if isinstance(section.get("MODS"), dict) else []
        number = section.get("NUMBER") or ""
        sections.append({
            "number": int(number) if number.isdigit() else len(sections),
            "sectionid": section.get("ID"),
            "title": f"Section {number}",
            # a 1.9 backup keeps every activity inside moodle.xml: no per-activity sizes
            "activities": [{"moduleid": mod.get("ID"), "modulename": mod.get("TYPE"),
                            "title": found["modules"].get((mod.get("TYPE"), mod.get("INSTANCE"))),
                            "xml_bytes": None, "file_bytes": None}
                           for mod in mods],
        })
    return {
        "format": "moodle1",
        "name": info.get("NAME"),
        "moodle_release": info.get("MOODLE_RELEASE"),
        "backup_release": info.get("BACKUP_RELEASE"),
        "backup_date": info.get("DATE"),
        "type": "course",
        "course": {"fullname": header.get("FULLNAME"), "shortname": header.get("SHORTNAME")},
        "sections": sections,
        "has_users": found["users"] > 0,
        "has_files": sizes["files"] > 0,
        "counts": {"users": found["users"], "files": 0, "questions": found["questions"],
                   "activities": sum(len(s["activities"]) for s in sections)},
        "sizes": sizes,
        "largest_activities": [],
    }


def copy_member(path: str | os.PathLike, name: str, out: BinaryIO) -> int:
    """Streams one member to ``out``; returns the number of bytes written."""
    with open_backup(path) as backup, backup.open(name) as stream:
        written = 0
        while chunk := stream.read(1 << 20):
            out.write(chunk)
            written += len(chunk)
        return written


__all__ = ["copy_member", "count_records", "list_members", "read_information", "summarize"]
