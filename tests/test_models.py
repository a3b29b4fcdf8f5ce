"""Typed models against an independent lxml reading of every real moodle_backup.xml."""

from __future__ import annotations

import json

import msgspec
import pytest
from lxml import etree

from corpus import items, xml_members
from mbx.cli import main
from mbx.moodle2 import read_backup_information
from mbx.moodle2 import FileRecord, Information
from mbx.xml import Parser
from test_cli import SAMPLE
from conftest import FIXTURES

MOODLE2 = [item for item in items() if item != "moodle__moodle/moodle1-converter-fixtures"]


def _text(element, name):
    found = element.find(name)
    if found is None:
        return None
    return None if found.text == "$@NULL@$" else (found.text or "")


@pytest.mark.parametrize("item", MOODLE2)
def test_information_matches_the_xml(item):
    info = read_backup_information(FIXTURES / item)
    data = dict(xml_members(item))["moodle_backup.xml"]
    root = etree.fromstring(data).find("information")
    assert info.name == _text(root, "name")
    assert info.moodle_release == _text(root, "moodle_release")
    assert info.backup_release == _text(root, "backup_release")
    for field in ("backup_date", "original_course_startdate", "original_course_enddate"):
        text = _text(root, field)  # dates are ints, None when absent or not a number
        assert getattr(info, field) == (int(text) if text and text.lstrip("-").isdigit() else None)
    assert info.original_course_fullname == _text(root, "original_course_fullname")
    assert info.type == _text(root, "details/detail/type")
    assert [(a.moduleid, a.modulename, a.title, a.directory) for a in info.activities] == [
        (_text(a, "moduleid"), _text(a, "modulename"), _text(a, "title"), _text(a, "directory"))
        for a in root.iterfind("contents/activities/activity")]
    assert [(s.sectionid, s.title) for s in info.sections] == [
        (_text(s, "sectionid"), _text(s, "title"))
        for s in root.iterfind("contents/sections/section")]
    assert [(s.level, s.name, s.value) for s in info.settings] == [
        (_text(s, "level"), _text(s, "name"), _text(s, "value"))
        for s in root.iterfind("settings/setting")]


def test_missing_fields_are_defaults_not_errors():
    info = Information.from_record({"name": "x.mbz", "contents": {"activities": {"activity": [
        {"moduleid": "1"}]}}})
    assert info.activities[0].modulename is None and info.details == [] and info.type is None
    assert info.setting("users") is None
    record = msgspec.convert({"contenthash": "ab" * 20, "filename": "."}, FileRecord)
    assert not record.has_content and record.id is None


def test_file_records_of_real_backups():
    checked = 0
    for item in MOODLE2[:30]:
        data = dict(xml_members(item)).get("files.xml")
        if not data:
            continue
        records = []
        parser = Parser()
        parser.add_path("/files/file", lambda r: records.append(msgspec.convert(r, FileRecord)))
        parser.parse(data)
        expected = [(f.get("id"), _text(f, "contenthash"), _text(f, "filename"))
                    for f in etree.fromstring(data).iterfind("file")]
        assert [(r.id, r.contenthash, r.filename) for r in records] == expected
        assert [r.has_content for r in records] == [
            bool(contenthash) and filename != "." for _, contenthash, filename in expected]
        checked += len(records)
    assert checked > 100


def test_info_command(capsys):
    assert main(["info", str(SAMPLE), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["original_course_shortname"] == "DEMO"
    assert data["backup_date"] == 1732000000 and data["moodle1"] is None
    assert {s["name"] for s in data["settings"]} >= {"users", "files", "activities"}
    assert main(["info", str(SAMPLE)]) == 0
    assert "settings:" in capsys.readouterr().out
