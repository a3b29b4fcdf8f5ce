"""Transforms, archive to archive: the identity, roll-dates, strip-users, rewrite-users,
the CLI, and failure. Expected values come from independent readings of the input
(tarfile/zipfile, lxml) and from the declarations (Moodle's facts as data)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from conftest import FIXTURES
from corpus import all_members, files_of, items
from mbx.archive.index import parse_archive_index
from mbx.errors import MbxError
from mbx.inspect import summarize
from mbx.moodle2.catalogue import elements_of
from mbx.moodle2.settings import USER_DATA_MEMBERS
from mbx.progress import CancelToken, Monitor
from mbx.transform import roll_dates, rewrite_users, run, strip_users, transform
from mbx.verification import verify

OFFSET = 7 * 86400 + 3
XML = etree.XMLParser(resolve_entities=False, huge_tree=True, strip_cdata=False)


def check_archive_index(path: Path) -> None:
    """The output's index is its first entry and lists the entries after it, sizes true."""
    with tarfile.open(path, "r:gz") as archive:
        members = archive.getmembers()
        assert members[0].name == ".ARCHIVE_INDEX"
        listed = parse_archive_index(io.BytesIO(archive.extractfile(members[0]).read()))
        assert [(m.name, m.is_dir, m.size if not m.is_dir else 0) for m in listed] == \
            [(m.name.rstrip("/"), m.isdir(), m.size) for m in members[1:]]


def verify_errors(path) -> set[tuple[str, str | None, str]]:
    report = verify(path)
    return {(p.code, p.member, p.message) for p in report.problems if p.severity == "error"}


def moodle2_items() -> list[str]:
    return [item for item in items()
            if not any(name == "moodle.xml" for name, _ in _names(FIXTURES / item))]


def _names(path: Path):
    if path.is_dir():
        return [(p.name, None) for p in path.iterdir()]
    return [(name, None) for name, _ in all_members(path)][:200]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("transforms")


# -- the identity ---------------------------------------------------------------------------

@pytest.mark.parametrize("item", moodle2_items())
def test_identity_copies_every_member_byte_for_byte(item, work):
    source = FIXTURES / item
    output = work / (item.replace("/", "_") + ".id.mbz")
    report = run(source, output, [])
    assert files_of(output) == files_of(source)
    check_archive_index(output)
    assert report.members_rewritten == report.members_dropped == 0


@pytest.mark.parametrize("item", moodle2_items()[::9])
def test_identity_to_zip(item, work):
    source = FIXTURES / item
    output = work / (item.replace("/", "_") + ".id.zip")
    run(source, output, [], format="zip")
    assert zipfile.ZipFile(output).testzip() is None
    assert files_of(output) == files_of(source)


# -- roll-dates -------------------------------------------------------------------------------

def _date_fields(name: str) -> dict[str, tuple[str, ...]]:
    """Declared configuration date fields of member ``name``: element path -> fields."""
    fields: dict[str, tuple[str, ...]] = {}
    for path, element in elements_of(name):
        if element.dates and not element.userdata:
            fields[path] = fields.get(path, ()) + element.dates
    return fields


def _path(element) -> str:
    return "/" + "/".join(e.tag for e in reversed([element, *element.iterancestors()]))


def _moved(before: str | None, after: str | None, offset: int) -> bool:
    if before is None or not before.strip().lstrip("-").isdigit() or int(before) == 0:
        return before == after
    return after == str(int(before) + offset)


def _shifted_tree(text: str | None, offset: int):
    if not text or text == "$@NULL@$":
        return text
    tree = json.loads(text)

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "date" and isinstance(node.get("t"), int):
                node["t"] += offset
            for child in node.get("c", ()):
                walk(child)
    walk(tree)
    return tree


@pytest.mark.parametrize("item", moodle2_items())
def test_roll_dates_moves_exactly_the_declared_dates(item, work):
    source = FIXTURES / item
    output = work / (item.replace("/", "_") + ".rolled.mbz")
    roll_dates(source, output, offset=OFFSET)
    before, after = files_of(source), files_of(output)
    assert before.keys() == after.keys()
    moved = 0
    for name, data in before.items():
        if not name.endswith(".xml") or not data.strip():
            assert after[name] == data, name
            continue
        fields = _date_fields(name)
        old_root, new_root = etree.fromstring(data, XML), etree.fromstring(after[name], XML)
        for old, new in zip(old_root.iter(etree.Element), new_root.iter(etree.Element),
                            strict=True):
            assert old.attrib == new.attrib
            if len(old):
                continue
            parent = _path(old.getparent()) if old.getparent() is not None else ""
            declared = old.tag in fields.get(parent, ())
            information = (name == "moodle_backup.xml" and parent == "/moodle_backup/information"
                           and old.tag in ("original_course_startdate", "original_course_enddate"))
            availability = (parent, old.tag) in (("/section", "availabilityjson"),
                                                 ("/module", "availability"))
            if declared or information:
                assert _moved(old.text, new.text, OFFSET), f"{name}: {parent}/{old.tag}"
                moved += old.text != new.text
            elif availability and old.text and "date" in old.text:
                assert _shifted_tree(old.text, OFFSET) == json.loads(new.text), name
            else:
                assert old.text == new.text, f"{name}: {parent}/{old.tag} changed"
    assert verify_errors(output) <= verify_errors(source)
    course = before.get("course/course.xml")
    if course and re.search(rb"<startdate>[1-9]", course):
        assert moved >= 1
    # mbx ls shows the course moved
    old, new = summarize(source)["course"], summarize(output)["course"]
    for key in ("startdate", "enddate"):
        if old.get(key):
            assert new[key] == old[key] + OFFSET, key


def test_roll_dates_to_a_start_day_and_per_activity(work):
    source = next(FIXTURES / item for item in moodle2_items()
                  if (FIXTURES / item).name == "moodle-311-sample.mbz")
    output = work / "start.mbz"
    roll_dates(source, output, start="2027-02-01")
    course = etree.fromstring(files_of(output)["course/course.xml"])
    assert int(course.findtext("startdate")) == 1801440000  # 2027-02-01T00:00:00Z
    with pytest.raises(MbxError, match="offset"):
        roll_dates(source, work / "bad.mbz", offset="+3x")
    assert not (work / "bad.mbz").exists()


def test_roll_one_activity_to_a_day(work):
    """An activity moved to a day: its earliest configuration date lands on that day, at
    the same time of day, its other dates keep their distance, the course stays."""
    for item in moodle2_items():
        members = files_of(FIXTURES / item)
        found = None
        for name, data in members.items():
            match = re.fullmatch(r"activities/([a-z]+)_(\d+)/\1\.xml", name)
            if not match:
                continue
            fields = _date_fields(name).get(f"/activity/{match.group(1)}", ())
            root = etree.fromstring(data, XML)[0]
            texts = {f: root.findtext(f) or "0" for f in fields}
            dates = {f: int(t) for f, t in texts.items() if t.isdigit() and int(t) > 0}
            if len(dates) >= 2:
                found = (name, int(match.group(2)), match.group(1), dates)
                break
        if found:
            break
    name, cmid, module, dates = found
    output = work / "one-activity.mbz"
    roll_dates(FIXTURES / item, output, activities={cmid: "2031-05-06"})
    root = etree.fromstring(files_of(output)[name], XML)[0]
    moved = {field: int(root.findtext(field)) for field in dates}
    earliest = min(dates.values())
    offset = moved[min(dates, key=dates.get)] - earliest
    assert {field: value - offset for field, value in moved.items()} == dates
    new_earliest = earliest + offset
    assert time.strftime("%Y-%m-%d", time.gmtime(new_earliest)) == "2031-05-06"
    assert new_earliest % 86400 == earliest % 86400
    assert files_of(output).get("course/course.xml") == members.get("course/course.xml")


# -- strip-users ------------------------------------------------------------------------------

def _userdata_paths(name: str) -> set[str]:
    return {path for path, element in elements_of(name) if element.userdata}


@pytest.mark.parametrize("item", moodle2_items())
def test_strip_users_leaves_no_user_data(item, work):
    source = FIXTURES / item
    output = work / (item.replace("/", "_") + ".stripped.mbz")
    strip_users(source, output)
    after = files_of(output)
    assert "users.xml" not in after
    assert not any(USER_DATA_MEMBERS.fullmatch(name) for name in after)
    blobs = {name.rsplit("/", 1)[1] for name in after if re.fullmatch(r"files/\w\w/\w{40}", name)}
    kept_hashes = set()
    for name, data in after.items():
        if not name.endswith(".xml") or not data.strip():
            continue
        root = etree.fromstring(data, XML)
        paths = _userdata_paths(name)
        assert not any(_path(e) in paths for e in root.iter(etree.Element)), name
        if name.endswith("inforef.xml"):
            assert root.find("userref/user") is None, name
        if name == "files.xml":
            for record in root.iter("file"):
                assert record.findtext("component") != "user"
                if record.findtext("filename") != ".":
                    kept_hashes.add(record.findtext("contenthash"))
        if name == "moodle_backup.xml":
            for setting in root.iter("setting"):
                setting_name = setting.findtext("name") or ""
                if setting_name == "users" or setting_name.endswith("_userinfo"):
                    assert setting.findtext("value") == "0", setting_name
    # the blobs left are exactly those of the file records left (that the input had)
    input_blobs = {name.rsplit("/", 1)[1] for name in files_of(source)
                   if re.fullmatch(r"files/\w\w/\w{40}", name)}
    assert blobs <= kept_hashes
    assert kept_hashes & input_blobs <= blobs
    assert verify_errors(output) <= verify_errors(source)
    # mbx ls: no users, no user data, the activities and sections all still there
    old, new = summarize(source), summarize(output)
    assert new["counts"]["users"] == 0 and not new["has_users"]
    assert [a["title"] for a in new["activities"]] == [a["title"] for a in old["activities"]]
    assert new["counts"]["sections"] == old["counts"]["sections"]


# -- rewrite-users ----------------------------------------------------------------------------

def test_rewrite_users_from_a_table(work):
    source = next(FIXTURES / item for item in moodle2_items()
                  if b"<username>" in files_of(FIXTURES / item).get("users.xml", b""))
    users = etree.fromstring(files_of(source)["users.xml"])
    first, second = users.findall("user")[:2]
    table = work / "users.csv"
    table.write_text("field,old,new\n"
                     f"username,{first.findtext('username').upper()},renamed\n"
                     f"email,{second.findtext('email')},new@example.org\n"
                     "username,nobody-has-this,x\n")
    output = work / "users.mbz"
    report = rewrite_users(source, output, table)
    rewritten = etree.fromstring(files_of(output)["users.xml"])
    by_id = {user.get("id"): user for user in rewritten.findall("user")}
    assert by_id[first.get("id")].findtext("username") == "renamed"
    assert by_id[second.get("id")].findtext("email") == "new@example.org"
    assert report.details["rewrite-users"]["unmatched"] == ["nobody-has-this"]
    others = {n: d for n, d in files_of(output).items() if n != "users.xml"}
    assert others == {n: d for n, d in files_of(source).items() if n != "users.xml"}


# -- composition, CLI, failure -------------------------------------------------------------------

SAMPLE = "ssatuk__moodle-format_tiles/moodle-311-sample.mbz"


def test_transforms_compose_in_one_pass(work):
    source = FIXTURES / SAMPLE
    output = work / "composed.mbz"
    report = transform(source, output, strip_users=True, roll_dates={"offset": "+1d"})
    assert report.transforms == ["strip-users", "roll-dates"]
    course = etree.fromstring(files_of(output)["course/course.xml"])
    original = etree.fromstring(files_of(source)["course/course.xml"])
    assert int(course.findtext("startdate")) == int(original.findtext("startdate")) + 86400


def _mbx(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "mbx", *args], capture_output=True, text=True,
                          **kwargs)


def test_cli_commands(work):
    source = str(FIXTURES / SAMPLE)
    result = _mbx("transform", source, str(work / "cli.mbz"), "--roll-dates", "+2d", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["details"]["roll-dates"]["offset"] == 2 * 86400
    result = _mbx("roll-dates", source, str(work / "cli2.mbz"))
    assert result.returncode == 2 and "needs --offset" in result.stderr
    result = _mbx("dates", source)
    assert result.returncode == 0 and result.stdout.startswith("member,path,id,field,value,date")
    rows = result.stdout.replace("2024-02-13T00:00:00Z", "2024-03-01T00:00:00Z")
    (work / "dates.csv").write_text(rows)
    result = _mbx("roll-dates", source, str(work / "cli3.mbz"), "--dates-file",
                  str(work / "dates.csv"))
    assert result.returncode == 0, result.stderr
    course = etree.fromstring(files_of(work / "cli3.mbz")["course/course.xml"])
    assert course.findtext("startdate") == "1709251200"
    result = _mbx("strip-users", source, source)
    assert result.returncode == 1 and "is the input" in result.stderr
    result = _mbx("anonymise", source, str(work / "anon.mbz"), env={**os.environ,
                                                                   "MBX_ANONYMISE_KEY": ""})
    assert result.returncode == 2 and "needs --key" in result.stderr
    result = _mbx("transform", source, str(work / "anon.mbz"), "--anonymise", "--key", "k",
                  "--roll-dates", "+1d", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["transforms"] == ["anonymise", "roll-dates"]


def test_a_failed_transform_leaves_no_output(work, tmp_path):
    source = FIXTURES / SAMPLE
    token = CancelToken()
    seen = []

    def listener(snapshot):
        seen.append(snapshot.phase)
        if snapshot.phase == "transforming" and snapshot.done_members > 10:
            token.cancel()

    with pytest.raises(Exception):
        run(source, tmp_path / "out.mbz", [], progress=Monitor(listener, cancel=token, interval=0))
    assert "transforming" in seen
    assert os.listdir(tmp_path) == []


def test_hostile_xml_is_refused_and_nothing_written(tmp_path):
    folder = tmp_path / "backup"
    (folder / "course").mkdir(parents=True)
    sample = files_of(FIXTURES / SAMPLE)
    for name, data in sample.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (folder / "course" / "course.xml").write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY x "y">]><course id="1">&x;</course>')
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(MbxError) as refused:
        roll_dates(folder, out / "rolled.mbz", offset="+1d")
    assert refused.value.code == "xml-dtd-forbidden"
    assert os.listdir(out) == []


@pytest.mark.parametrize("item", [item for item in moodle2_items()
                                  if b"<username>" in files_of(FIXTURES / item).get("users.xml", b"")])
def test_rewrite_users_on_every_corpus_backup(item, work):
    """Every user renamed: verify finds nothing new, ls counts the same users."""
    source = FIXTURES / item
    users = etree.fromstring(files_of(source)["users.xml"], XML)
    rows = [("username", user.findtext("username"), f"renamed{number}")
            for number, user in enumerate(users.iter("user"))
            if user.findtext("username")]
    output = work / (item.replace("/", "_") + ".users.mbz")
    report = rewrite_users(source, output, rows)
    assert report.details["rewrite-users"]["fields_changed"] == len(rows)
    renamed = {u.findtext("username") for u in etree.fromstring(
        files_of(output)["users.xml"], XML).iter("user")}
    assert {new for _, _, new in rows} <= renamed
    assert verify_errors(output) <= verify_errors(source)
    assert summarize(output)["counts"]["users"] == summarize(source)["counts"]["users"]


def test_hostile_member_names_write_nothing_anywhere(tmp_path):
    """A tar.gz whose members climb out of the archive is refused before any output;
    nothing appears beside the output or where the names point."""
    evil = tmp_path / "evil.mbz"
    with tarfile.open(evil, "w:gz") as tar:
        for name, data in (("moodle_backup.xml", files_of(FIXTURES / SAMPLE)["moodle_backup.xml"]),
                           ("../escaped.xml", b"<x/>"), ("/tmp/absolute.xml", b"<x/>")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out = tmp_path / "out"
    out.mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(MbxError):
        transform(evil, out / "t.mbz", roll_dates={"offset": "+1d"}, strip_users=True)
    assert os.listdir(out) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not Path("/tmp/absolute.xml").exists()
