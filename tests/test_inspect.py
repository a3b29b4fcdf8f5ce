"""``mbx ls`` (``summarize``) and ``mbx info`` (``describe``) against an independent
reading: lxml for the XML, tarfile/zipfile/os for the containers, on every real
backup and on ``mbx synth`` output."""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from conftest import FIXTURES
from corpus import items, xml_members
from mbx.archive import ArchiveLimits, open_backup
from mbx.cli import main
from mbx.cli.text import summary_lines
from mbx.errors import ArchiveError
from mbx.inspect import describe, summarize
from mbx.verification import verify
from test_cli import SAMPLE

MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
MOODLE1 = "moodle__moodle/moodle1-converter-fixtures"
MOODLE2 = [entry["item"] for entry in MANIFEST if entry["item"] != MOODLE1]
ACTIVITY_BACKUPS = [entry["item"] for entry in MANIFEST if entry["type"] == "activity"]
#: The course whose 3.3 MB of files all sit in sections (format_grid images).
GRID = "gjb2048__moodle-format_grid/backup-moodle2-course-21-gt-20131104-1255-nu.mbz"


def _text(element, path):
    """A leaf as the backup holds it; ``None`` for absent or ``$@NULL@$``."""
    if element is None:
        return None
    found = element.find(path)
    if found is None or found.text == "$@NULL@$":
        return None
    return found.text or ""


def _date(text):
    return int(text) if text is not None and text.lstrip("-").isdigit() else None


class Reading:
    """One corpus item read with lxml alone."""

    def __init__(self, item: str) -> None:
        self.xml = dict(xml_members(item))
        self.info = etree.fromstring(self.xml["moodle_backup.xml"]).find("information")

    def root(self, name):
        data = self.xml.get(name)
        return None if data is None else etree.fromstring(data)

    def activity_contexts(self) -> dict[str, str]:
        """activity folder -> contextid of its module file's root."""
        found = {}
        for name, data in self.xml.items():
            parts = name.split("/")
            if len(parts) == 3 and parts[0] == "activities" and \
                    parts[2] == parts[1].rsplit("_", 1)[0] + ".xml":
                found[parts[1]] = etree.fromstring(data).get("contextid")
        return found

    def file_records(self):
        files = self.root("files.xml")
        return [] if files is None else [
            f for f in files.iterfind("file")
            if _text(f, "filename") != "." and _text(f, "contenthash")]


@pytest.mark.parametrize("item", ACTIVITY_BACKUPS)
def test_activity_backups_list_every_activity(item, capsys):
    reading = Reading(item)
    expected = [(_text(a, "moduleid"), _text(a, "modulename"), _text(a, "title"))
                for a in reading.info.iterfind("contents/activities/activity")]
    assert expected  # an activity backup holds one
    result = summarize(FIXTURES / item)
    assert result["type"] == "activity"
    assert [(a["moduleid"], a["modulename"], a["title"]) for a in result["activities"]] == expected
    assert result["counts"]["activities"] == len(expected)
    assert main(["-q", "ls", str(FIXTURES / item)]) == 0
    out = capsys.readouterr().out
    listing = out.split("  largest:")[0]  # not only under "largest"
    for _, modulename, title in expected:
        assert re.search(rf"^ +{re.escape(modulename)} +{re.escape(title[:20])}", listing, re.M)


@pytest.mark.parametrize("item", MOODLE2)
def test_what_an_admin_checks_matches_the_xml(item):
    reading = Reading(item)
    info = reading.info
    course = reading.root("course/course.xml")
    result = summarize(FIXTURES / item)
    assert result["backup_date"] == _date(_text(info, "backup_date"))
    assert result["source_site"] == _text(info, "original_wwwroot")
    assert result["course"] == {
        "fullname": _text(info, "original_course_fullname"),
        "shortname": _text(info, "original_course_shortname"),
        "format": _text(info, "original_course_format") or _text(course, "format"),
        "startdate": _date(_text(info, "original_course_startdate") or _text(course, "startdate")),
        "enddate": _date(_text(info, "original_course_enddate") or _text(course, "enddate")),
    }
    root_settings = {_text(s, "name"): _text(s, "value") for s in info.iterfind("settings/setting")
                     if _text(s, "level") == "root"}
    for name, value in result["settings"].items():
        assert value == (None if name not in root_settings else root_settings[name] == "1"), name
    assert {"anonymize", "blocks", "logs", "grade_histories", "groups", "role_assignments",
            "users", "files"} <= set(result["settings"])

    groups, questions, users = (reading.root(name)
                                for name in ("groups.xml", "questions.xml", "users.xml"))
    assert result["counts"] == {
        "activities": len(info.findall("contents/activities/activity")),
        "sections": len(info.findall("contents/sections/section")),
        "users": _records(users, "user"),
        "files": len(reading.file_records()),
        "groups": _records(groups, "group"),
        "groupings": _records(groups, "groupings/grouping"),
        "question_categories": _records(questions, "question_category"),
        "questions": _records(questions, "question_category/questions/question")
        + _records(questions, "question_category/question_bank_entries/question_bank_entry"
                              "/question_version/question_versions/questions/question"),
    }


def _records(root, path) -> int:
    """How many records Moodle's processor sees at ``path``: elements with at least
    one leaf child (moodle2cc's hand-made backup has a question category without)."""
    if root is None:
        return 0
    return sum(any(len(child) == 0 for child in element) for element in root.iterfind(path))


def _owners(reading: Reading):
    """Where each files.xml record's bytes sit, read independently."""
    activity_of = {context: folder for folder, context in reading.activity_contexts().items()}
    course = _text(reading.info, "original_course_contextid")
    questions, users = reading.root("questions.xml"), reading.root("users.xml")
    categories = set() if questions is None else {
        _text(c, "contextid") for c in questions.iterfind("question_category")}
    user_contexts = set() if users is None else {u.get("contextid") for u in users.iter("user")}
    owners = dict.fromkeys(
        ("activities", "course", "sections", "question_bank", "users", "other"), 0)
    per_activity, per_section = {}, {}
    for record in reading.file_records():
        context, component = _text(record, "contextid"), _text(record, "component") or ""
        size = int(_text(record, "filesize") or 0)
        question = component == "question" or component.startswith("qtype_")
        if question and context in categories:
            owner = "question_bank"
        elif context in activity_of:
            owner = "activities"
            per_activity[activity_of[context]] = per_activity.get(activity_of[context], 0) + size
        elif context == course and (component, _text(record, "filearea")) == ("course", "section"):
            owner = "sections"
            itemid = _text(record, "itemid")
            per_section[itemid] = per_section.get(itemid, 0) + size
        elif context == course:
            owner = "course"
        elif context in categories:
            owner = "question_bank"
        elif context in user_contexts:
            owner = "users"
        else:
            owner = "other"
        owners[owner] += size
    return owners, per_activity, per_section


@pytest.mark.parametrize("item", MOODLE2)
def test_file_bytes_are_attributed(item):
    reading = Reading(item)
    owners, per_activity, per_section = _owners(reading)
    result = summarize(FIXTURES / item)
    assert result["file_bytes"] == owners
    assert sum(owners.values()) == sum(
        int(_text(r, "filesize") or 0) for r in reading.file_records())
    for activity, entry in zip(result["activities"],
                               reading.info.iterfind("contents/activities/activity")):
        folder = _text(entry, "directory").removeprefix("activities/")
        assert activity["file_bytes"] == per_activity.get(folder, 0)
    for section in result["sections"]:
        assert section["file_bytes"] == per_section.get(section["sectionid"], 0)


def test_course_files_are_not_lost():
    """The grid course's 3.3 MB are section images: today's ls showed 0 B everywhere."""
    result = summarize(FIXTURES / GRID)
    assert result["file_bytes"]["sections"] == 3322854
    assert sum(s["file_bytes"] for s in result["sections"]) == 3322854
    assert result["sizes"]["blobs"] == 3322854
    text = "\n".join(summary_lines(result))
    assert "file bytes: 3.3 MB sections" in text


def _container_sizes(path: Path) -> dict:
    """members (files), directories, xml, blobs, other, total from the container itself."""
    entries = []  # (name, is_dir, size)
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            for d in dirs:
                entries.append((os.path.relpath(os.path.join(root, d), path), True, 0))
            for f in files:
                full = os.path.join(root, f)
                entries.append((os.path.relpath(full, path), False, os.path.getsize(full)))
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.infolist()
            dirs = {n.filename.rstrip("/") for n in names if n.is_dir()}
            for n in names:  # zip archives may leave parent folders implicit
                parts = n.filename.rstrip("/").split("/")
                dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
            entries = [(d, True, 0) for d in dirs] + [
                (n.filename, False, n.file_size) for n in names if not n.is_dir()]
    else:
        with tarfile.open(path, "r:gz") as archive:
            # one entry per name: a tar may repeat a name as a hard link to itself
            named = {m.name.removeprefix("./"): m for m in archive
                     if (m.isreg() or m.isdir()) and m.name not in (".", "./")}
            entries = [(name, m.isdir(), m.size) for name, m in named.items()]
    files = [(name, size) for name, is_dir, size in entries if not is_dir
             and not name.rsplit("/", 1)[-1].startswith("._") and not name.startswith("__MACOSX")]
    xml = sum(size for name, size in files if name.endswith(".xml"))
    blobs = sum(size for name, size in files
                if not name.endswith(".xml") and re.fullmatch(r"files/[^/]+/[^/]+", name))
    total = sum(size for _, size in files)
    return {"members": len(files), "xml": xml, "blobs": blobs, "other": total - xml - blobs,
            "total": total}


@pytest.mark.parametrize("item", [i for i in items()
                                  if not i.startswith("LINCS__course-explicit")])
def test_sizes_say_what_they_count(item):
    result = summarize(FIXTURES / item)
    expected = _container_sizes(FIXTURES / item)
    if result["format"] == "moodle1":
        expected["other"] += expected.pop("blobs")
        expected["blobs"] = None
    assert {key: result["sizes"][key] for key in expected} == expected
    assert result["sizes"]["total"] == sum(
        result["sizes"][k] or 0 for k in ("xml", "blobs", "other"))


def test_member_counts_agree_with_ls_long_and_progress(tmp_path, capsys):
    out = tmp_path / "s.mbz"
    assert main(["-q", "synth", str(out), "--size", "2M", "--seed", "3", "--json"]) == 0
    written = json.loads(capsys.readouterr().out)
    with tarfile.open(out, "r:gz") as archive:
        entries = archive.getmembers()
    seen = []
    sizes = summarize(out, progress=seen.append)["sizes"]
    assert sizes["members"] == written["members"] == sum(e.isfile() for e in entries)
    assert sizes["directories"] == written["directories"] == sum(e.isdir() for e in entries)
    assert len(seen) == len(entries) == sizes["members"] + sizes["directories"]
    assert main(["ls", "-l", "--json", str(out)]) == 0
    listed = json.loads(capsys.readouterr().out)
    # ls -l lists the members .ARCHIVE_INDEX names, and the index names all but itself
    assert {m["name"] for m in listed if not m["is_dir"]} | {".ARCHIVE_INDEX"} == {
        e.name for e in entries if e.isfile()}
    assert main(["ls", str(out)]) == 0
    assert (f"{sizes['members']} file members and {sizes['directories']} directories"
            in capsys.readouterr().out)


def _shape(value):
    """Keys and types of a JSON value, with None standing for "any type or null"."""
    if isinstance(value, dict):
        return {key: _shape(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def _same_keys(a, b, where="result"):
    if isinstance(a, dict) and isinstance(b, dict):
        assert list(a) == list(b), where
        for key in a:
            _same_keys(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list) and isinstance(b, list) and a and b:
        _same_keys(a[0], b[0], f"{where}[0]")


def _keys_everywhere(value):
    if isinstance(value, dict):
        for key, v in value.items():
            yield key
            yield from _keys_everywhere(v)
    elif isinstance(value, list):
        for v in value:
            yield from _keys_everywhere(v)


def test_json_shapes_agree_between_moodle1_and_moodle2():
    one = summarize(FIXTURES / MOODLE1)
    two = summarize(SAMPLE)
    assert one["format"] == "moodle1" and two["format"] == "moodle2"
    _same_keys(one, two)
    _same_keys(one["sections"][0]["activities"][0], two["activities"][0], "activity")
    for result in (one, two):
        assert isinstance(result["backup_date"], int)
        for key in ("startdate", "enddate"):
            assert result["course"][key] is None or isinstance(result["course"][key], int)
        assert "path" not in set(_keys_everywhere(result))
    root = etree.parse(str(FIXTURES / MOODLE1 / "moodle.xml")).getroot()
    assert one["backup_date"] == int(root.findtext("INFO/DATE"))
    assert one["course"]["startdate"] == int(root.findtext("COURSE/HEADER/STARTDATE"))
    assert one["source_site"] == root.findtext("INFO/ORIGINAL_WWWROOT")
    assert one["settings"]["users"] is (root.findtext("INFO/DETAILS/USERS") != "none")
    assert one["counts"]["files"] is None and one["file_bytes"]["course"] is None


def test_info_json_shapes_agree_between_moodle1_and_moodle2():
    one = describe(FIXTURES / MOODLE1)
    two = describe(SAMPLE)
    assert list(one) == list(two)
    root = etree.parse(str(FIXTURES / MOODLE1 / "moodle.xml")).getroot()
    assert one["backup_date"] == int(root.findtext("INFO/DATE"))
    assert one["moodle_release"] == root.findtext("INFO/MOODLE_RELEASE")
    assert one["original_course_shortname"] == root.findtext("COURSE/HEADER/SHORTNAME")
    assert one["moodle1"]["INFO"]["DETAILS"]["USERS"] == root.findtext("INFO/DETAILS/USERS")
    assert two["moodle1"] is None
    assert not any(key.isupper() for key in one if key != "moodle1")
    info = etree.parse(str(SAMPLE / "moodle_backup.xml")).getroot().find("information")
    assert two["backup_date"] == int(info.findtext("backup_date"))
    assert "path" not in set(_keys_everywhere(one)) | set(_keys_everywhere(two))


def test_text_plurals_untitled_sections_and_long_titles(tmp_path):
    result = summarize(FIXTURES / ACTIVITY_BACKUPS[0])
    text = "\n".join(summary_lines(result))
    assert "1 activity," in text and "1 activities" not in text and "activitie " not in text
    # an untitled section: moodle_backup.xml's title is the number, section.xml's name NULL
    untitled = summarize(FIXTURES / GRID)
    lines = summary_lines(untitled)
    grid = Reading(GRID)
    for entry in grid.info.iterfind("contents/sections/section"):
        section = grid.root(f"{_text(entry, 'directory')}/section.xml")
        number, name = _text(section, "number"), _text(section, "name")
        shown = name or ("General" if number == "0" else f"Section {number}")
        assert any(re.fullmatch(rf" +{number}  {re.escape(shown)}( .*)?", line) for line in lines)
    # a long title is cut with an ellipsis to the width, keeping the sizes
    long = json.loads(json.dumps(summarize(SAMPLE)))
    long["sections"][1]["activities"][0]["title"] = "T" * 300
    long["sections"][2]["name"] = "N" * 300
    for width in (60, 80, 132):
        lines = summary_lines(long, width=width)
        assert all(len(line) <= width for line in lines), width
        assert any("T\u2026  (" in line and line.endswith("files)") for line in lines)
        assert any(line.endswith("N\u2026") for line in lines)


def test_activitie_typo_is_gone_from_verify(tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(SAMPLE, broken)
    shutil.rmtree(broken / "activities" / "forum_203")
    messages = [p.message for p in verify(broken).problems if p.code == "verify-missing-folder"]
    assert messages and all(m.startswith("activity folder") for m in messages)


def test_limits_and_an_opened_backup(tmp_path):
    with pytest.raises(ArchiveError) as caught:
        summarize(SAMPLE, limits=ArchiveLimits(max_members=3))
    assert caught.value.code == "archive-too-many-members"
    with pytest.raises(ArchiveError):
        describe(SAMPLE, limits=ArchiveLimits(max_members=3))
    with open_backup(SAMPLE) as backup:
        assert summarize(backup) == summarize(SAMPLE)
        assert describe(backup) == describe(SAMPLE)
        with pytest.raises(TypeError):
            summarize(backup, limits=ArchiveLimits())
    with open_backup(FIXTURES / MOODLE1) as backup:
        assert summarize(backup) == summarize(FIXTURES / MOODLE1)
