"""Writes ``samples/demo-course/``, the small backup bundled for the README's main job.

Everything in it is invented here and written with mbx's own XmlWriter, in the
shape Moodle 4.5 gives an extracted course backup. Run it again after changing
the writer: ``python samples/make_demo_course.py``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from mbx.xml import XmlWriter

OUT = Path(__file__).resolve().parent / "demo-course"
WHEN = 1732000000
SECTIONS = [(101, 0, "General"), (102, 1, "Week 1: Getting started"), (103, 2, "Week 2: Ελληνικά & 日本語")]
ACTIVITIES = [  # cmid, sectionid, module, title
    (201, 101, "forum", "Announcements"),
    (202, 102, "page", "Welcome <page>"),
    (203, 102, "forum", "Introduce yourself"),
    (204, 103, "page", "Reading: naïve café"),
]
USERS = [(5, "anna", "Anna", "Kowalska"), (6, "bruno", "Bruno", "Müller"), (7, "chen", "Chen", "Wei")]


def write(relative: str, build) -> None:
    path = OUT / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as stream:
        writer = XmlWriter(stream)
        build(writer)
        writer.close()


def moodle_backup(w: XmlWriter) -> None:
    with w.element("moodle_backup"), w.element("information"):
        for name, value in [
                ("name", "backup-moodle2-course-2-demo-20241119-0706.mbz"),
                ("moodle_version", "2024100700"), ("moodle_release", "4.5 (Build: 20241007)"),
                ("backup_version", "2024100700"), ("backup_release", "4.5"),
                ("backup_date", WHEN), ("mnet_remoteusers", 0), ("include_files", 1),
                ("include_file_references_to_external_content", 0),
                ("original_wwwroot", "https://moodle.example.org"),
                ("original_site_identifier_hash", hashlib.md5(b"demo").hexdigest()),
                ("original_course_id", 2), ("original_course_format", "topics"),
                ("original_course_fullname", "Demo course: streaming backups"),
                ("original_course_shortname", "DEMO"), ("original_course_startdate", WHEN),
                ("original_course_enddate", 0), ("original_course_contextid", 20),
                ("original_system_contextid", 1)]:
            w.leaf(name, value)
        with w.element("details"), w.element("detail", {"backup_id": hashlib.md5(b"id").hexdigest()}):
            for name, value in [("type", "course"), ("format", "moodle2"), ("interactive", 1),
                                ("mode", 10), ("execution", 1), ("executiontime", 0)]:
                w.leaf(name, value)
        with w.element("contents"):
            with w.element("activities"):
                for cmid, section, module, title in ACTIVITIES:
                    w.record("activity", {"moduleid": cmid, "sectionid": section,
                                          "modulename": module, "title": title,
                                          "directory": f"activities/{module}_{cmid}",
                                          "insubsection": ""})
            with w.element("sections"):
                for sectionid, _, title in SECTIONS:
                    w.record("section", {"sectionid": sectionid, "title": title,
                                         "directory": f"sections/section_{sectionid}",
                                         "parentcmid": "", "modname": ""})
            w.record("course", {"courseid": 2, "title": "DEMO", "directory": "course"})
        with w.element("settings"):
            for name, value in [("filename", "demo.mbz"), ("users", 1), ("anonymize", 0),
                                ("activities", 1), ("blocks", 1), ("files", 1)]:
                w.record("setting", {"level": "root", "name": name, "value": value})
            for sectionid, _, _ in SECTIONS:
                w.record("setting", {"level": "section", "section": f"section_{sectionid}",
                                     "name": f"section_{sectionid}_included", "value": 1})
            for cmid, _, module, _ in ACTIVITIES:
                w.record("setting", {"level": "activity", "activity": f"{module}_{cmid}",
                                     "name": f"{module}_{cmid}_included", "value": 1})


def course(w: XmlWriter) -> None:
    with w.element("course", {"id": 2, "contextid": 20}):
        for name, value in [("shortname", "DEMO"), ("fullname", "Demo course: streaming backups"),
                            ("summary", "<p>A course written by <b>mbx</b>.</p>"),
                            ("summaryformat", 1), ("format", "topics"), ("startdate", WHEN),
                            ("enddate", 0), ("lang", ""), ("idnumber", ""), ("visible", 1)]:
            w.leaf(name, value)
        with w.element("category", {"id": 1}):
            w.leaf("name", "Miscellaneous")
            w.leaf("description", None)
        with w.element("tags"):
            pass


def section(sectionid: int, number: int, title: str):
    def build(w: XmlWriter) -> None:
        sequence = ",".join(str(cmid) for cmid, sec, _, _ in ACTIVITIES if sec == sectionid)
        w.record("section", {"number": number, "name": title, "summary": "",
                             "summaryformat": 1, "sequence": sequence, "visible": 1,
                             "availabilityjson": None, "timemodified": WHEN},
                 attrs={"id": sectionid})
    return build


def forum(cmid: int, title: str):
    def build(w: XmlWriter) -> None:
        with w.element("activity", {"id": cmid - 200, "moduleid": cmid, "modulename": "forum",
                                    "contextid": cmid + 100}):
            with w.element("forum", {"id": cmid - 200}):
                for name, value in [("type", "general"), ("name", title),
                                    ("intro", "<p>Say hello &amp; tell us about you.</p>"),
                                    ("introformat", 1), ("assessed", 0), ("scale", 0),
                                    ("timemodified", WHEN)]:
                    w.leaf(name, value)
                with w.element("discussions"):
                    post_id = cmid * 10
                    for number, (userid, _, first, _) in enumerate(USERS, 1):
                        with w.element("discussion", {"id": cmid * 10 + number}):
                            for name, value in [("name", f"Hello from {first}"),
                                                ("firstpost", post_id + 1), ("userid", userid),
                                                ("groupid", -1), ("timemodified", WHEN)]:
                                w.leaf(name, value)
                            with w.element("posts"):
                                for reply in range(2):
                                    post_id += 1
                                    with w.element("post", {"id": post_id}):
                                        for name, value in [
                                                ("parent", 0 if reply == 0 else post_id - 1),
                                                ("userid", USERS[(number + reply) % 3][0]),
                                                ("created", WHEN + post_id),
                                                ("subject", f"Re: Hello from {first}" if reply else f"Hello from {first}"),
                                                ("message", f"<p>Message {post_id}: ¡hola! привет 你好</p>"),
                                                ("messageformat", 1), ("attachment", ""),
                                                ("wordcount", None)]:
                                            w.leaf(name, value)
                                        with w.element("ratings"):
                                            pass
                for wrapper in ("subscriptions", "digests", "readposts", "trackedprefs", "grades"):
                    with w.element(wrapper):
                        pass
    return build


def page(cmid: int, title: str):
    def build(w: XmlWriter) -> None:
        with w.element("activity", {"id": cmid - 200, "moduleid": cmid, "modulename": "page",
                                    "contextid": cmid + 100}):
            w.record("page", {"name": title, "intro": "", "introformat": 1,
                              "content": f"<h2>{title}</h2><p>Line one\nline two</p>",
                              "contentformat": 1, "display": 5, "revision": 1,
                              "timemodified": WHEN}, attrs={"id": cmid - 200})
    return build


def module(cmid: int, sectionid: int, modulename: str):
    def build(w: XmlWriter) -> None:
        number = next(num for sec, num, _ in SECTIONS if sec == sectionid)
        w.record("module", {"modulename": modulename, "sectionid": sectionid,
                            "sectionnumber": number, "idnumber": "", "added": WHEN, "score": 0,
                            "indent": 0, "visible": 1, "visibleoncoursepage": 1, "visibleold": 1,
                            "groupmode": 0, "groupingid": 0, "completion": 0,
                            "completiongradeitemnumber": None, "completionview": 0,
                            "completionexpected": 0, "availability": None,
                            "showdescription": 0, "downloadcontent": 1, "lang": ""},
                 attrs={"id": cmid, "version": 2024100700})
    return build


def inforef(user_ids=(), file_ids=(), role_ids=()):
    def build(w: XmlWriter) -> None:
        with w.element("inforef"):
            for kind, values in (("user", user_ids), ("file", file_ids), ("role", role_ids)):
                if values:
                    with w.element(f"{kind}ref"):
                        for value in values:
                            w.record(kind, {"id": value})
    return build


def enrolments(w: XmlWriter) -> None:
    with w.element("enrolments"), w.element("enrols"):
        with w.element("enrol", {"id": 1}):
            for name, value in [("enrol", "manual"), ("status", 0), ("name", None),
                                ("enrolperiod", 0), ("enrolstartdate", 0), ("enrolenddate", 0),
                                ("expirynotify", 0), ("expirythreshold", 86400), ("notifyall", 0),
                                ("roleid", 5), ("timecreated", WHEN), ("timemodified", WHEN)]:
                w.leaf(name, value)
            with w.element("user_enrolments"):
                for userid, *_ in USERS:
                    w.record("enrolment", {"status": 0, "userid": userid, "timestart": WHEN,
                                           "timeend": 0, "modifierid": 2, "timecreated": WHEN,
                                           "timemodified": WHEN}, attrs={"id": userid})


def course_roles(w: XmlWriter) -> None:
    with w.element("roles"):
        with w.element("role_overrides"):
            pass
        with w.element("role_assignments"):
            for userid, *_ in USERS:
                w.record("assignment", {"roleid": 5, "userid": userid, "timemodified": WHEN,
                                        "modifierid": 2, "component": "", "itemid": 0,
                                        "sortorder": 0}, attrs={"id": userid})


def roles(w: XmlWriter) -> None:
    with w.element("roles_definition"):
        w.record("role", {"name": "", "shortname": "student", "nameincourse": None,
                          "description": "", "sortorder": 5, "archetype": "student"},
                 attrs={"id": 5})


def users(w: XmlWriter) -> None:
    with w.element("users"):
        for userid, username, first, last in USERS:
            w.record("user", {"username": username, "firstname": first, "lastname": last,
                              "email": f"{username}@example.org", "auth": "manual",
                              "confirmed": 1, "deleted": 0, "lang": "en",
                              "timecreated": WHEN}, attrs={"id": userid, "contextid": userid + 30})


def files(w: XmlWriter) -> None:
    with w.element("files"):
        pass


def questions(w: XmlWriter) -> None:
    with w.element("question_categories"):
        pass


def main() -> None:
    write("moodle_backup.xml", moodle_backup)
    write("course/course.xml", course)
    for sectionid, number, title in SECTIONS:
        write(f"sections/section_{sectionid}/section.xml", section(sectionid, number, title))
    everyone = [userid for userid, *_ in USERS]
    write("course/enrolments.xml", enrolments)
    write("course/roles.xml", course_roles)
    write("course/inforef.xml", inforef(user_ids=everyone, role_ids=[5]))
    write("roles.xml", roles)
    for cmid, sectionid, modulename, title in ACTIVITIES:
        folder = f"activities/{modulename}_{cmid}"
        write(f"{folder}/{modulename}.xml", (forum if modulename == "forum" else page)(cmid, title))
        write(f"{folder}/module.xml", module(cmid, sectionid, modulename))
        write(f"{folder}/inforef.xml", inforef(user_ids=everyone if modulename == "forum" else []))
    write("users.xml", users)
    write("files.xml", files)
    write("questions.xml", questions)


if __name__ == "__main__":
    main()
