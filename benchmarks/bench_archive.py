"""``mbx verify`` and ``mbx ls -l`` on a generated Moodle-like course backup, next to ``gzip -dc``.

The archive (``--size``, compressed, e.g. 100M or 1G) is laid out as Moodle's
``tgz_packer`` writes it (format doc §1.2-1.3): ``.ARCHIVE_INDEX`` first, then
plain ustar directory and file entries in one gzip stream (zlib level 6):
``activities/<mod>_<cmid>/*.xml`` (one big forum dominates the XML),
``course/``, ``files/xx/<sha1>`` blobs named by their real SHA-1 (mostly
random bytes, some compressible text; a few large, many small), ``files.xml``,
``moodle_backup.xml``, ``sections/section_N/``, ``users.xml``. XML is written
with ``mbx.xml.XmlWriter`` into a staging folder, blobs are regenerated from
their seeds, so generation runs in constant memory. Archives are cached in the
temp dir, keyed by size.

Measured in one run on the same file:

* ``gzip -dc FILE > /dev/null`` (the floor for any full pass);
* ``python -m mbx verify FILE`` in a fresh process, and its peak RSS
  (``VmHWM`` of the child, polled from ``/proc/<pid>/status``);
* ``python -m mbx ls -l FILE`` in a fresh process, ``list_members`` in this
  process, and ``python -c "import mbx.cli"`` (start-up) to give ls -l net of
  start-up.

Run::

    python benchmarks/bench_archive.py --size 1G
    python benchmarks/bench_archive.py --compare 100M,1G --json

or under pytest-benchmark (``pytest benchmarks/bench_archive.py``, size from
``MBX_BENCH_ARCHIVE_SIZE``, default 50M; asserts correctness only).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from mbx.units import parse_size

from mbx.xml import XmlWriter

#: bump when the generated layout changes, so cached archives are rebuilt
GENERATOR_VERSION = 2
CHUNK = 1 << 20
UNKNOWN_MTIME = 1356998400  # what Moodle writes for in-memory content and folders
BACKUP_TIME = 1732000000
INDEX_HEADER = "Moodle archive file index. Count: "
EMPTY_SHA1 = hashlib.sha1(b"").hexdigest()

#: share of the compressed size taken by XML and by compressible blobs (the rest: random blobs)
XML_SHARE = 0.06
TEXT_BLOB_SHARE = 0.06

_WORDS = ("the a and to of in is for on that with this it you we be are as have not moodle "
          "course forum reply question answer thanks week module assignment deadline grade "
          "learning students teacher quiz lesson reading chapter example problem submit "
          "review draft feedback group project exam notes slides lecture lab report & < > "
          "\"quoted\" café naïve Ελληνικά").split()
_RANDOM_TYPES = (("pdf", "application/pdf"), ("mp4", "video/mp4"), ("jpg", "image/jpeg"),
                 ("png", "image/png"), ("zip", "application/zip"),
                 ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"))
_TEXT_TYPES = (("txt", "text/plain"), ("html", "text/html"), ("csv", "text/csv"),
               ("svg", "image/svg+xml"))
#: module kinds cycled through for the activities after the two forums
_MODULES = ("resource", "page", "assign", "folder", "url", "label", "resource", "forum")




def _word_pool(seed: int = 7, words: int = 400_000) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choices(_WORDS, k=words))


_POOL = _word_pool()
_POOL_BYTES = _POOL.encode()


def _words(rng: random.Random, low: int, high: int) -> str:
    """A slice of the word pool, ``low`` to ``high`` characters long."""
    length = rng.randint(low, high)
    start = rng.randrange(len(_POOL) - length)
    return _POOL[start:start + length]


# -- blobs: regenerated from their seed, never held whole -------------------------------------

@dataclass(slots=True)
class Blob:
    seed: int
    size: int
    compressible: bool
    extension: str
    mimetype: str
    sha1: str = ""

    def chunks(self):
        rng = random.Random(self.seed)
        left = self.size
        if self.compressible:
            head = f"blob {self.seed}\n".encode()[:left]
            left -= len(head)
            yield head
        while left:
            count = min(CHUNK, left)
            if self.compressible:
                parts, got = [], 0
                while got < count:
                    start = rng.randrange(len(_POOL_BYTES) - 4096)
                    part = _POOL_BYTES[start:start + min(count - got, rng.randint(200, 4096))]
                    parts.append(part)
                    got += len(part)
                yield b"\n".join(parts)[:count] if len(parts) > 1 else parts[0]
            else:
                yield rng.randbytes(count)
            left -= count

    def digest(self) -> str:
        sha1 = hashlib.sha1()
        total = 0
        for chunk in self.chunks():
            sha1.update(chunk)
            total += len(chunk)
        assert total == self.size, (total, self.size)
        return sha1.hexdigest()

    @property
    def name(self) -> str:
        return f"files/{self.sha1[:2]}/{self.sha1}"


class _ChunkReader(io.RawIOBase):
    """A read()-able view of a chunk generator, for ``TarFile.addfile``."""

    def __init__(self, chunks) -> None:
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


# -- the course plan ---------------------------------------------------------------------------

@dataclass(slots=True)
class FileRecord:
    id: int
    blob: Blob | None  # None: a directory record (filename ".")
    contextid: int
    component: str
    filearea: str
    itemid: int
    filename: str
    userid: int


@dataclass(slots=True)
class Activity:
    cmid: int
    module: str
    instance: int
    sectionid: int
    contextid: int
    title: str
    posts: int = 0
    files: list[FileRecord] = field(default_factory=list)

    @property
    def directory(self) -> str:
        return f"activities/{self.module}_{self.cmid}"


@dataclass(slots=True)
class Plan:
    size: int
    users: int
    sections: list[tuple[int, int, str]]  # id, number, title
    activities: list[Activity]
    blobs: list[Blob]
    records: list[FileRecord]
    course_files: list[FileRecord]


def _forum_post(writer: XmlWriter, rng: random.Random, post_id: int, parent: int, users: int,
                attachment: bool) -> int:
    userid = rng.randint(2, users + 1)
    created = BACKUP_TIME - rng.randint(0, 3 * 10 ** 7)
    with writer.element("post", {"id": post_id}):
        writer.leaf("parent", parent)
        writer.leaf("userid", userid)
        writer.leaf("created", created)
        writer.leaf("modified", created + rng.randint(0, 3600))
        writer.leaf("mailed", 1)
        writer.leaf("subject", "Re: " + _words(rng, 10, 60))
        writer.leaf("message", f"<p>{_words(rng, 40, 2400)}</p>")
        writer.leaf("messageformat", 1)
        writer.leaf("messagetrust", 0)
        writer.leaf("attachment", 1 if attachment else "")
        writer.leaf("totalscore", 0)
        writer.leaf("mailnow", 0)
        writer.leaf("privatereplyto", 0)
        with writer.element("ratings"):
            pass
    return userid


def _calibrate() -> tuple[float, float, float]:
    """(bytes per forum post, XML ratio, compressible blob ratio) at zlib level 6."""
    rng = random.Random(99)
    sink = io.BytesIO()
    writer = XmlWriter(sink)
    with writer.element("posts"):
        for number in range(1, 3001):
            _forum_post(writer, rng, number, number - 1, 100, False)
    writer.close()
    xml = sink.getvalue()
    text = b"".join(Blob(5, 4 << 20, True, "txt", "text/plain").chunks())
    def ratio(data: bytes) -> float:
        return len(data) / len(zlib.compress(data, 6))

    return len(xml) / 3000, ratio(xml), ratio(text)


def make_plan(size: int, seed: int = 1) -> Plan:
    """Sections, activities, users and blobs (hashed) for about ``size`` compressed bytes."""
    rng = random.Random(seed)
    post_bytes, xml_ratio, text_ratio = _calibrate()
    scale = size / (100 << 20)
    users = int(40 + 25 * scale)
    section_count = int(5 + 2 * math.sqrt(scale))
    sections = [(100 + number, number, "General" if number == 0 else f"Week {number}")
                for number in range(section_count)]
    activity_count = int(10 + 8 * math.sqrt(scale))
    activities = []
    for position in range(activity_count):
        module = "forum" if position < 2 else _MODULES[position % len(_MODULES)]
        cmid = 200 + position
        title = ("Announcements" if position == 0 else "Discussion forum" if position == 1
                 else f"{module.capitalize()} {position}: {_words(rng, 10, 30)}")
        activities.append(Activity(cmid, module, 10 + position,
                                   sections[position % section_count][0], 1000 + cmid, title))
    # the XML budget goes to the discussion forum, a little to the others
    xml_raw = XML_SHARE * size * xml_ratio
    activities[1].posts = max(50, int(0.9 * xml_raw / post_bytes))
    for activity in activities:
        if activity.module == "forum" and activity.posts == 0:
            activity.posts = max(10, int(0.05 * xml_raw / post_bytes / activity_count))

    # blobs: compressible ones up to their share, then random ones up to the total
    blobs: list[Blob] = []
    estimate = XML_SHARE * size
    text_budget = TEXT_BLOB_SHARE * size
    large_left = 3
    while estimate < size:
        blob_seed = rng.getrandbits(48)
        if text_budget > 0:
            blob_size = int(math.exp(rng.uniform(math.log(1 << 10), math.log(1 << 20))))
            extension, mimetype = rng.choice(_TEXT_TYPES)
            blobs.append(Blob(blob_seed, blob_size, True, extension, mimetype))
            text_budget -= blob_size / text_ratio
            estimate += blob_size / text_ratio
            continue
        if large_left and rng.random() < 0.01:
            large_left -= 1
            blob_size = int(min(0.1 * size, 200 << 20) * rng.uniform(0.7, 1.0))
            extension, mimetype = "mp4", "video/mp4"
        else:
            blob_size = int(math.exp(rng.uniform(math.log(1 << 10), math.log(1 << 20))))
            extension, mimetype = rng.choice(_RANDOM_TYPES)
        blob_size = max(1, min(blob_size, int(size - estimate) + 1))
        blobs.append(Blob(blob_seed, blob_size, False, extension, mimetype))
        estimate += blob_size
    for blob in blobs:
        blob.sha1 = blob.digest()
    rng.shuffle(blobs)

    # files.xml records: blobs spread over activities (a few used twice), directory records
    records: list[FileRecord] = []
    course_files: list[FileRecord] = []
    holders = [a for a in activities if a.module in ("resource", "folder", "forum", "assign")]

    def add(blob, contextid, component, filearea, itemid, filename, owner):
        record = FileRecord(len(records) + 1, blob, contextid, component, filearea, itemid,
                            filename, rng.randint(2, users + 1))
        records.append(record)
        owner.append(record)

    for number, blob in enumerate(blobs):
        filename = f"file_{number}.{blob.extension}"
        if number % 50 == 0:
            add(blob, 20, "course", "overviewfiles" if number == 0 else "summary", 0, filename,
                course_files)
            continue
        activity = holders[number % len(holders)]
        if activity.module == "forum":
            area, itemid = "attachment", rng.randint(1, activity.posts)
        elif activity.module == "assign":
            area, itemid = "intro", 0
        else:
            area, itemid = "content", 0
        component = f"mod_{activity.module}"
        add(blob, activity.contextid, component, area, itemid, filename, activity.files)
        if number % 20 == 7:  # the same content in a second place (Moodle stores it once)
            add(blob, activity.contextid, component, "intro", 0, "copy_" + filename,
                activity.files)
    for activity in holders:
        areas = sorted({(r.component, r.filearea, r.itemid) for r in activity.files})
        for component, area, itemid in areas:
            add(None, activity.contextid, component, area, itemid, ".", activity.files)
    return Plan(size, users, sections, activities, blobs, records, course_files)


# -- XML, written into the staging folder -----------------------------------------------------

def _write_xml(stage: Path, relative: str, build) -> None:
    path = stage / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as stream:
        writer = XmlWriter(stream)
        build(writer)
        writer.close()


def _inforef(writer: XmlWriter, files=(), users=()) -> None:
    with writer.element("inforef"):
        if files:
            with writer.element("fileref"):
                for file_id in files:
                    writer.record("file", {"id": file_id})
        if users:
            with writer.element("userref"):
                for user_id in users:
                    writer.record("user", {"id": user_id})


def _module_xml(writer: XmlWriter, activity: Activity, number: int) -> None:
    with writer.element("module", {"id": activity.cmid, "version": 2022112800}):
        writer.leaf("modulename", activity.module)
        writer.leaf("sectionid", activity.sectionid)
        writer.leaf("sectionnumber", number)
        writer.leaf("idnumber", "")
        writer.leaf("added", BACKUP_TIME - 10 ** 7)
        for key in ("score", "indent"):
            writer.leaf(key, 0)
        writer.leaf("visible", 1)
        writer.leaf("visibleoncoursepage", 1)
        writer.leaf("visibleold", 1)
        writer.leaf("groupmode", 0)
        writer.leaf("groupingid", 0)
        writer.leaf("completion", 1)
        writer.leaf("completiongradeitemnumber", None)
        writer.leaf("completionview", 0)
        writer.leaf("completionexpected", 0)
        writer.leaf("availability", None)
        writer.leaf("showdescription", 0)
        writer.leaf("downloadcontent", 1)
        with writer.element("tags"):
            pass


def _forum_xml(writer: XmlWriter, activity: Activity, plan: Plan) -> set[int]:
    rng = random.Random(activity.cmid)
    attached = {r.itemid for r in activity.files if r.filearea == "attachment"}
    posters: set[int] = set()
    with writer.element("activity", {"id": activity.instance, "moduleid": activity.cmid,
                                     "modulename": "forum", "contextid": activity.contextid}):
        with writer.element("forum", {"id": activity.instance}):
            writer.leaf("type", "news" if activity.cmid == 200 else "general")
            writer.leaf("name", activity.title)
            writer.leaf("intro", f"<p>{_words(rng, 50, 400)}</p>")
            writer.leaf("introformat", 1)
            for key in ("duedate", "cutoffdate", "assessed", "assesstimestart",
                        "assesstimefinish", "scale", "maxbytes", "maxattachments",
                        "forcesubscribe", "trackingtype", "rsstype", "rssarticles"):
                writer.leaf(key, 0)
            writer.leaf("timemodified", BACKUP_TIME)
            with writer.element("discussions"):
                post_id = 1
                discussion = 0
                while post_id <= activity.posts:
                    discussion += 1
                    replies = min(activity.posts - post_id + 1, rng.randint(1, 40))
                    with writer.element("discussion", {"id": activity.instance * 10 ** 6
                                                       + discussion}):
                        writer.leaf("name", _words(rng, 10, 60))
                        writer.leaf("firstpost", post_id)
                        writer.leaf("userid", 2)
                        writer.leaf("groupid", -1)
                        writer.leaf("assessed", 0)
                        writer.leaf("timemodified", BACKUP_TIME)
                        writer.leaf("usermodified", 2)
                        writer.leaf("timestart", 0)
                        writer.leaf("timeend", 0)
                        writer.leaf("pinned", 0)
                        writer.leaf("timelocked", 0)
                        with writer.element("posts"):
                            first = post_id
                            for _ in range(replies):
                                parent = 0 if post_id == first else rng.randint(first, post_id - 1)
                                posters.add(_forum_post(writer, rng, post_id, parent, plan.users,
                                                        post_id in attached))
                                post_id += 1
                        with writer.element("discussion_subs"):
                            pass
            for wrapper in ("subscriptions", "digests", "readposts", "trackedprefs",
                            "poststags", "grades"):
                with writer.element(wrapper):
                    pass
    return posters


def _plain_activity_xml(writer: XmlWriter, activity: Activity) -> None:
    rng = random.Random(activity.cmid)
    with writer.element("activity", {"id": activity.instance, "moduleid": activity.cmid,
                                     "modulename": activity.module,
                                     "contextid": activity.contextid}):
        with writer.element(activity.module, {"id": activity.instance}):
            writer.leaf("name", activity.title)
            writer.leaf("intro", f"<p>{_words(rng, 50, 800)}</p>")
            writer.leaf("introformat", 1)
            if activity.module == "page":
                writer.leaf("content", f"<p>{_words(rng, 2000, 20000)}</p>")
                writer.leaf("contentformat", 1)
            elif activity.module == "url":
                writer.leaf("externalurl", f"https://example.org/{activity.cmid}")
            elif activity.module == "assign":
                writer.leaf("duedate", BACKUP_TIME + 86400)
                writer.leaf("grade", 100)
                with writer.element("submissions"):
                    pass
            writer.leaf("timemodified", BACKUP_TIME)


def _grades_xml(writer: XmlWriter, activity: Activity, users: list[int]) -> None:
    with writer.element("activity_gradebook"):
        with writer.element("grade_items"):
            if activity.module in ("assign", "forum"):
                with writer.element("grade_item", {"id": activity.instance + 500}):
                    writer.leaf("categoryid", 1)
                    writer.leaf("itemname", activity.title)
                    writer.leaf("itemtype", "mod")
                    writer.leaf("itemmodule", activity.module)
                    writer.leaf("iteminstance", activity.instance)
                    writer.leaf("grademax", "100.00000")
                    with writer.element("grade_grades"):
                        for number, userid in enumerate(users[:50]):
                            with writer.element("grade_grade", {"id": activity.instance * 1000
                                                                + number}):
                                writer.leaf("userid", userid)
                                writer.leaf("rawgrade", f"{(userid * 37) % 100}.00000")
                                writer.leaf("finalgrade", f"{(userid * 37) % 100}.00000")
                                writer.leaf("feedback", None)
        with writer.element("grade_letters"):
            pass


def _files_xml(writer: XmlWriter, plan: Plan) -> None:
    with writer.element("files"):
        for record in plan.records:
            blob = record.blob
            with writer.element("file", {"id": record.id}):
                writer.leaf("contenthash", blob.sha1 if blob else EMPTY_SHA1)
                writer.leaf("contextid", record.contextid)
                writer.leaf("component", record.component)
                writer.leaf("filearea", record.filearea)
                writer.leaf("itemid", record.itemid)
                writer.leaf("filepath", "/")
                writer.leaf("filename", record.filename)
                writer.leaf("userid", record.userid if blob else None)
                writer.leaf("filesize", blob.size if blob else 0)
                writer.leaf("mimetype", blob.mimetype if blob else None)
                writer.leaf("status", 0)
                writer.leaf("timecreated", BACKUP_TIME - 10 ** 6)
                writer.leaf("timemodified", BACKUP_TIME - 10 ** 6)
                writer.leaf("source", record.filename if blob else None)
                writer.leaf("author", "Teacher" if blob else None)
                writer.leaf("license", "allrightsreserved" if blob else None)
                writer.leaf("sortorder", 0)
                writer.leaf("repositorytype", "$@NULL@$")
                writer.leaf("repositoryid", "$@NULL@$")
                writer.leaf("reference", "$@NULL@$")


def _users_xml(writer: XmlWriter, plan: Plan) -> None:
    rng = random.Random(3)
    with writer.element("users"):
        for userid in range(2, plan.users + 2):
            with writer.element("user", {"id": userid, "contextid": 5000 + userid}):
                writer.leaf("username", f"user{userid}")
                writer.leaf("idnumber", "")
                writer.leaf("email", f"user{userid}@example.org")
                writer.leaf("firstname", _words(rng, 4, 12).strip() or "A")
                writer.leaf("lastname", _words(rng, 4, 12).strip() or "B")
                writer.leaf("auth", "manual")
                writer.leaf("lang", "en")
                writer.leaf("timezone", "99")
                writer.leaf("firstaccess", BACKUP_TIME - 10 ** 7)
                writer.leaf("lastaccess", BACKUP_TIME - 10 ** 5)
                writer.leaf("description", f"<p>{_words(rng, 0, 200)}</p>")
                writer.leaf("descriptionformat", 1)
                with writer.element("custom_fields"):
                    pass
                with writer.element("tags"):
                    pass
                with writer.element("preferences"):
                    writer.record("preference", {"name": "auth_forcepasswordchange",
                                                 "value": 0})
                with writer.element("roles"):
                    with writer.element("role_overrides"):
                        pass
                    with writer.element("role_assignments"):
                        pass


def _moodle_backup_xml(writer: XmlWriter, plan: Plan) -> None:
    name = f"backup-moodle2-course-2-bench-{plan.size}.mbz"
    with writer.element("moodle_backup"), writer.element("information"):
        for key, value in (("name", name), ("moodle_version", 2022112800),
                           ("moodle_release", "4.1 (Build: 20221128)"),
                           ("backup_version", 2022112800), ("backup_release", "4.1"),
                           ("backup_date", BACKUP_TIME), ("mnet_remoteusers", 0),
                           ("include_files", 1),
                           ("include_file_references_to_external_content", 0),
                           ("original_wwwroot", "https://moodle.example.org"),
                           ("original_site_identifier_hash", hashlib.md5(b"bench").hexdigest()),
                           ("original_course_id", 2), ("original_course_format", "topics"),
                           ("original_course_fullname", f"Benchmark course ({plan.size} bytes)"),
                           ("original_course_shortname", "BENCH"),
                           ("original_course_startdate", BACKUP_TIME - 10 ** 7),
                           ("original_course_enddate", 0), ("original_course_contextid", 20),
                           ("original_system_contextid", 1)):
            writer.leaf(key, value)
        with writer.element("details"):
            writer.record("detail", {"type": "course", "format": "moodle2", "interactive": 1,
                                     "mode": 10, "execution": 1, "executiontime": 0},
                          {"backup_id": hashlib.md5(name.encode()).hexdigest()})
        with writer.element("contents"):
            with writer.element("activities"):
                for activity in plan.activities:
                    writer.record("activity", {
                        "moduleid": activity.cmid, "sectionid": activity.sectionid,
                        "modulename": activity.module, "title": activity.title,
                        "directory": activity.directory, "insubsection": ""})
            with writer.element("sections"):
                for sectionid, _number, title in plan.sections:
                    writer.record("section", {"sectionid": sectionid, "title": title,
                                              "directory": f"sections/section_{sectionid}"})
            writer.record("course", {"courseid": 2, "title": "BENCH", "directory": "course"})
        with writer.element("settings"):
            for key, value in (("filename", name), ("users", 1), ("anonymize", 0),
                               ("role_assignments", 1), ("activities", 1), ("blocks", 1),
                               ("files", 1), ("filters", 1), ("comments", 1), ("badges", 0),
                               ("calendarevents", 1), ("userscompletion", 1), ("logs", 0),
                               ("grade_histories", 0), ("questionbank", 1), ("groups", 1)):
                writer.record("setting", {"level": "root", "name": key, "value": value})
            for activity in plan.activities:
                key = f"{activity.module}_{activity.cmid}"
                for suffix, value in (("included", 1), ("userinfo", 1)):
                    writer.record("setting", {"level": "activity", "activity": key,
                                              "name": f"{key}_{suffix}", "value": value})
            for sectionid, _number, _title in plan.sections:
                writer.record("setting", {"level": "section", "section": f"section_{sectionid}",
                                          "name": f"section_{sectionid}_included", "value": 1})


def write_xml(plan: Plan, stage: Path) -> None:
    """Every XML member of the backup, into ``stage``."""
    numbers = {sectionid: number for sectionid, number, _ in plan.sections}
    all_users = list(range(2, plan.users + 2))
    sequences: dict[int, list[int]] = {sectionid: [] for sectionid, _, _ in plan.sections}
    for activity in plan.activities:
        sequences[activity.sectionid].append(activity.cmid)
        base = activity.directory
        posters: set[int] = set()
        if activity.module == "forum":
            _write_xml(stage, f"{base}/forum.xml",
                       lambda w, a=activity, p=posters: p.update(_forum_xml(w, a, plan)))
        else:
            _write_xml(stage, f"{base}/{activity.module}.xml",
                       lambda w, a=activity: _plain_activity_xml(w, a))
        _write_xml(stage, f"{base}/module.xml",
                   lambda w, a=activity: _module_xml(w, a, numbers[a.sectionid]))
        graded = all_users if activity.module in ("assign", "forum") else []
        referenced = sorted(posters | set(graded[:50]) | {r.userid for r in activity.files
                                                           if r.blob})
        _write_xml(stage, f"{base}/inforef.xml",
                   lambda w, a=activity, u=referenced: _inforef(w, [r.id for r in a.files], u))
        _write_xml(stage, f"{base}/grades.xml",
                   lambda w, a=activity, g=graded: _grades_xml(w, a, g))
        _write_xml(stage, f"{base}/grade_history.xml", lambda w: _empty(w, "grade_history",
                                                                         "grade_grades"))
        _write_xml(stage, f"{base}/roles.xml", lambda w: _empty(w, "roles", "role_overrides",
                                                                 "role_assignments"))
        _write_xml(stage, f"{base}/filters.xml", lambda w: _empty(w, "filters", "filter_actives",
                                                                   "filter_configs"))
        _write_xml(stage, f"{base}/calendar.xml", lambda w: _empty(w, "events"))
        _write_xml(stage, f"{base}/completion.xml", lambda w: _empty(w, "completions"))
    _write_xml(stage, "course/course.xml", lambda w: _course_xml(w, plan))
    _write_xml(stage, "course/inforef.xml",
               lambda w: _inforef(w, [r.id for r in plan.course_files],
                                  sorted({r.userid for r in plan.course_files})))
    _write_xml(stage, "course/enrolments.xml", lambda w: _empty(w, "enrolments", "enrols"))
    _write_xml(stage, "course/roles.xml", lambda w: _empty(w, "roles", "role_overrides",
                                                           "role_assignments"))
    for sectionid, number, title in plan.sections:
        base = f"sections/section_{sectionid}"
        _write_xml(stage, f"{base}/section.xml",
                   lambda w, s=sectionid, n=number, t=title: _section_xml(w, s, n, t,
                                                                          sequences[s]))
        _write_xml(stage, f"{base}/inforef.xml", lambda w: _inforef(w))
    _write_xml(stage, "files.xml", lambda w: _files_xml(w, plan))
    _write_xml(stage, "users.xml", lambda w: _users_xml(w, plan))
    _write_xml(stage, "moodle_backup.xml", lambda w: _moodle_backup_xml(w, plan))
    for name, root, child in (("roles.xml", "roles_definition", None),
                              ("groups.xml", "groups", "groupings"),
                              ("scales.xml", "scales_definition", None),
                              ("outcomes.xml", "outcomes_definition", None),
                              ("questions.xml", "question_categories", None),
                              ("gradebook.xml", "gradebook", "grade_categories"),
                              ("completion.xml", "course_completion", None)):
        _write_xml(stage, name, lambda w, r=root, c=child: _empty(w, r, *([c] if c else [])))


def _empty(writer: XmlWriter, root: str, *children: str) -> None:
    with writer.element(root):
        for child in children:
            with writer.element(child):
                pass


def _course_xml(writer: XmlWriter, plan: Plan) -> None:
    with writer.element("course", {"id": 2, "contextid": 20}):
        writer.leaf("shortname", "BENCH")
        writer.leaf("fullname", f"Benchmark course ({plan.size} bytes)")
        writer.leaf("idnumber", "")
        writer.leaf("summary", f"<p>{_POOL[:400]}</p>")
        writer.leaf("summaryformat", 1)
        writer.leaf("format", "topics")
        writer.leaf("startdate", BACKUP_TIME - 10 ** 7)
        writer.leaf("enddate", 0)
        writer.leaf("visible", 1)
        writer.leaf("lang", "")
        writer.leaf("timecreated", BACKUP_TIME - 10 ** 7)
        writer.leaf("timemodified", BACKUP_TIME)
        with writer.element("category", {"id": 1}):
            writer.leaf("name", "Miscellaneous")
            writer.leaf("description", None)
        with writer.element("tags"):
            pass


def _section_xml(writer: XmlWriter, sectionid: int, number: int, title: str,
                 sequence: list[int]) -> None:
    with writer.element("section", {"id": sectionid}):
        writer.leaf("number", number)
        writer.leaf("name", title)
        writer.leaf("summary", f"<p>{title}</p>")
        writer.leaf("summaryformat", 1)
        writer.leaf("sequence", ",".join(map(str, sequence)))
        writer.leaf("visible", 1)
        writer.leaf("availabilityjson", None)
        writer.leaf("component", None)
        writer.leaf("itemid", None)
        writer.leaf("timemodified", BACKUP_TIME)


# -- the container -----------------------------------------------------------------------------

def _entries(plan: Plan, stage: Path) -> list[tuple[str, bool, int, int | None, object]]:
    """(name, is_dir, size, mtime or None, source) of every member after the index, in order.

    ``source`` is a staged path or a :class:`Blob`. Sorted by path, a folder
    before a file of the same stem (``files/`` before ``files.xml``: blobs come first).
    """
    by_name: dict[str, tuple[int, object]] = {}
    for path in stage.rglob("*"):
        if path.is_file():
            by_name[path.relative_to(stage).as_posix()] = (path.stat().st_size, path)
    for blob in plan.blobs:
        by_name[blob.name] = (blob.size, blob)

    def key(name: str):
        parts = name.split("/")
        return [(part, 0) for part in parts[:-1]] + [(parts[-1], 1)]

    entries = []
    folders_done: set[str] = set()
    for name in sorted(by_name, key=key):
        parts = name.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder not in folders_done:
                folders_done.add(folder)
                entries.append((folder, True, 0, None, None))
        size, source = by_name[name]
        entries.append((name, False, size, BACKUP_TIME, source))
    return entries


def write_archive(plan: Plan, stage: Path, out: Path) -> int:
    """Streams the tar.gz to ``out``; returns the number of index entries."""
    entries = _entries(plan, stage)
    lines = [f"{INDEX_HEADER}{len(entries)}"]
    for name, is_dir, size, mtime, _ in entries:
        lines.append(f"{name}{'/' if is_dir else ''}\t{'d' if is_dir else 'f'}\t{size}\t"
                     f"{'?' if mtime is None else mtime}")
    index = ("\n".join(lines) + "\n").encode()
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6,
                                                mtime=0) as compressed, \
            tarfile.open(fileobj=compressed, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
        def header(name: str, is_dir: bool, size: int, mtime: int | None) -> tarfile.TarInfo:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
            info.mode = 0o755 if is_dir else 0o644
            info.size = size
            info.mtime = UNKNOWN_MTIME if mtime is None else mtime
            info.uname = info.gname = ""
            return info

        tar.addfile(header(".ARCHIVE_INDEX", False, len(index), None), io.BytesIO(index))
        for name, is_dir, size, mtime, source in entries:
            info = header(name, is_dir, size, mtime)
            if is_dir:
                tar.addfile(info)
            elif isinstance(source, Blob):
                tar.addfile(info, io.BufferedReader(_ChunkReader(source.chunks()), CHUNK))
            else:
                with open(source, "rb") as stream:
                    tar.addfile(info, stream)
    return len(entries)


def sample(size: int) -> Path:
    """The generated archive for ``size``, cached in the temp dir."""
    root = Path(tempfile.gettempdir())
    cache = root / f"mbx-bench-archive-v{GENERATOR_VERSION}-{size}.tar.gz"
    if not cache.exists():
        started = time.perf_counter()
        plan = make_plan(size)
        with tempfile.TemporaryDirectory(prefix="mbx-bench-archive-stage-", dir=root) as stage:
            write_xml(plan, Path(stage))
            partial = cache.with_suffix(".part")
            write_archive(plan, Path(stage), partial)
        partial.replace(cache)
        print(f"generated {cache} ({cache.stat().st_size / 1e6:.1f} MB) in "
              f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    return cache


# -- measurements ------------------------------------------------------------------------------

def _vm_hwm_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def run_timed(command: list[str], *, poll_rss: bool = False) -> dict:
    """Wall seconds, exit code, stdout (and the child's peak VmHWM, polled) of one command."""
    peak = [0]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    poller = None
    if poll_rss:
        def poll() -> None:
            while process.poll() is None:
                value = _vm_hwm_kib(process.pid)
                if value:
                    peak[0] = max(peak[0], value)
                time.sleep(0.005)
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
    out, err = process.communicate()
    seconds = time.perf_counter() - started
    if poller:
        poller.join()
    return {"seconds": seconds, "returncode": process.returncode, "stdout": out,
            "stderr": err, "peak_kib": peak[0]}


def _warm(path: Path) -> None:
    with open(path, "rb", buffering=0) as file:
        while file.read(8 * CHUNK):
            pass


def index_count(path: Path) -> int:
    """N from the first line of the archive's ``.ARCHIVE_INDEX`` (read with the stdlib)."""
    with tarfile.open(path, "r|gz") as tar:
        first = tar.next()
        assert first is not None and first.name == ".ARCHIVE_INDEX", first
        line = tar.extractfile(first).readline().decode()
    assert line.startswith(INDEX_HEADER), line
    return int(line[len(INDEX_HEADER):])


def measure(path: Path, repeats: int = 1) -> dict:
    """Every timing of one archive; the best of ``repeats`` for each."""
    from mbx.inspect import list_members

    python = sys.executable
    _warm(path)
    best: dict[str, float] = {}
    verify_peak = 0
    verify_out = ""
    ls_lines = 0
    listed = 0

    def keep(key: str, seconds: float) -> None:
        best[key] = min(best.get(key, float("inf")), seconds)

    for _ in range(repeats):
        if shutil.which("gzip"):
            with open(path, "rb") as source:
                started = time.perf_counter()
                subprocess.run(["gzip", "-dc"], stdin=source, stdout=subprocess.DEVNULL,
                               check=True)
                keep("gzip_dc", time.perf_counter() - started)
        result = run_timed([python, "-m", "mbx", "verify", str(path)], poll_rss=True)
        verify_out = result["stdout"].decode(errors="replace")
        if result["returncode"] != 0 or not verify_out.rstrip().endswith("sound"):
            raise AssertionError(f"mbx verify did not find {path} sound:\n{verify_out}"
                                 f"{result['stderr'].decode(errors='replace')}")
        keep("verify", result["seconds"])
        verify_peak = max(verify_peak, result["peak_kib"])
        result = run_timed([python, "-m", "mbx", "ls", "-l", str(path)])
        assert result["returncode"] == 0, result["stderr"]
        ls_lines = result["stdout"].count(b"\n")
        keep("ls_l_process", result["seconds"])
        result = run_timed([python, "-c", "import mbx.cli"])
        keep("startup", result["seconds"])
        started = time.perf_counter()
        listed = sum(1 for _ in list_members(path))
        keep("ls_l_in_process", time.perf_counter() - started)

    gzip_seconds = best.get("gzip_dc")
    return {
        "compressed_bytes": path.stat().st_size,
        "path": str(path),
        "index_entries": index_count(path),
        "listed_in_process": listed,
        "listed_process_lines": ls_lines,
        "verify_summary": verify_out.strip().splitlines()[0] if verify_out.strip() else "",
        "gzip_dc_s": round(gzip_seconds, 3) if gzip_seconds else None,
        "verify_s": round(best["verify"], 3),
        "verify_over_gzip_dc": round(best["verify"] / gzip_seconds, 2) if gzip_seconds else None,
        "startup_s": round(best["startup"], 3),
        "ls_l_process_s": round(best["ls_l_process"], 3),
        "ls_l_net_of_startup_s": round(best["ls_l_process"] - best["startup"], 3),
        "ls_l_in_process_s": round(best["ls_l_in_process"], 4),
        "verify_peak_rss_mib": round(verify_peak / 1024, 1),
    }


def _print_table(runs: list[dict], compare: dict | None) -> None:
    rows = [("compressed MB", lambda r: f"{r['compressed_bytes'] / 1e6:.1f}"),
            ("index entries", lambda r: str(r["index_entries"])),
            ("gzip -dc s", lambda r: str(r["gzip_dc_s"])),
            ("mbx verify s", lambda r: str(r["verify_s"])),
            ("verify / gzip -dc", lambda r: str(r["verify_over_gzip_dc"])),
            ("start-up s", lambda r: str(r["startup_s"])),
            ("mbx ls -l s (process)", lambda r: str(r["ls_l_process_s"])),
            ("mbx ls -l s (net of start-up)", lambda r: str(r["ls_l_net_of_startup_s"])),
            ("list_members s (in-process)", lambda r: str(r["ls_l_in_process_s"])),
            ("verify peak RSS MiB", lambda r: str(r["verify_peak_rss_mib"]))]
    print(f"{'':<32}" + "".join(f"{r['size']:>12}" for r in runs))
    for label, value in rows:
        print(f"{label:<32}" + "".join(f"{value(r):>12}" for r in runs))
    if compare:
        print(f"verify peak RSS growth {compare['from']} -> {compare['to']}: "
              f"{compare['verify_peak_rss_growth_mib']:+.1f} MiB")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100M", help="compressed size, e.g. 100M or 1G")
    parser.add_argument("--compare", metavar="A,B",
                        help="measure two sizes and report the verify RSS growth, e.g. 100M,1G")
    parser.add_argument("--repeats", type=int, default=1, help="best of N for each timing")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    labels = args.compare.split(",") if args.compare else [args.size]
    runs = []
    for label in labels:
        size = parse_size(label)
        run = {"size": label, "requested_bytes": size, **measure(sample(size), args.repeats)}
        runs.append(run)
    compare = None
    if len(runs) == 2:
        compare = {"from": runs[0]["size"], "to": runs[1]["size"],
                   "verify_peak_rss_growth_mib": round(runs[1]["verify_peak_rss_mib"]
                                                       - runs[0]["verify_peak_rss_mib"], 1)}
    if args.json:
        report = {"runs": runs, "compare": compare} if args.compare else runs[0]
        print(json.dumps(report))
    else:
        _print_table(runs, compare)
    return 0


# -- pytest(-benchmark) --------------------------------------------------------------------------

def test_archive_verify_and_listing(benchmark):
    """Generation, verify and listing are correct at a small size; no timing asserts."""
    from mbx.inspect import list_members
    from mbx.verify import verify

    path = sample(parse_size(os.environ.get("MBX_BENCH_ARCHIVE_SIZE", "50M")))
    report = verify(path)
    assert report.ok, [str(problem) for problem in report.problems]
    result = benchmark.pedantic(measure, args=(path,), rounds=1, iterations=1)
    count = result["index_entries"]
    assert report.checked["index_entries"] == count
    assert result["listed_in_process"] == count
    assert result["listed_process_lines"] == count
    assert sum(1 for _ in list_members(path)) == count


if __name__ == "__main__":
    sys.exit(main())
