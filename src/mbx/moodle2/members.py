"""The names of a moodle2 backup's members, and the patterns that recognise them.

Format doc §2: top-level XML files, ``activities/<mod>_<cmid>/``,
``sections/section_<sectionid>/``, ``course/`` and the blob pool
``files/<xx>/<sha1>``. Patterns match whole member names as the archive
layer gives them (no ``./`` prefix, no trailing slash).
"""

from __future__ import annotations

import re

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
