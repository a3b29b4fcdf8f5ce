"""The synthetic course: plan, XML members, blobs, sized to a target.

How the size target is met (the target is the archive's compressed size):
every XML member is written through a *meter*, a second deflate stream of the
same engine and level as the archive's, fed with each member's tar header,
data and padding, so the compressed cost of the XML is known as it is
written, without holding anything. Members are written in this order:

1. everything except the forums' posts and the file blobs (course, sections,
   the other activities, quizzes and their questions, users, groups,
   gradebook, moodle_backup.xml ...);
2. the forums, discussion by discussion, until the XML has used its share
   of the target (``xml_share``; all of it with ``include_files=False``);
3. the blobs, whose sizes are drawn (many small, few large) and then scaled
   so that what is left of the target is filled; blob content is
   incompressible, so its cost is its size (times the engine's measured
   overhead for stored blocks);
4. ``files.xml``, whose cost was estimated per record beforehand.

Memory: the plan (users, activities, file records, quiz questions) is kept,
posts are not.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from mbx.archive.base import MemberInfo
from mbx.units import parse_size
from mbx.archive.writer import ArchiveWriter, deflate_engine, default_compressor, ustar_header
from mbx.archive.writer.pack import sync_flush_flag
from mbx.synth.quiz import Question, QuizMixin
from mbx.synth.text import TextPool, xml_text
from mbx.xml import XmlWriter

__all__ = ["synthesize", "parse_size", "DEFAULT_ACTIVITIES"]

MOODLE_VERSION = "2024100700"
MOODLE_RELEASE = "4.5 (Build: 20241007)"
BACKUP_RELEASE = "4.5"
NULL = None  # written $@NULL@$ by XmlWriter
DEFAULT_ACTIVITIES = {"forum": 30, "page": 20, "label": 10, "url": 10, "resource": 15,
                      "folder": 5, "assign": 10, "quiz": 5}
SUPPORTED = ("forum", "page", "label", "url", "resource", "folder", "assign", "quiz")
MODULE_VERSIONS = {"forum": "2024100700", "page": "2024100700", "label": "2024100700",
                   "url": "2024100700", "resource": "2024100700", "folder": "2024100700",
                   "assign": "2024100700", "quiz": "2024100700"}
ROLE_TEACHER, ROLE_STUDENT = 3, 5
FORUM_RATING_SCALE = 100  # a positive scale is a point scale: ratings from 0 to 100
RATED_POST_SHARE = 0.3  # posts of an assessed forum that get ratings
SUBSCRIBER_SHARE = 0.25  # students subscribed to a general forum (the teacher always is)
_POOL_BLOCK = 1 << 16
_POOL_BLOCKS = 128  # 8 MiB of random bytes that blob content is cut from
_MIMETYPES = [  # (extension, mimetype, magic, weight of count, size factor)
    ("pdf", "application/pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", 30, 1.0),
    ("png", "image/png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 20, 0.4),
    ("jpg", "image/jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", 20, 0.6),
    ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
     b"PK\x03\x04\x14\x00\x06\x00", 12, 0.5),
    ("pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation",
     b"PK\x03\x04\x14\x00\x06\x00", 6, 2.0),
    ("zip", "application/zip", b"PK\x03\x04\x14\x00\x00\x00", 4, 2.0),
    ("mp3", "audio/mp3", b"ID3\x04\x00\x00\x00\x00\x00", 3, 4.0),
    ("mp4", "video/mp4", b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", 5, 12.0),
]


# -- the plan ------------------------------------------------------------------------------

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
    budget: float = 0.0  # forums: compressed bytes their posts may use
    rating_scale: int = 0  # forums: the scale posts are rated on, 0 when not assessed
    #: assessed forums: author -> [sum of ratings, number of ratings, time of the last]
    ratings_received: dict[int, list[int]] = field(default_factory=dict)


@dataclass
class FileRecord:
    id: int
    contextid: int
    component: str
    filearea: str
    itemid: int
    filename: str
    userid: int | None
    mimetype: str
    magic: bytes
    factor: float
    timecreated: int
    filepath: str = "/"
    sortorder: int = 0
    size: int = 0
    contenthash: str = ""
    author: str | None = None
    directory: bool = False


@dataclass
class _Ids:
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


# -- the meter -----------------------------------------------------------------------------

class _Meter:
    """A second deflate stream that counts what the archive's XML will cost.

    Engines buffer a lot of input before they emit anything (isal: megabytes), so
    the meter syncs every ``SYNC`` raw bytes: it then knows its output to within
    one sync interval, at the price of a slight overestimate (a block boundary
    per interval), which the blobs absorb.
    """

    SYNC = 1 << 15

    def __init__(self, compressor: str, level: int | None) -> None:
        self._engine = (compressor, level)
        self._compressor, _ = deflate_engine(compressor, level)
        self._sync_flag = sync_flush_flag(compressor)
        self.raw = 0
        self.out = 0
        self._since_sync = 0
        self._ratio = 0.3

    def feed(self, data: bytes) -> None:
        self.raw += len(data)
        self.out += len(self._compressor.compress(data))
        self._since_sync += len(data)
        if self._since_sync >= self.SYNC:
            self.out += len(self._compressor.flush(self._sync_flag))
            self._since_sync = 0
            self._ratio = self.out / self.raw

    def estimate(self) -> float:
        """Compressed bytes so far (what is not yet synced counted at the ratio so far)."""
        return self.out + self._since_sync * self._ratio

    def finish(self) -> int:
        """Exact compressed bytes of everything fed; the meter goes on counting after."""
        self.out += len(self._compressor.flush())
        self._compressor, _ = deflate_engine(*self._engine)
        self._since_sync = 0
        return self.out


class _MeteredStream:
    def __init__(self, target, meter: _Meter) -> None:
        self._target = target
        self._meter = meter
        self.size = 0

    def write(self, data: bytes) -> int:
        self._target.write(data)
        self._meter.feed(data)
        self.size += len(data)
        return len(data)


# -- the generator -------------------------------------------------------------------------

class CourseSynthesizer(QuizMixin):
    """Writes one synthetic course backup; see :func:`synthesize`."""

    def __init__(self, out_path: str, *, target: int, seed: int, users: int, sections: int,
                 activities: dict[str, int], include_users: bool, include_files: bool,
                 format: str, progress: Callable[[MemberInfo], None] | None,
                 compressor: str | None, level: int | None, xml_share: float) -> None:
        unknown = sorted(set(activities) - set(SUPPORTED))
        if unknown:
            raise ValueError(f"modules not supported by synth: {', '.join(unknown)} "
                             f"(supported: {', '.join(SUPPORTED)})")
        self.out_path = out_path
        self.target = target
        self.seed = seed
        self.include_users = include_users
        self.include_files = include_files
        self.format = format
        self.progress = progress
        self.compressor = compressor or default_compressor()
        self.level = level
        self.xml_share = xml_share if include_files else 1.0
        self.rng = random.Random(seed)
        self.text = TextPool(random.Random(seed * 7919 + 1))
        self.ids = _Ids()
        self.now = 1730000000 + (seed % 1000) * 86400
        self.start = self.now - 120 * 86400
        self.course_id = 10 + seed % 90
        self.course_context = 1000 + seed % 100
        self.n_users = users if include_users else 0
        self.n_sections = max(1, sections)
        self.requested = {name: count for name, count in activities.items() if count > 0}
        self.files: list[FileRecord] = []
        self.questions: list[Question] = []
        self._areas: set[tuple] = set()
        self.meter = _Meter(self.compressor, level)
        self.archive: ArchiveWriter | None = None
        self.stats = {"discussions": 0, "posts": 0, "ratings": 0, "submissions": 0,
                      "questions": 0, "quiz_attempts": 0, "files": 0, "xml_bytes": 0,
                      "blob_bytes": 0}
        self.shortname = f"SYN{seed}"
        self.fullname = f"Synthetic course {seed}: {self.text.title(2, 4)}"

    # -- plan --------------------------------------------------------------------------

    def plan(self) -> None:
        rng = self.rng
        self.users: list[User] = []
        for number in range(self.n_users):
            first, last = self.text.name()
            user_id = 100 + number
            self.users.append(User(user_id, 5000 + number, f"user{user_id}", first, last,
                                   ROLE_TEACHER if number == 0 else ROLE_STUDENT))
        self.students = [user for user in self.users if user.role == ROLE_STUDENT]
        self.groups: list[tuple[int, str, list[User]]] = []
        if len(self.students) >= 4:
            half = len(self.students) // 2
            self.groups = [(201, "Group A", self.students[:half]),
                           (202, "Group B", self.students[half:])]
        self.sections = [(300 + seed_number, seed_number,
                          "" if seed_number == 0 else f"Week {seed_number}: {self.text.title()}")
                         for seed_number in range(self.n_sections)]
        self.activities: list[Activity] = []
        order = [name for name in SUPPORTED if name in self.requested]
        modules = [name for name in order for _ in range(self.requested[name])]
        # the first forum is the course's announcements forum, in section 0
        if "forum" in modules:
            modules.remove("forum")
            placed = [("forum", 0)]
        else:
            placed = []
        rng.shuffle(modules)
        for index, modname in enumerate(modules):
            number = (1 + index % (self.n_sections - 1)) if self.n_sections > 1 else 0
            placed.append((modname, number))
        placed.sort(key=lambda item: item[1])
        for modname, number in placed:
            cmid = self.ids.next("cmid", 1000)
            instance = self.ids.next(f"instance_{modname}", 1)
            title = ("Announcements" if modname == "forum" and not self.activities
                     else self.text.title())
            activity = Activity(cmid, instance, modname, 300 + number, number, title,
                                self.course_context + 100 + len(self.activities))
            activity.directory = f"activities/{modname}_{cmid}"
            self.activities.append(activity)
        self.by_section: dict[int, list[Activity]] = {}
        for activity in self.activities:
            self.by_section.setdefault(activity.sectionid, []).append(activity)
        # how many blobs: grows with the square root of the target
        self.blob_target = max(4, min(20000, int(math.sqrt(self.target / (1 << 20)) * 25)))
        if not self.include_files:
            self.blob_target = 0

    def _area_ids(self, record: FileRecord) -> list[int]:
        """The ids an inforef lists for a new file: the file, and its area's "." record
        when the file opened the area."""
        before = self.files[-2] if len(self.files) > 1 else None
        if before is not None and before.directory and before.itemid == record.itemid and \
                before.filearea == record.filearea and before.contextid == record.contextid:
            return [before.id, record.id]
        return [record.id]

    def _new_file(self, activity_context: int, component: str, filearea: str, itemid: int,
                  userid: int | None, *, kind: int | None = None, name: str | None = None,
                  filepath: str = "/") -> FileRecord:
        rng = self.rng
        if kind is None:
            kind = rng.choices(range(len(_MIMETYPES)),
                               weights=[entry[3] for entry in _MIMETYPES])[0]
        extension, mimetype, magic, _, factor = _MIMETYPES[kind]
        stem = name or self.text.words(rng.randint(1, 3), "en").replace(" ", "_")
        area = (activity_context, component, filearea, itemid)
        if area not in self._areas:  # Moodle keeps a "." record for each area's root
            self._areas.add(area)
            self.files.append(FileRecord(
                self.ids.next("file", 40000), activity_context, component, filearea, itemid,
                ".", userid, "", b"", 0.0, self.start, directory=True,
                contenthash="da39a3ee5e6b4b0d3255bfef95601890afd80709"))
        record = FileRecord(self.ids.next("file", 40000), activity_context, component, filearea,
                            itemid, f"{stem}.{extension}", userid, mimetype, magic, factor,
                            self.start + rng.randint(0, 100 * 86400), filepath=filepath)
        if userid is not None and self.users:
            first = next((u for u in self.users if u.id == userid), self.users[0])
            record.author = f"{first.firstname} {first.lastname}"
        self.files.append(record)
        return record

    # -- writing helpers ---------------------------------------------------------------

    @contextmanager
    def xml(self, name: str) -> Iterator[XmlWriter]:
        assert self.archive is not None
        with self.archive.open(name) as spool:
            stream = _MeteredStream(spool, self.meter)
            writer = XmlWriter(stream)
            self._current_stream = stream
            yield writer
            writer.close()
        self._account(name, stream.size)

    def _account(self, name: str, size: int) -> None:
        self.meter.feed(ustar_header(name, size, self.now, False))
        self.meter.feed(b"\0" * (-size % 512))
        self.stats["xml_bytes"] += size

    def text_member(self, name: str, data: bytes) -> None:
        assert self.archive is not None
        self.archive.write(name, data)
        self.meter.feed(data)
        self._account(name, len(data))

    @staticmethod
    def empty(w: XmlWriter, *names: str) -> None:
        for name in names:
            with w.element(name):
                pass

    def inforef(self, name: str, *, users=(), groups=(), roles=(), files=(), grade_items=(),
                question_categories=()) -> None:
        with self.xml(name) as w, w.element("inforef"):
            for group, item, values in (("userref", "user", users), ("groupref", "group", groups),
                                        ("roleref", "role", roles), ("fileref", "file", files),
                                        ("grade_itemref", "grade_item", grade_items),
                                        ("question_categoryref", "question_category",
                                         question_categories)):
                if values:
                    with w.element(group):
                        for value in sorted(set(values)):
                            w.record(item, {"id": value})

    @property
    def teacher_id(self) -> int:
        """Who grades: the course's teacher, or the site admin (id 2) without users."""
        return self.users[0].id if self.users else 2

    def user_ids(self) -> list[int]:
        return [user.id for user in self.users]

    # -- top level ---------------------------------------------------------------------

    def write_moodle_backup(self) -> None:
        rng = random.Random(self.seed)
        filename = (f"backup-moodle2-course-{self.course_id}-{self.shortname.lower()}-"
                    f"{time.strftime('%Y%m%d-%H%M', time.gmtime(self.now))}"
                    f"{'' if self.include_users else '-nu'}.mbz")
        users = 1 if self.include_users else 0
        with self.xml("moodle_backup.xml") as w, w.element("moodle_backup"), \
                w.element("information"):
            for name, value in [
                    ("name", filename), ("moodle_version", MOODLE_VERSION),
                    ("moodle_release", MOODLE_RELEASE), ("backup_version", MOODLE_VERSION),
                    ("backup_release", BACKUP_RELEASE), ("backup_date", self.now),
                    ("mnet_remoteusers", 0), ("include_files", 1 if self.include_files else 0),
                    ("include_file_references_to_external_content", 0),
                    ("original_wwwroot", "https://moodle.example.org"),
                    ("original_site_identifier_hash",
                     hashlib.md5(f"site{self.seed}".encode()).hexdigest()),
                    ("original_course_id", self.course_id), ("original_course_format", "topics"),
                    ("original_course_fullname", self.fullname),
                    ("original_course_shortname", self.shortname),
                    ("original_course_startdate", self.start), ("original_course_enddate", 0),
                    ("original_course_contextid", self.course_context),
                    ("original_system_contextid", 1)]:
                w.leaf(name, value)
            with w.element("details"), w.element(
                    "detail", {"backup_id": "%032x" % rng.getrandbits(128)}):
                for name, value in [("type", "course"), ("format", "moodle2"),
                                    ("interactive", 1), ("mode", 10), ("execution", 1),
                                    ("executiontime", 0)]:
                    w.leaf(name, value)
            with w.element("contents"):
                if self.activities:
                    with w.element("activities"):
                        for a in self.activities:
                            w.record("activity", {"moduleid": a.cmid, "sectionid": a.sectionid,
                                                  "modulename": a.modname, "title": a.title,
                                                  "directory": a.directory, "insubsection": ""})
                with w.element("sections"):
                    for sectionid, number, title in self.sections:
                        w.record("section", {"sectionid": sectionid,
                                             "title": title or "General",
                                             "directory": f"sections/section_{sectionid}",
                                             "parentcmid": "", "modname": ""})
                w.record("course", {"courseid": self.course_id, "title": self.shortname,
                                    "directory": "course"})
            with w.element("settings"):
                for name, value in [
                        ("filename", filename), ("imscc11", 0), ("users", users),
                        ("anonymize", 0), ("role_assignments", users), ("activities", 1),
                        ("blocks", 0), ("files", 1 if self.include_files else 0),
                        ("filters", 1), ("comments", 1), ("badges", 1), ("calendarevents", 1),
                        ("userscompletion", users), ("logs", 0), ("grade_histories", 0),
                        ("questionbank", 1), ("groups", 1), ("competencies", 1),
                        ("customfield", 1), ("contentbankcontent", 1), ("legacyfiles", 1)]:
                    w.record("setting", {"level": "root", "name": name, "value": value})
                for sectionid, number, _ in self.sections:
                    for suffix in ("included", "userinfo"):
                        w.record("setting", {"level": "section",
                                             "section": f"section_{sectionid}",
                                             "name": f"section_{sectionid}_{suffix}",
                                             "value": 1 if suffix == "included" else users})
                    for a in self.by_section.get(sectionid, []):
                        key = f"{a.modname}_{a.cmid}"
                        for suffix in ("included", "userinfo"):
                            w.record("setting", {"level": "activity", "activity": key,
                                                 "name": f"{key}_{suffix}",
                                                 "value": 1 if suffix == "included" else users})

    def write_course(self, extra_files: int = 0) -> None:
        """course/: the course record, enrolments, roles ...; with files, an overview
        image and ``extra_files`` images in the summary (where a course with no
        folder and no forum keeps the files that make up its size)."""
        files: list[int] = []
        if self.include_files:
            files.extend(self._area_ids(self._new_file(
                self.course_context, "course", "overviewfiles", 0, 2, kind=2)))
            for _ in range(extra_files):
                files.extend(self._area_ids(self._new_file(
                    self.course_context, "course", "summary", 0, 2,
                    kind=self.rng.choice((1, 2)))))
        with self.xml("course/course.xml") as w, \
                w.element("course", {"id": self.course_id, "contextid": self.course_context}):
            for name, value in [
                    ("shortname", self.shortname), ("fullname", self.fullname), ("idnumber", ""),
                    ("summary", self.text.html(1, 2)), ("summaryformat", 1), ("format", "topics"),
                    ("showgrades", 1), ("newsitems", 5), ("startdate", self.start),
                    ("enddate", 0), ("marker", 0), ("maxbytes", 0), ("legacyfiles", 0),
                    ("showreports", 0), ("visible", 1), ("groupmode", 0), ("groupmodeforce", 0),
                    ("defaultgroupingid", 0), ("lang", ""), ("theme", ""),
                    ("timecreated", self.start), ("timemodified", self.now), ("requested", 0),
                    ("showactivitydates", 1), ("showcompletionconditions", 1),
                    ("enablecompletion", 1), ("completionnotify", 0)]:
                w.leaf(name, value)
            with w.element("category", {"id": 1}):
                w.leaf("name", "Miscellaneous")
                w.leaf("description", NULL)
            self.empty(w, "tags", "customfields")
            with w.element("courseformatoptions"):
                for name, value in (("hiddensections", 1), ("coursedisplay", 0)):
                    w.record("courseformatoption", {"format": "topics", "sectionid": 0,
                                                    "name": name, "value": value})
        with self.xml("course/enrolments.xml") as w, w.element("enrolments"), \
                w.element("enrols"):
            for enrol_id, method, status in ((11, "manual", 0), (12, "guest", 1), (13, "self", 1)):
                with w.element("enrol", {"id": enrol_id}):
                    w.leaf("enrol", method)
                    w.leaf("status", status)
                    w.leaf("name", NULL)
                    for name in ("enrolperiod", "enrolstartdate", "enrolenddate", "expirynotify"):
                        w.leaf(name, 0)
                    w.leaf("expirythreshold", 86400)
                    w.leaf("notifyall", 0)
                    w.leaf("password", "" if method != "manual" else NULL)
                    w.leaf("cost", NULL)
                    w.leaf("currency", NULL)
                    w.leaf("roleid", ROLE_STUDENT)
                    for prefix, count in (("customint", 8), ("customchar", 3), ("customdec", 2),
                                          ("customtext", 4)):
                        for number in range(1, count + 1):
                            w.leaf(f"{prefix}{number}", NULL)
                    w.leaf("timecreated", self.start)
                    w.leaf("timemodified", self.start)
                    with w.element("user_enrolments"):
                        if method == "manual":
                            for user in self.users:
                                w.record("enrolment", {"status": 0, "userid": user.id,
                                                       "timestart": self.start, "timeend": 0,
                                                       "modifierid": 2,
                                                       "timemodified": self.start},
                                         attrs={"id": user.id + 7000})
        self.write_context_roles("course/roles.xml", assignments=self.users)
        for name in ("filters", "comments", "calendar", "competencies", "completiondefaults",
                     "contentbank"):
            self.write_empty_common(f"course/{name}.xml", name)
        self.inforef("course/inforef.xml", users=self.user_ids(),
                     groups=[group[0] for group in self.groups], files=files,
                     roles=[ROLE_TEACHER, ROLE_STUDENT] if self.users else ())

    def write_empty_common(self, name: str, kind: str) -> None:
        with self.xml(name) as w:
            if kind == "filters":
                with w.element("filters"):
                    self.empty(w, "filter_actives", "filter_configs")
            elif kind == "comments":
                self.empty(w, "comments")
            elif kind == "calendar":
                self.empty(w, "events")
            elif kind == "competencies":
                with w.element("course_competencies"):
                    self.empty(w, "competencies", "user_competencies")
            elif kind == "module_competencies":
                with w.element("course_module_competencies"):
                    self.empty(w, "competencies")
            elif kind == "completiondefaults":
                self.empty(w, "course_completion_defaults")
            elif kind == "contentbank":
                self.empty(w, "contents")
            elif kind == "grade_history":
                with w.element("grade_history"):
                    self.empty(w, "grade_grades")
            elif kind == "completion":
                self.empty(w, "completions")
            elif kind == "grading":
                self.empty(w, "areas")
            else:  # pragma: no cover - a programming error
                raise ValueError(kind)

    def write_context_roles(self, name: str, assignments=()) -> None:
        with self.xml(name) as w, w.element("roles"):
            self.empty(w, "role_overrides")
            with w.element("role_assignments"):
                for user in assignments:
                    w.record("assignment", {"roleid": user.role, "userid": user.id,
                                            "timemodified": self.start, "modifierid": 2,
                                            "component": "", "itemid": 0, "sortorder": 0},
                             attrs={"id": user.id + 9000})

    def write_sections(self) -> None:
        for sectionid, number, title in self.sections:
            folder = f"sections/section_{sectionid}"
            sequence = ",".join(str(a.cmid) for a in self.by_section.get(sectionid, []))
            with self.xml(f"{folder}/section.xml") as w, \
                    w.element("section", {"id": sectionid}):
                w.leaf("number", number)
                w.leaf("name", title if title else NULL)
                w.leaf("summary", self.text.html(1, 2) if number else "")
                w.leaf("summaryformat", 1)
                w.leaf("sequence", sequence)
                w.leaf("visible", 1)
                w.leaf("availabilityjson", NULL)
                w.leaf("timemodified", self.start + number * 3600)
            self.inforef(f"{folder}/inforef.xml")

    def write_users(self) -> None:
        if not self.include_users:
            return
        rng = self.rng
        with self.xml("users.xml") as w, w.element("users"):
            for user in self.users:
                with w.element("user", {"id": user.id, "contextid": user.contextid}):
                    for name, value in [
                            ("username", user.username), ("idnumber", ""),
                            ("email", f"{user.username}@example.org"), ("phone1", ""),
                            ("phone2", ""), ("institution", ""), ("department", ""),
                            ("address", ""), ("city", rng.choice(["Berlin", "Lyon", "Αθήνα",
                                                                  "東京", "Москва", "Lagos",
                                                                  "São Paulo", ""])),
                            ("country", rng.choice(["DE", "FR", "GR", "JP", "RU", "NG", "BR",
                                                    ""])),
                            ("lastip", f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.1"),
                            ("picture", 0), ("description", ""), ("descriptionformat", 1),
                            ("imagealt", NULL), ("auth", "manual"), ("firstnamephonetic", ""),
                            ("lastnamephonetic", ""), ("middlename", ""), ("alternatename", ""),
                            ("firstname", user.firstname), ("lastname", user.lastname),
                            ("confirmed", 1), ("policyagreed", 0), ("deleted", 0),
                            ("lang", "en"), ("theme", ""), ("timezone", "99"),
                            ("firstaccess", self.start), ("lastaccess", self.now - 3600),
                            ("lastlogin", self.now - 86400), ("currentlogin", self.now - 3600),
                            ("mailformat", 1), ("maildigest", 0), ("maildisplay", 2),
                            ("autosubscribe", 1), ("trackforums", 0),
                            ("timecreated", self.start - 86400), ("timemodified", self.start),
                            ("trustbitmask", 0)]:
                        w.leaf(name, value)
                    self.empty(w, "custom_fields", "tags")
                    with w.element("preferences"):
                        w.record("preference", {"name": "email_bounce_count", "value": 1},
                                 attrs={"id": user.id * 10})
                    with w.element("roles"):
                        self.empty(w, "role_overrides", "role_assignments")

    def write_top_level(self) -> None:
        with self.xml("groups.xml") as w, w.element("groups"):
            for group_id, name, members in self.groups:
                with w.element("group", {"id": group_id}):
                    for leaf, value in [("name", name), ("idnumber", ""), ("description", ""),
                                        ("descriptionformat", 1), ("enrolmentkey", ""),
                                        ("picture", 0), ("timecreated", self.start),
                                        ("timemodified", self.start)]:
                        w.leaf(leaf, value)
                    with w.element("group_members"):
                        for user in members:
                            w.record("group_member", {"userid": user.id,
                                                      "timeadded": self.start,
                                                      "component": "", "itemid": 0},
                                     attrs={"id": user.id + 3000})
            self.empty(w, "groupings")
        with self.xml("roles.xml") as w, w.element("roles_definition"):
            if self.users:
                for role_id, shortname in ((ROLE_TEACHER, "editingteacher"),
                                           (ROLE_STUDENT, "student")):
                    w.record("role", {"name": "", "shortname": shortname, "nameincourse": NULL,
                                      "description": "", "sortorder": role_id,
                                      "archetype": shortname}, attrs={"id": role_id})
        self.write_questions()
        with self.xml("gradebook.xml") as w, w.element("gradebook"):
            self.empty(w, "attributes")
            with w.element("grade_categories"), w.element("grade_category", {"id": 50}):
                for leaf, value in [("parent", NULL), ("depth", 1), ("path", "/50/"),
                                    ("fullname", "?"), ("aggregation", 13), ("keephigh", 0),
                                    ("droplow", 0), ("aggregateonlygraded", 1),
                                    ("aggregateoutcomes", 0), ("timecreated", self.start),
                                    ("timemodified", self.start), ("hidden", 0)]:
                    w.leaf(leaf, value)
            with w.element("grade_items"), w.element("grade_item", {"id": 60}):
                self._grade_item_leaves(w, None, "course", NULL, 50, 1)
                self.empty(w, "grade_grades")
            self.empty(w, "grade_letters")
            with w.element("grade_settings"):
                w.record("grade_setting", {"name": "minmaxtouse", "value": 1}, attrs={"id": ""})
        with self.xml("grade_history.xml") as w, w.element("grade_history"):
            self.empty(w, "grade_grades")
        with self.xml("completion.xml") as w, w.element("course_completion"):
            for user in self.users:
                w.record("course_completions", {"userid": user.id, "course": self.course_id,
                                                "timeenrolled": self.start, "timestarted": 0,
                                                "timecompleted": NULL, "reaggregate": 0},
                         attrs={"id": user.id + 4000})
        for name, root in (("badges.xml", "badges"), ("outcomes.xml", "outcomes_definition"),
                           ("scales.xml", "scales_definition")):
            with self.xml(name) as w:
                self.empty(w, root)

    def _grade_item_leaves(self, w: XmlWriter, activity: Activity | None, itemtype: str,
                           iteminstance, categoryid, sortorder: int) -> None:
        for leaf, value in [
                ("categoryid", NULL if activity is None else categoryid),
                ("itemname", NULL if activity is None else activity.title),
                ("itemtype", itemtype),
                ("itemmodule", NULL if activity is None else activity.modname),
                ("iteminstance", categoryid if activity is None else activity.instance),
                ("itemnumber", NULL if activity is None else 0), ("iteminfo", NULL),
                ("idnumber", NULL), ("calculation", NULL), ("gradetype", 1),
                ("grademax", "100.00000"), ("grademin", "0.00000"), ("scaleid", NULL),
                ("outcomeid", NULL), ("gradepass", "0.00000"), ("multfactor", "1.00000"),
                ("plusfactor", "0.00000"), ("aggregationcoef", "0.00000"),
                ("aggregationcoef2", "0.00000"), ("weightoverride", 0),
                ("sortorder", sortorder), ("display", 0), ("decimals", NULL), ("hidden", 0),
                ("locked", 0), ("locktime", 0), ("needsupdate", 0),
                ("timecreated", self.start), ("timemodified", self.now)]:
            w.leaf(leaf, value)

    # -- activities --------------------------------------------------------------------

    def write_module(self, a: Activity) -> None:
        with self.xml(f"{a.directory}/module.xml") as w, \
                w.element("module", {"id": a.cmid, "version": MODULE_VERSIONS[a.modname]}):
            for leaf, value in [
                    ("modulename", a.modname), ("sectionid", a.sectionid),
                    ("sectionnumber", a.sectionnumber), ("idnumber", ""),
                    ("added", self.start + a.cmid), ("score", 0), ("indent", 0),
                    ("visible", 1), ("visibleoncoursepage", 1), ("visibleold", 1),
                    ("groupmode", 0), ("groupingid", 0),
                    ("completion", 2 if a.modname == "assign" else 0),
                    ("completiongradeitemnumber", NULL), ("completionpassgrade", 0),
                    ("completionview", 0), ("completionexpected", 0), ("availability", NULL),
                    ("showdescription", 0), ("downloadcontent", 1), ("lang", "")]:
                w.leaf(leaf, value)
            self.empty(w, "tags")

    def write_activity_common(self, a: Activity, *, files=(), users=(), grades=(),
                              question_categories=(), completion_writer=None) -> None:
        """The files every activity has besides module.xml and <mod>.xml; ``grades``
        are the grade_grade rows of the activity's grade item, if it has one."""
        folder = a.directory
        self.write_context_roles(f"{folder}/roles.xml")
        self.write_empty_common(f"{folder}/filters.xml", "filters")
        self.write_empty_common(f"{folder}/comments.xml", "comments")
        if self.include_users:
            if completion_writer is not None:
                completion_writer()
            else:
                self.write_empty_common(f"{folder}/completion.xml", "completion")
        self.write_empty_common(f"{folder}/calendar.xml", "calendar")
        self.write_grades(a, grades)
        if a.modname in ("forum", "assign"):
            self.write_empty_common(f"{folder}/grading.xml", "grading")
        self.write_empty_common(f"{folder}/grade_history.xml", "grade_history")
        self.write_empty_common(f"{folder}/competencies.xml", "module_competencies")
        self.inforef(f"{folder}/inforef.xml", users=users, files=files,
                     grade_items=() if a.grade_item is None else (a.grade_item,),
                     question_categories=question_categories)

    def write_grades(self, a: Activity, grades) -> None:
        """grades.xml: the activity's grade item (if any) with one grade_grade per
        (userid, grade, usermodified, timecreated, timemodified) in ``grades``."""
        with self.xml(f"{a.directory}/grades.xml") as w, w.element("activity_gradebook"):
            if a.grade_item is None:
                self.empty(w, "grade_items")
            else:
                with w.element("grade_items"), w.element("grade_item", {"id": a.grade_item}):
                    self._grade_item_leaves(w, a, "mod", a.instance, 50, a.grade_item - 59)
                    with w.element("grade_grades"):
                        for userid, grade, usermodified, created, modified in grades:
                            with w.element("grade_grade", {"id": self.ids.next("grade_grade", 1)}):
                                for leaf, value in [
                                        ("userid", userid), ("rawgrade", grade),
                                        ("rawgrademax", "100.00000"), ("rawgrademin", "0.00000"),
                                        ("rawscaleid", NULL), ("usermodified", usermodified),
                                        ("finalgrade", grade), ("hidden", 0), ("locked", 0),
                                        ("locktime", 0), ("exported", 0), ("overridden", 0),
                                        ("excluded", 0), ("feedback", NULL),
                                        ("feedbackformat", 0), ("information", NULL),
                                        ("informationformat", 0), ("timecreated", created),
                                        ("timemodified", modified),
                                        ("aggregationstatus", "used"),
                                        ("aggregationweight", "1.00000")]:
                                    w.leaf(leaf, value)
            self.empty(w, "grade_letters")

    @contextmanager
    def activity_xml(self, a: Activity) -> Iterator[XmlWriter]:
        with self.xml(f"{a.directory}/{a.modname}.xml") as w, \
                w.element("activity", {"id": a.instance, "moduleid": a.cmid,
                                       "modulename": a.modname, "contextid": a.contextid}):
            yield w

    def _intro(self) -> str:
        return self.text.html(1, 3) if self.rng.random() < 0.7 else ""

    def write_page(self, a: Activity) -> None:
        files = []
        content = self.text.html(3, 12)
        if self.include_files and self.rng.random() < 0.4:
            record = self._new_file(a.contextid, "mod_page", "content", 0, 2, kind=1)
            files.extend(self._area_ids(record))
            content += (f'<p><img src="@@PLUGINFILE@@/{record.filename}" alt="'
                        f'{self.text.words(3, "en")}" width="640" height="480"></p>')
        self.write_module(a)
        with self.activity_xml(a) as w, w.element("page", {"id": a.instance}):
            for leaf, value in [("name", a.title), ("intro", self._intro()), ("introformat", 1),
                                ("content", content), ("contentformat", 1), ("legacyfiles", 0),
                                ("legacyfileslast", NULL), ("display", 5),
                                ("displayoptions", ('a:2:{s:10:"printintro";s:1:"0";'
                                                    's:17:"printlastmodified";s:1:"1";}')),
                                ("revision", 1), ("timemodified", self.start + a.cmid)]:
                w.leaf(leaf, value)
        self.write_activity_common(a, files=files)

    def write_label(self, a: Activity) -> None:
        self.write_module(a)
        with self.activity_xml(a) as w, w.element("label", {"id": a.instance}):
            intro = self.text.html(1, 2)
            w.leaf("name", a.title)
            w.leaf("intro", intro)
            w.leaf("introformat", 1)
            w.leaf("timemodified", self.start + a.cmid)
        self.write_activity_common(a)

    def write_url(self, a: Activity) -> None:
        self.write_module(a)
        with self.activity_xml(a) as w, w.element("url", {"id": a.instance}):
            for leaf, value in [("name", a.title), ("intro", self._intro()), ("introformat", 1),
                                ("externalurl", self.text.url()), ("display", 0),
                                ("displayoptions", 'a:1:{s:10:"printintro";i:1;}'),
                                ("parameters", "a:0:{}"), ("timemodified", self.start + a.cmid)]:
                w.leaf(leaf, value)
        self.write_activity_common(a)

    def write_resource(self, a: Activity) -> None:
        files = []
        if self.include_files:
            files.extend(self._area_ids(
                self._new_file(a.contextid, "mod_resource", "content", 0, 2)))
        self.write_module(a)
        with self.activity_xml(a) as w, w.element("resource", {"id": a.instance}):
            for leaf, value in [("name", a.title), ("intro", self._intro()), ("introformat", 1),
                                ("tobemigrated", 0), ("legacyfiles", 0),
                                ("legacyfileslast", NULL), ("display", 0),
                                ("displayoptions", 'a:1:{s:10:"printintro";i:1;}'),
                                ("filterfiles", 0), ("revision", 1),
                                ("timemodified", self.start + a.cmid)]:
                w.leaf(leaf, value)
        self.write_activity_common(a, files=files)

    def write_folder(self, a: Activity, count: int) -> None:
        files = []
        if self.include_files:
            subfolders = ["/", "/", f"/{self.text.words(1, 'en')}/"]
            for number in range(count):
                files.extend(self._area_ids(self._new_file(
                    a.contextid, "mod_folder", "content", 0, 2,
                    filepath=self.rng.choice(subfolders))))
        self.write_module(a)
        with self.activity_xml(a) as w, w.element("folder", {"id": a.instance}):
            for leaf, value in [("name", a.title), ("intro", self._intro()), ("introformat", 1),
                                ("revision", 1), ("timemodified", self.start + a.cmid),
                                ("display", 0), ("showexpanded", 1), ("showdownloadfolder", 1),
                                ("forcedownload", 1)]:
                w.leaf(leaf, value)
        self.write_activity_common(a, files=files)

    def write_assign(self, a: Activity) -> None:
        rng = self.rng
        a.grade_item = self.ids.next("grade_item", 61)
        duedate = self.start + rng.randint(20, 100) * 86400
        files: list[int] = []
        used: set[int] = set()
        submissions = []  # (submission id, user, status, time)
        if self.include_users:
            for user in self.students:
                status = rng.choices(["submitted", "new", "draft"], weights=[7, 2, 1])[0]
                sub_id = self.ids.next("submission", 1)
                submissions.append((sub_id, user, status, duedate - rng.randint(0, 10 * 86400)))
                used.add(user.id)
                if status == "submitted" and self.include_files and rng.random() < 0.5:
                    files.extend(self._area_ids(self._new_file(
                        a.contextid, "assignsubmission_file", "submission_files", sub_id,
                        user.id)))
        teacher = self.teacher_id
        if submissions:
            used.add(teacher)
        graded = [(sub, rng.randint(40, 100)) for sub in submissions if sub[2] == "submitted"]
        self.write_module(a)
        with self.activity_xml(a) as w, w.element("assign", {"id": a.instance}):
            for leaf, value in [
                    ("name", a.title), ("intro", self.text.html(1, 3)), ("introformat", 1),
                    ("alwaysshowdescription", 1), ("submissiondrafts", 0),
                    ("sendnotifications", 0), ("sendlatenotifications", 0),
                    ("sendstudentnotifications", 1), ("duedate", duedate), ("cutoffdate", 0),
                    ("gradingduedate", duedate + 7 * 86400),
                    ("allowsubmissionsfromdate", duedate - 14 * 86400), ("grade", 100),
                    ("timemodified", self.start + a.cmid), ("completionsubmit", 1),
                    ("requiresubmissionstatement", 0), ("teamsubmission", 0),
                    ("requireallteammemberssubmit", 0), ("teamsubmissiongroupingid", 0),
                    ("blindmarking", 0), ("hidegrader", 0), ("revealidentities", 0),
                    ("attemptreopenmethod", "none"), ("maxattempts", -1),
                    ("markingworkflow", 0), ("markingallocation", 0),
                    ("preventsubmissionnotingroup", 0), ("activity", NULL),
                    ("activityformat", 0), ("timelimit", 0), ("submissionattachments", 0)]:
                w.leaf(leaf, value)
            with w.element("userflags"):
                pass
            with w.element("submissions"):
                for sub_id, user, status, when in submissions:
                    self.stats["submissions"] += 1
                    with w.element("submission", {"id": sub_id}):
                        for leaf, value in [("userid", user.id), ("timecreated", when - 600),
                                            ("timemodified", when), ("timestarted", NULL),
                                            ("status", status), ("groupid", 0),
                                            ("attemptnumber", 0), ("latest", 1)]:
                            w.leaf(leaf, value)
                        self.empty(w, "subplugin_assignsubmission_file_submission")
                        with w.element("subplugin_assignsubmission_onlinetext_submission"):
                            if status != "new":
                                w.record("submission_onlinetext",
                                         {"onlinetext": self.text.html(1, 6), "onlineformat": 1,
                                          "submission": sub_id})
            with w.element("grades"):
                for (sub_id, user, _, when), mark in graded:
                    grade_id = self.ids.next("assign_grade", 1)
                    with w.element("grade", {"id": grade_id}):
                        for leaf, value in [("userid", user.id), ("timecreated", when + 3600),
                                            ("timemodified", when + 7200), ("grader", teacher),
                                            ("grade", f"{mark}.00000"), ("attemptnumber", 0)]:
                            w.leaf(leaf, value)
                        with w.element("subplugin_assignfeedback_comments_grade"):
                            w.record("feedback_comments", {"commenttext": self.text.html(1, 2),
                                                           "commentformat": 1,
                                                           "grade": grade_id})
                        with w.element("subplugin_assignfeedback_editpdf_grade"):
                            w.record("feedback_editpdf_files", {"gradeid": grade_id})
                            self.empty(w, "feedback_editpdf_annotations",
                                       "feedback_editpdf_comments", "feedback_editpdf_rotation")
                        self.empty(w, "subplugin_assignfeedback_file_grade")
            with w.element("plugin_configs"):
                for plugin, subtype, name, value in [
                        ("onlinetext", "assignsubmission", "enabled", 1),
                        ("file", "assignsubmission", "enabled", 1),
                        ("file", "assignsubmission", "maxfilesubmissions", 20),
                        ("file", "assignsubmission", "maxsubmissionsizebytes", 0),
                        ("comments", "assignsubmission", "enabled", 1),
                        ("comments", "assignfeedback", "enabled", 1),
                        ("editpdf", "assignfeedback", "enabled", 1),
                        ("file", "assignfeedback", "enabled", 0)]:
                    w.record("plugin_config", {"plugin": plugin, "subtype": subtype,
                                               "name": name, "value": value},
                             attrs={"id": self.ids.next("plugin_config", 1)})
            self.empty(w, "overrides")

        def completion() -> None:
            with self.xml(f"{a.directory}/completion.xml") as w, w.element("completions"):
                for sub_id, user, status, when in submissions:
                    if status == "submitted":
                        w.record("completion", {"userid": user.id, "completionstate": 1,
                                                "viewed": 0, "timemodified": when},
                                 attrs={"id": sub_id})

        grades = [(user.id, f"{mark}.00000", teacher, when + 3600, when + 7200)
                  for (_, user, _, when), mark in graded]
        self.write_activity_common(a, files=files, users=used, grades=grades,
                                   completion_writer=completion)

    def write_forum(self, a: Activity, attach_rate: float) -> None:
        """A forum, discussions until its budget is used; every other general forum
        is assessed (posts rated on a point scale, each author's average in the
        forum's grade item), and with users general forums have subscribers."""
        files: list[int] = []
        used: set[int] = set()
        is_news = a.sectionnumber == 0 and a.title == "Announcements"
        subscribers: list[User] = []
        if not is_news:  # the news forum subscribes everyone by force: no rows
            if a.instance % 2 == 0:  # every other general forum, the first one included
                a.rating_scale = FORUM_RATING_SCALE
                a.grade_item = self.ids.next("grade_item", 61)  # the ratings' average
            subscribers = [user for user in self.users
                           if user.role == ROLE_TEACHER or self.rng.random() < SUBSCRIBER_SHARE]
            used.update(user.id for user in subscribers)
        self.write_module(a)
        start_estimate = self.meter.estimate()
        with self.activity_xml(a) as w, w.element("forum", {"id": a.instance}):
            spool = self._current_stream
            for leaf, value in [
                    ("type", "news" if is_news else "general"), ("name", a.title),
                    ("intro", self.text.html(1, 2) if not is_news
                     else "General news and announcements"),
                    ("introformat", 1), ("duedate", 0), ("cutoffdate", 0),
                    ("assessed", 1 if a.rating_scale else 0), ("assesstimestart", 0),
                    ("assesstimefinish", 0), ("scale", a.rating_scale),
                    ("maxbytes", 0), ("maxattachments", 9), ("forcesubscribe", 1 if is_news else 0),
                    ("trackingtype", 1), ("rsstype", 0), ("rssarticles", 0),
                    ("timemodified", self.start + a.cmid), ("warnafter", 0), ("blockafter", 0),
                    ("blockperiod", 0), ("completiondiscussions", 0), ("completionreplies", 0),
                    ("completionposts", 0), ("displaywordcount", 0), ("lockdiscussionafter", 0),
                    ("grade_forum", 0)]:
                w.leaf(leaf, value)
            with w.element("discussions"):
                if self.users:
                    authors = [self.users[0]] if is_news else self.users
                    while self.meter.estimate() - start_estimate < a.budget:
                        self._discussion(w, spool, a, authors, used, files, attach_rate)
            with w.element("subscriptions"):
                for user in subscribers:
                    w.record("subscription", {"userid": user.id},
                             attrs={"id": self.ids.next("forum_subscription", 1)})
            self.empty(w, "digests", "readposts", "trackedprefs", "poststags", "grades")
        teacher = self.teacher_id
        grades = [(author, f"{total / count:.5f}", teacher, last, last)
                  for author, (total, count, last) in sorted(a.ratings_received.items())]
        self.write_activity_common(a, files=files, users=used, grades=grades)

    def _discussion(self, w: XmlWriter, stream, a: Activity, authors: list[User],
                    used: set[int], files: list[int], attach_rate: float) -> None:
        """One discussion with its posts. The hot path of large courses, so it is
        rendered by a template that gives exactly the bytes XmlWriter would give
        (``tests/test_synth.py`` holds them to it) and written past the writer."""
        discussion = self._draw_discussion(a, authors, used, files, attach_rate)
        w.flush()
        stream.write(render_discussion(discussion, self.text).encode("utf-8"))

    def _draw_discussion(self, a: Activity, authors: list[User], used: set[int],
                         files: list[int], attach_rate: float) -> dict[str, Any]:
        """Everything random about one discussion, drawn in a fixed order."""
        rng = self.rng
        discussion_id = self.ids.next("discussion", 1)
        first_post = self.ids.counters.get("post", 0) + 1
        replies = 0 if len(authors) == 1 else min(int(rng.expovariate(1 / 5)), 200)
        opener = rng.choice(authors)
        when = self.start + rng.randint(0, 100 * 86400)
        subject = self.text.title(2, 8)
        self.stats["discussions"] += 1
        posts = []
        post_ids: list[int] = []
        for number in range(replies + 1):
            post_id = self.ids.next("post", 1)
            author = opener if number == 0 else rng.choice(authors)
            used.add(author.id)
            parent = 0 if number == 0 else rng.choice(post_ids[-4:])
            post_ids.append(post_id)
            attachment = ""
            if self.include_files and rng.random() < attach_rate:
                files.extend(self._area_ids(self._new_file(
                    a.contextid, "mod_forum", "attachment", post_id, author.id)))
                attachment = "1"
            created = when + number * 3600
            ratings = ()
            if a.rating_scale and rng.random() < RATED_POST_SHARE:
                ratings = self._draw_ratings(a, author, authors, created, used)
            self.stats["posts"] += 1
            posts.append((post_id, parent, author.id, created,
                          subject if number == 0 else f"Re: {subject}",
                          self.text.html_pieces(), attachment, ratings))
        return {"id": discussion_id, "name": subject, "firstpost": first_post,
                "userid": opener.id, "timemodified": when + replies * 3600,
                "scale": a.rating_scale, "posts": posts}

    def _draw_ratings(self, a: Activity, author: User, authors: list[User], created: int,
                      used: set[int]) -> tuple[tuple[int, int, int, int], ...]:
        """Up to three ratings of a post, (id, value, rater, time), by distinct raters
        other than its author."""
        rng = self.rng
        ratings: list[tuple[int, int, int, int]] = []
        raters = {author.id}
        for _ in range(rng.randint(1, 3)):
            rater = rng.choice(authors)
            if rater.id in raters:
                continue
            raters.add(rater.id)
            used.add(rater.id)
            value = rng.randint(a.rating_scale // 2, a.rating_scale)
            when = created + rng.randint(600, 3 * 86400)
            ratings.append((self.ids.next("rating", 1), value, rater.id, when))
            received = a.ratings_received.setdefault(author.id, [0, 0, 0])
            received[0] += value
            received[1] += 1
            received[2] = max(received[2], when)
        self.stats["ratings"] += len(ratings)
        return tuple(ratings)

    @staticmethod
    def discussion_fields(d: dict[str, Any]) -> list[tuple[str, Any]]:
        return [("name", d["name"]), ("firstpost", d["firstpost"]), ("userid", d["userid"]),
                ("groupid", -1), ("assessed", 0), ("timemodified", d["timemodified"]),
                ("usermodified", d["userid"]), ("timestart", 0), ("timeend", 0), ("pinned", 0)]

    @staticmethod
    def post_fields(post: tuple, message: str) -> list[tuple[str, Any]]:
        """Leaves of a drawn post: (id, parent, userid, created, subject, message
        pieces, attachment, ratings)."""
        _, parent, userid, created, subject, _, attachment, _ = post
        return [("parent", parent), ("userid", userid), ("created", created),
                ("modified", created), ("mailed", 1), ("subject", subject),
                ("message", message), ("messageformat", 1), ("messagetrust", 0),
                ("attachment", attachment), ("totalscore", 0), ("mailnow", 0)]

    @staticmethod
    def rating_fields(rating: tuple[int, int, int, int], scale: int) -> list[tuple[str, Any]]:
        """Leaves of a drawn rating (id, value, userid, time)."""
        _, value, userid, when = rating
        return [("component", "mod_forum"), ("ratingarea", "post"), ("scaleid", scale),
                ("value", value), ("userid", userid), ("timecreated", when),
                ("timemodified", when)]

    def write_discussion_with_writer(self, w: XmlWriter, d: dict[str, Any]) -> None:
        """The reference rendering of a drawn discussion, through XmlWriter."""
        with w.element("discussion", {"id": d["id"]}):
            for leaf, value in self.discussion_fields(d):
                w.leaf(leaf, value)
            with w.element("posts"):
                for post in d["posts"]:
                    with w.element("post", {"id": post[0]}):
                        for leaf, value in self.post_fields(post, self.text.html_text(post[5])):
                            w.leaf(leaf, value)
                        with w.element("ratings"):
                            for rating in post[7]:
                                w.record("rating", dict(self.rating_fields(rating, d["scale"])),
                                         attrs={"id": rating[0]})
            self.empty(w, "discussion_subs")

    # -- blobs and files.xml -----------------------------------------------------------

    def _calibrate(self) -> tuple[float, float]:
        """(compressed bytes per files.xml record + blob header + index line,
        compressed/raw ratio of incompressible data) for this engine."""
        rng = random.Random(self.seed + 17)
        meter = _Meter(self.compressor, self.level)
        sample = 64
        for number in range(sample):
            digest = "%040x" % rng.getrandbits(160)
            name = f"files/{digest[:2]}/{digest}"
            meter.feed(ustar_header(name, 123456, self.now, False))
            meter.feed(f"{name}\tf\t123456\t{self.now}\n".encode())
            record = FileRecord(40000 + number, self.course_context + 100 + number, "mod_folder",
                                "content", 0, f"{self.text.words(2, 'en')}.pdf", 2,
                                "application/pdf", b"", 1.0, self.now, size=123456,
                                contenthash=digest)
            buffer = _Collect()
            writer = XmlWriter(buffer)
            self._file_record(writer, record)
            meter.feed(b"".join(buffer.parts))
        per_file = meter.finish() / sample
        probe = _Meter(self.compressor, self.level)
        block = random.Random(self.seed + 23).randbytes(1 << 20)
        for _ in range(4):
            probe.feed(block[: 1 << 19])
            probe.feed(random.Random(self.seed).randbytes(1 << 19))
        ratio = probe.finish() / probe.raw
        return per_file, max(1.0, ratio)

    def _file_record(self, w: XmlWriter, r: FileRecord, directory: bool = False) -> None:
        with w.element("file", {"id": r.id}):
            for leaf, value in [
                    ("contenthash", r.contenthash), ("contextid", r.contextid),
                    ("component", r.component), ("filearea", r.filearea), ("itemid", r.itemid),
                    ("filepath", r.filepath), ("filename", "." if directory else r.filename),
                    ("userid", r.userid if r.userid is not None else NULL),
                    ("filesize", 0 if directory else r.size),
                    ("mimetype", NULL if directory else r.mimetype), ("status", 0),
                    ("timecreated", r.timecreated), ("timemodified", r.timecreated),
                    ("source", NULL if directory else r.filename),
                    ("author", NULL if directory else r.author),
                    ("license", NULL if directory else "allrightsreserved"),
                    ("sortorder", 0), ("repositorytype", NULL), ("repositoryid", NULL),
                    ("reference", NULL)]:
                w.leaf(leaf, value)

    def write_blobs(self, budget: int, ratio: float) -> None:
        """Sizes every planned file so the blobs cost ``budget`` compressed bytes, then
        writes them (content cut from a seeded random pool, a format's magic in front)."""
        blobs = [record for record in self.files if not record.directory]
        if not blobs:
            return
        rng = random.Random(self.seed * 31 + 5)
        weights = [math.exp(rng.gauss(0.0, 1.6)) * record.factor for record in blobs]
        raw_budget = max(0, int(budget / ratio))
        minimum = max(64, min(4096, raw_budget // (8 * len(blobs))))
        total_weight = sum(weights)
        spare = max(0, raw_budget - minimum * len(blobs))
        sizes = [minimum + int(spare * weight / total_weight) for weight in weights]
        # the rounding remainder goes to the largest file, so the total is exact
        largest = max(range(len(sizes)), key=sizes.__getitem__)
        sizes[largest] += max(0, raw_budget - sum(sizes))
        pool_rng = random.Random(self.seed * 131 + 7)
        pool = pool_rng.randbytes(_POOL_BLOCK * _POOL_BLOCKS)
        assert self.archive is not None
        for record, size in zip(blobs, sizes):
            head = (record.magic + f"mbx-synth {self.seed} file {record.id}\n".encode())[:size]
            # two passes over the same seeded pieces: hash (the name), then write
            state = pool_rng.getstate()
            digest = hashlib.sha1()
            for piece in _blob_pieces(head, size, pool, pool_rng):
                digest.update(piece)
            record.size = size
            record.contenthash = digest.hexdigest()
            name = f"files/{record.contenthash[:2]}/{record.contenthash}"
            if name in self.archive:  # identical content is stored once, as Moodle does
                continue
            pool_rng.setstate(state)
            with self.archive.open(name) as stream:
                for piece in _blob_pieces(head, size, pool, pool_rng):
                    stream.write(piece)
            self.stats["blob_bytes"] += size
        self.stats["files"] = len(blobs)

    def write_files_xml(self) -> None:
        with self.xml("files.xml") as w, w.element("files"):
            for record in self.files:
                self._file_record(w, record, directory=record.directory)

    # -- the whole run -----------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        self.plan()
        per_file, ratio = self._calibrate()
        directory = os.path.dirname(os.path.abspath(self.out_path))
        self.archive = ArchiveWriter(self.out_path, self.format, mtime=self.now,
                                     compressor=self.compressor, level=self.level,
                                     spool_dir=directory)
        try:
            self._write_all(per_file, ratio)
            packing = time.perf_counter()
            self.archive.close(progress=self.progress)
        except BaseException:
            self.archive.abort()
            raise
        elapsed = time.perf_counter() - started
        size = os.path.getsize(self.out_path)
        counts: dict[str, int] = {}
        for a in self.activities:
            counts[a.modname] = counts.get(a.modname, 0) + 1
        return {
            "path": self.out_path, "format": self.format, "seed": self.seed,
            "target": self.target, "size": size,
            "size_error": (size - self.target) / self.target if self.target else 0.0,
            "size_ok": abs(size - self.target) <= 0.05 * self.target,
            "compressor": self.compressor,
            "members": len(self.archive.sizes),
            "uncompressed": self.archive.bytes_in,
            "sections": len(self.sections), "users": len(self.users), "activities": counts,
            **self.stats,
            "seconds": round(elapsed, 3), "pack_seconds": round(time.perf_counter() - packing, 3),
            "mb_per_s": round(size / (1 << 20) / elapsed, 1) if elapsed else 0.0,
        }

    def _write_all(self, per_file: float, ratio: float) -> None:
        self.write_sections()
        forums = [a for a in self.activities if a.modname == "forum"]
        folders = [a for a in self.activities if a.modname == "folder"]
        structural = sum(1 for a in self.activities if a.modname == "resource")
        structural += int(0.4 * sum(1 for a in self.activities if a.modname == "page"))
        structural += int(0.35 * len(self.students)
                          * sum(1 for a in self.activities if a.modname == "assign"))
        spare_files = max(0, self.blob_target - structural)
        folder_counts = [1] * len(folders)
        for _ in range(spare_files // 2 if forums else spare_files):
            if folders:
                folder_counts[self.rng.randrange(len(folders))] += 1
        for a in self.activities:
            if a.modname == "page":
                self.write_page(a)
            elif a.modname == "label":
                self.write_label(a)
            elif a.modname == "url":
                self.write_url(a)
            elif a.modname == "resource":
                self.write_resource(a)
            elif a.modname == "folder":
                self.write_folder(a, folder_counts[folders.index(a)])
            elif a.modname == "assign":
                self.write_assign(a)
            elif a.modname == "quiz":
                self.write_quiz(a)
        self.write_course(spare_files if not folders and not forums else 0)
        self.write_users()
        self.write_top_level()
        self.write_moodle_backup()
        self.text_member("moodle_backup.log", self._log())
        # forums take what is left of the XML share
        fixed = self.meter.estimate()
        if self.include_files:
            xml_budget = self.target * self.xml_share - fixed
        else:
            xml_budget = self.target - fixed - 2048
        xml_budget = max(0.0, xml_budget)
        if forums:
            weights = [0.2] + [math.exp(self.rng.gauss(0, 0.8)) for _ in forums[1:]]
            total = sum(weights)
            for a, weight in zip(forums, weights):
                a.budget = xml_budget * weight / total
            expected_posts = max(1.0, xml_budget / 900)
            attach_rate = min(0.5, (spare_files - spare_files // 2) / expected_posts)
            for a in forums:
                self.write_forum(a, attach_rate)
        # blobs fill the rest of the target
        xml_cost = self.meter.finish()
        files_estimate = per_file * len(self.files) + 200
        directories = len({os.path.dirname(name) for name in self.archive.sizes}) + 300
        blob_budget = self.target - xml_cost - files_estimate - directories * 40 - 1024
        self.write_blobs(int(blob_budget), ratio)
        self.write_files_xml()

    def _log(self) -> bytes:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.now))
        lines = [f"[{stamp}] INFO >>> backup prechecks",
                 f"[{stamp}] INFO setting up course backup of {self.shortname}"]
        lines += [f"[{stamp}] DEBUG >> saving {a.modname} {a.cmid}" for a in self.activities]
        lines.append(f"[{stamp}] INFO backup completed")
        return ("\n".join(lines) + "\n").encode("utf-8")


def _blob_pieces(head: bytes, size: int, pool: bytes, rng: random.Random) -> Iterator[bytes]:
    """The content of one blob, in pieces: ``head``, then slices of the random pool at
    seeded offsets (far more than a deflate window apart, so it does not compress)."""
    yield head
    remaining = size - len(head)
    limit = len(pool) - _POOL_BLOCK
    while remaining > 0:
        start = rng.randrange(0, limit)
        piece = pool[start:start + min(remaining, _POOL_BLOCK)]
        remaining -= len(piece)
        yield piece


def render_discussion(d: dict[str, Any], text: TextPool) -> str:
    """A drawn discussion as XmlWriter writes it at depth 3 (inside
    ``activity/forum/discussions``)."""
    i3, i4, i5, i6, i7, i8 = ("\n" + "  " * depth for depth in range(3, 9))
    parts = [f'{i3}<discussion id="{d["id"]}">']
    for leaf, value in CourseSynthesizer.discussion_fields(d):
        parts.append(f"{i4}<{leaf}>{xml_text(value)}</{leaf}>")
    parts.append(f"{i4}<posts>")
    for post in d["posts"]:
        parts.append(f'{i5}<post id="{post[0]}">')
        for leaf, value in CourseSynthesizer.post_fields(post, text.html_escaped(post[5])):
            if leaf != "message":
                value = xml_text(value)
            parts.append(f"{i6}<{leaf}>{value}</{leaf}>")
        parts.append(f"{i6}<ratings>")
        for rating in post[7]:
            parts.append(f'{i7}<rating id="{rating[0]}">')
            for leaf, value in CourseSynthesizer.rating_fields(rating, d["scale"]):
                parts.append(f"{i8}<{leaf}>{value}</{leaf}>")  # numbers, fixed names
            parts.append(f"{i7}</rating>")
        parts.append(f"{i6}</ratings>{i5}</post>")
    parts.append(f"{i4}</posts>{i4}<discussion_subs>{i4}</discussion_subs>{i3}</discussion>")
    return "".join(parts)


class _Collect:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(data)
        return len(data)


def synthesize(out_path: str | os.PathLike, *, size: int | str = "100M", seed: int = 1,
               users: int | None = None, sections: int | None = None,
               activities: dict[str, int] | None = None, include_users: bool = True,
               include_files: bool = True, format: str = "tgz",
               progress: Callable[[MemberInfo], None] | None = None,
               compressor: str | None = None, level: int | None = None,
               xml_share: float = 0.15) -> dict[str, Any]:
    """Writes a realistic Moodle 4.5 course backup of about ``size`` bytes to ``out_path``.

    ``size`` is the archive's compressed size (``"100M"``, ``"1G"`` or bytes);
    the result lands within a few percent of it unless the requested structure
    alone is bigger. The same arguments give a byte-identical archive.
    ``users`` (teacher included), ``sections`` (section 0 included) and
    ``activities`` (module -> count; forum, page, label, url, resource, folder,
    assign, quiz) default to values that grow with ``size``. Forum posts take
    ``xml_share`` of the size, file blobs the rest. ``progress`` is called with
    each member as it is packed. Returns what was written: counts, sizes,
    timings and ``mb_per_s`` (compressed output per second).
    """
    target = parse_size(size)
    if target < 64 * 1024:
        raise ValueError("size must be at least 64K")
    if format not in ("tgz", "zip"):
        raise ValueError(f"format must be 'tgz' or 'zip', not {format!r}")
    megabytes = target / (1 << 20)
    if users is None:
        users = max(5, min(2000, int(10 + 4 * math.sqrt(megabytes))))
    if sections is None:
        sections = max(2, min(30, int(4 + math.sqrt(megabytes))))
    if activities is None:
        scale = max(0.1, min(4.0, math.sqrt(megabytes) / 10))
        activities = {name: max(1, round(count * scale))
                      for name, count in DEFAULT_ACTIVITIES.items()}
    return CourseSynthesizer(
        os.fspath(out_path), target=target, seed=seed, users=users, sections=sections,
        activities=dict(activities), include_users=include_users, include_files=include_files,
        format=format, progress=progress, compressor=compressor, level=level,
        xml_share=xml_share).run()
