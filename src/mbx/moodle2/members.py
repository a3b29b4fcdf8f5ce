"""The names of a moodle2 backup's members, and the patterns that recognise them.

A moodle2 backup holds top-level XML files, ``activities/<mod>_<cmid>/``,
``sections/section_<sectionid>/``, ``course/`` and the blob pool
``files/<xx>/<sha1>``. Patterns match whole member names as the archive
layer gives them (no ``./`` prefix, no trailing slash).
"""

from __future__ import annotations

import re

from mbx.archive.base import ARCHIVE_INDEX_NAME

MOODLE_BACKUP = "moodle_backup.xml"
FILES = "files.xml"
USERS = "users.xml"
GROUPS = "groups.xml"
QUESTIONS = "questions.xml"
COURSE = "course/course.xml"
INFOREF = "inforef.xml"

#: ``sections/section_<sectionid>/section.xml``: group 1 is the section id.
SECTION_XML = re.compile(r"sections/section_(\d+)/section\.xml")
#: Anything in an activity folder: group 1 the folder (``forum_12``), group 2 the
#: module name, group 3 the path inside the folder (``forum.xml`` is the module's own).
ACTIVITY_MEMBER = re.compile(r"activities/(([a-z0-9]+)_\d+)/(.+)")
#: A blob's place in the pool, ``files/<xx>/<name>``: group 1 the folder, group 2 the name
#: (both checked apart: the name must be a SHA-1, the folder its first two digits).
BLOB = re.compile(r"files/([^/]+)/([^/]+)")
SHA1 = re.compile(r"[0-9a-f]{40}")
#: The top folders moodle_backup.xml lists, with the singular that names one of them.
TOP_FOLDERS = {"activities": "activity", "sections": "section"}
#: The listed top folders, ``activities/<x>`` and ``sections/<x>``, at the start of a name.
TOP_FOLDER = re.compile(r"(activities|sections)/([^/]+)(?:/|$)")


def is_activity_file(match: re.Match) -> bool:
    """Whether an :data:`ACTIVITY_MEMBER` match is the module's own file (``forum.xml``)."""
    return match.group(3) == f"{match.group(2)}.xml"


#: What Moodle writes at the top level of a backup, a folder with a trailing
#: ``/``. Restore reads these and nothing else.
TOP_LEVEL_NAMES = frozenset({
    ARCHIVE_INDEX_NAME, "activities/", "course/", "files/", "sections/", "badges.xml",
    "completion.xml", "files.xml", "grade_history.xml", "gradebook.xml", "groups.xml",
    "moodle_backup.xml", "outcomes.xml", "questions.xml", "roles.xml", "scales.xml",
    "users.xml", "moodle_backup.log"})
