"""mbx.verify: one streaming pass that checks a backup is internally sound."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from mbx.errors import ArchiveError
from mbx.verify import VerifyReport, verify

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


# -- the real corpus ---------------------------------------------------------------------------

def _manifest() -> list[dict]:
    assert REAL.is_dir(), f"real corpus missing at {REAL}"
    return json.loads((REAL / "manifest.json").read_text())


def _needed_blobs_absent(folder: Path) -> set[str]:
    """Independent oracle for extracted folders: files.xml blobs absent from files/."""
    files_xml = folder / "files.xml"
    if not files_xml.is_file():
        return set()
    absent = set()
    for record in ET.parse(files_xml).getroot().iter("file"):
        contenthash = (record.findtext("contenthash") or "").strip()
        if contenthash and record.findtext("filename") != "." and \
                not (folder / "files" / contenthash[:2] / contenthash).is_file():
            absent.add(contenthash)
    return absent


def test_real_corpus_verifies_without_traceback():
    manifest = _manifest()
    verified = 0
    missing_blob_items = []
    for entry in manifest:
        path = REAL / entry["item"]
        if entry["backup_release"] is not None and entry["backup_release"].startswith("1."):
            continue  # moodle1: verify is moodle2 only (FormatError, tested below)
        try:
            report = verify(path)
        except ArchiveError:  # a refused container is a clear error, not a crash
            continue
        verified += 1
        for problem in report.problems:
            assert problem.code and problem.message, (entry["item"], problem)
        json.dumps(report.to_dict())
        missing = {p.message.split("files/", 1)[1].split("/", 1)[1].split(",")[0]
                   for p in report.problems if p.code == "verify-missing-blob"}
        notes = json.dumps(entry.get("notes", "")).lower()
        if "blob" in notes:
            assert missing, f"{entry['item']}: manifest says blobs were left out"
        if path.is_dir():
            assert missing == _needed_blobs_absent(path), entry["item"]
        if missing:
            missing_blob_items.append(entry["item"])
    assert verified >= len(manifest) - 2
    assert missing_blob_items, "the corpus has items whose blobs the collector left out"


def test_real_moodle1_is_refused_clearly():
    from mbx.errors import FormatError
    for entry in _manifest():
        if (entry["backup_release"] or "").startswith("1."):
            with pytest.raises(FormatError) as caught:
                verify(REAL / entry["item"])
            assert caught.value.code == "format-unsupported"
