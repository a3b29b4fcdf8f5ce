"""The archive writer: plain ustar, .ARCHIVE_INDEX first and exact, Moodle's order,
deterministic bytes, and archives that mbx, tarfile and zipfile all read back."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

import pytest

from mbx.archive import open_backup, parse_archive_index
from mbx.archive.writer import MOODLE_UNKNOWN_MTIME, ArchiveWriter, member_order
from mbx.errors import ArchiveError

WHEN = 1700000000
LONG = "activities/" + "/".join(["folder_with_a_rather_long_name"] * 4) + "/deep_file_name.xml"
MEMBERS = {
    "moodle_backup.log": b"[2024] backup done\n",
    "users.xml": b'<?xml version="1.0" encoding="UTF-8"?>\n<users>\n</users>',
    "moodle_backup.xml": (b'<?xml version="1.0" encoding="UTF-8"?>\n<moodle_backup>\n'
                          b"  <information>\n    <name>t.mbz</name>\n  </information>\n"
                          b"</moodle_backup>"),
    "files.xml": b'<?xml version="1.0" encoding="UTF-8"?>\n<files>\n</files>',
    "files/0b/0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33": b"foo",
    "activities/page_12/page.xml": b"<activity>\xc3\xa9</activity>",
    "activities/page_12/module.xml": b"<module/>",
    "activities/forum_3/forum.xml": b"x" * 1000,
    "course/course.xml": b"<course/>",
    "sections/section_7/section.xml": b"<section/>",
    LONG: b"deep",
}
EXPECTED_ORDER = [
    ("activities", True), ("activities/folder_with_a_rather_long_name", True),
    ("activities/folder_with_a_rather_long_name/folder_with_a_rather_long_name", True),
    ("/".join(["activities"] + ["folder_with_a_rather_long_name"] * 3), True),
    ("activities/" + "/".join(["folder_with_a_rather_long_name"] * 4), True),
    (LONG, False),
    ("activities/forum_3", True), ("activities/forum_3/forum.xml", False),
    ("activities/page_12", True), ("activities/page_12/module.xml", False),
    ("activities/page_12/page.xml", False),
    ("course", True), ("course/course.xml", False),
    ("files", True), ("files/0b", True),
    ("files/0b/0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33", False),
    ("files.xml", False), ("moodle_backup.xml", False),
    ("sections", True), ("sections/section_7", True), ("sections/section_7/section.xml", False),
    ("users.xml", False), ("moodle_backup.log", False),
]


def build(path, format="tgz", **options) -> ArchiveWriter:
    with ArchiveWriter(path, format, mtime=WHEN, **options) as archive:
        for name, data in MEMBERS.items():
            if len(data) > 100:
                with archive.open(name) as stream:  # streamed in pieces
                    for start in range(0, len(data), 100):
                        stream.write(data[start:start + 100])
            else:
                archive.write(name, data)
    return archive


def expected_index() -> bytes:
    lines = [f"Moodle archive file index. Count: {len(EXPECTED_ORDER)}\n"]
    for name, is_dir in EXPECTED_ORDER:
        lines.append(f"{name}/\td\t0\t?\n" if is_dir
                     else f"{name}\tf\t{len(MEMBERS[name])}\t{WHEN}\n")
    return "".join(lines).encode()


def test_member_order_is_moodles():
    assert member_order(list(MEMBERS)) == EXPECTED_ORDER


def test_tgz_reads_back_with_tarfile_and_data_filter(tmp_path):
    path = tmp_path / "out.mbz"
    archive = build(path)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert archive.bytes_out == path.stat().st_size
    with tarfile.open(path, "r:gz") as tar:
        members = tar.getmembers()
        assert members[0].name == ".ARCHIVE_INDEX"
        assert members[0].mtime == MOODLE_UNKNOWN_MTIME
        assert tar.extractfile(members[0]).read() == expected_index()
        assert [(m.name, m.isdir()) for m in members[1:]] == EXPECTED_ORDER
        for member in members:
            assert member.type in (tarfile.REGTYPE, tarfile.DIRTYPE)
            assert member.pax_headers == {}
            assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
            assert member.mode == (0o755 if member.isdir() else 0o644)
            if member.isfile() and member.name != ".ARCHIVE_INDEX":
                assert member.mtime == WHEN
                assert tar.extractfile(member).read() == MEMBERS[member.name]
        tar.extractall(tmp_path / "x", filter="data")
    assert (tmp_path / "x" / LONG).read_bytes() == b"deep"


def test_tgz_is_plain_ustar(tmp_path):
    path = tmp_path / "out.mbz"
    build(path)
    raw = gzip.decompress(path.read_bytes())
    assert len(raw) % 512 == 0 and raw[-1024:] == b"\0" * 1024
    offset = 0
    headers = 0
    while raw[offset:offset + 512] != b"\0" * 512:
        header = raw[offset:offset + 512]
        assert header[257:265] == b"ustar\x0000"
        assert header[156:157] in (b"0", b"5")
        stored = int(header[148:154], 8)
        assert stored == sum(header[:148]) + 8 * 32 + sum(header[156:])
        size = int(header[124:135], 8)
        offset += 512 + -(-size // 512) * 512
        headers += 1
    assert headers == len(EXPECTED_ORDER) + 1
    assert offset + 1024 == len(raw)
    # the long name was split at a "/" into prefix and name
    assert b"folder_with_a_rather_long_name/folder_with_a_rather_long_name/folder_with_a_rathe" \
        in raw


def test_tgz_reads_back_with_mbx(tmp_path):
    path = tmp_path / "out.mbz"
    build(path)
    with open_backup(path) as backup:
        assert backup.kind == "tar.gz" and backup.format == "moodle2"
        index = backup.read_index()
        assert [(m.name, m.is_dir) for m in index] == EXPECTED_ORDER
        seen = []
        for info, stream in backup.iter_members():
            seen.append(info.name)
            if not info.is_dir and info.name != ".ARCHIVE_INDEX":
                assert stream.read() == MEMBERS[info.name]
                assert info.size == len(MEMBERS[info.name])
        assert seen == [".ARCHIVE_INDEX"] + [name for name, _ in EXPECTED_ORDER]
    assert parse_archive_index(io.BytesIO(expected_index()))  # our own oracle parses


@pytest.mark.parametrize("compressor", ["isal", "zlib"])
def test_byte_identical_across_runs(tmp_path, compressor):
    first, second = tmp_path / "a" / "x.mbz", tmp_path / "b" / "x.mbz"
    first.parent.mkdir()
    second.parent.mkdir()
    build(first, compressor=compressor)
    build(second, compressor=compressor)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes()[4:8] == b"\0\0\0\0"  # fixed gzip time
    assert gzip.decompress(first.read_bytes())  # a valid gzip stream, trailer checked


def test_zip_flavour(tmp_path):
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    build(first, "zip")
    build(second, "zip")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert ".ARCHIVE_INDEX" not in names
        assert names == [name + "/" if is_dir else name for name, is_dir in EXPECTED_ORDER]
        for name, data in MEMBERS.items():
            assert archive.read(name) == data
    with open_backup(first) as backup:
        assert backup.kind == "zip" and backup.format == "moodle2"
        with backup.open("moodle_backup.xml") as stream:
            assert stream.read() == MEMBERS["moodle_backup.xml"]


def test_refusals(tmp_path):
    archive = ArchiveWriter(tmp_path / "r.mbz")
    with pytest.raises(ArchiveError) as caught:
        archive.write("x" * 101, b"")
    assert caught.value.code == "archive-name-too-long"
    with pytest.raises(ArchiveError) as caught:
        archive.write("a/" + "y" * 150 + "/" + "z" * 101, b"")
    assert caught.value.code == "archive-name-too-long"
    for bad in ("/abs", "a/../b", "a//b", "dir/", ".ARCHIVE_INDEX", ""):
        with pytest.raises(ArchiveError):
            archive.write(bad, b"")
    archive.write("ok.xml", b"")
    with pytest.raises(ArchiveError) as caught:
        archive.write("ok.xml", b"")
    assert caught.value.code == "archive-duplicate-name"
    for clash, code in (("OK.xml", "archive-name-collision"), ("ok.xml/x", "archive-name-conflict"),
                        ("._ok.xml", "archive-bad-name"), ("./a.xml", "archive-bad-name"),
                        ("a\\b", "archive-bad-name"), ("a\x00b", "archive-bad-name")):
        with pytest.raises(ArchiveError) as caught:
            archive.write(clash, b"")
        assert caught.value.code == code, clash
    archive.abort()
    assert not (tmp_path / "r.mbz").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # the spool is gone too


def test_exception_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with ArchiveWriter(tmp_path / "e.mbz") as archive:
            archive.write("a.xml", b"1")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_progress_sees_every_member(tmp_path):
    seen = []
    archive = ArchiveWriter(tmp_path / "p.mbz", mtime=WHEN)
    for name, data in MEMBERS.items():
        archive.write(name, data)
    archive.close(progress=seen.append)
    assert [(m.name, m.is_dir) for m in seen] == EXPECTED_ORDER


def _zip_shape(names: list[str]) -> dict:
    """What Moodle's zip backups share, read off a list of zip entry names: an
    index or not, directories before their children, top-level names in byte
    order with moodle_backup.log last."""
    seen_dirs: set[str] = set()
    parents_first = True
    for name in names:
        parent = name.rstrip("/").rpartition("/")[0]
        if parent and parent not in seen_dirs:
            parents_first = False
        if name.endswith("/"):
            seen_dirs.add(name.rstrip("/"))
    top: list[str] = []
    for name in names:
        head = name.split("/", 1)[0]
        if head not in top:
            top.append(head)
    rest = [name for name in top if name != "moodle_backup.log"]
    return {"index": ".ARCHIVE_INDEX" in names, "parents_first": parents_first,
            "top_sorted": rest == sorted(rest, key=str.encode),
            "log_last": top[-1] == "moodle_backup.log"}


def test_zip_is_shaped_like_moodles_own_zips(corpus, tmp_path):
    """The corpus's zip backups (Moodle 2.2 to 2.8, the releases whose default was
    zip) hold no .ARCHIVE_INDEX, put every directory entry before its children and
    list top-level names in byte order, moodle_backup.log last: so does mbx's zip."""
    import json

    manifest = json.loads((corpus / "manifest.json").read_text())
    moodle_zips = [corpus / entry["item"] for entry in manifest if entry["container"] == "zip"]
    assert len(moodle_zips) >= 10
    expected = {"index": False, "parents_first": True, "top_sorted": True, "log_last": True}
    for path in moodle_zips:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            assert _zip_shape(names) == expected, path
    ours = tmp_path / "ours.zip"
    build(ours, "zip")
    with zipfile.ZipFile(ours) as archive:
        assert _zip_shape(archive.namelist()) == expected
