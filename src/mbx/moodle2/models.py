"""Typed views of what a backup says about itself, built from parser records.

``moodle_backup.xml`` is read grouped (as Moodle's restore reads it) and turned
into :class:`Information`; ``files.xml`` and ``inforef.xml`` records map onto
:class:`FileRecord` and :class:`Reference`. Every field is a ``str`` as the XML
holds it, or ``None`` when the backup leaves it out (older releases write fewer
fields) or writes ``$@NULL@$``: a missing optional field is never an error.
Dates are the exception: they are Unix times, read as ``int`` (``None`` when
absent, empty or not a number), so every output shows dates one way.
"""

from __future__ import annotations

from typing import Any

import msgspec

from mbx.errors import FormatError
from mbx.moodle2.files import file_has_content


class Detail(msgspec.Struct, kw_only=True):
    """``details/detail``: what kind of backup this is and how it was made."""

    backup_id: str | None = None
    type: str | None = None          # course | section | activity
    format: str | None = None        # moodle2
    interactive: str | None = None
    mode: str | None = None          # 10 general, 20 import, 70 async, ...
    execution: str | None = None
    executiontime: int | None = None


class ActivityEntry(msgspec.Struct, kw_only=True):
    """``contents/activities/activity``: one activity and its folder."""

    moduleid: str | None = None
    sectionid: str | None = None
    modulename: str | None = None
    title: str | None = None
    directory: str | None = None
    insubsection: str | None = None


class SectionEntry(msgspec.Struct, kw_only=True):
    """``contents/sections/section``: one section and its folder."""

    sectionid: str | None = None
    title: str | None = None
    directory: str | None = None
    parentcmid: str | None = None
    modname: str | None = None


class CourseEntry(msgspec.Struct, kw_only=True):
    """``contents/course``."""

    courseid: str | None = None
    title: str | None = None
    directory: str | None = None


class Setting(msgspec.Struct, kw_only=True):
    """``settings/setting``: a root, section or activity level backup setting."""

    level: str | None = None         # root | section | activity
    name: str | None = None
    value: str | None = None
    section: str | None = None
    activity: str | None = None


class Information(msgspec.Struct, kw_only=True):
    """The ``information`` block of ``moodle_backup.xml``."""

    name: str | None = None
    moodle_version: str | None = None
    moodle_release: str | None = None
    backup_version: str | None = None
    backup_release: str | None = None
    backup_date: int | None = None
    mnet_remoteusers: str | None = None
    include_files: str | None = None
    include_file_references_to_external_content: str | None = None
    original_wwwroot: str | None = None
    original_site_identifier_hash: str | None = None
    original_course_id: str | None = None
    original_course_format: str | None = None
    original_course_fullname: str | None = None
    original_course_shortname: str | None = None
    original_course_startdate: int | None = None
    original_course_enddate: int | None = None
    original_course_contextid: str | None = None
    original_system_contextid: str | None = None
    details: list[Detail] = []
    activities: list[ActivityEntry] = []
    sections: list[SectionEntry] = []
    course: CourseEntry | None = None
    settings: list[Setting] = []

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Information:
        """From the grouped record of ``/moodle_backup/information``."""
        contents = _nested(record, "contents")
        course = contents.get("course")
        fields = {key: value for key, value in record.items()
                  if isinstance(value, str) or value is None}
        return msgspec.convert({
            **_with_dates(fields, _INFORMATION_DATES),
            "details": [_with_dates(detail, _DETAIL_DATES)
                        for detail in _nested(record, "details").get("detail", [])],
            "activities": _nested(contents, "activities").get("activity", []),
            "sections": _nested(contents, "sections").get("section", []),
            "course": course[-1] if isinstance(course, list) and course else None,
            "settings": _nested(record, "settings").get("setting", []),
        }, cls)

    @property
    def type(self) -> str | None:
        """The backup type (course, section or activity)."""
        return self.details[0].type if self.details else None

    def setting(self, name: str) -> str | None:
        """The value of a root-level setting, such as ``users`` or ``files``."""
        for setting in self.settings:
            if setting.name == name and setting.level in (None, "root"):
                return setting.value
        return None


class FileRecord(msgspec.Struct, kw_only=True):
    """One ``files.xml`` record: a file's metadata; its content is ``files/xx/<contenthash>``."""

    id: str | None = None
    contenthash: str | None = None
    contextid: str | None = None
    component: str | None = None
    filearea: str | None = None
    itemid: str | None = None
    filepath: str | None = None
    filename: str | None = None
    userid: str | None = None
    filesize: str | None = None
    mimetype: str | None = None
    status: str | None = None
    timecreated: str | None = None
    timemodified: str | None = None
    source: str | None = None
    author: str | None = None
    license: str | None = None
    sortorder: str | None = None
    repositorytype: str | None = None
    repositoryid: str | None = None
    reference: str | None = None

    @property
    def has_content(self) -> bool:
        """Whether a blob belongs to this record (see :func:`file_has_content`)."""
        return file_has_content(self.filename, self.contenthash)



class Reference(msgspec.Struct, frozen=True):
    """One ``inforef.xml`` entry: ``kind`` is the wrapper (``fileref``, ``userref``...)."""

    kind: str
    id: str | None


_INFORMATION_DATES = ("backup_date", "original_course_startdate", "original_course_enddate")
_DETAIL_DATES = ("executiontime",)


def as_int(value: Any, default: Any = 0) -> Any:
    """A value as the XML holds it (text) as an ``int``; ``default`` when it is absent,
    empty or not a whole number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def as_unix_time(value: Any) -> int | None:
    """A date as the XML holds it (decimal seconds) as an ``int``; ``None`` when
    absent, empty or not a number (``"$@NULL@$"`` arrives as ``None`` already)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _with_dates(record: dict, dates: tuple[str, ...]) -> dict:
    return {**record, **{key: as_unix_time(record.get(key)) for key in dates if key in record}}


def _nested(record: dict, key: str) -> dict:
    """The wrapper ``key`` of a grouped record: its children, or nothing when it is
    absent or empty; text where the children should be is refused."""
    value = record.get(key)
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        raise FormatError(f"<{key}> holds text, not the elements it wraps",
                          code=f"format-bad-{key}")
    return {}
