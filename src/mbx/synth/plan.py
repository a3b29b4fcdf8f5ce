"""What a synthetic course is made of before it is written: users, activities,
planned files and the id counters, shared by the course and module writers."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Activity", "Ids", "NULL", "ROLE_STUDENT", "ROLE_TEACHER", "SynthFile", "User"]

NULL = None  # written $@NULL@$ by XmlWriter
ROLE_TEACHER, ROLE_STUDENT = 3, 5


@dataclass
class User:
    id: int
    contextid: int
    username: str
    firstname: str
    lastname: str
    role: int


@dataclass
class Activity:
    cmid: int
    instance: int
    modname: str
    sectionid: int
    sectionnumber: int
    title: str
    contextid: int
    directory: str = ""
    grade_item: int | None = None
    #: grade_grade rows of the activity's grade item: (userid, grade, usermodified,
    #: timecreated, timemodified), kept for the course total in gradebook.xml
    grades: list[tuple] = field(default_factory=list)
    spare_files: int = 0  # modules that take spare files (folders): how many
    budget: float = 0.0  # modules that fill the XML share (forums): compressed bytes
    rating_scale: int = 0  # forums: the scale posts are rated on, 0 when not assessed
    #: assessed forums: author -> [sum of ratings, number of ratings, time of the last]
    ratings_received: dict[int, list[int]] = field(default_factory=dict)


@dataclass
class SynthFile:
    """A planned file: its files.xml record and, for a real file (not an area's "."
    directory record), how its blob is made (``kind`` indexes ``files.MIMETYPES``)."""

    id: int
    contextid: int
    component: str
    filearea: str
    itemid: int
    filename: str
    userid: int | None
    mimetype: str
    kind: int | None
    timecreated: int
    filepath: str = "/"
    sortorder: int = 0
    size: int = 0
    contenthash: str = ""
    author: str | None = None
    directory: bool = False


@dataclass
class Ids:
    """Counters for every id kind, so ids never collide."""

    counters: dict[str, int] = field(default_factory=dict)

    def next(self, kind: str, start: int) -> int:
        value = self.counters.get(kind, start - 1) + 1
        self.counters[kind] = value
        return value

    def next_block(self, kind: str, start: int, count: int) -> int:
        """The first of ``count`` consecutive new ids."""
        first = self.next(kind, start)
        self.counters[kind] = first + count - 1
        return first
