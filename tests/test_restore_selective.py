"""Selective restore: one activity, one section, a course without users; and the
user-conflict choices. What may come along is read independently (lxml over the
members, tarfile for the container): the inforef closure of what was chosen."""

from __future__ import annotations

import sqlite3
import tarfile
from pathlib import Path

import pytest
from lxml import etree

import mbx.restore
from conftest import FIXTURES
from mbx.errors import MbxError

SYNTH = FIXTURES.parent / "moodle-restored" / "synth-2M-seed1.mbz"
CONFLICT = FIXTURES / "instructure__moodle2cc/moodle2-backup"


def xml(archive: Path, name: str):
    if archive.is_dir():
        return etree.fromstring((archive / name).read_bytes())
    with tarfile.open(archive, "r:gz") as tar:
        member = tar.extractfile(tar.getmember(name))
        return etree.fromstring(member.read())


def activities(archive: Path) -> list[dict]:
    root = xml(archive, "moodle_backup.xml")
    return [{child.tag: child.text for child in activity}
            for activity in root.find("information/contents/activities")]


def section_number(archive: Path, directory: str) -> int:
    return int(xml(archive, f"{directory}/section.xml").findtext("number"))


def userrefs(archive: Path, folders: list[str]) -> set[str]:
    with tarfile.open(archive, "r:gz") as tar:
        names = set(tar.getnames())
    found = set()
    for folder in folders:
        if f"{folder}/inforef.xml" in names:
            found |= {node.text for node in xml(archive, f"{folder}/inforef.xml").findall("userref/user/id")}
    return found


def usernames(archive: Path, ids: set[str]) -> set[str]:
    return {user.findtext("username") for user in xml(archive, "users.xml").findall("user")
            if user.get("id") in ids}


def rows(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    database = sqlite3.connect(path)
    try:
        return database.execute(sql, params).fetchall()
    finally:
        database.close()


def restore(tmp_path: Path, archive: Path, **options):
    return mbx.restore.restore(archive, f"sqlite:{tmp_path / 't.db'}", files=str(tmp_path / "pool"),
                               **options)


def test_one_activity_brings_only_its_closure(tmp_path):
    listed = activities(SYNTH)
    forum = max((a for a in listed if a["modulename"] == "forum"), key=lambda a: int(a["moduleid"]))
    report = restore(tmp_path, SYNTH, activities=(int(forum["moduleid"]),))
    db = tmp_path / "t.db"
    course = report.course_id
    assert rows(db, "SELECT COUNT(*) FROM mdl_course_modules WHERE course = ?", (course,)) == [(1,)]
    assert rows(db, "SELECT COUNT(*) FROM mdl_forum WHERE course = ?", (course,)) == [(1,)]
    for table in ("page", "label", "url", "resource", "folder", "assign", "quiz"):
        assert rows(db, f"SELECT COUNT(*) FROM mdl_{table} WHERE course = ?", (course,)) == [(0,)], table
    document = xml(SYNTH, f"{forum['directory']}/forum.xml")
    posts = len(document.findall("forum/discussions/discussion/posts/post"))
    assert rows(db, "SELECT COUNT(*) FROM mdl_forum_posts") == [(posts,)]
    section_folder = next(entry.findtext("directory") for entry in
                          xml(SYNTH, "moodle_backup.xml").find("information/contents/sections")
                          if entry.findtext("sectionid") == forum["sectionid"])
    allowed = usernames(SYNTH, userrefs(SYNTH, ["course", section_folder, forum["directory"]]))
    restored_users = {name for name, in rows(db, "SELECT username FROM mdl_user WHERE id > 2")}
    assert restored_users and restored_users <= allowed
    everyone = usernames(SYNTH, userrefs(SYNTH, ["course"] + [a["directory"] for a in listed]))
    assert restored_users == allowed & everyone
    # the files of other activities stay out: every files row is in this course's contexts
    module_context, = rows(db, "SELECT id FROM mdl_context WHERE contextlevel = 70")[0]
    areas = {component for component, in rows(db, "SELECT DISTINCT component FROM mdl_files")}
    assert areas <= {"mod_forum", "course", "user", "group", "grade", "question"}, areas
    _ = module_context


def test_one_section_brings_its_activities_only(tmp_path):
    listed = activities(SYNTH)
    sections = xml(SYNTH, "moodle_backup.xml").find("information/contents/sections")
    chosen = next(entry for entry in sections if len([a for a in listed if a["sectionid"] == entry.findtext("sectionid")]) >= 3)
    number = section_number(SYNTH, chosen.findtext("directory"))
    inside = [a for a in listed if a["sectionid"] == chosen.findtext("sectionid")]
    report = restore(tmp_path, SYNTH, sections=(number,))
    db = tmp_path / "t.db"
    assert rows(db, "SELECT COUNT(*) FROM mdl_course_modules WHERE course = ?", (report.course_id,)) == [(len(inside),)]
    sequence, = rows(db, "SELECT sequence FROM mdl_course_sections WHERE course = ? AND section = ?",
                     (report.course_id, number))[0]
    assert len(sequence.split(",")) == len(inside)
    modules = sorted(name for name, in rows(db, "SELECT m.name FROM mdl_course_modules cm JOIN mdl_modules m "
                                                 "ON m.id = cm.module WHERE cm.course = ?", (report.course_id,)))
    assert modules == sorted(a["modulename"] for a in inside)


def test_no_users_restores_no_user_data(tmp_path):
    report = restore(tmp_path, SYNTH, users=False)
    db = tmp_path / "t.db"
    assert rows(db, "SELECT COUNT(*) FROM mdl_user") == [(2,)]  # the site's guest and admin
    for table in ("forum_posts", "forum_discussions", "user_enrolments", "role_assignments",
                  "assign_submission", "quiz_attempts", "grade_grades", "logstore_standard_log"):
        assert rows(db, f"SELECT COUNT(*) FROM mdl_{table}") == [(0,)], table
    assert report.users == []
    assert rows(db, "SELECT COUNT(*) FROM mdl_course_modules") == [(len(activities(SYNTH)),)]
    assert not {component for component, in rows(db, "SELECT DISTINCT component FROM mdl_files")} & {"user"}


def test_no_files_writes_no_blob(tmp_path):
    report = restore(tmp_path, SYNTH, include_files=False)
    assert report.files_written == 0
    assert not (tmp_path / "pool").exists() or not any(
        path.is_file() for path in (tmp_path / "pool").rglob("*") if ".incoming" not in path.parts)


def test_a_user_conflict_is_reported_and_resolved_as_chosen(tmp_path):
    admin = next(user for user in xml(CONFLICT, "users.xml").findall("user")
                 if user.findtext("username") == "admin")
    (tmp_path / "map").mkdir()
    mapped = restore(tmp_path / "map", CONFLICT)
    assert [w.code for w in mapped.warnings if w.code == "restoreuserconflict"] == ["restoreuserconflict"]
    assert "Trying to restore user 'admin' from backup file will cause conflict" in " ".join(
        w.message for w in mapped.warnings)
    decision = next(d for d in mapped.users if d.username == "admin")
    assert (decision.action, decision.rule, decision.target_id) == ("conflict", "2D", 2)
    assert rows(tmp_path / "map" / "t.db", "SELECT COUNT(*) FROM mdl_user WHERE username LIKE 'admin%'") == [(1,)]

    (tmp_path / "create").mkdir()
    created = restore(tmp_path / "create", CONFLICT, user_conflicts="create")
    names = rows(tmp_path / "create" / "t.db",
                 "SELECT username, email FROM mdl_user WHERE username LIKE 'admin%' ORDER BY id")
    assert names[0] == ("admin", "admin@example.invalid")
    assert names[1][0].startswith("admin_") and names[1][1] == admin.findtext("email")
    assert created.course_id

    (tmp_path / "fail").mkdir()
    with pytest.raises(MbxError) as caught:
        restore(tmp_path / "fail", CONFLICT, user_conflicts="fail")
    assert caught.value.code == "restoreuserconflict"
    assert rows(tmp_path / "fail" / "t.db", "SELECT COUNT(*) FROM sqlite_master WHERE name = 'mdl_course'") == [(0,)]
