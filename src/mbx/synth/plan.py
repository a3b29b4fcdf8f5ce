"""What a synthetic course is made of before it is written: users, activities,
planned files and the id counters, shared by the course and module writers."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ACTIVITY_ID_RANGE", "Activity", "History", "Ids", "NULL", "ROLE_STUDENT",
           "ROLE_TEACHER", "SynthFile", "User", "WEEK"]

NULL = None  # written $@NULL@$ by XmlWriter
ROLE_TEACHER, ROLE_STUDENT = 3, 5
ACTIVITY_ID_RANGE = 1_000_000  # ids of one kind an activity of a history may use


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
    #: history: when the teacher added the activity (0: there from the start), and its
    #: place in the term's plan (the id range of what it holds)
    appears: int = 0
    ordinal: int = 0


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
    #: history: when the file was added (0: from the start) and removed (0: never)
    appears: int = 0
    removed: int = 0


@dataclass
class Ids:
    """Counters for every id kind, so ids never collide."""

    counters: dict[str, int] = field(default_factory=dict)
    #: added to every id: a history gives each activity a range of its own (see
    #: :meth:`scoped`), so what one holds never moves the ids of another
    base: int = 0

    def next(self, kind: str, start: int) -> int:
        value = self.counters.get(kind, self.base + start - 1) + 1
        self.counters[kind] = value
        return value

    def next_block(self, kind: str, start: int, count: int) -> int:
        """The first of ``count`` consecutive new ids."""
        first = self.next(kind, start)
        self.counters[kind] = first + count - 1
        return first

    def scoped(self, ordinal: int) -> "Ids":
        """The ids of the activity planned ``ordinal``-th, in a range no other uses;
        its grade item is the ``ordinal``-th (grade item ids give their sort order)."""
        ids = Ids(base=ACTIVITY_ID_RANGE * (ordinal + 1))
        ids.counters["grade_item"] = 60 + ordinal
        return ids


WEEK = 7 * 86400


@dataclass
class History:
    """What the versions of one history share: how many, which one is being written,
    and what the last version drew that the earlier ones must draw the same way
    (see :mod:`mbx.synth.history`)."""

    versions: int
    week: int = 0  # the version being written, 0 for the first
    #: forum cmid -> (discussions, seconds between them), as the last version drew them
    forums: dict[int, tuple[int, float]] = field(default_factory=dict)
    #: file id -> blob size, as the last version drew them (None until it has)
    blob_sizes: dict[int, int] | None = None

    @property
    def last(self) -> bool:
        return self.week == self.versions - 1
