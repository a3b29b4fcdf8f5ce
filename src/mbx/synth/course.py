"""The synthetic course: plan, course-level members, sized to a target.

How the size target is met (the target is the archive's compressed size):
every XML member is written through a *meter* (:mod:`mbx.synth.meter`), a
second deflate stream of the same engine and level as the archive's, fed with
each member's tar header, data and padding, so the compressed cost of the XML
is known as it is written, without holding anything. Members are written in
this order:

1. everything except the activities that fill the XML share (forums' posts)
   and the file blobs (course, sections, the other activities, quizzes and
   their questions, users, groups, gradebook, moodle_backup.xml ...);
2. the filling activities (forums), discussion by discussion, until the XML
   has used its share of the target (``xml_share``; all of it with
   ``include_files=False``);
3. the blobs (:mod:`mbx.synth.files`), whose sizes are drawn (many small, few
   large) and then scaled so that what is left of the target is filled; blob
   content is incompressible, so its cost is its size (times the engine's
   measured overhead for stored blocks);
4. ``files.xml``, whose cost was estimated per record beforehand.

Activities are written by per-module writers (:mod:`mbx.synth.modules`); this
module writes what belongs to the course. Memory: the plan (users, activities,
file records, quiz questions) is kept, posts are not.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from mbx.archive.base import MemberInfo
from mbx.archive.writer import ArchiveWriter, default_compressor, ustar_header
from mbx.synth.files import JPEG, PNG, Files
from mbx.synth.meter import Meter, MeteredStream
from mbx.synth.modules import MODULES
from mbx.synth.plan import NULL, ROLE_STUDENT, ROLE_TEACHER, WEEK, Activity, History, Ids, User
from mbx.synth.questions import Question, category_ids, write_questions
from mbx.synth.text import TextPool
from mbx.progress import Monitor, as_monitor
from mbx.units import parse_size
from mbx.xml import XmlWriter

__all__ = ["synthesize", "parse_size", "DEFAULT_ACTIVITIES", "SUPPORTED"]

MOODLE_VERSION = "2024100700"
MOODLE_RELEASE = "4.5 (Build: 20241007)"
BACKUP_RELEASE = "4.5"
TERM_BEFORE = 6 * WEEK  # how long a history's term has run at its first backup
#: a history adds an activity every ADDED_EVERY weeks, of these modules in turn
ADDED_EVERY = 4
ADDED_MODULES = ("page", "assign", "quiz", "url", "forum", "resource")
DEFAULT_ACTIVITIES = {"forum": 30, "page": 20, "label": 10, "url": 10, "resource": 15,
                      "folder": 5, "assign": 10, "quiz": 5}
#: the modules synth can write, in planning order
SUPPORTED = tuple(MODULES)
#: kind -> (root element, its empty wrappers) of the members written empty
EMPTY_MEMBERS = {
    "filters": ("filters", ("filter_actives", "filter_configs")),
    "comments": ("comments", ()),
    "calendar": ("events", ()),
    "competencies": ("course_competencies", ("competencies", "user_competencies")),
    "module_competencies": ("course_module_competencies", ("competencies",)),
    "completiondefaults": ("course_completion_defaults", ()),
    "contentbank": ("contents", ()),
    "grade_history": ("grade_history", ("grade_grades",)),
}


# -- the generator -------------------------------------------------------------------------

class CourseSynthesizer:
    """Writes one synthetic course backup; see :func:`synthesize`."""

    def __init__(self, out_path: str, *, target: int, seed: int, users: int, sections: int,
                 activities: dict[str, int], include_users: bool, include_files: bool,
                 format: str, progress: Monitor | Callable[[MemberInfo], None] | None,
                 compressor: str | None, level: int | None, xml_share: float,
                 history: History | None = None) -> None:
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
        self.monitor = as_monitor(progress)
        self.compressor = compressor or default_compressor()
        self.level = level
        self.xml_share = xml_share if include_files else 1.0
        self.rng = random.Random(seed)
        self.text = TextPool(random.Random(seed * 7919 + 1))
        self.ids = Ids()
        self.now = 1730000000 + (seed % 1000) * 86400
        self.start = self.now - 120 * 86400
        #: the seconds from the start activity dates are drawn over; a history's
        #: version is written as of ``cutoff`` (None: everything planned is there)
        self.span = 100 * 86400
        self.cutoff: int | None = None
        self.history = history
        if history is not None:  # the term began TERM_BEFORE before the first backup
            self.start = self.now - TERM_BEFORE
            self.term_end = self.now + (history.versions - 1) * WEEK
            self.span = self.term_end - self.start
            self.now += history.week * WEEK
            self.cutoff = self.now
        self.course_id = 10 + seed % 90
        self.course_context = 1000 + seed % 100
        self.n_users = users if include_users else 0
        self.n_sections = max(1, sections)
        self.requested = {name: count for name, count in activities.items() if count > 0}
        self.files = Files(self)
        self.questions: list[Question] = []
        self.meter = Meter(self.compressor, level)
        self.current_stream: MeteredStream | None = None  # the XML member being written
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
        placed = [(modname, number, 0) for modname, number in placed]
        if self.history is not None:
            placed += self._added_activities(order)
        for modname, number, appears in placed:
            cmid = self.ids.next("cmid", 1000)
            instance = self.ids.next(f"instance_{modname}", 1)
            title = ("Announcements" if modname == "forum" and not self.activities
                     else self.text.title())
            activity = Activity(cmid, instance, modname, 300 + number, number, title,
                                self.course_context + 100 + len(self.activities),
                                appears=appears, ordinal=len(self.activities))
            activity.directory = f"activities/{modname}_{cmid}"
            self.activities.append(activity)
        #: every activity of the plan; ``activities``: those in this version
        self.planned = self.activities
        if self.history is not None:
            self.activities = sorted((a for a in self.planned if a.appears <= self.now),
                                     key=lambda a: a.sectionnumber)
        self.by_section: dict[int, list[Activity]] = {}
        for activity in self.activities:
            self.by_section.setdefault(activity.sectionid, []).append(activity)
        # how many blobs: grows with the square root of the target
        self.blob_target = max(4, min(20000, int(math.sqrt(self.target / (1 << 20)) * 25)))
        if not self.include_files:
            self.blob_target = 0

    def _added_activities(self, order: list[str]) -> list[tuple[str, int, int]]:
        """A history's activities added during the term: one every ``ADDED_EVERY``
        weeks, of the requested modules in turn, in a week's section, added three
        days before that week's backup."""
        modules = [name for name in ADDED_MODULES if name in order]
        if not modules:
            return []
        added = []
        for week in range(ADDED_EVERY, self.history.versions, ADDED_EVERY):
            modname = modules[(week // ADDED_EVERY - 1) % len(modules)]
            number = 1 + (week // ADDED_EVERY - 1) % (self.n_sections - 1) \
                if self.n_sections > 1 else 0
            added.append((modname, number, self.term_end - (self.history.versions - 1 - week)
                          * WEEK - 3 * 86400))
        return added

    def before_backup(self, week: int, days: int = 1) -> int:
        """In a history, ``days`` before the backup of version ``week`` (0 first)."""
        return self.term_end - (self.history.versions - 1 - week) * WEEK - days * 86400

    def edits(self, a: Activity) -> list[int]:
        """In a history, when page ``a`` was edited up to this version: each week
        after the first, the teacher edits one page of those there from the start."""
        if self.history is None or a.appears:
            return []
        pages = [page.cmid for page in self.planned if page.modname == "page" and not page.appears]
        return [self.before_backup(week, 2) for week in range(1, self.history.week + 1)
                if pages[random.Random(self.seed * 100_003 + week).randrange(len(pages))]
                == a.cmid]

    @contextmanager
    def isolated(self, a: Activity) -> Iterator[None]:
        """In a history, activity ``a`` drawn from its own random streams and ids, so
        that it is written the same in every version it has not changed in, whatever
        the others hold; outside a history, nothing changes."""
        if self.history is None:
            yield
            return
        saved = self.rng, self.text.rng, self.ids
        self.rng = random.Random(self.seed * 1_000_003 + a.cmid)
        self.text.rng = random.Random(self.seed * 1_000_033 + a.cmid)
        self.ids = saved[2].scoped(a.ordinal)
        try:
            yield
        finally:
            self.rng, self.text.rng, self.ids = saved

    # -- writing helpers ---------------------------------------------------------------

    @contextmanager
    def xml(self, name: str) -> Iterator[XmlWriter]:
        assert self.archive is not None
        with self.archive.open(name) as spool:
            stream = MeteredStream(spool, self.meter)
            writer = XmlWriter(stream)
            self.current_stream = stream
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
                        ("blocks", 1), ("files", 1 if self.include_files else 0),
                        ("filters", 1), ("comments", 1), ("badges", 1), ("calendarevents", 1),
                        ("userscompletion", users), ("logs", 0), ("grade_histories", 0),
                        ("questionbank", 1), ("groups", 1), ("competencies", 1),
                        ("customfield", 1), ("contentbankcontent", 1),
                        # no activity of synth keeps xAPI states (h5pactivity does)
                        ("xapistate", 0), ("legacyfiles", 1)]:
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
            files.extend(self.files.add_refs(
                self.course_context, "course", "overviewfiles", 0, 2, kind=JPEG))
            for _ in range(extra_files):
                files.extend(self.files.add_refs(
                    self.course_context, "course", "summary", 0, 2,
                    kind=self.rng.choice((PNG, JPEG))))
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
                    ("pdfexportfont", NULL),
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
                     roles=[ROLE_TEACHER, ROLE_STUDENT] if self.users else (),
                     question_categories=category_ids(self))

    def write_empty_common(self, name: str, kind: str) -> None:
        """Member ``name`` as Moodle writes it with nothing to say: the root of
        ``kind`` (a key of ``EMPTY_MEMBERS``) and its empty wrappers."""
        root, wrappers = EMPTY_MEMBERS[kind]
        with self.xml(name) as w:
            if wrappers:
                with w.element(root):
                    self.empty(w, *wrappers)
            else:
                self.empty(w, root)

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
                w.leaf("component", NULL)  # set for sections delegated to a plugin (4.5+)
                w.leaf("itemid", NULL)
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
            self.empty(w, "groupcustomfields")
            for group_id, name, members in self.groups:
                with w.element("group", {"id": group_id}):
                    for leaf, value in [("name", name), ("idnumber", ""), ("description", ""),
                                        ("descriptionformat", 1), ("enrolmentkey", ""),
                                        ("picture", 0), ("visibility", 0),
                                        ("participation", 1), ("timecreated", self.start),
                                        ("timemodified", self.start)]:
                        w.leaf(leaf, value)
                    with w.element("group_members"):
                        for user in members:
                            w.record("group_member", {"userid": user.id,
                                                      "timeadded": self.start,
                                                      "component": "", "itemid": 0},
                                     attrs={"id": user.id + 3000})
            with w.element("groupings"):
                self.empty(w, "groupingcustomfields")
        with self.xml("roles.xml") as w, w.element("roles_definition"):
            if self.users:
                for role_id, shortname in ((ROLE_TEACHER, "editingteacher"),
                                           (ROLE_STUDENT, "student")):
                    w.record("role", {"name": "", "shortname": shortname, "nameincourse": NULL,
                                      "description": "", "sortorder": role_id,
                                      "archetype": shortname}, attrs={"id": role_id})
        write_questions(self)
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

    def write_gradebook(self) -> None:
        """gradebook.xml: the course grade category and item, and each graded user's
        course total (written after every activity, so that all grades are known)."""
        with self.xml("gradebook.xml") as w, w.element("gradebook"):
            self.empty(w, "attributes")
            with w.element("grade_categories"), w.element("grade_category", {"id": 50}):
                for leaf, value in [("parent", NULL), ("depth", 1), ("path", "/50/"),
                                    ("fullname", "?"), ("aggregation", 13), ("keephigh", 0),
                                    ("droplow", 0), ("aggregateonlygraded", 1),
                                    ("aggregateoutcomes", 0), ("timecreated", self.start),
                                    ("timemodified", self.start), ("hidden", 0)]:
                    w.leaf(leaf, value)
            graded = [a for a in self.activities if a.grade_item is not None]
            with w.element("grade_items"), w.element("grade_item", {"id": 60}):
                # natural aggregation (13): the course total is the sum of the items
                self.grade_item_leaves(w, None, "course", NULL, 50, 1,
                                       grademax=100 * max(1, len(graded)))
                with w.element("grade_grades"):
                    self._write_course_totals(w, graded)
            self.empty(w, "grade_letters")
            with w.element("grade_settings"):
                w.record("grade_setting", {"name": "minmaxtouse", "value": 1}, attrs={"id": ""})

    def _write_course_totals(self, w: XmlWriter, graded: list[Activity]) -> None:
        totals: dict[int, list] = {}  # userid -> [sum of grades, time of the last]
        for a in graded:
            for userid, grade, _, _, modified in a.grades:
                total = totals.setdefault(userid, [0.0, 0])
                total[0] += float(grade)
                total[1] = max(total[1], modified)
        for userid, (total, modified) in sorted(totals.items()):
            self.grade_grade(w, (userid, NULL, NULL, modified, modified), final=f"{total:.5f}",
                             rawgrademax=f"{100 * len(graded)}.00000", status=NULL)

    def grade_item_leaves(self, w: XmlWriter, activity: Activity | None, itemtype: str,
                          iteminstance, categoryid, sortorder: int,
                          grademax: int = 100) -> None:
        for leaf, value in [
                ("categoryid", NULL if activity is None else categoryid),
                ("itemname", NULL if activity is None else activity.title),
                ("itemtype", itemtype),
                ("itemmodule", NULL if activity is None else activity.modname),
                ("iteminstance", categoryid if activity is None else activity.instance),
                ("itemnumber", NULL if activity is None else 0), ("iteminfo", NULL),
                ("idnumber", NULL), ("calculation", NULL), ("gradetype", 1),
                ("grademax", f"{grademax}.00000"), ("grademin", "0.00000"), ("scaleid", NULL),
                ("outcomeid", NULL), ("gradepass", "0.00000"), ("multfactor", "1.00000"),
                ("plusfactor", "0.00000"), ("aggregationcoef", "0.00000"),
                ("aggregationcoef2", "0.00000"), ("weightoverride", 0),
                ("sortorder", sortorder), ("display", 0), ("decimals", NULL), ("hidden", 0),
                ("locked", 0), ("locktime", 0), ("needsupdate", 0),
                ("timecreated", self.start), ("timemodified", self.now)]:
            w.leaf(leaf, value)

    def grade_grade(self, w: XmlWriter, row: tuple, *, final=None,
                    rawgrademax: str = "100.00000", status: str | None = "used") -> None:
        """One grade_grade of a grade item: ``row`` is (userid, raw grade, usermodified,
        timecreated, timemodified); the final grade is the raw one unless ``final``;
        a course total has no raw grade and no aggregation status or weight."""
        userid, grade, usermodified, created, modified = row
        with w.element("grade_grade", {"id": self.ids.next("grade_grade", 1)}):
            for leaf, value in [
                    ("userid", userid), ("rawgrade", grade), ("rawgrademax", rawgrademax),
                    ("rawgrademin", "0.00000"), ("rawscaleid", NULL),
                    ("usermodified", usermodified),
                    ("finalgrade", grade if final is None else final),
                    ("hidden", 0),
                    ("locked", 0), ("locktime", 0), ("exported", 0), ("overridden", 0),
                    ("excluded", 0), ("feedback", NULL), ("feedbackformat", 0),
                    ("information", NULL), ("informationformat", 0), ("timecreated", created),
                    ("timemodified", modified),
                    ("aggregationstatus", "unknown" if status is None else status),
                    ("aggregationweight", NULL if status is None else "1.00000")]:
                w.leaf(leaf, value)

    # -- the whole run -----------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        self.plan()
        per_file, ratio = self.files.calibrate()
        directory = os.path.dirname(os.path.abspath(self.out_path))
        self.archive = ArchiveWriter(self.out_path, self.format, mtime=self.now,
                                     compressor=self.compressor, level=self.level,
                                     spool_dir=directory, progress=self.monitor)
        try:
            self.monitor.phase("writing")
            self._write_all(per_file, ratio)
            packing = time.perf_counter()
            self.archive.close()
            self.monitor.finish()
        except BaseException:
            self.archive.abort()
            raise
        elapsed = time.perf_counter() - started
        size = os.path.getsize(self.out_path)
        counts: dict[str, int] = {}
        for a in self.activities:
            counts[a.modname] = counts.get(a.modname, 0) + 1
        return {
            "archive": self.out_path, "format": self.format, "seed": self.seed,
            "target": self.target, "size": size,
            "size_error": (size - self.target) / self.target if self.target else 0.0,
            "size_ok": abs(size - self.target) <= 0.05 * self.target,
            "compressor": self.compressor,
            # what ls counts: file members (the index included) and directories apart
            "members": len(self.archive.sizes) + (self.format == "tgz"),
            "directories": len(_folders(self.archive.sizes)),
            "uncompressed": self.archive.bytes_in,
            "sections": len(self.sections), "users": len(self.users), "activities": counts,
            **self.stats,
            "seconds": round(elapsed, 3), "pack_seconds": round(time.perf_counter() - packing, 3),
            "mb_per_s": round(size / (1 << 20) / elapsed, 1) if elapsed else 0.0,
        }

    def _write_all(self, per_file: float, ratio: float) -> None:
        self.write_sections()
        by_module: dict[str, list[Activity]] = {}
        for a in self.planned:  # a history plans (files, forum shares) over its whole term
            by_module.setdefault(a.modname, []).append(a)
        structural = sum(writer.expected_files(self, len(by_module.get(name, ())))
                         for name, writer in MODULES.items())
        spare_files = max(0, self.blob_target - structural)
        fillers = [name for name in by_module if MODULES[name].fills_xml]
        sinks = [a for a in self.planned if MODULES[a.modname].takes_spare_files]
        for a in sinks:
            a.spare_files = 1
        for _ in range(spare_files // 2 if fillers else spare_files):
            if sinks:
                sinks[self.rng.randrange(len(sinks))].spare_files += 1
        present = {a.cmid for a in self.activities}
        for a in self.planned:
            writer = MODULES[a.modname]
            if not writer.fills_xml and a.cmid in present:
                with self.isolated(a):
                    writer.write(self, a)
        self.write_course(spare_files if not sinks and not fillers else 0)
        self.write_users()
        self.write_top_level()
        self.write_moodle_backup()
        self.text_member("moodle_backup.log", self._log())
        # the filling modules take what is left of the XML share
        fixed = self.meter.estimate()
        if self.include_files:
            xml_budget = self.target * self.xml_share - fixed
        else:
            xml_budget = self.target - fixed - 2048
        xml_budget = max(0.0, xml_budget)
        for name in fillers:
            MODULES[name].fill(self, by_module[name], xml_budget / len(fillers),
                               (spare_files - spare_files // 2) // len(fillers))
        self.write_gradebook()
        # blobs fill the rest of the target
        xml_cost = self.meter.finish()
        files_estimate = per_file * len(self.files) + 200
        directories = len({os.path.dirname(name) for name in self.archive.sizes}) + 300
        blob_budget = self.target - xml_cost - files_estimate - directories * 40 - 1024
        self.files.write_blobs(self.archive, int(blob_budget), ratio)
        self.files.write_files_xml()

    def _log(self) -> bytes:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.now))
        lines = [f"[{stamp}] INFO >>> backup prechecks",
                 f"[{stamp}] INFO setting up course backup of {self.shortname}"]
        lines += [f"[{stamp}] DEBUG >> saving {a.modname} {a.cmid}" for a in self.activities]
        lines.append(f"[{stamp}] INFO backup completed")
        return ("\n".join(lines) + "\n").encode("utf-8")


def _folders(names) -> set[str]:
    """Every folder the member names imply, each packed as a directory entry."""
    folders: set[str] = set()
    for name in names:
        while "/" in name:
            name = name.rpartition("/")[0]
            if name in folders:
                break
            folders.add(name)
    return folders


def course_shape(target: int, users: int | None, sections: int | None,
                 activities: dict[str, int] | None) -> tuple[int, int, dict[str, int]]:
    """Users, sections and activities for a course of ``target`` bytes: those given,
    else values that grow with the size."""
    megabytes = target / (1 << 20)
    if users is None:
        users = max(5, min(2000, int(10 + 4 * math.sqrt(megabytes))))
    if sections is None:
        sections = max(2, min(30, int(4 + math.sqrt(megabytes))))
    if activities is None:
        scale = max(0.1, min(4.0, math.sqrt(megabytes) / 10))
        activities = {name: max(1, round(count * scale))
                      for name, count in DEFAULT_ACTIVITIES.items()}
    return users, sections, activities


def synthesize(out_path: str | os.PathLike, *, size: int | str = "100M", seed: int = 1,
               users: int | None = None, sections: int | None = None,
               activities: dict[str, int] | None = None, include_users: bool = True,
               include_files: bool = True, format: str = "tgz",
               progress: Monitor | Callable[[MemberInfo], None] | None = None,
               compressor: str | None = None, level: int | None = None,
               xml_share: float = 0.15) -> dict[str, Any]:
    """Writes a realistic Moodle 4.5 course backup of about ``size`` bytes to ``out_path``.

    ``size`` is the archive's compressed size (``"100M"``, ``"1G"`` or bytes);
    the result lands within a few percent of it unless the requested structure
    alone is bigger. The same arguments give a byte-identical archive.
    ``users`` (teacher included), ``sections`` (section 0 included) and
    ``activities`` (module -> count; forum, page, label, url, resource, folder,
    assign, quiz) default to values that grow with ``size``. Forum posts take
    ``xml_share`` of the size, file blobs the rest. ``progress`` (a
    :class:`~mbx.progress.Monitor`, or a callable taking each member) follows
    the ``writing`` and ``packing`` phases; cancelling it raises
    :class:`~mbx.errors.Cancelled` and leaves no archive and no temporary files.
    Returns what was written: counts, sizes,
    timings and ``mb_per_s`` (compressed output per second).
    """
    target = parse_size(size)
    if target < 64 * 1024:
        raise ValueError("size must be at least 64K")
    if format not in ("tgz", "zip"):
        raise ValueError(f"format must be 'tgz' or 'zip', not {format!r}")
    users, sections, activities = course_shape(target, users, sections, activities)
    return CourseSynthesizer(
        os.fspath(out_path), target=target, seed=seed, users=users, sections=sections,
        activities=dict(activities), include_users=include_users, include_files=include_files,
        format=format, progress=progress, compressor=compressor, level=level,
        xml_share=xml_share).run()

