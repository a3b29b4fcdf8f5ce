"""A first consumer of the XML core: summarise an extracted moodle2 backup.

Reads ``moodle_backup.xml`` the way Moodle's restore does (the information
block grouped), then streams the other XML files to count what they hold. The
archive layer will feed this from ``.mbz`` files directly; for now it takes an
extracted backup folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mbx.errors import FormatError
from mbx.xml import Parser

INFORMATION = "/moodle_backup/information"
#: (file, record path) -> name of the count in the summary
_COUNTED = {
    ("users.xml", "/users/user"): "users",
    ("files.xml", "/files/file"): "files",
    ("questions.xml", "/question_categories/question_category/questions/question"): "questions",
    ("questions.xml",
     "/question_categories/question_category/question_bank_entries/question_bank_entry"
     "/question_version/question_versions/questions/question"): "questions",
}


def read_information(path: Path) -> dict[str, Any]:
    """The grouped ``information`` record of a ``moodle_backup.xml``."""
    found: list[dict] = []
    parser = Parser()
    parser.add_path(INFORMATION, found.append, grouped=True)
    for below in ("details/detail", "contents/activities/activity", "contents/sections/section",
                  "contents/course", "settings/setting"):
        parser.add_path(f"{INFORMATION}/{below}")
    parser.parse(path)
    if not found:
        raise FormatError(f"{path}: no <information> block", code="format-no-information")
    return found[0]


def summarize_backup(folder: str | Path) -> dict[str, Any]:
    """Course, sections with their activities, and counts of an extracted backup."""
    folder = Path(folder)
    main = folder / "moodle_backup.xml"
    if not main.is_file():
        what = "moodle.xml (a Moodle 1.9 backup)" if (folder / "moodle.xml").is_file() else \
            "no moodle_backup.xml"
        raise FormatError(f"not an extracted moodle2 backup: found {what}",
                          code="format-unknown", source=str(folder))
    info = read_information(main)
    contents = info.get("contents", {})
    activities = contents.get("activities", {}).get("activity", [])
    sections = []
    for section in contents.get("sections", {}).get("section", []):
        sections.append({
            "sectionid": section.get("sectionid"), "title": section.get("title"),
            "activities": [{"moduleid": a.get("moduleid"), "modulename": a.get("modulename"),
                            "title": a.get("title")}
                           for a in activities if a.get("sectionid") == section.get("sectionid")],
        })
    detail = (info.get("details", {}).get("detail") or [{}])[0]
    counts = {"activities": len(activities), "users": 0, "files": 0, "questions": 0}
    xml_members = xml_bytes = 0
    for file in sorted(folder.rglob("*.xml")):
        xml_members += 1
        xml_bytes += file.stat().st_size
    for (name, record_path), key in _COUNTED.items():
        file = folder / name
        if file.is_file():
            counts[key] += count_records(file, record_path)
    return {
        "format": "moodle2",
        "name": info.get("name"),
        "moodle_release": info.get("moodle_release"),
        "backup_release": info.get("backup_release"),
        "backup_date": info.get("backup_date"),
        "type": detail.get("type"),
        "course": {"fullname": info.get("original_course_fullname"),
                   "shortname": info.get("original_course_shortname")},
        "sections": sections,
        "counts": counts,
        "xml": {"members": xml_members, "bytes": xml_bytes},
    }


def count_records(path: Path, record_path: str) -> int:
    """How many records ``record_path`` yields in one XML file, in constant memory."""
    count = 0

    def tally(record: dict) -> None:
        nonlocal count
        count += 1

    parser = Parser()
    parser.add_path(record_path, tally)
    parser.parse(path)
    return count
