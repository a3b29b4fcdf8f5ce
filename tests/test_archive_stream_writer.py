"""The streaming archive writer: members in the caller's order, one pass, one valid gzip
member whose .ARCHIVE_INDEX is first and true; read back by mbx, tarfile, gzip, zipfile
and gzip(1); real Moodle tar.gz rewritten inflate to Moodle's own bytes; nothing left
behind by a refusal, an exception, a cancel or a full disk; memory flat."""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import json
import os
import subprocess
import tarfile
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest

from mbx.archive import open_backup
from mbx.archive.base import ArchiveLimits
from mbx.archive.tar_reader import TarGzContainer
from mbx.archive.writer import MOODLE_UNKNOWN_MTIME, ArchiveWriter, StreamingArchiveWriter
from mbx.archive.writer.stream import SPOOL_MEMORY
from mbx.errors import ArchiveError, Cancelled
from mbx.progress import CancelToken, Monitor

WHEN = 1700000000
LONG = "activities/" + "/".join(["folder_with_a_rather_long_name"] * 4) + "/deep_file_name.xml"
#: (name, is_dir, mtime, data) in Moodle's order, as a transform would pass them on
MEMBERS = [
    ("activities", True, None, b""),
    ("activities/forum_3", True, WHEN, b""),
    ("activities/forum_3/forum.xml", False, WHEN, b"<forum>" + b"x" * 5000 + b"</forum>"),
    ("activities/page_12", True, None, b""),
    ("activities/page_12/page.xml", False, WHEN + 1, "<activity>é</activity>".encode()),
    ("activities/page_12/empty.xml", False, WHEN, b""),
    ("activities/" + "/".join(["folder_with_a_rather_long_name"] * 4), True, None, b""),
    (LONG, False, WHEN, b"deep"),
    ("course", True, None, b""),
    ("course/course.xml", False, WHEN, b"<course/>"),
    ("files", True, None, b""),
    ("files/0b", True, None, b""),
    ("files/0b/0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33", False, None, os.urandom(3000)),
    ("files/0b/r\u00e9sum\u00e9.txt", False, WHEN, b"accented name"),
    ("moodle_backup.xml", False, WHEN, b'<?xml version="1.0"?>\n<moodle_backup/>\n'),
    ("moodle_backup.log", False, WHEN, b"[2024] backup done\n"),
]
FILES = {name: data for name, is_dir, _, data in MEMBERS if not is_dir}
COMPRESSORS = ["isal", "zlib"]


def write(path, format="tgz", members=MEMBERS, **options) -> StreamingArchiveWriter:
    """Every member, each way of adding one in turn: chunks, a stream, open()."""
    with StreamingArchiveWriter(path, format, **options) as archive:
        for number, (name, is_dir, mtime, data) in enumerate(members):
            if is_dir:
                archive.add_dir(name, mtime)
            elif number % 3 == 0:
                pieces = [data[start:start + 7] for start in range(0, len(data), 7)]
                archive.add(name, len(data), mtime, pieces)
            elif number % 3 == 1:
                archive.add(name, len(data), mtime, io.BytesIO(data))
            else:
                with archive.open(name, mtime) as stream:
                    for start in range(0, len(data), 1000):
                        stream.write(data[start:start + 1000])
    return archive


def leftovers(folder: Path) -> list[str]:
    """Names in ``folder`` and descriptors of this process still open on files in it
    (an anonymous temporary shows as ``folder/#123 (deleted)``)."""
    found = sorted(os.listdir(folder))
    for descriptor in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{descriptor}")
            if target.startswith(f"{folder}/"):
                found.append(f"fd {descriptor} -> {target}")
    return found


@pytest.fixture
def out(tmp_path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


# -- the tar.gz read back ------------------------------------------------------------------

@pytest.mark.parametrize("compressor", COMPRESSORS)
def test_tgz_reads_back_with_tarfile_and_its_index_is_first_and_true(out, compressor):
    path = out / "a.mbz"
    archive = write(path, compressor=compressor)
    assert os.listdir(out) == ["a.mbz"]
    assert archive.bytes_out == path.stat().st_size
    assert archive.bytes_in == sum(map(len, FILES.values()))
    with tarfile.open(path, "r:gz") as tar:
        entries = tar.getmembers()
        assert entries[0].name == ".ARCHIVE_INDEX" and entries[0].isfile()
        index = tar.extractfile(entries[0]).read()
        assert [(entry.name, entry.isdir()) for entry in entries[1:]] == \
            [(name, is_dir) for name, is_dir, _, _ in MEMBERS]
        lines = [f"Moodle archive file index. Count: {len(entries) - 1}\n"]
        for entry, (_, _, mtime, _) in zip(entries[1:], MEMBERS):
            assert entry.type in (tarfile.REGTYPE, tarfile.DIRTYPE)
            assert entry.pax_headers == {}
            assert entry.mtime == (MOODLE_UNKNOWN_MTIME if mtime is None else mtime)
            if entry.isdir():
                lines.append(f"{entry.name}/\td\t0\t?\n")
            else:
                assert tar.extractfile(entry).read() == FILES[entry.name]
                lines.append(f"{entry.name}\tf\t{entry.size}\t{'?' if mtime is None else mtime}\n")
        assert index == "".join(lines).encode()


@pytest.mark.parametrize("compressor", COMPRESSORS)
def test_tgz_is_one_gzip_member_with_a_true_trailer(out, compressor):
    path = out / "a.mbz"
    write(path, compressor=compressor)
    raw = path.read_bytes()
    assert raw[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # as pack_tgz writes it
    inflater = zlib.decompressobj(wbits=31)  # one gzip member; CRC-32 and ISIZE checked
    tar_bytes = inflater.decompress(raw)
    assert inflater.eof and inflater.unused_data == b""
    assert raw[-8:] == (zlib.crc32(tar_bytes).to_bytes(4, "little")
                        + len(tar_bytes).to_bytes(4, "little"))
    assert len(tar_bytes) % 512 == 0 and tar_bytes[-1024:] == b"\0" * 1024
    assert gzip.decompress(raw) == tar_bytes
    checked = subprocess.run(["gzip", "-t", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("compressor", COMPRESSORS)
def test_tgz_reads_back_with_mbx_and_ls_takes_the_index(out, compressor):
    path = out / "a.mbz"
    write(path, compressor=compressor)
    expected = [(name, is_dir, 0 if is_dir else len(data), None if is_dir else mtime)
                for name, is_dir, mtime, data in MEMBERS]  # a directory's time: "?", as Moodle
    listing = TarGzContainer(str(path), ArchiveLimits()).index_listing()
    assert listing is not None  # the trailer agrees with the index: mbx ls -l's fast path
    assert [(m.name, m.is_dir, m.size, m.mtime) for m in listing.members[1:]] == expected
    with open_backup(path) as backup:
        assert backup.kind == "tar.gz" and backup.format == "moodle2"
        assert [(m.name, m.is_dir, m.size, m.mtime) for m in backup.read_index()] == expected
        seen = []
        for info, stream in backup.iter_members():
            seen.append(info.name)
            if info.name in FILES:
                assert stream.read() == FILES[info.name]
        assert seen == [".ARCHIVE_INDEX"] + [name for name, _, _, _ in MEMBERS]


def test_tgz_inflates_to_what_archive_writer_writes(out):
    """Same members, Moodle's order and one time: the spooling writer's tar stream."""
    spooled, streamed = out / "spooled.mbz", out / "streamed.mbz"
    with ArchiveWriter(spooled, mtime=WHEN) as archive:
        for name, data in FILES.items():
            archive.write(name, data)
    from mbx.archive.writer import member_order

    order = member_order(FILES)
    write(streamed, members=[(name, is_dir, None if is_dir else WHEN,
                              b"" if is_dir else FILES[name]) for name, is_dir in order])
    assert gzip.decompress(streamed.read_bytes()) == gzip.decompress(spooled.read_bytes())


def _moodle_tar_gzs(corpus: Path) -> list[Path]:
    manifest = json.loads((corpus / "manifest.json").read_text())
    return [corpus / entry["item"] for entry in manifest
            if entry["container"] == "tar.gz" and (corpus / entry["item"]).is_file()]


def _rewrite(source: Path, target: Path, format: str = "tgz") -> None:
    """What a transform that changes nothing does: members passed on as read."""
    with open_backup(source) as backup, StreamingArchiveWriter(target, format) as archive:
        for info, stream in backup.iter_members():
            if info.name == ".ARCHIVE_INDEX":
                continue
            if info.is_dir:
                archive.add_dir(info.name, info.mtime)
            else:
                archive.add(info.name, info.size, info.mtime, stream)


def test_real_moodle_archives_rewritten_inflate_to_moodles_own_bytes(corpus, out):
    """Every tar.gz of the corpus passed through the writer: Moodle's own archives
    (their index confirmed by their trailer) come out as the very same tar stream,
    index and headers byte for byte; the others (re-packed by hand, a stale index)
    come out with a true index, the same members in the same order."""
    identical = 0
    for source in _moodle_tar_gzs(corpus):
        target = out / "rewritten.mbz"
        _rewrite(source, target)
        assert TarGzContainer(str(target), ArchiveLimits()).index_listing() is not None, source
        original, ours = gzip.decompress(source.read_bytes()), gzip.decompress(target.read_bytes())
        if TarGzContainer(str(source), ArchiveLimits()).index_listing() is not None:
            assert ours == original, source
            identical += 1
        else:
            with tarfile.open(fileobj=io.BytesIO(original)) as theirs, \
                    tarfile.open(fileobj=io.BytesIO(ours)) as mine:
                def files(tar):
                    listed = []
                    for member in tar.getmembers():
                        name = member.name.removeprefix("./").rstrip("/")
                        if name not in ("", ".", ".ARCHIVE_INDEX"):
                            listed.append((name, member.isdir(), tar.extractfile(member).read()
                                           if member.isfile() else None))
                    return listed
                assert files(mine) == files(theirs), source
        target.unlink()
    assert identical >= 40


# -- zip -----------------------------------------------------------------------------------

def test_zip_reads_back_with_zipfile_and_mbx(out):
    path = out / "a.zip"
    archive = write(path, "zip")
    assert archive.bytes_out == path.stat().st_size
    with zipfile.ZipFile(path) as zipped:
        assert zipped.testzip() is None
        infos = zipped.infolist()
        assert [info.filename for info in infos] == \
            [name + "/" if is_dir else name for name, is_dir, _, _ in MEMBERS]
        for info, (name, is_dir, mtime, data) in zip(infos, MEMBERS):
            stamp = time.gmtime(MOODLE_UNKNOWN_MTIME if mtime is None else mtime)[:6]
            assert info.date_time == stamp[:5] + (stamp[5] // 2 * 2,)  # DOS time: 2 s steps
            assert info.compress_type == (zipfile.ZIP_STORED if is_dir else zipfile.ZIP_DEFLATED)
            assert info.is_dir() == is_dir
            if not is_dir:
                assert zipped.read(info) == data
    with open_backup(path) as backup:
        assert backup.kind == "zip" and backup.format == "moodle2"
        assert [info.name for info, _ in backup.iter_members()] == \
            [name for name, _, _, _ in MEMBERS]
        with backup.open("moodle_backup.xml") as stream:
            assert stream.read() == FILES["moodle_backup.xml"]


def test_zip_of_a_real_course(corpus, out):
    source = next(path for path in _moodle_tar_gzs(corpus) if path.stat().st_size > 100_000
                  and TarGzContainer(str(path), ArchiveLimits()).index_listing() is not None)
    target = out / "course.zip"
    _rewrite(source, target, "zip")
    with tarfile.open(source) as tar, zipfile.ZipFile(target) as zipped:
        expected = [(m.name + "/" if m.isdir() else m.name,
                     tar.extractfile(m).read() if m.isfile() else b"")
                    for m in tar.getmembers() if m.name != ".ARCHIVE_INDEX"]
        assert [(info.filename, zipped.read(info)) for info in zipped.infolist()] == expected


# -- open(): members of unknown size -------------------------------------------------------

def test_an_open_member_bigger_than_the_spool_memory(out):
    """A tar.gz streams an open member as it is written (its header, with the size,
    joined before it at the end): nothing is spooled, whatever its size."""
    path = out / "big.mbz"
    piece = os.urandom(1 << 16)
    pieces = (SPOOL_MEMORY // len(piece)) * 2 + 3
    with StreamingArchiveWriter(path) as archive:
        archive.add_dir("files")
        archive.add("files/before.txt", 6, WHEN, [b"before"])
        with archive.open("files/big.bin", WHEN) as stream:
            for _ in range(pieces):
                assert stream.write(piece) == len(piece)
            assert stream._spool is None
            assert os.listdir(out) == []  # the body file is anonymous
        slot = archive.slot("files/slot.bin")
        archive.add("files/after.txt", 5, WHEN, [b"after"])
        with slot.open(WHEN + 1) as stream:
            stream.write(bytearray(b"filled late"))
        with archive.open("files/empty.bin", WHEN) as stream:
            pass
    with tarfile.open(path) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [".ARCHIVE_INDEX", "files", "files/before.txt",
                                             "files/big.bin", "files/slot.bin",
                                             "files/after.txt", "files/empty.bin"]
        assert [m.size for m in members[2:]] == [6, len(piece) * pieces, 11, 5, 0]
        assert members[4].mtime == WHEN + 1
        assert tar.extractfile("files/big.bin").read() == piece * pieces
        assert tar.extractfile("files/slot.bin").read() == b"filled late"
    assert subprocess.run(["gzip", "-t", str(path)]).returncode == 0
    assert TarGzContainer(str(path), ArchiveLimits()).index_listing() is not None


def test_a_zip_spools_an_open_member_on_disk(out):
    path = out / "big.zip"
    piece = os.urandom(1 << 16)
    pieces = (SPOOL_MEMORY // len(piece)) * 2 + 3
    with StreamingArchiveWriter(path, "zip") as archive:
        with archive.open("files/big.bin", WHEN) as stream:
            for _ in range(pieces):
                assert stream.write(piece) == len(piece)
            assert stream._spool._rolled  # past SPOOL_MEMORY: on disk now, not in memory
            assert len(os.listdir(out)) == 1  # the archive's temporary; the spool anonymous
    with zipfile.ZipFile(path) as archive:
        assert archive.read("files/big.bin") == piece * pieces


def test_one_open_member_at_a_time(out):
    archive = StreamingArchiveWriter(out / "a.mbz")
    stream = archive.open("a.xml")
    for call in (lambda: archive.add("b.xml", 0, None, []), lambda: archive.add_dir("c"),
                 lambda: archive.open("d.xml")):
        with pytest.raises(ArchiveError) as caught:
            call()
        assert caught.value.code == "archive-member-open"
    stream.write(b"fine")
    stream.close()
    archive.add("b.xml", 0, None, [])
    archive.close()
    with tarfile.open(out / "a.mbz") as tar:
        assert tar.getnames() == [".ARCHIVE_INDEX", "a.xml", "b.xml"]


def test_closing_with_a_member_open_abandons_the_archive(out):
    archive = StreamingArchiveWriter(out / "a.mbz")
    archive.open("a.xml").write(b"never closed")
    with pytest.raises(ArchiveError) as caught:
        archive.close()
    assert caught.value.code == "archive-member-open"
    assert leftovers(out) == []


# -- refusals and failures leave nothing ---------------------------------------------------

@pytest.mark.parametrize("format", ["tgz", "zip"])
@pytest.mark.parametrize("way", ["chunks", "stream"])
@pytest.mark.parametrize("actual", [9, 11, 0])
def test_a_size_that_does_not_match_is_refused_and_leaves_nothing(out, format, way, actual):
    archive = StreamingArchiveWriter(out / "a.mbz", format)
    archive.add("first.xml", 3, WHEN, [b"one"])
    data = b"z" * actual
    with pytest.raises(ArchiveError) as caught:
        if way == "chunks":
            archive.add("second.xml", 10, WHEN, [data[:4], data[4:]])
        else:
            archive.add("second.xml", 10, WHEN, io.BytesIO(data))
    assert caught.value.code == "archive-size-mismatch"
    assert leftovers(out) == []
    with pytest.raises(ArchiveError) as caught:
        archive.add("third.xml", 0, None, [])
    assert caught.value.code == "archive-writer-closed"
    archive.close()  # already abandoned: nothing to do
    assert leftovers(out) == []


def test_refused_names_leave_the_writer_usable(out):
    archive = StreamingArchiveWriter(out / "r.mbz")
    archive.add_dir("dir")
    archive.add("ok.xml", 0, None, [])
    refusals = [("x" * 101, False, "archive-name-too-long"),
                ("d" * 100, True, "archive-name-too-long"),  # 101 bytes with its "/"
                ("a/" + "y" * 150 + "/" + "z" * 101, False, "archive-name-too-long"),
                ("ok.xml", False, "archive-duplicate-name"),
                ("dir", True, "archive-duplicate-name"), ("dir", False, "archive-duplicate-name"),
                ("ok.xml", True, "archive-duplicate-name"),
                ("OK.xml", False, "archive-name-collision"),
                ("ok.xml/x", False, "archive-name-conflict"),
                ("._ok.xml", False, "archive-bad-name"), ("__MACOSX/a", True, "archive-bad-name"),
                ("./a.xml", False, "archive-bad-name"), ("a\\b", False, "archive-bad-name"),
                ("a\x00b", False, "archive-bad-name"),
                (".ARCHIVE_INDEX", False, "archive-bad-name"),
                ("/abs", False, None), ("a/../b", False, None), ("a//b", False, None),
                ("dir/", True, None), ("", False, None)]
    for name, is_dir, code in refusals:
        with pytest.raises(ArchiveError) as caught:
            if is_dir:
                archive.add_dir(name)
            else:
                archive.add(name, 1, None, [b"1"])
        if code is not None:
            assert caught.value.code == code, name
    with pytest.raises(ArchiveError):
        archive.open("ok.xml")
    archive.add("dir/after.xml", 2, WHEN, [b"ok"])
    archive.close()
    with tarfile.open(out / "r.mbz") as tar:
        assert tar.getnames() == [".ARCHIVE_INDEX", "dir", "ok.xml", "dir/after.xml"]
    assert sorted(os.listdir(out)) == ["r.mbz"]


@pytest.mark.parametrize("format, too_late", [("tgz", 8 ** 11), ("zip", 4354819200)])
def test_times_the_format_cannot_hold_are_refused_before_anything_is_written(
        out, format, too_late):
    archive = StreamingArchiveWriter(out / "t.mbz", format)
    for mtime in (-1, too_late):
        for add in (lambda: archive.add_dir("d", mtime),
                    lambda: archive.add("a.xml", 1, mtime, [b"1"]),
                    lambda: archive.open("b.xml", mtime)):
            with pytest.raises(ArchiveError) as caught:
                add()
            assert caught.value.code == "archive-bad-mtime"
    latest = too_late - 1  # the end of 2107 for a zip, the year 2242 for a tar header
    archive.add("a.xml", 1, latest, [b"1"])
    archive.close()
    if format == "tgz":
        with tarfile.open(out / "t.mbz") as tar:
            assert tar.getmember("a.xml").mtime == latest
    else:
        with zipfile.ZipFile(out / "t.mbz") as zipped:
            assert zipped.getinfo("a.xml").date_time == (2107, 12, 31, 23, 59, 58)


def test_ustar_headers_refuse_a_negative_time(out):
    with pytest.raises(ArchiveError) as caught:
        with ArchiveWriter(out / "a.mbz", mtime=-1) as archive:
            archive.write("a.xml", b"1")
    assert caught.value.code == "archive-bad-mtime"
    assert leftovers(out) == []


def test_zip_takes_names_too_long_for_ustar(out):
    name = "a/" + "y" * 150 + "/" + "z" * 101
    with StreamingArchiveWriter(out / "a.zip", "zip") as archive:
        archive.add(name, 1, None, [b"1"])
    with zipfile.ZipFile(out / "a.zip") as zipped:
        assert zipped.namelist() == [name]


def test_bad_arguments():
    with pytest.raises(ValueError):
        StreamingArchiveWriter("x.mbz", "rar")
    with pytest.raises(ValueError):
        StreamingArchiveWriter("x.mbz", compressor="brotli")


def test_a_negative_size_is_refused(out):
    archive = StreamingArchiveWriter(out / "a.mbz")
    with pytest.raises(ValueError):
        archive.add("a.xml", -1, None, [])
    archive.abort()
    assert leftovers(out) == []


@pytest.mark.parametrize("format", ["tgz", "zip"])
@pytest.mark.parametrize("where", ["between", "in-add", "in-open", "in-chunks"])
def test_an_exception_leaves_no_file_and_no_temporaries(out, format, where):
    def failing_chunks():
        yield b"half"
        raise OSError(errno.EIO, "the input went away")

    with pytest.raises((RuntimeError, OSError)):
        with StreamingArchiveWriter(out / "e.mbz", format) as archive:
            archive.add_dir("d")
            archive.add("d/a.xml", 5000, WHEN, [b"1" * 5000])
            if where == "in-add":
                archive.add("d/b.xml", 10, WHEN, failing_chunks())
            with archive.open("d/c.xml") as stream:
                stream.write(b"x" * (SPOOL_MEMORY + 10))  # spilled to disk
                if where == "in-open":
                    raise RuntimeError("boom")
            if where == "in-chunks":
                archive.add("d/b.xml", 4, WHEN, failing_chunks())
            raise RuntimeError("boom")
    assert leftovers(out) == []


@pytest.mark.parametrize("format", ["tgz", "zip"])
@pytest.mark.parametrize("where", ["in-add", "in-open", "at-close"])
def test_a_cancel_lands_mid_member_and_leaves_nothing(out, format, where):
    token = CancelToken()
    seen = []
    monitor = Monitor(lambda snapshot: None, cancel=token, interval=0, on_member=seen.append)
    taken = []

    def chunks():
        for number in range(10):
            if number == 3 and where == "in-add":
                token.cancel()
            taken.append(number)
            yield b"c" * 1000

    with pytest.raises(Cancelled):
        with StreamingArchiveWriter(out / "c.mbz", format, progress=monitor) as archive:
            archive.add_dir("d")
            archive.add("d/a.xml", 10_000, WHEN, chunks())
            with archive.open("d/b.xml") as stream:
                stream.write(b"before")
                if where == "in-open":
                    token.cancel()
                stream.write(b"after")
            token.cancel()  # "at-close": after the last member, before the archive is made
    assert leftovers(out) == []
    if where == "in-add":
        assert taken == [0, 1, 2, 3]  # the cancel stopped the member, not the end of it
        assert [member.name for member in seen] == ["d"]
    else:
        assert [member.name for member in seen] == ["d", "d/a.xml"] + \
            (["d/b.xml"] if where == "at-close" else [])


def test_a_cancel_during_the_final_copy_leaves_nothing(out, monkeypatch):
    import mbx.archive.writer.stream as stream_module

    token = CancelToken()
    monitor = Monitor(cancel=token)
    monkeypatch.setattr(stream_module, "_COPY_STEP", 4096)
    real_copies = stream_module._kernel_copies

    def copies_that_cancel():
        def cancel_after(copy):
            def step(*args):
                copied = copy(*args)
                token.cancel()
                return copied
            return step
        return [cancel_after(copy) for copy in real_copies()]

    monkeypatch.setattr(stream_module, "_kernel_copies", copies_that_cancel)
    archive = StreamingArchiveWriter(out / "c.mbz", progress=monitor)
    archive.add("random.bin", 100_000, WHEN, [os.urandom(100_000)])  # more than one step
    with pytest.raises(Cancelled):
        archive.close()
    assert leftovers(out) == []


def test_progress_sees_every_member_in_order(out):
    seen = []
    write(out / "p.mbz", progress=seen.append)
    assert [(m.name, m.is_dir, m.size) for m in seen] == \
        [(name, is_dir, len(data)) for name, is_dir, _, data in MEMBERS]


# -- the copy of the body at close, every way ---------------------------------------------

@pytest.mark.parametrize("ways", ["kernel", "sendfile", "buffer"])
def test_every_way_of_copying_the_body_gives_the_same_archive(out, monkeypatch, ways):
    reference = out / "reference.mbz"
    write(reference)

    def unsupported(*args):
        raise OSError(errno.ENOSYS, "not here")

    calls = []

    def counted(copy):
        def counting(*args):
            calls.append(copy.__name__)
            return copy(*args)
        return counting

    monkeypatch.setattr(os, "copy_file_range", counted(os.copy_file_range)
                        if ways == "kernel" else unsupported)
    monkeypatch.setattr(os, "sendfile", counted(os.sendfile) if ways == "sendfile"
                        else unsupported)
    path = out / "a.mbz"
    write(path)
    assert path.read_bytes() == reference.read_bytes()  # same engine, same bytes
    assert set(calls) == {"kernel": {"copy_file_range"}, "sendfile": {"sendfile"},
                          "buffer": set()}[ways]


def test_a_copy_error_other_than_unsupported_is_raised(out, monkeypatch):
    def broken(*args):
        raise OSError(errno.EIO, "input/output error")

    monkeypatch.setattr(os, "copy_file_range", broken)
    with pytest.raises(OSError) as caught:
        write(out / "a.mbz")
    assert caught.value.errno == errno.EIO
    assert leftovers(out) == []


# -- a full disk ---------------------------------------------------------------------------

@contextlib.contextmanager
def small_disk(path: Path, size: int):
    """A tmpfs of ``size`` bytes mounted at ``path`` (the tests run as root), as
    tests/test_restore_failure.py makes its full disks."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"the full-disk tests mount a small tmpfs and need root and mount(8): "
                    f"mount -t tmpfs {path} failed: {mounted.stderr.strip()}", pytrace=False)
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=True)


def _free(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


@pytest.mark.parametrize("format, where", [("tgz", "while-adding"), ("tgz", "at-close"),
                                           ("zip", "while-adding")])
def test_a_full_disk_fails_and_leaves_nothing(tmp_path, format, where):
    """``while-adding``: the archive is bigger than the disk. ``at-close``: the tar.gz
    body fits, but not twice, once in its temporary file and once in the archive
    (a zip has no body to copy)."""
    with small_disk(tmp_path / "disk", 1 << 20) as disk:
        empty = _free(disk)
        size = (3 << 20) if where == "while-adding" else (640 << 10)
        added = []
        with pytest.raises(OSError) as caught:
            with StreamingArchiveWriter(disk / "full.mbz", format) as archive:
                archive.add("random.bin", size, WHEN,
                            (os.urandom(1 << 16) for _ in range(size >> 16)))
                archive.add("after.xml", 2, WHEN, [b"ok"])
                added.append(True)
        assert caught.value.errno == errno.ENOSPC
        if where == "at-close":  # (while adding, the deflating thread may only report the
            assert added == [True]  # full disk at the next put or at close)
        assert leftovers(disk) == []
        assert _free(disk) == empty  # nothing still held open either


# -- memory --------------------------------------------------------------------------------

def test_memory_stays_flat_for_a_200_mb_archive(out):
    """200 MiB in four members, each streamed from one reused block: the writer holds
    no member (each is 50 MiB), only a compressed chunk at a time; a 50 MiB member
    of unknown size (open()) costs its spool's memory, then spills to disk."""
    block = (b"<record><id>12345</id><text>streamed, not spooled</text></record>\n" * 16384)
    assert len(block) > 1 << 20
    blocks = -(-(200 << 20) // (4 * len(block)))  # per member, four members: 200 MiB
    path = out / "big.mbz"
    tracemalloc.start()
    try:
        with StreamingArchiveWriter(path) as archive:
            archive.add_dir("files")
            for number in range(4):
                archive.add(f"files/part{number}.xml", len(block) * blocks, WHEN,
                            (block for _ in range(blocks)))
            _, streamed_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            with archive.open("files/unknown.xml") as stream:
                for _ in range(blocks):
                    stream.write(block)
        _, spooled_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert archive.bytes_in == len(block) * blocks * 5 >= 250 << 20
    assert streamed_peak < 2 << 20, streamed_peak
    assert spooled_peak < 2 * SPOOL_MEMORY, spooled_peak
    assert TarGzContainer(str(path), ArchiveLimits()).index_listing() is not None
    inflater = zlib.decompressobj(wbits=31)
    length = 0
    with open(path, "rb") as file:
        while piece := file.read(1 << 20):
            length += len(inflater.decompress(piece, 1 << 24))
            while inflater.unconsumed_tail:
                length += len(inflater.decompress(inflater.unconsumed_tail, 1 << 24))
    # the index entry (a header and one block of text), six headers, the end blocks
    assert inflater.eof and length == archive.bytes_in + 2 * 512 + 6 * 512 + 1024


# -- slots: places reserved in the archive's order ------------------------------------------

@pytest.mark.parametrize("compressor", ["isal", "zlib"])
def test_slots_keep_their_place_and_can_be_dropped(out, compressor):
    """Members reserved early and filled late sit where they were reserved; a dropped
    slot (filled or not) leaves no trace; tarfile, gzip and mbx read it all back."""
    path = out / "slots.mbz"
    blob = os.urandom(300_000)
    with StreamingArchiveWriter(path, compressor=compressor) as archive:
        archive.add_dir("activities", WHEN)
        late = archive.slot("activities/a.xml")
        archive.add("activities/b.xml", 3, WHEN, [b"bbb"])
        folder = archive.slot("files", is_dir=True)
        kept = archive.slot("files/kept.bin")
        kept.add(len(blob), WHEN, [blob])
        gone = archive.slot("files/gone.bin")
        gone.add(5, WHEN, [b"gone!"])
        never = archive.slot("files/never.bin")
        archive.add("users.xml", 4, WHEN, [b"<u/>"])
        gone.drop()
        never.drop()
        folder.add_dir(WHEN)
        with late.open(WHEN) as stream:
            stream.write(b"<late/>")
    with tarfile.open(path, "r:gz") as tar:
        names = [member.name.rstrip("/") for member in tar]
        assert names == [".ARCHIVE_INDEX", "activities", "activities/a.xml", "activities/b.xml",
                         "files", "files/kept.bin", "users.xml"]
        assert tar.extractfile("activities/a.xml").read() == b"<late/>"
        assert tar.extractfile("files/kept.bin").read() == blob
    gzip.decompress(path.read_bytes())  # one stream, CRC and length checked
    assert TarGzContainer(str(path), ArchiveLimits()).index_listing() is not None
    assert leftovers(out) == ["slots.mbz"]


def test_an_unfilled_slot_abandons_the_archive(out):
    path = out / "unfilled.mbz"
    with pytest.raises(ArchiveError) as refused:
        with StreamingArchiveWriter(path) as archive:
            archive.slot("a.xml")
    assert refused.value.code == "archive-slot-unfilled"
    assert not path.exists() and leftovers(out) == []


def test_a_slot_is_filled_once(out):
    with StreamingArchiveWriter(out / "once.mbz") as archive:
        slot = archive.slot("a.xml")
        slot.add(1, WHEN, [b"a"])
        with pytest.raises(ArchiveError) as refused:
            slot.add(1, WHEN, [b"a"])
        assert refused.value.code == "archive-slot-used"


def test_zip_slots(out):
    path = out / "slots.zip"
    with StreamingArchiveWriter(path, "zip") as archive:
        first = archive.slot("a.xml")
        archive.add("b.xml", 1, WHEN, [b"b"])
        dropped = archive.slot("c.xml")
        dropped.drop()
        first.add(1, WHEN, [b"a"])
        with pytest.raises(ArchiveError):
            first.drop()
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["a.xml", "b.xml"]
        assert archive.read("a.xml") == b"a"
