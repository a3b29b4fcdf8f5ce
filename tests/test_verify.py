"""mbx.verification.verify: one streaming pass that checks a backup is internally sound."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import re
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from mbx.archive import ArchiveLimits, open_backup
from mbx.cli import main
from mbx.errors import ArchiveError, FormatError
from mbx.verification import SEVERITIES, VerifyReport, verify

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "demo-course"
REAL = ROOT.parent / "shared" / "fixtures" / "real"

BLOB = b"hello, verify\n"
BLOB_SHA1 = hashlib.sha1(BLOB).hexdigest()

FILES_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<files>
  <file id="301">
    <contenthash>{BLOB_SHA1}</contenthash>
    <filename>hello.txt</filename>
    <filesize>{len(BLOB)}</filesize>
  </file>
  <file id="302">
    <contenthash>da39a3ee5e6b4b0d3255bfef95601890afd80709</contenthash>
    <filename>.</filename>
    <filesize>0</filesize>
  </file>
</files>
"""

INFOREF = """<?xml version="1.0" encoding="UTF-8"?>
<inforef>
  <userref><user><id>5</id></user></userref>
  <fileref><file><id>301</id></file><file><id>302</id></file></fileref>
  <widgetref><widget><id>9</id></widget></widgetref>
</inforef>
"""


def _sound_folder(tmp_path: Path) -> Path:
    """The demo course plus one blob, its files.xml records and an inforef.xml."""
    folder = tmp_path / "course"
    shutil.copytree(SAMPLE, folder)
    # the sample's own references and roles, which these tests replace with their own
    for inforef in folder.rglob("inforef.xml"):
        inforef.unlink()
    (folder / "roles.xml").unlink()
    (folder / "files.xml").write_text(FILES_XML)
    blob = folder / "files" / BLOB_SHA1[:2] / BLOB_SHA1
    blob.parent.mkdir(parents=True)
    blob.write_bytes(BLOB)
    (folder / "activities" / "forum_201" / "inforef.xml").write_text(INFOREF)
    return folder


def _pack(folder: Path, kind: str) -> Path:
    if kind == "folder":
        return folder
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    target = folder.with_name(f"{folder.name}.{kind}.mbz")
    if kind == "tar.gz":
        with tarfile.open(target, "w:gz") as archive:
            for path in files:
                archive.add(path, arcname=path.relative_to(folder).as_posix())
    else:
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.relative_to(folder).as_posix())
    return target


KINDS = ["folder", "tar.gz", "zip"]


def _codes(report: VerifyReport) -> set[str]:
    return {problem.code for problem in report.problems}


def test_sample_verifies_clean():
    report = verify(SAMPLE)
    assert report.ok, report.problems
    assert report.checked["xml_members"] > 0
    assert report.checked["activities"] == 4 and report.checked["sections"] == 3
    assert report.checked["blobs"] == 0 and report.checked["files_records"] == 0
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["ok"] is True and data["problems"] == []


@pytest.mark.parametrize("kind", KINDS)
def test_sound_backup(tmp_path, kind):
    report = verify(_pack(_sound_folder(tmp_path), kind))
    assert report.ok, report.problems
    assert report.checked["blobs"] == 1
    assert report.checked["files_records"] == 2
    assert report.checked["references"] == 3  # user 5, files 301 and 302
    assert report.unknown_ref_kinds == ["widgetref"]


@pytest.mark.parametrize("kind", KINDS)
def test_blob_with_wrong_content(tmp_path, kind):
    folder = _sound_folder(tmp_path)
    (folder / "files" / BLOB_SHA1[:2] / BLOB_SHA1).write_bytes(b"tampered")
    report = verify(_pack(folder, kind))
    assert [p.code for p in report.problems] == ["verify-blob-hash"]
    assert report.problems[0].member == f"files/{BLOB_SHA1[:2]}/{BLOB_SHA1}"
    assert not report.ok


def test_blob_in_wrong_prefix_folder(tmp_path):
    folder = _sound_folder(tmp_path)
    wrong = "00" if BLOB_SHA1[:2] != "00" else "11"
    (folder / "files" / BLOB_SHA1[:2]).rename(folder / "files" / wrong)
    assert _codes(verify(folder)) == {"verify-blob-prefix"}


@pytest.mark.parametrize("kind", KINDS)
def test_missing_blob(tmp_path, kind):
    folder = _sound_folder(tmp_path)
    shutil.rmtree(folder / "files")
    report = verify(_pack(folder, kind))
    # the "." record (302) needs no blob
    assert [p.code for p in report.problems] == ["verify-missing-blob"]
    assert BLOB_SHA1 in report.problems[0].message
    assert report.problems[0].member == "files.xml"


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_xml(tmp_path, kind):
    folder = _sound_folder(tmp_path)
    (folder / "activities" / "page_202" / "page.xml").write_text(
        '<?xml version="1.0"?>\n<activity>\n  <page>\n</activity>\n')
    report = verify(_pack(folder, kind))
    assert len(report.problems) == 1
    problem = report.problems[0]
    assert problem.code.startswith("xml-")
    assert problem.member == "activities/page_202/page.xml"
    assert problem.line == 4
    assert problem.column is not None


def test_malformed_files_xml_is_reported_not_raised(tmp_path):
    folder = _sound_folder(tmp_path)
    (folder / "files.xml").write_text("<files><file id='1'>")
    report = verify(folder)
    assert any(p.code.startswith("xml-") and p.member == "files.xml" for p in report.problems)


@pytest.mark.parametrize("kind", KINDS)
def test_inforef_to_missing_file_and_user(tmp_path, kind):
    folder = _sound_folder(tmp_path)
    (folder / "activities" / "forum_201" / "inforef.xml").write_text(
        INFOREF.replace("<id>301</id>", "<id>999</id>").replace("<id>5</id>", "<id>77</id>"))
    report = verify(_pack(folder, kind))
    assert sorted(p.code for p in report.problems) == ["verify-missing-file-record",
                                                       "verify-missing-user"]
    assert all(p.member == "activities/forum_201/inforef.xml" for p in report.problems)
    assert any("999" in p.message for p in report.problems)


def test_userref_unchecked_without_users(tmp_path):
    folder = _sound_folder(tmp_path)
    (folder / "users.xml").write_text('<?xml version="1.0"?>\n<users>\n</users>\n')
    (folder / "activities" / "forum_201" / "inforef.xml").write_text(
        INFOREF.replace("<id>5</id>", "<id>77</id>"))
    assert verify(folder).ok


#: (member, its XML defining one record with id 41, inforef kind, code when missing)
DEFINING = [
    ("roles.xml", "<roles_definition><role id='41'><shortname>student</shortname></role>"
                  "</roles_definition>", "role", "verify-missing-role"),
    ("groups.xml", "<groups><group id='41'><name>A</name></group></groups>", "group",
     "verify-missing-group"),
    ("groups.xml", "<groups><groupings><grouping id='41'><name>G</name></grouping></groupings>"
                   "</groups>", "grouping", "verify-missing-grouping"),
    ("scales.xml", "<scales_definition><scale id='41'><name>S</name></scale>"
                   "</scales_definition>", "scale", "verify-missing-scale"),
    ("outcomes.xml", "<outcomes_definition><outcome id='41'><shortname>O</shortname></outcome>"
                     "</outcomes_definition>", "outcome", "verify-missing-outcome"),
    ("questions.xml", "<question_categories><question_category id='41'><name>top</name>"
                      "<questions></questions></question_category></question_categories>",
     "question_category", "verify-missing-question-category"),
    ("gradebook.xml", "<gradebook><grade_items><grade_item id='41'><itemtype>course</itemtype>"
                      "</grade_item></grade_items></gradebook>", "grade_item",
     "verify-missing-grade-item"),
    ("activities/forum_201/grades.xml",
     "<activity_gradebook><grade_items><grade_item id='41'><itemtype>mod</itemtype>"
     "</grade_item></grade_items></activity_gradebook>", "grade_item",
     "verify-missing-grade-item"),
]


def _refs(kind: str, *ids: int) -> str:
    items = "".join(f"<{kind}><id>{i}</id></{kind}>" for i in ids)
    return f"<inforef><{kind}ref>{items}</{kind}ref></inforef>"


@pytest.mark.parametrize("member, xml, kind, code", DEFINING,
                         ids=[f"{row[2]}-{row[0]}" for row in DEFINING])
def test_every_reference_kind_is_resolved(tmp_path, member, xml, kind, code):
    folder = _sound_folder(tmp_path)
    (folder / member).write_text(xml)
    inforefs = [folder / "course" / "inforef.xml", folder / "activities" / "forum_203" /
                "inforef.xml"]
    for inforef in inforefs:
        inforef.write_text(_refs(kind, 41))
    sound = verify(folder)
    assert sound.ok
    for inforef in inforefs:  # two members name 42: one problem, at the first, counting both
        inforef.write_text(_refs(kind, 41, 42))
    report = verify(_pack(folder, "tar.gz"))
    assert [p.code for p in report.problems] == [code]
    assert report.problems[0].member.endswith("inforef.xml")
    assert f"{kind}ref 42" in report.problems[0].message
    assert "1 more" in report.problems[0].message
    assert report.checked["references"] == sound.checked["references"] + 2


@pytest.mark.parametrize("member, xml, kind, code", DEFINING[:-1],
                         ids=[f"{row[2]}-{row[0]}" for row in DEFINING[:-1]])
def test_reference_kind_unchecked_when_nothing_defines_it(tmp_path, member, xml, kind, code):
    """A backup made without a part (groups, users...) keeps references to it."""
    folder = _sound_folder(tmp_path)
    (folder / "course" / "inforef.xml").write_text(_refs(kind, 42))
    assert verify(folder).ok
    root = xml.split(">", 1)[0] + ">"
    (folder / member).write_text(root + "</" + root[1:])
    assert verify(folder).ok


@pytest.mark.parametrize("kind", KINDS)
def test_listed_activity_without_folder_and_unlisted_folder(tmp_path, kind):
    folder = _sound_folder(tmp_path)
    shutil.rmtree(folder / "activities" / "page_204")
    extra = folder / "activities" / "label_999"
    extra.mkdir()
    (extra / "label.xml").write_text('<?xml version="1.0"?>\n<activity/>\n')
    shutil.rmtree(folder / "sections" / "section_103")
    report = verify(_pack(folder, kind))
    assert sorted(p.code for p in report.problems) == [
        "verify-missing-folder", "verify-missing-folder", "verify-unlisted-folder"]
    messages = " ".join(p.message for p in report.problems)
    assert "activities/page_204" in messages and "sections/section_103" in messages
    assert "activities/label_999" in messages


def _write_index(folder: Path, extra: list[str] = (), sizes: dict[str, int] | None = None):
    lines = []
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if name == ".ARCHIVE_INDEX":
            continue
        if path.is_dir():
            lines.append(f"{name}/\td\t0\t?")
        else:
            size = (sizes or {}).get(name, path.stat().st_size)
            lines.append(f"{name}\tf\t{size}\t1700000000")
    lines += [f"{name}\tf\t10\t1700000000" for name in extra]
    text = f"Moodle archive file index. Count: {len(lines)}\n" + "\n".join(lines) + "\n"
    (folder / ".ARCHIVE_INDEX").write_text(text)


@pytest.mark.parametrize("kind", KINDS)
def test_archive_index(tmp_path, kind):
    folder = _sound_folder(tmp_path)
    _write_index(folder)
    clean = verify(_pack(folder, kind))
    assert clean.ok, clean.problems
    assert clean.checked["index_entries"] > 0

    _write_index(folder, extra=["ghost.xml"], sizes={"files.xml": 1})
    (folder / "course" / "late.xml").write_text("<late/>")
    if kind != "folder":
        _pack(folder, kind).unlink()
    report = verify(_pack(folder, kind))
    assert _codes(report) == {"verify-index-mismatch"}
    messages = [p.message for p in report.problems]
    assert any("ghost.xml" in m and "not in the backup" in m for m in messages)
    assert any("files.xml" in m and "bytes" in m for m in messages)
    assert any("late.xml" in m and "not in .ARCHIVE_INDEX" in m for m in messages)
    assert len(report.problems) == 3


def test_severities_errors_and_warnings(tmp_path):
    """A missing blob is an error, a stale index a warning; ok means no errors."""
    folder = _sound_folder(tmp_path)
    _write_index(folder, extra=["ghost.xml"])
    stale = verify(folder)
    assert [(p.code, p.severity) for p in stale.problems] == [("verify-index-mismatch", "warning")]
    assert stale.ok and stale.errors == [] and stale.warnings == stale.problems

    shutil.rmtree(folder / "files")
    _write_index(folder, extra=["ghost.xml", "late.xml"])
    report = verify(folder)
    assert sorted((p.code, p.severity) for p in report.problems) == [
        ("verify-index-mismatch", "warning"), ("verify-index-mismatch", "warning"),
        ("verify-missing-blob", "error")]
    assert not report.ok
    assert [p.code for p in report.errors] == ["verify-missing-blob"]
    assert str(report.errors[0]).startswith("files.xml: error: ")
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["ok"] is False and (data["errors"], data["warnings"]) == (1, 2)
    assert data["summary"] == [  # errors first, though fewer
        {"code": "verify-missing-blob", "severity": "error", "count": 1},
        {"code": "verify-index-mismatch", "severity": "warning", "count": 2}]
    assert [p["severity"] for p in data["problems"]].count("warning") == 2


@pytest.mark.parametrize("kind", KINDS)
def test_unlisted_folder_is_a_warning_missing_folder_an_error(tmp_path, kind):
    folder = _sound_folder(tmp_path)
    extra = folder / "activities" / "label_999"
    extra.mkdir()
    (extra / "label.xml").write_text('<?xml version="1.0"?>\n<activity/>\n')
    report = verify(_pack(folder, kind))
    assert [(p.code, p.severity) for p in report.problems] == [("verify-unlisted-folder", "warning")]
    assert report.ok
    shutil.rmtree(folder / "sections" / "section_103")
    if kind != "folder":
        _pack(folder, kind).unlink()
    report = verify(_pack(folder, kind))
    assert sorted((p.code, p.severity) for p in report.problems) == [
        ("verify-missing-folder", "error"), ("verify-unlisted-folder", "warning")]


@pytest.mark.parametrize("kind", KINDS)
def test_stray_top_level_members_are_warnings(tmp_path, kind):
    folder = _sound_folder(tmp_path)
    (folder / "readme.md").write_text("how to restore\n")
    (folder / "notes").mkdir()
    for n in range(3):
        (folder / "notes" / f"n{n}.txt").write_text("x")
    (folder / "course" / "extra.txt").write_text("not top level: not stray\n")
    report = verify(_pack(folder, kind))
    assert report.ok
    assert sorted((p.code, p.severity, p.member) for p in report.problems) == [
        ("verify-stray-member", "warning", "notes/"), ("verify-stray-member", "warning",
                                                       "readme.md")]
    assert any("3 files" in p.message for p in report.problems)


def test_macos_litter_is_one_warning_per_kind(tmp_path):
    folder = _sound_folder(tmp_path)
    target = _pack(folder, "zip")
    with zipfile.ZipFile(target, "a") as archive:
        for name in ("._moodle_backup.xml", "activities/._forum_201", "course/._course.xml"):
            archive.writestr(name, b"\x00\x05\x16\x07")
        for name in ("__MACOSX/._files.xml", "__MACOSX/course/._course.xml"):
            archive.writestr(name, b"\x00\x05\x16\x07")
    report = verify(target)
    assert report.ok
    assert sorted((p.code, p.severity) for p in report.problems) == [
        ("verify-appledouble", "warning"), ("verify-macos-metadata", "warning")]
    by_code = {p.code: p for p in report.problems}
    assert "3," in by_code["verify-appledouble"].message
    assert "2," in by_code["verify-macos-metadata"].message


def test_every_code_verify_writes_has_its_own_severity():
    """No code verify files falls to the table's default: each is decided on purpose."""
    source = (ROOT / "src" / "mbx" / "verification.py").read_text()
    literals = set(re.findall(r'"(verify-[a-z-]+)"', source)) - set(SEVERITIES)
    assert literals  # the pattern finds the codes
    for code in literals | {"verify-missing-user", "xml-mismatched-tag"}:
        assert any(family.endswith("*") and code.startswith(family[:-1])
                   for family in SEVERITIES) or code in SEVERITIES, code
    assert set(SEVERITIES.values()) == {"error", "warning"}


def test_verify_takes_limits_or_an_opened_backup(tmp_path):
    target = _pack(_sound_folder(tmp_path), "tar.gz")
    with tarfile.open(target) as archive:
        count = len(archive.getmembers())
    with pytest.raises(ArchiveError) as caught:
        verify(target, limits=ArchiveLimits(max_members=count - 1))
    assert caught.value.code == "archive-too-many-members"
    assert verify(target, limits=ArchiveLimits(max_members=count)).ok

    seen = []
    with open_backup(target) as backup:
        report = verify(backup, progress=seen.append)
        assert report.ok and report.path == str(target)
        assert report.checked == verify(target).checked
        assert [m.name for m in seen] == [m.name for m in backup.members()]  # still open
        with pytest.raises(TypeError):
            verify(backup, limits=ArchiveLimits())


def _run(capsys, *argv) -> tuple[int, str]:
    status = main(["-q", "verify", *map(str, argv)])
    return status, capsys.readouterr().out


def test_cli_exit_codes_summary_and_max_problems(tmp_path, capsys):
    folder = _sound_folder(tmp_path)
    status, out = _run(capsys, folder)
    assert status == 0 and out.endswith("\nsound\n")

    _write_index(folder, extra=[f"ghost{n}.xml" for n in range(25)])
    status, out = _run(capsys, folder)
    assert status == 0
    assert out.endswith("sound, with 25 warnings: 25 × verify-index-mismatch (warning)\n")
    assert out.count("[verify-index-mismatch]") == 20  # the default --max-problems
    assert "... 5 more not shown" in out
    status, out = _run(capsys, folder, "--strict", "--max-problems", "0")
    assert status == 4 and "[verify-" not in out and "25 more not shown" in out
    status, out = _run(capsys, folder, "--strict", "--json")
    assert status == 4 and json.loads(out)["summary"] == [
        {"code": "verify-index-mismatch", "severity": "warning", "count": 25}]
    assert len(json.loads(out)["problems"]) == 25  # JSON lists every problem

    shutil.rmtree(folder / "files")
    status, out = _run(capsys, folder, "--max-problems", "1")
    assert status == 1
    detail = [line for line in out.splitlines() if "[verify-" in line]
    assert len(detail) == 1 and ": error: " in detail[0]  # errors shown first
    assert "[verify-missing-blob]" in detail[0]
    # the index also lists the blob and its two folders now gone
    assert out.splitlines()[-1] == ("1 error, 28 warnings: 1 × verify-missing-blob (error), "
                                    "28 × verify-index-mismatch (warning)")
    assert _run(capsys, folder, "--strict")[0] == 1  # errors outrank --strict


def test_cli_usage_unsupported_and_unknown_format(tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["verify", str(SAMPLE), "--max-problems", "-3"])
    assert caught.value.code == 2
    moodle1 = next(REAL / e["item"] for e in _manifest() if e["backup_release"].startswith("1."))
    for command in (["verify"], ["verify", "--json"]):
        assert main(["-q", *command, str(moodle1)]) == 5, command
    assert capsys.readouterr().err.count("format-unsupported") == 2
    cartridge = tmp_path / "cartridge"  # IMS Common Cartridge: recognised, read by no command
    cartridge.mkdir()
    (cartridge / "imsmanifest.xml").write_text("<manifest/>")
    for command in (["verify"], ["ls"], ["info", "--json"]):
        assert main(["-q", *command, str(cartridge)]) == 5, command
    assert capsys.readouterr().err.count("format-unsupported") == 3
    (tmp_path / "notes.txt").write_text("not a backup")
    with pytest.raises(FormatError) as caught:
        verify(tmp_path)
    assert caught.value.code == "format-unknown"
    assert main(["-q", "verify", str(tmp_path)]) == 1  # refused: not a backup at all


# -- the real corpus ---------------------------------------------------------------------------

def _manifest() -> list[dict]:
    assert REAL.is_dir(), f"real corpus missing at {REAL}"
    return json.loads((REAL / "manifest.json").read_text())


#: Each corpus item's verdict, written down with its reason: the codes of its errors
#: and of its warnings, or the code it is refused with.
VERDICTS = [json.loads(line.rstrip(",\n")) for line in
            (Path(__file__).with_name("verify_verdicts.json")).read_text().splitlines()
            if line.startswith("{")]

#: What Moodle writes at the top level of a backup (format doc §2.1).
MOODLE_TOP_LEVEL = {".ARCHIVE_INDEX", "activities/", "course/", "files/", "sections/",
                    "badges.xml", "completion.xml", "files.xml", "grade_history.xml",
                    "gradebook.xml", "groups.xml", "moodle_backup.xml", "outcomes.xml",
                    "questions.xml", "roles.xml", "scales.xml", "users.xml", "moodle_backup.log"}

#: Top-level member -> (record path below the root, the inforef kind it defines), §3.
DEFINES = {"files.xml": [("file", "file")], "users.xml": [("user", "user")],
           "roles.xml": [("role", "role")],
           "groups.xml": [("group", "group"), ("groupings/grouping", "grouping")],
           "scales.xml": [("scale", "scale")], "outcomes.xml": [("outcome", "outcome")],
           "questions.xml": [("question_category", "question_category")],
           "gradebook.xml": [("grade_items/grade_item", "grade_item")]}
#: An activity's grades.xml defines its grade items too.
ACTIVITY_GRADES = re.compile(r"activities/[^/]+/grades\.xml")


def _read_container(path: Path) -> tuple[dict[str, tuple[int, bool]], dict[str, bytes]]:
    """With the standard library only: name -> (size, is_dir) of every member, and the
    bytes of the few members the oracle reads (the index, files.xml and its kin, inforefs)."""
    members: dict[str, tuple[int, bool]] = {}
    wanted: dict[str, bytes] = {}

    def keep(name: str) -> bool:
        return (name == ".ARCHIVE_INDEX" or name in DEFINES or name.endswith("/inforef.xml")
                or bool(ACTIVITY_GRADES.fullmatch(name)))

    def add(raw: str, size: int, is_dir: bool, read) -> None:
        name = raw.removeprefix("./").rstrip("/")
        if name in ("", ".") or name in members:  # the root entry; a hard link repeating a file
            return
        members[name] = (size, is_dir)
        if not is_dir and keep(name):
            wanted[name] = read()

    if path.is_dir():
        for file in sorted(path.rglob("*")):
            add(file.relative_to(path).as_posix(), 0 if file.is_dir() else file.stat().st_size,
                file.is_dir(), file.read_bytes)
    elif path.read_bytes()[:2] == b"\x1f\x8b":
        with tarfile.open(path, "r:gz") as archive:
            for entry in archive:
                if entry.isfile() or entry.isdir():
                    add(entry.name, entry.size, entry.isdir(),
                        lambda: archive.extractfile(entry).read())
    else:
        with zipfile.ZipFile(path) as archive:
            for entry in archive.infolist():
                add(entry.filename, entry.file_size, entry.is_dir(),
                    lambda: archive.read(entry))
    return members, wanted


def _oracle(path: Path) -> dict[str, int]:
    """An independent reading (tarfile/zipfile and lxml) of one backup: how many problems of
    each checked kind it has, by verify's code. Missing blobs (distinct blobs named by a
    files.xml record with content and absent), dangling references (distinct ids per kind;
    a kind is checked when its member defines a record, files always), .ARCHIVE_INDEX
    entries that disagree with the members and members it leaves out, stray top-level names."""
    members, data = _read_container(path)
    found: dict[str, int] = {}

    def count(code: str) -> None:
        found[code] = found.get(code, 0) + 1

    files = etree.fromstring(data["files.xml"]) if "files.xml" in data else None
    needed = {record.findtext("contenthash") for record in
              (files.iterfind("file") if files is not None else ())
              if record.findtext("filename") != "." and record.findtext("contenthash")}
    for contenthash in needed:
        if f"files/{contenthash[:2]}/{contenthash}" not in members:
            count("verify-missing-blob")

    defined: dict[str, set[str]] = {"file": set()}
    for name, xml in data.items():
        paths = DEFINES.get(name) or (
            [("grade_items/grade_item", "grade_item")] if ACTIVITY_GRADES.fullmatch(name) else [])
        root = etree.fromstring(xml) if paths else None
        for record_path, kind in paths:
            defined.setdefault(kind, set()).update(r.get("id") for r in root.iterfind(record_path))
    dangling = set()
    for name, xml in data.items():
        if name.endswith("/inforef.xml"):
            for group in etree.fromstring(xml):
                kind = group.tag[:-3]
                if kind in defined and (defined[kind] or kind == "file"):
                    dangling |= {(kind, ref.findtext("id")) for ref in group.iterfind(kind)
                                 if ref.findtext("id") not in defined[kind]}
    for kind, _ in dangling:
        count("verify-missing-file-record" if kind == "file"
              else "verify-missing-" + kind.replace("_", "-"))

    if ".ARCHIVE_INDEX" in data:
        folders = {name.rsplit("/", i)[0] for name in members for i in range(1, name.count("/") + 1)}
        listed = set()
        for line in data[".ARCHIVE_INDEX"].decode().splitlines()[1:]:
            raw, kind, size, _ = line.split("\t")
            name = raw.removeprefix("./").rstrip("/")
            listed.add(name)
            if kind == "d":
                if name not in folders and not members.get(name, (0, False))[1]:
                    count("verify-index-mismatch")
            elif members.get(name, (0, True))[1] or members[name][0] != int(size):
                count("verify-index-mismatch")
        for name, (_, is_dir) in members.items():
            if not is_dir and name != ".ARCHIVE_INDEX" and name not in listed:
                count("verify-index-mismatch")

    tops = {name.split("/")[0] + ("/" if "/" in name or is_dir else "")
            for name, (_, is_dir) in members.items()}
    for _ in tops - MOODLE_TOP_LEVEL:
        count("verify-stray-member")
    return found


def _oracle_knows(code: str) -> bool:
    return code in ("verify-missing-blob", "verify-index-mismatch", "verify-stray-member") or \
        code.startswith("verify-missing-") and code != "verify-missing-folder"


def test_every_corpus_item_has_a_written_verdict():
    assert [verdict["item"] for verdict in VERDICTS] == [entry["item"] for entry in _manifest()]
    for verdict in VERDICTS:
        sound = not verdict.get("errors") and not verdict.get("warnings") and \
            "refused" not in verdict
        assert sound != bool(verdict.get("why")), verdict  # a reason for every non-sound one
        for code in verdict.get("errors", []) + verdict.get("warnings", []):
            assert code in SEVERITIES or any(
                family.endswith("*") and code.startswith(family[:-1]) for family in SEVERITIES)


@pytest.mark.parametrize("verdict", VERDICTS, ids=[v["item"].split("/")[-1][:40] for v in VERDICTS])
def test_corpus_item_has_its_written_verdict(verdict):
    path = REAL / verdict["item"]
    if "refused" in verdict:
        with pytest.raises(FormatError) as caught:
            verify(path)
        assert caught.value.code == verdict["refused"]
        return
    report = verify(path)
    assert sorted({p.code for p in report.errors}) == sorted(verdict["errors"])
    assert sorted({p.code for p in report.warnings}) == sorted(verdict["warnings"])
    assert report.ok == (not verdict["errors"])
    for problem in report.problems:
        assert problem.code and problem.message, problem
    json.dumps(report.to_dict())

    # the written verdict agrees with an independent reading of the backup, and so do the counts
    oracle = _oracle(path)
    written = {code for code in verdict["errors"] + verdict["warnings"] if _oracle_knows(code)}
    assert set(oracle) == written, verdict["item"]
    counts = {item["code"]: item["count"] for item in report.summary()}
    assert {code: counts[code] for code in oracle} == oracle, verdict["item"]


@pytest.mark.parametrize("kind", ["folder", "tar.gz", "zip"])
def test_names_that_differ_only_in_case_are_a_warning(tmp_path, kind, capsys):
    """Harmless to list, verify or restore into a database; only extracting them on
    macOS or Windows would lose one. So: a warning, exit 0, and 4 with --strict."""
    folder = _sound_folder(tmp_path)
    forum = folder / "activities" / "forum_201"
    (forum / "Forum.xml").write_bytes((forum / "forum.xml").read_bytes())
    target = _pack(folder, kind)
    report = verify(target)
    assert [(p.code, p.severity) for p in report.problems] == [
        ("archive-name-collision", "warning")]
    assert report.ok and report.problems[0].member.lower() == \
        "activities/forum_201/forum.xml"
    assert main(["verify", str(target)]) == 0
    assert main(["verify", "--strict", str(target)]) == 4
    capsys.readouterr()
