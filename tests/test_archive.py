"""The archive layer: real backups, hostile archives built here, and streaming proofs.

* Conformance: every backup in ``../shared/fixtures/real`` opens, lists what
  ``tarfile``/``zipfile``/``os.walk`` list (``./`` stripped, macOS litter
  ignored), has the format the manifest says and streams the same bytes.
* Hostile input: each refusal is built here with the standard library (or by
  hand where it will not write such a thing) and must raise its own
  ``ArchiveError`` code, within a deadline, without writing anything.
* Streaming: read-counting files show bounded reads, an index read touches only
  the start of the file, and ``iter_members`` is one pass.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import signal
import socket
import stat
import struct
import sys
import tarfile
import warnings
import zipfile
import zlib
from pathlib import Path

import hypothesis
import hypothesis.strategies
import pytest

from mbx.archive import (ArchiveLimits, IgnoredMember, MemberInfo, available_inflaters, base,
                         inflate, open_backup, parse_archive_index)
from mbx.archive.inflate import INPUT_BLOCK, GzipInflater, load_inflater
from mbx.errors import ArchiveError, MbxError

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real"
MIB = 1 << 20
MOODLE_BACKUP_XML = (b'<?xml version="1.0" encoding="UTF-8"?>\n<moodle_backup>\n'
                     b'  <information>\n  </information>\n</moodle_backup>\n')


# -- guards: nothing written, no hang ---------------------------------------------------------

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_WRITE_EVENTS = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.symlink", "os.link",
                 "os.truncate", "os.chmod", "os.chown", "os.utime", "os.mknod",
                 "shutil.copyfile", "shutil.move", "shutil.rmtree", "tempfile.mkstemp",
                 "tempfile.mkdtemp"}
_recorded_writes: list | None = None


def _audit(event: str, args: tuple) -> None:
    if _recorded_writes is None:
        return
    if event == "open":
        path, mode, flags = args
        if (mode and any(c in mode for c in "wax+")) or (flags or 0) & _WRITE_FLAGS:
            _recorded_writes.append((event, path))
    elif event in _WRITE_EVENTS:
        _recorded_writes.append((event, args[:1]))


sys.addaudithook(_audit)  # audit hooks cannot be removed: it records only inside no_writes()


@contextlib.contextmanager
def no_writes():
    """Fails if anything opens a file for writing or changes the file system meanwhile."""
    global _recorded_writes
    _recorded_writes = writes = []
    try:
        yield
    finally:
        _recorded_writes = None
    assert writes == [], f"the archive layer wrote: {writes}"


@contextlib.contextmanager
def deadline(seconds: float = 10.0):
    """Turns a hang into a failure (SIGALRM; a no-op where it does not exist)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_write_guard_sees_writes(tmp_path):
    with pytest.raises(AssertionError, match="wrote"):
        with no_writes():
            (tmp_path / "written").write_bytes(b"x")
    with pytest.raises(AssertionError, match="wrote"):
        with no_writes():
            (tmp_path / "made").mkdir()


def read_everything(path, limits: ArchiveLimits = ArchiveLimits()) -> list[MemberInfo]:
    """What verify would do: list, stream every member to its end, read the index."""
    with open_backup(path, limits=limits) as backup:
        listed = list(backup.members())
        for _info, stream in backup.iter_members():
            while stream.read(1 << 16):
                pass
        backup.read_index()
        assert backup.format
        return listed


def assert_refused(code: str, path, limits: ArchiveLimits = ArchiveLimits(), *,
                   action=read_everything) -> ArchiveError:
    with no_writes(), deadline():
        with pytest.raises(ArchiveError) as caught:
            action(path, limits)
    error = caught.value
    assert error.code == code, f"expected {code}, got {error.code}: {error}"
    assert isinstance(error, MbxError) and isinstance(error, ValueError)
    assert code in str(error) and error.message
    return error


# -- building archives ------------------------------------------------------------------------

def tar_bytes(entries, *, format=tarfile.USTAR_FORMAT, pax_headers=None) -> bytes:
    """A tar from ``[(name, bytes | None for a directory | TarInfo-tweaking dict)]``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=format,
                      pax_headers=pax_headers or {}) as archive:
        for name, content, *tweaks in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            if content is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
            else:
                info.size = len(content)
            for key, value in (tweaks[0] if tweaks else {}).items():
                setattr(info, key, value)
            archive.addfile(info, io.BytesIO(content) if content and info.isreg() else None)
    return buffer.getvalue()


def write_tgz(path: Path, entries, **options) -> Path:
    path.write_bytes(gzip.compress(tar_bytes(entries, **options), mtime=0))
    return path


def write_zip(path: Path, entries, *, compression=zipfile.ZIP_DEFLATED) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names, on purpose
        with zipfile.ZipFile(path, "w", compression) as archive:
            for name, content, *attributes in entries:
                info = zipfile.ZipInfo(name, (2020, 1, 2, 3, 4, 6))
                info.compress_type = compression
                if attributes:
                    info.external_attr = attributes[0] << 16
                archive.writestr(info, content if content is not None else b"")
    return path


def octal(value: int, width: int) -> bytes:
    return b"%0*o\x00" % (width - 1, value)


def ustar_header(name: bytes, size: int = 0, typeflag: bytes = b"0", *, prefix: bytes = b"",
                 linkname: bytes = b"", magic: bytes = b"ustar\x0000", mtime: int = 1700000000,
                 size_field: bytes | None = None, checksum_delta: int = 0) -> bytes:
    """One hand-made 512-byte header, for what tarfile will not write."""
    header = bytearray(512)
    header[0:len(name)] = name
    header[100:108] = octal(0o644, 8)
    header[108:116] = octal(0, 8)
    header[116:124] = octal(0, 8)
    header[124:136] = size_field if size_field is not None else octal(size, 12)
    header[136:148] = octal(mtime, 12)
    header[148:156] = b" " * 8
    header[156:157] = typeflag
    header[157:157 + len(linkname)] = linkname
    header[257:265] = magic
    header[345:345 + len(prefix)] = prefix
    checksum = sum(header) + checksum_delta
    header[148:156] = b"%06o\x00 " % checksum
    return bytes(header)


def ustar_entry(name: bytes, content: bytes = b"", typeflag: bytes = b"0", **options) -> bytes:
    return ustar_header(name, len(content), typeflag, **options) + content + \
        bytes(-len(content) % 512)


END = bytes(1024)


def pax_record(key: str, value: bytes) -> bytes:
    body = f" {key}=".encode() + value + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length += 1
    return str(length).encode() + body


def write_raw_tgz(path: Path, *parts: bytes) -> Path:
    path.write_bytes(gzip.compress(b"".join(parts), mtime=0))
    return path


def moodle_index(entries) -> bytes:
    lines = [f"Moodle archive file index. Count: {len(entries)}"]
    for name, content in entries:
        if content is None:
            lines.append(f"{name}/\td\t0\t?")
        else:
            lines.append(f"{name}\tf\t{len(content)}\t1700000000")
    return ("\n".join(lines) + "\n").encode()


def moodle_like_entries(extra=()):
    entries = [("activities", None), ("activities/page_1", None),
               ("activities/page_1/page.xml", b"<activity/>\n" * 50), ("files", None),
               ("moodle_backup.xml", MOODLE_BACKUP_XML), *extra]
    return [(".ARCHIVE_INDEX", moodle_index(entries)), *entries]


# -- stdlib views, for comparison -------------------------------------------------------------

def strip_dot_slash(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


def tarfile_view(path) -> tuple[list[tuple[str, int, bool]], dict[str, str], list[str]]:
    """(listing, sha1 per file, self-linking hard links) as tarfile reads the archive."""
    listing, hashes, links = [], {}, []
    with tarfile.open(path) as archive:
        for member in archive:
            name = strip_dot_slash(member.name)
            if member.islnk() and strip_dot_slash(member.linkname) == name:
                links.append(name)
                continue
            assert member.isfile() or member.isdir(), member
            if name in ("", "."):
                continue
            listing.append((name, member.size if member.isfile() else 0, member.isdir()))
            if member.isfile():
                hashes[name] = hashlib.sha1(archive.extractfile(member).read()).hexdigest()
    return listing, hashes, links


def zipfile_view(path) -> tuple[list[tuple[str, int, bool]], dict[str, str], list[str]]:
    listing, hashes = [], {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name = strip_dot_slash(info.filename)
            listing.append((name, 0 if info.is_dir() else info.file_size, info.is_dir()))
            if not info.is_dir():
                hashes[name] = hashlib.sha1(archive.read(info)).hexdigest()
    return listing, hashes, []


def walk_view(path) -> tuple[list[tuple[str, int, bool]], dict[str, str], list[str]]:
    listing, hashes = [], {}
    for folder, directories, files in os.walk(path):
        for directory in directories:
            name = os.path.relpath(os.path.join(folder, directory), path).replace(os.sep, "/")
            listing.append((name, 0, True))
        for file in files:
            full = os.path.join(folder, file)
            name = os.path.relpath(full, path).replace(os.sep, "/")
            listing.append((name, os.path.getsize(full), False))
            hashes[name] = hashlib.sha1(Path(full).read_bytes()).hexdigest()
    return sorted(listing), hashes, []


STDLIB_VIEWS = {"tar.gz": tarfile_view, "zip": zipfile_view, "folder": walk_view}


def without_ignored(listing, hashes):
    keep = [entry for entry in listing if base.ignore_reason(entry[0]) is None]
    return keep, {name: digest for name, digest in hashes.items()
                  if base.ignore_reason(name) is None}


def streamed_view(backup) -> tuple[list[tuple[str, int, bool]], dict[str, str]]:
    listing, hashes = [], {}
    for info, stream in backup.iter_members():
        listing.append((info.name, info.size, info.is_dir))
        digest = hashlib.sha1()
        while chunk := stream.read(1 << 15):
            digest.update(chunk)
        if not info.is_dir:
            hashes[info.name] = digest.hexdigest()
        else:
            assert digest.digest() == hashlib.sha1().digest()
    return listing, hashes


# -- conformance on the real corpus -----------------------------------------------------------

def _corpus_items():
    manifest = CORPUS / "manifest.json"
    if not manifest.is_file():
        return [pytest.param(None, id="corpus-missing")]
    return [pytest.param(item, id=item["item"]) for item in json.loads(manifest.read_text())]


def test_corpus_is_present():
    assert CORPUS.is_dir(), f"the real-backup corpus is missing: {CORPUS}"
    assert len(json.loads((CORPUS / "manifest.json").read_text())) >= 70


@pytest.mark.parametrize("item", _corpus_items())
def test_real_backup_reads_like_the_standard_library(item):
    if item is None:
        pytest.fail(f"the real-backup corpus is missing: {CORPUS}")
    path = CORPUS / item["item"]
    expected_listing, expected_hashes, self_links = STDLIB_VIEWS[item["container"]](path)
    expected_listing, expected_hashes = without_ignored(expected_listing, expected_hashes)
    with no_writes(), open_backup(path) as backup:
        assert backup.kind == item["container"]
        assert backup.format == ("moodle1" if item["backup_release"] == "1.9" else "moodle2")
        listing = [(m.name, m.size, m.is_dir) for m in backup.members()]
        if backup.kind == "folder":
            listing.sort()
        assert listing == expected_listing
        streamed_listing, hashes = streamed_view(backup)
        assert sorted(streamed_listing) == sorted(listing)
        assert hashes == expected_hashes
        assert [m.name for m in backup.ignored if m.reason == "hardlink-to-itself"] == self_links
        index = backup.read_index()
        assert (index is not None) == item["has_archive_index"]
        main = "moodle.xml" if backup.format == "moodle1" else "moodle_backup.xml"
        with backup.open(main) as stream:
            assert hashlib.sha1(stream.read()).hexdigest() == expected_hashes[main]


def test_corpus_surprises_are_handled():
    """The messy corners of the corpus, pinned so they stay handled."""
    stack = CORPUS / "maths__moodle-qtype_stack" / "STACK-syntax-quiz.mbz"
    with open_backup(stack) as backup:  # "./" names, a "." root, a hard link to itself
        names = [m.name for m in backup.members()]
        assert names.count(".ARCHIVE_INDEX") == 1 and "." not in names
        assert backup.ignored == (IgnoredMember(".ARCHIVE_INDEX", "hardlink-to-itself"),)
        assert backup.read_index() is not None  # second entry, after "."
    repacked = CORPUS / "moodle__moodle" / "pre-40-shared-random-question.mbz"
    with open_backup(repacked) as backup:  # index in the middle, listing 556 stale entries
        index = backup.read_index()
        assert len(index) == 556 and len(list(backup.members())) == 47
        assert backup.format == "moodle2"


# -- tar.gz: the framing, compared with tarfile -----------------------------------------------

def assert_same_as_tarfile(path: Path, *, ignored=()):
    listing, hashes, _ = tarfile_view(path)
    listing, hashes = without_ignored(listing, hashes)
    with no_writes(), deadline(), open_backup(path) as backup:
        assert [(m.name, m.size, m.is_dir) for m in backup.members()] == listing
        assert streamed_view(backup) == (listing, hashes)
        assert [m.name for m in backup.ignored] == list(ignored)
        with tarfile.open(path) as archive:
            mtimes = {strip_dot_slash(m.name): int(m.mtime) for m in archive}
        assert all(m.mtime == mtimes[m.name] for m in backup.members())
    return listing


def test_tar_moodle_layout(tmp_path):
    path = write_tgz(tmp_path / "moodle.mbz", moodle_like_entries())
    assert_same_as_tarfile(path)
    with open_backup(path) as backup:
        assert backup.kind == "tar.gz" and backup.format == "moodle2"
        assert backup.read_index() == [
            MemberInfo("activities", 0, None, True), MemberInfo("activities/page_1", 0, None, True),
            MemberInfo("activities/page_1/page.xml", 600, 1700000000, False),
            MemberInfo("files", 0, None, True),
            MemberInfo("moodle_backup.xml", len(MOODLE_BACKUP_XML), 1700000000, False)]


@pytest.mark.parametrize("format", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT],
                         ids=["gnu", "pax", "ustar"])
def test_tar_long_names(tmp_path, format):
    deep = "activities/" + "/".join(["d" * 60] * 2) + "/file.xml"  # > 100: prefix, L or pax
    entries = [("activities", None), (deep, b"deep"), ("x" * 99, b"99")]
    if format != tarfile.USTAR_FORMAT:
        entries += [("y" * 300 + ".xml", b"long"), ("résumé/ünïcode.xml", b"utf-8")]
    assert_same_as_tarfile(write_tgz(tmp_path / "long.tgz", entries, format=format))


def test_tar_pax_global_header(tmp_path):
    with_comment = write_tgz(tmp_path / "g.tgz", [("a.xml", b"a"), ("b.xml", b"b")],
                             format=tarfile.PAX_FORMAT, pax_headers={"comment": "made by hand"})
    assert_same_as_tarfile(with_comment)
    renaming = write_tgz(tmp_path / "gpath.tgz", [("a.xml", b"a")], format=tarfile.PAX_FORMAT,
                         pax_headers={"path": "renamed.xml"})
    assert [name for name, *_ in assert_same_as_tarfile(renaming)] == ["renamed.xml"]
    # a global path applies to every later entry: two of them collide
    twice = write_tgz(tmp_path / "gtwice.tgz", [("a.xml", b"a"), ("b.xml", b"b")],
                      format=tarfile.PAX_FORMAT, pax_headers={"path": "same.xml"})
    assert_refused("archive-duplicate-name", twice)


def test_tar_pax_overrides_size_and_mtime(tmp_path):
    pax = pax_record("path", b"real-name.xml") + pax_record("size", b"5") + \
        pax_record("mtime", b"1234567890.5")
    path = write_raw_tgz(tmp_path / "pax.tgz", ustar_entry(b"PaxHeader", pax, b"x"),
                         ustar_header(b"short", 0) + b"hello" + bytes(507), END)
    assert_same_as_tarfile(path)
    with open_backup(path) as backup:
        assert list(backup.members()) == [MemberInfo("real-name.xml", 5, 1234567890, False)]


def test_tar_dot_slash_prefixes_and_no_directory_entries(tmp_path):
    entries = [(".", None), ("./moodle_backup.xml", MOODLE_BACKUP_XML),
               ("./activities/page_1/page.xml", b"page"), ("./activities", None)]
    path = write_tgz(tmp_path / "dots.mbz", entries, format=tarfile.GNU_FORMAT)
    assert [n for n, *_ in assert_same_as_tarfile(path)] == [
        "moodle_backup.xml", "activities/page_1/page.xml", "activities"]
    with open_backup(path) as backup:
        assert backup.format == "moodle2"
        assert backup.open("./activities/page_1/page.xml").read() == b"page"


def test_tar_base256_and_signed_checksum(tmp_path):
    path = write_tgz(tmp_path / "gnu.tgz", [("old.xml", b"old", {"mtime": -1000}),
                                            ("big-uid.xml", b"uid", {"uid": 8 ** 8})],
                     format=tarfile.GNU_FORMAT)
    assert_same_as_tarfile(path)
    with open_backup(path) as backup:
        assert next(backup.members()).mtime == -1000
    # checksums summed as signed bytes (old tars) are accepted, as tarfile accepts them
    header = bytearray(ustar_header(b"caf\xc3\xa9.xml", 1))
    signed = sum(struct.unpack("148b", header[:148])) + 256 + \
        sum(struct.unpack("356b", header[156:]))
    header[148:156] = b"%06o\x00 " % signed
    signed_path = write_raw_tgz(tmp_path / "signed.tgz", bytes(header), b"x" + bytes(511), END)
    assert [m.name for m in open_backup(signed_path).members()] == ["café.xml"]


def test_tar_regular_file_with_trailing_slash_is_a_directory(tmp_path):
    path = write_raw_tgz(tmp_path / "slash.tgz", ustar_entry(b"folder/", typeflag=b"\x00"),
                         ustar_entry(b"folder/a.xml", b"a"), END)
    assert list(open_backup(path).members())[0] == MemberInfo("folder", 0, 1700000000, True)


def test_multi_member_gzip_and_zero_padding(tmp_path):
    data = tar_bytes(moodle_like_entries())
    cuts = [0, 700, 1500, 1536, len(data) - 100, len(data)]  # through headers and data
    members = [gzip.compress(data[a:b], mtime=0) for a, b in zip(cuts, cuts[1:], strict=False)]
    path = tmp_path / "multi.mbz"
    path.write_bytes(b"".join(members) + gzip.compress(b"") + bytes(1000))
    assert_same_as_tarfile(path)


def test_gzip_header_fields(tmp_path):
    """FEXTRA, FNAME, FCOMMENT and FHCRC are parsed and skipped."""
    data = tar_bytes(moodle_like_entries())
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = compressor.compress(data) + compressor.flush()
    header = b"\x1f\x8b\x08\x1e" + bytes(6) + struct.pack("<H", 4) + b"XY\x00\x00" + \
        b"backup.tar\x00" + b"a comment\x00" + b"\x00\x00"
    trailer = struct.pack("<II", zlib.crc32(data), len(data))
    path = tmp_path / "fields.mbz"
    path.write_bytes(header + deflated + trailer)
    assert_same_as_tarfile(path)


def test_macos_litter_is_ignored_and_reported(tmp_path):
    entries = [("moodle_backup.xml", MOODLE_BACKUP_XML), ("._moodle_backup.xml", b"\x00\x05"),
               ("__MACOSX", None), ("__MACOSX/._files.xml", b"\x00\x05"),
               ("activities/._page.xml", b"\x00\x05"), ("activities/page.xml", b"page")]
    path = write_tgz(tmp_path / "mac.mbz", entries)
    ignored = ["._moodle_backup.xml", "__MACOSX", "__MACOSX/._files.xml", "activities/._page.xml"]
    assert_same_as_tarfile(path, ignored=ignored)
    with open_backup(path) as backup:
        assert {(m.name, m.reason) for m in backup.ignored} == {
            ("._moodle_backup.xml", "appledouble"), ("__MACOSX", "macos-metadata"),
            ("__MACOSX/._files.xml", "macos-metadata"), ("activities/._page.xml", "appledouble")}
        with pytest.raises(ArchiveError) as caught:
            backup.open("._moodle_backup.xml")
        assert caught.value.code == "archive-member-not-found"
    zipped = write_zip(tmp_path / "mac.zip", entries[:2] + entries[3:])
    with open_backup(zipped) as backup:
        assert [m.name for m in backup.members()] == ["moodle_backup.xml", "activities/page.xml"]
        assert len(backup.ignored) == 3


# -- tar.gz: refusals -------------------------------------------------------------------------

@pytest.mark.parametrize("name, code", [
    ("/etc/passwd", "archive-absolute-name"),
    ("C:/Windows/evil.xml", "archive-absolute-name"),
    ("../evil.xml", "archive-parent-reference"),
    ("activities/../../evil.xml", "archive-parent-reference"),
    ("activities\\..\\evil.xml", "archive-backslash-in-name"),
    ("bad\nname.xml", "archive-control-character-in-name"),
])
def test_tar_unsafe_names(tmp_path, name, code):
    path = write_tgz(tmp_path / "bad.mbz", [("moodle_backup.xml", MOODLE_BACKUP_XML),
                                            (name, b"evil")], format=tarfile.PAX_FORMAT)
    error = assert_refused(code, path)
    assert str(path) in str(error)


@hypothesis.settings(max_examples=400, deadline=None)
@hypothesis.given(hypothesis.strategies.text(alphabet="ab_-./\\:\x00\né", max_size=12))
def test_member_name_fast_path_agrees_with_every_check(raw):
    """Plain names skip the checks one by one; the outcome must not change."""
    def outcome(function, **extra):
        try:
            return function(raw, source="x", max_length=8, **extra)
        except ArchiveError as error:
            return error.code

    assert outcome(base.normalize_member_name) == outcome(base._normalize_checked)


def test_tar_nul_in_names(tmp_path):
    pax = write_raw_tgz(tmp_path / "paxnul.tgz",
                        ustar_entry(b"PaxHeader", pax_record("path", b"a\x00b.xml"), b"x"),
                        ustar_entry(b"a.xml", b"x"), END)
    assert_refused("archive-nul-in-name", pax)
    gnu = write_raw_tgz(tmp_path / "gnunul.tgz",
                        ustar_entry(b"././@LongLink", b"good.xml\x00../../etc/passwd\x00", b"L"),
                        ustar_entry(b"x", b"x"), END)
    assert_refused("archive-nul-in-name", gnu)


def test_tar_names_not_utf8_or_too_long(tmp_path):
    latin1 = write_raw_tgz(tmp_path / "latin1.tgz", ustar_entry(b"caf\xe9.xml", b"x"), END)
    assert_refused("archive-name-not-utf8", latin1)
    long = write_tgz(tmp_path / "long.tgz", [("a" * 5000, b"x")], format=tarfile.PAX_FORMAT)
    assert_refused("archive-name-too-long", long)
    assert read_everything(long, ArchiveLimits(max_name_length=8000))[0].name == "a" * 5000
    empty = write_raw_tgz(tmp_path / "empty.tgz", ustar_entry(b".", b"x"), END)
    assert_refused("archive-empty-name", empty)


@pytest.mark.parametrize("tweak, code", [
    ({"type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}, "archive-symlink"),
    ({"type": tarfile.SYMTYPE, "linkname": "moodle_backup.xml"}, "archive-symlink"),
    ({"type": tarfile.LNKTYPE, "linkname": "moodle_backup.xml"}, "archive-hardlink"),
    ({"type": tarfile.LNKTYPE, "linkname": "../../etc/passwd"}, "archive-hardlink"),
    ({"type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3}, "archive-device"),
    ({"type": tarfile.BLKTYPE, "devmajor": 8, "devminor": 0}, "archive-device"),
    ({"type": tarfile.FIFOTYPE}, "archive-fifo"),
])
def test_tar_links_and_special_files(tmp_path, tweak, code):
    path = write_tgz(tmp_path / "special.mbz", [("moodle_backup.xml", MOODLE_BACKUP_XML),
                                                ("users.xml", b"", tweak)])
    assert_refused(code, path)


def test_tar_hardlink_to_itself_is_ignored_only_when_it_repeats_a_file(tmp_path):
    repeat = write_tgz(tmp_path / "repeat.mbz", [
        ("./a.xml", b"a"), ("a.xml", b"", {"type": tarfile.LNKTYPE, "linkname": "./a.xml"})])
    with open_backup(repeat) as backup:
        assert [m.name for m in backup.members()] == ["a.xml"]
        assert backup.ignored == (IgnoredMember("a.xml", "hardlink-to-itself"),)
    before_the_file = write_tgz(tmp_path / "first.mbz", [
        ("a.xml", b"", {"type": tarfile.LNKTYPE, "linkname": "a.xml"}), ("a.xml", b"a")])
    assert_refused("archive-hardlink", before_the_file)


@pytest.mark.parametrize("entries, code", [
    ([("a.xml", b"1"), ("a.xml", b"2")], "archive-duplicate-name"),
    ([("./a.xml", b"1"), ("a.xml", b"2")], "archive-duplicate-name"),
    ([("a//b.xml", b"1"), ("a/./b.xml", b"2")], "archive-duplicate-name"),
    ([("files", None), ("files", None)], "archive-duplicate-name"),
    ([("files", b"x"), ("files/ab/abc", b"2")], "archive-name-conflict"),
    ([("files/ab/abc", b"2"), ("files", b"x")], "archive-name-conflict"),
    ([("files/ab/abc", b"2"), ("files/ab", b"x")], "archive-name-conflict"),
])
def test_tar_duplicates_and_conflicts(tmp_path, entries, code):
    assert_refused(code, write_tgz(tmp_path / "dup.mbz", entries, format=tarfile.GNU_FORMAT))


COLLISIONS = [
    [("files.xml", b"1"), ("Files.XML", b"2")],
    [("activities/forum_1/a.xml", b"1"), ("Activities/forum_1/a.xml", b"2")],
    [("caf\u00e9.xml", b"1"), ("cafe\u0301.xml", b"2")],
    [("\u00c9T\u00c9.xml", b"1"), ("\u00e9t\u00e9.xml", b"2")],
]


@pytest.mark.parametrize("entries", COLLISIONS)
@pytest.mark.parametrize("container", ["tar.gz", "zip", "folder"])
def test_name_collisions_are_warnings_for_readers(tmp_path, entries, container):
    """Only extraction on macOS or Windows would make one overwrite the other: reading
    keeps both, and says so in ``warnings``."""
    if container == "tar.gz":
        path = write_tgz(tmp_path / "case.mbz", entries, format=tarfile.GNU_FORMAT)
    elif container == "zip":
        path = write_zip(tmp_path / "case.zip", entries)
    else:
        path = make_folder(tmp_path / "case", entries)
    listed = read_everything(path)
    assert sorted((m.name, m.size) for m in listed if not m.is_dir) == sorted(
        (name, len(content)) for name, content in entries)
    with open_backup(path) as backup:
        warnings = backup.warnings
    colliding = [m.name for m in listed if m.name in {name for name, _ in entries}]
    assert [(w.code, w.member) for w in warnings] == [("archive-name-collision", colliding[1])]
    assert "case or Unicode normalisation" in warnings[0].message


@pytest.mark.parametrize("entries", COLLISIONS)
def test_name_collisions_are_refused_where_names_reach_a_file_system(tmp_path, entries):
    from mbx.archive.writer import ArchiveWriter

    checker = base.EntryChecker(ArchiveLimits(), "x", refuse_collisions=True)
    checker.admit(entries[0][0], base.EntryKind.FILE, 1, None)
    with pytest.raises(ArchiveError) as caught:
        checker.admit(entries[1][0], base.EntryKind.FILE, 1, None)
    assert caught.value.code == "archive-name-collision"
    writer = ArchiveWriter(tmp_path / "out.mbz")
    writer.write(entries[0][0], b"1")
    with pytest.raises(ArchiveError) as caught:
        writer.write(entries[1][0], b"2")
    assert caught.value.code == "archive-name-collision"
    writer.abort()


def test_tar_duplicate_after_the_member_asked_for_is_found_by_full_walks(tmp_path):
    path = write_tgz(tmp_path / "dup.mbz", [("a.xml", b"1"), ("b.xml", b"2"), ("a.xml", b"3")])
    with open_backup(path) as backup:
        assert backup.open("a.xml").read() == b"1"  # a lookup stops at the first match
    assert_refused("archive-duplicate-name", path)


def _tgz_of_tar(tmp_path, data: bytes, name="x.mbz") -> Path:
    path = tmp_path / name
    path.write_bytes(gzip.compress(data, mtime=0))
    return path


def test_tar_truncations(tmp_path):
    blob = os.urandom(5000)
    data = tar_bytes(moodle_like_entries([("files/blob", blob)]))
    inside_blob = data.index(blob) + 2000
    assert_refused("archive-truncated-tar", _tgz_of_tar(tmp_path, data[:inside_blob], "a"))
    assert_refused("archive-truncated-tar", _tgz_of_tar(tmp_path, data[:1024 + 300], "b"))
    content_end = len(data.rstrip(b"\x00"))  # the blob is last, and random
    no_end = data[:content_end + (-content_end % 512)]
    assert_refused("archive-truncated-tar", _tgz_of_tar(tmp_path, no_end, "c"))
    # one zero block then the end of the file is accepted, as GNU tar and tarfile accept it
    lone = data[:len(no_end) + 512]
    assert read_everything(_tgz_of_tar(tmp_path, lone, "d"))


def test_tar_corrupt_headers(tmp_path):
    checksum = write_raw_tgz(tmp_path / "sum.tgz", ustar_header(b"a.xml", 0, checksum_delta=1),
                             END)
    assert_refused("archive-bad-tar-header", checksum)
    garbage = write_raw_tgz(tmp_path / "garbage.tgz", os.urandom(512) + END)
    assert_refused("archive-bad-tar-header", garbage)
    size = write_raw_tgz(tmp_path / "size.tgz",
                         ustar_header(b"a.xml", size_field=b"12x4567\x00\x00\x00\x00\x00"), END)
    assert_refused("archive-bad-tar-header", size)
    negative = write_raw_tgz(tmp_path / "neg.tgz",
                             ustar_header(b"a.xml", size_field=b"\xff" * 12), END)
    assert_refused("archive-bad-tar-header", negative)
    sized_directory = write_raw_tgz(tmp_path / "dir.tgz", ustar_header(b"d/", 512, b"5"),
                                    bytes(512), END)
    assert_refused("archive-bad-tar-header", sized_directory)
    dangling = write_raw_tgz(tmp_path / "dangling.tgz",
                             ustar_entry(b"PaxHeader", pax_record("path", b"a"), b"x"), END)
    assert_refused("archive-bad-tar-header", dangling)


def test_tar_unsupported_entry_types(tmp_path):
    for typeflag in (b"S", b"V", b"M", b"Z"):
        path = write_raw_tgz(tmp_path / "t.tgz", ustar_entry(b"a.xml", b"x", typeflag), END)
        assert_refused("archive-unsupported-entry", path)


def test_tar_bad_pax_and_huge_extended_headers(tmp_path):
    for body in (b"99 path=a\n", b"x path=a\n", b"9 patha\n\n", b"12 path=abc"):
        path = write_raw_tgz(tmp_path / "pax.tgz", ustar_entry(b"P", body, b"x"),
                             ustar_entry(b"a", b"a"), END)
        assert_refused("archive-bad-pax", path)
    for key, value in (("size", b"-5"), ("size", b"5k"), ("mtime", b"nan"), ("mtime", b"inf")):
        bad_number = write_raw_tgz(tmp_path / "paxnumber.tgz",
                                   ustar_entry(b"P", pax_record(key, value), b"x"),
                                   ustar_entry(b"a", b"a"), END)
        assert_refused("archive-bad-pax", bad_number)
    huge = write_raw_tgz(tmp_path / "huge.tgz", ustar_header(b"@LongLink", 2 * MIB, b"L"),
                         bytes(2 * MIB), ustar_entry(b"a", b"a"), END)
    assert_refused("archive-extended-header-too-large", huge)


def test_tar_data_after_the_end_marker(tmp_path):
    """Moodle's reader skips zero blocks and would find this member; tarfile would not."""
    path = write_raw_tgz(tmp_path / "hidden.tgz", ustar_entry(b"a.xml", b"a"), END,
                         ustar_entry(b"hidden.php", b"<?php evil();"), END)
    assert_refused("archive-data-after-end", path)


def _gzip_with_trailer(data: bytes, *, crc_delta=0, size_delta=0) -> bytes:
    compressed = gzip.compress(data, mtime=0)
    crc, size = struct.unpack("<II", compressed[-8:])
    return compressed[:-8] + struct.pack("<II", (crc + crc_delta) % 2 ** 32,
                                         (size + size_delta) % 2 ** 32)


def test_gzip_damage(tmp_path):
    data = tar_bytes(moodle_like_entries([("files/blob", random.Random(1).randbytes(3000))]))
    compressed = gzip.compress(data, mtime=0)
    cases = {
        "archive-gzip-bad-crc": _gzip_with_trailer(data, crc_delta=1),
        "archive-gzip-bad-length": _gzip_with_trailer(data, size_delta=1),
        "archive-truncated-gzip": compressed[:len(compressed) // 2],
        "archive-corrupt-gzip": compressed[:20] + bytes(b ^ 0x55 for b in compressed[20:60])
        + compressed[60:],
        "archive-gzip-trailing-garbage": compressed + b"garbage!",
    }
    for code, content in cases.items():
        path = tmp_path / f"{code}.mbz"
        path.write_bytes(content)
        assert_refused(code, path)
    (tmp_path / "header.mbz").write_bytes(compressed[:5])
    assert_refused("archive-truncated-gzip", tmp_path / "header.mbz")
    (tmp_path / "method.mbz").write_bytes(b"\x1f\x8b\x07" + compressed[3:])
    assert_refused("archive-corrupt-gzip", tmp_path / "method.mbz")
    (tmp_path / "trailer.mbz").write_bytes(compressed[:-3])
    assert_refused("archive-truncated-gzip", tmp_path / "trailer.mbz")


@pytest.mark.parametrize("backend", available_inflaters())
def test_every_inflater_reports_the_same_errors(backend):
    inflater = load_inflater(backend)
    data = random.Random(2).randbytes(70000) + bytes(300000)
    compressed = gzip.compress(data, mtime=0)

    def inflate_all(content: bytes) -> bytes:
        reader = GzipInflater(io.BytesIO(content), limits=ArchiveLimits(), backend=inflater)
        return b"".join(iter(reader.read_chunk, b""))

    assert inflate_all(compressed + compressed) == data + data
    for code, content in (("archive-gzip-bad-crc", _gzip_with_trailer(data, crc_delta=7)),
                          ("archive-gzip-bad-length", _gzip_with_trailer(data, size_delta=-1)),
                          ("archive-truncated-gzip", compressed[:-10]),
                          ("archive-corrupt-gzip",
                           compressed[:12] + b"\xff" * 40 + compressed[52:])):
        with pytest.raises(ArchiveError) as caught:
            inflate_all(content)
        assert caught.value.code == code


# -- bombs and limits -------------------------------------------------------------------------

def _zeros_tgz(path: Path, size: int) -> Path:
    """A tar.gz holding one member of ``size`` zero bytes, written without holding it."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as file:
        file.write(compressor.compress(ustar_header(b"files/zeros", size)))
        zeros = bytes(MIB)
        for _ in range(size // MIB):
            file.write(compressor.compress(zeros))
        file.write(compressor.compress(bytes(-size % 512) + END))
        file.write(compressor.flush())
    return path


def test_gzip_bomb_is_stopped_by_the_ratio(tmp_path):
    path = _zeros_tgz(tmp_path / "bomb.mbz", 64 * MIB)  # ~64 KiB compressed, ~1000:1
    assert path.stat().st_size < MIB
    assert_refused("archive-ratio-exceeded", path)
    with deadline():
        assert read_everything(path, ArchiveLimits(max_ratio=5000))[0].size == 64 * MIB


def test_tar_limits_can_be_hit_and_raised(tmp_path):
    path = write_tgz(tmp_path / "limits.mbz", [(f"f{i}.xml", os.urandom(3000)) for i in range(20)])
    assert_refused("archive-too-many-members", path, ArchiveLimits(max_members=10))
    assert_refused("archive-member-too-large", path, ArchiveLimits(max_member_size=2000))
    assert_refused("archive-too-large", path, ArchiveLimits(max_total_size=50_000))
    # tar framing counts towards the inflated total: 20 headers, padding, end blocks
    assert len(read_everything(path, ArchiveLimits(max_members=20, max_member_size=3000,
                                                   max_total_size=100_000))) == 20


def test_member_size_is_refused_from_the_header_before_inflating(tmp_path):
    # declares 20 GiB and holds nothing: refused at the header, not after inflating
    path = write_raw_tgz(tmp_path / "huge.tgz", ustar_header(b"huge.bin", 20 << 30), END)
    assert_refused("archive-member-too-large", path)


def test_zip_bomb_and_limits(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("zeros.bin", "w") as member:
            for _ in range(32):
                member.write(bytes(MIB))
    assert_refused("archive-ratio-exceeded", bomb)
    assert read_everything(bomb, ArchiveLimits(max_ratio=10_000))[0].size == 32 * MIB
    path = write_zip(tmp_path / "limits.zip", [(f"f{i}.xml", os.urandom(3000)) for i in range(20)])
    assert_refused("archive-too-many-members", path, ArchiveLimits(max_members=10))
    assert_refused("archive-member-too-large", path, ArchiveLimits(max_member_size=2000))
    assert_refused("archive-too-large", path, ArchiveLimits(max_total_size=50_000))


def test_limits_are_validated():
    with pytest.raises(ValueError):
        ArchiveLimits(max_members=0)
    with pytest.raises(ValueError):
        ArchiveLimits(max_ratio=-1)
    assert ArchiveLimits().max_total_size == 64 << 30


# -- zip --------------------------------------------------------------------------------------

def test_zip_moodle_layout_and_zip64(tmp_path, monkeypatch):
    entries = [("activities/", None), ("activities/page_1/page.xml", b"<activity/>" * 100),
               ("moodle_backup.xml", MOODLE_BACKUP_XML)]
    plain = write_zip(tmp_path / "plain.mbz", entries)
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)  # forces the zip64 end records
    zip64 = tmp_path / "zip64.mbz"
    with zipfile.ZipFile(zip64, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries:
            if content is None:
                archive.mkdir(name.rstrip("/"))
            else:
                with archive.open(name, "w", force_zip64=True) as member:
                    member.write(content)
    monkeypatch.undo()
    assert b"PK\x06\x06" in zip64.read_bytes()  # zip64 end of central directory
    for path in (plain, zip64):
        listing, hashes, _ = zipfile_view(path)
        with no_writes(), open_backup(path) as backup:
            assert backup.kind == "zip" and backup.format == "moodle2"
            assert [(m.name, m.size, m.is_dir) for m in backup.members()] == listing
            assert streamed_view(backup) == (listing, hashes)
            assert backup.read_index() is None
            assert next(backup.members()).mtime is not None


@pytest.mark.parametrize("name, code", [
    ("/etc/passwd", "archive-absolute-name"),
    ("../evil.xml", "archive-parent-reference"),
    ("a/../../evil.xml", "archive-parent-reference"),
    ("activities\\evil.xml", "archive-backslash-in-name"),
])
def test_zip_unsafe_names(tmp_path, name, code):
    path = write_zip(tmp_path / "bad.zip", [("moodle_backup.xml", MOODLE_BACKUP_XML),
                                            (name, b"evil")])
    assert_refused(code, path)


def test_zip_nul_in_name(tmp_path):
    path = write_zip(tmp_path / "nul.zip", [("goodXname.xml", b"x")])
    path.write_bytes(path.read_bytes().replace(b"goodXname", b"good\x00name"))
    assert_refused("archive-nul-in-name", path)


@pytest.mark.parametrize("mode, code", [
    (stat.S_IFLNK | 0o777, "archive-symlink"),
    (stat.S_IFIFO | 0o644, "archive-fifo"),
    (stat.S_IFCHR | 0o644, "archive-device"),
    (stat.S_IFBLK | 0o644, "archive-device"),
    (stat.S_IFSOCK | 0o644, "archive-socket"),
])
def test_zip_links_and_special_files(tmp_path, mode, code):
    path = write_zip(tmp_path / "special.zip", [("moodle_backup.xml", MOODLE_BACKUP_XML),
                                                ("users.xml", b"/etc/passwd", mode)])
    assert_refused(code, path)


def test_names_differing_only_in_case_elsewhere_are_kept(tmp_path):
    """Folders that differ in case merge on extraction; only colliding files are refused."""
    entries = [("Files/x.xml", b"1"), ("files/y.xml", b"2"), ("files", None),
               ("FILES", None), ("stra\u00dfe.xml", b"3"), ("STRASSE.xml", b"4")]
    assert [m.name for m in read_everything(write_tgz(tmp_path / "ok.mbz", entries))] == [
        "Files/x.xml", "files/y.xml", "files", "FILES", "stra\u00dfe.xml", "STRASSE.xml"]


def test_zip_duplicates(tmp_path):
    assert_refused("archive-duplicate-name",
                   write_zip(tmp_path / "dup.zip", [("a.xml", b"1"), ("a.xml", b"2")]))
    assert_refused("archive-duplicate-name",
                   write_zip(tmp_path / "dup2.zip", [("./a.xml", b"1"), ("a.xml", b"2")]))


def _central_records(content: bytes) -> list[int]:
    return [offset for offset in range(len(content)) if content.startswith(b"PK\x01\x02", offset)]


def test_zip_damage(tmp_path):
    data = os.urandom(5000)
    stored = write_zip(tmp_path / "stored.zip", [("blob.bin", data)],
                       compression=zipfile.ZIP_STORED)
    content = stored.read_bytes()
    at = content.index(data) + 100
    (tmp_path / "crc.zip").write_bytes(content[:at] + bytes([content[at] ^ 1]) + content[at + 1:])
    assert_refused("archive-zip-bad-crc", tmp_path / "crc.zip")
    (tmp_path / "cut.zip").write_bytes(content[:len(content) // 2])
    assert_refused("archive-truncated-zip", tmp_path / "cut.zip")
    deflated = write_zip(tmp_path / "deflated.zip", [("a.xml", b"<a/>" * 5000)]).read_bytes()
    start = deflated.index(b"a.xml") + 5
    corrupt = deflated[:start + 2] + b"\xff" * 30 + deflated[start + 32:]
    (tmp_path / "inflate.zip").write_bytes(corrupt)
    assert_refused("archive-corrupt-zip", tmp_path / "inflate.zip")
    renamed = deflated.replace(b"a.xml", b"b.xml", 1)  # local header no longer matches
    (tmp_path / "renamed.zip").write_bytes(renamed)
    assert_refused("archive-corrupt-zip", tmp_path / "renamed.zip")


def test_zip_flags_and_methods(tmp_path):
    content = write_zip(tmp_path / "a.zip", [("a.xml", b"a" * 100)]).read_bytes()
    record = _central_records(content)[0]
    encrypted = bytearray(content)
    encrypted[record + 8] |= 0x01
    (tmp_path / "encrypted.zip").write_bytes(encrypted)
    assert_refused("archive-encrypted", tmp_path / "encrypted.zip")
    method = bytearray(content)
    method[record + 10:record + 12] = struct.pack("<H", 99)
    (tmp_path / "method.zip").write_bytes(method)
    assert_refused("archive-unsupported-compression", tmp_path / "method.zip")
    version = bytearray(content)
    version[record + 6:record + 8] = struct.pack("<H", 200)  # "needs zip 20.0 to extract"
    (tmp_path / "version.zip").write_bytes(version)
    assert_refused("archive-unsupported-zip-version", tmp_path / "version.zip")


def test_zip_overlapping_entries(tmp_path):
    """Two directory records pointing at one local entry: the overlapping-file bomb shape."""
    content = bytearray(write_zip(tmp_path / "two.zip", [("a.xml", b"a" * 1000),
                                                         ("b.xml", b"b" * 1000)]).read_bytes())
    second = _central_records(bytes(content))[1]
    content[second + 42:second + 46] = struct.pack("<I", 0)
    (tmp_path / "overlap.zip").write_bytes(content)
    assert_refused("archive-zip-overlap", tmp_path / "overlap.zip")


def test_zip_without_entries_is_an_empty_backup(tmp_path):
    """An empty zip (found by fuzz/fuzz_zip.py): no members, like an empty folder."""
    zipfile.ZipFile(tmp_path / "empty.zip", "w").close()
    assert zipfile.ZipFile(tmp_path / "empty.zip").infolist() == []
    with no_writes(), deadline():
        assert read_everything(tmp_path / "empty.zip") == []
        with open_backup(tmp_path / "empty.zip") as backup:
            assert backup.format == "unknown" and backup.read_index() is None


def test_zip_local_header_name_not_utf8(tmp_path):
    """A local header flagged UTF-8 whose name is not (found by fuzz/fuzz_verify.py):
    zipfile raises UnicodeDecodeError when the member is opened."""
    content = bytearray(write_zip(tmp_path / "a.zip", [("a.xml", b"<a/>")]).read_bytes())
    assert content[:4] == b"PK\x03\x04" and content[30:35] == b"a.xml"
    content[6:8] = struct.pack("<H", struct.unpack("<H", content[6:8])[0] | 0x800)
    content[30] = 0xFF
    (tmp_path / "bad.zip").write_bytes(content)
    with zipfile.ZipFile(tmp_path / "bad.zip") as archive, pytest.raises(UnicodeDecodeError):
        archive.open("a.xml")
    assert_refused("archive-corrupt-zip", tmp_path / "bad.zip")


# -- folders ----------------------------------------------------------------------------------

def make_folder(root: Path, entries) -> Path:
    root.mkdir()
    for name, content in entries:
        target = root / name
        if content is None:
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    return root


def test_folder_reads_like_os_walk(tmp_path):
    root = make_folder(tmp_path / "course", [
        (n, c) for n, c in moodle_like_entries() if n != ".ARCHIVE_INDEX"] + [
        ("._moodle_backup.xml", b"\x00\x05"), ("__MACOSX/._x", b"\x00"), ("empty", None)])
    listing, hashes, _ = walk_view(root)
    listing, hashes = without_ignored(listing, hashes)
    with no_writes(), open_backup(root) as backup:
        assert backup.kind == "folder" and backup.format == "moodle2"
        assert sorted((m.name, m.size, m.is_dir) for m in backup.members()) == listing
        assert sorted(streamed_view(backup)[0]) == listing
        assert streamed_view(backup)[1] == hashes
        assert {m.name for m in backup.ignored} == {"._moodle_backup.xml", "__MACOSX",
                                                    "__MACOSX/._x"}
        assert backup.read_index() is None
        with pytest.raises(ArchiveError) as caught:
            backup.open("activities")
        assert caught.value.code == "archive-member-is-directory"


def test_folder_refusals(tmp_path):
    def folder_with(name: str, make) -> Path:
        root = make_folder(tmp_path / name, [("moodle_backup.xml", MOODLE_BACKUP_XML)])
        make(root)
        return root

    assert_refused("archive-symlink",
                   folder_with("link", lambda r: (r / "users.xml").symlink_to("/etc/passwd")))
    assert_refused("archive-symlink",
                   folder_with("dirlink", lambda r: (r / "files").symlink_to("/etc")))
    assert_refused("archive-fifo", folder_with("fifo", lambda r: os.mkfifo(r / "users.xml")))
    assert_refused("archive-backslash-in-name",
                   folder_with("backslash", lambda r: (r / "a\\b.xml").write_bytes(b"x")))
    assert_refused("archive-name-not-utf8", folder_with(
        "latin1", lambda r: Path(os.fsdecode(bytes(r) + b"/caf\xe9.xml")).write_bytes(b"x")))

    def make_socket(root: Path) -> None:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(root / "users.xml"))
        server.close()

    assert_refused("archive-socket", folder_with("socket", make_socket))

    def make_device(root: Path) -> None:
        os.mknod(root / "users.xml", stat.S_IFCHR | 0o600, os.makedev(1, 3))

    try:
        device = folder_with("device", make_device)
    except PermissionError:
        return  # creating device nodes needs privileges this machine may not grant
    assert_refused("archive-device", device)


def test_folder_changed_after_listing(tmp_path):
    """open() checks again what it opens: the tree may change after open_backup()."""
    cases = [("archive-symlink", lambda file: (file.unlink(), file.symlink_to("/etc/passwd"))),
             ("archive-special-file", lambda file: (file.unlink(), os.mkfifo(file))),
             ("archive-member-too-large", lambda file: file.write_bytes(bytes(5000)))]
    for number, (code, change) in enumerate(cases):
        root = make_folder(tmp_path / f"course{number}", [("users.xml", b"<users/>")])
        with open_backup(root, limits=ArchiveLimits(max_member_size=1000)) as backup:
            change(root / "users.xml")
            assert_refused(code, root, action=lambda path, limits: backup.open("users.xml").read())


# -- unknown containers, formats, the API -----------------------------------------------------

@pytest.mark.parametrize("content, words", [
    (b"", "empty file"),
    (b"BZh91AY&SY" + bytes(100), "bzip2"),
    (b"\xfd7zXZ\x00" + bytes(100), "xz"),
    (b"hello world, not a backup", "unknown content"),
    (b"<?xml version='1.0'?><moodle_backup/>", "XML"),
])
def test_unknown_containers(tmp_path, content, words):
    path = tmp_path / "x.mbz"
    path.write_bytes(content)
    error = assert_refused("archive-unknown-container", path)
    assert words in str(error)


def test_plain_tar_and_missing_paths(tmp_path):
    path = tmp_path / "plain.tar"
    path.write_bytes(tar_bytes(moodle_like_entries()))
    assert "uncompressed tar" in str(assert_refused("archive-unknown-container", path))
    assert_refused("archive-not-found", tmp_path / "missing.mbz")


@pytest.mark.parametrize("marker, expected", [
    ("moodle_backup.xml", "moodle2"), ("moodle.xml", "moodle1"),
    ("imsmanifest.xml", "imscc"), ("course/course.xml", "unknown"),
    ("wrapped/moodle_backup.xml", "unknown"),
])
def test_format_detection(tmp_path, marker, expected):
    entries = [(marker, b"<x/>"), ("other.xml", b"<y/>")]
    made = [write_tgz(tmp_path / "a.tgz", entries), write_zip(tmp_path / "a.zip", entries),
            make_folder(tmp_path / "folder", entries)]
    for path in made:
        with open_backup(path) as backup:
            assert backup.format == expected, backup.kind


def test_moodle2_wins_over_moodle1(tmp_path):
    path = write_zip(tmp_path / "both.zip", [("moodle.xml", b"<a/>"),
                                             ("moodle_backup.xml", MOODLE_BACKUP_XML)])
    assert open_backup(path).format == "moodle2"


def test_open_api(tmp_path):
    path = write_tgz(tmp_path / "api.mbz", moodle_like_entries())
    with open_backup(str(path)) as backup:
        assert repr(backup).startswith("<Backup tar.gz")
        for name, code in (("missing.xml", "archive-member-not-found"),
                           ("activities", "archive-member-is-directory")):
            with pytest.raises(ArchiveError) as caught:
                backup.open(name)
            assert caught.value.code == code
        with pytest.raises(ValueError):
            backup.open("moodle_backup.xml", "wb")
        stream = backup.open("moodle_backup.xml", "r")
        assert isinstance(stream, io.BufferedIOBase) and stream.readable()
        assert stream.readline() == MOODLE_BACKUP_XML.splitlines(keepends=True)[0]
        stream.close()
        with pytest.raises(ValueError):
            stream.read()


# -- streaming proofs -------------------------------------------------------------------------

class CountingFile(io.RawIOBase):
    """Wraps an archive file and records the size of every read."""

    def __init__(self, raw, reads: list[int]):
        self._raw = raw
        self.reads = reads

    def readable(self):
        return True

    def seekable(self):
        return self._raw.seekable()

    def seek(self, offset, whence=0):
        return self._raw.seek(offset, whence)

    def tell(self):
        return self._raw.tell()

    def readinto(self, buffer):
        count = self._raw.readinto(buffer)
        self.reads.append(count or 0)
        return count

    def close(self):
        self._raw.close()
        super().close()


@pytest.fixture()
def counted_reads(monkeypatch) -> list[int]:
    reads: list[int] = []
    opener = base.open_archive_file
    monkeypatch.setattr(base, "open_archive_file",
                        lambda path: CountingFile(opener(path), reads))
    return reads


def _big_member_entries(size: int):
    blob = os.urandom(size)  # incompressible: compressed size ~ member size
    return [("moodle_backup.xml", MOODLE_BACKUP_XML), ("files/ab/big", blob),
            ("users.xml", b"<users/>")], blob


def test_tar_open_streams_in_bounded_reads(tmp_path, counted_reads):
    entries, blob = _big_member_entries(8 * MIB)
    path = write_tgz(tmp_path / "big.mbz", [(".ARCHIVE_INDEX", moodle_index(entries)), *entries])
    with open_backup(path) as backup:
        with backup.open("files/ab/big") as stream:
            assert stream.read(65536) == blob[:65536]
            assert sum(counted_reads) <= 2 * INPUT_BLOCK  # not the 8 MiB member
            digest = hashlib.sha1(blob[:65536])
            while chunk := stream.read(100_000):
                assert len(chunk) <= 100_000
                digest.update(chunk)
            assert digest.digest() == hashlib.sha1(blob).digest()
        assert max(counted_reads) <= INPUT_BLOCK
        counted_reads.clear()
        assert len(backup.read_index()) == 3
        assert sum(counted_reads) <= INPUT_BLOCK
        counted_reads.clear()
        assert backup.format == "moodle2"  # from the index
        assert sum(counted_reads) <= INPUT_BLOCK


def test_zip_open_streams_in_bounded_reads(tmp_path, counted_reads):
    entries, blob = _big_member_entries(8 * MIB)
    path = write_zip(tmp_path / "big.zip", entries, compression=zipfile.ZIP_STORED)
    with open_backup(path) as backup:
        counted_reads.clear()
        with backup.open("files/ab/big") as stream:
            assert stream.read(65536) == blob[:65536]
            assert sum(counted_reads) <= 4 * 65536
            while stream.read(100_000):
                pass
        assert max(counted_reads) <= MIB


def test_index_first_is_read_without_the_rest_of_the_file(tmp_path):
    """The index and the format come from a file cut short after the first entries."""
    entries, _ = _big_member_entries(2 * MIB)
    data = tar_bytes([(".ARCHIVE_INDEX", moodle_index(entries)), *entries])
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    start = compressor.compress(data[:4096]) + compressor.flush(zlib.Z_FULL_FLUSH)
    rest = compressor.compress(data[4096:]) + compressor.flush()
    path = tmp_path / "cut.mbz"
    path.write_bytes(start + rest[:len(rest) // 2])
    with no_writes(), deadline(), open_backup(path) as backup:
        assert [m.name for m in backup.read_index()] == [n for n, _ in entries]
        assert backup.format == "moodle2"
        with pytest.raises(ArchiveError) as caught:
            list(backup.members())
        assert caught.value.code == "archive-truncated-gzip"


def test_iter_members_is_one_pass_and_streams_expire(tmp_path, counted_reads):
    entries, blob = _big_member_entries(3 * MIB)
    path = write_tgz(tmp_path / "pass.mbz", entries)
    size = path.stat().st_size
    with open_backup(path) as backup:
        counted_reads.clear()
        kept = []
        for info, stream in backup.iter_members():
            kept.append(stream)
            if info.name == "files/ab/big":
                assert stream.read(10) == blob[:10]  # the rest is skipped by the pass
            if info.name == "users.xml":
                assert stream.read() == b"<users/>"
        assert sum(counted_reads) == size  # the file, read once
        with pytest.raises(ValueError):
            kept[0].read()


def test_index_is_found_when_not_first(tmp_path):
    entries = [("moodle_backup.xml", MOODLE_BACKUP_XML), ("users.xml", b"<users/>")]
    path = write_tgz(tmp_path / "late.mbz",
                     [*entries, (".ARCHIVE_INDEX", moodle_index(entries))])
    with open_backup(path) as backup:
        assert [m.name for m in backup.read_index()] == ["moodle_backup.xml", "users.xml"]
        assert backup.format == "moodle2"
    without = write_tgz(tmp_path / "none.mbz", entries)
    assert open_backup(without).read_index() is None


@pytest.mark.parametrize("content, words", [
    (b"Moodle archive file index. Count: 2\na\tf\t1\t1\n", "declares 2"),
    (b"Moodle archive file index. Count: 1\na\tf\t1\t1\nb\tf\t1\t1\n", "more lines"),
    (b"Moodle archive file index. Count: 1\na\tx\t1\t1\n", "not 'path"),
    (b"Moodle archive file index. Count: 1\na\tf\tmany\t1\n", "not 'path"),
    (b"Moodle archive file index. Count: 1\n../a\tf\t1\t1\n", "unusable path"),
    (b"Moodle archive index, count 1\na\tf\t1\t1\n", "expected Moodle"),
])
def test_bad_index(tmp_path, content, words):
    path = write_tgz(tmp_path / "badindex.mbz", [(".ARCHIVE_INDEX", content), ("a", b"x")])
    error = assert_refused("archive-bad-index", path)
    assert words in str(error) and error.line is not None
    with open_backup(path) as backup:
        assert backup.format == "unknown"  # a bad index falls back to reading the entries


def test_parse_archive_index_directly():
    index = parse_archive_index(io.BytesIO(b"Moodle archive file index. Count: 2\n"
                                           b"./course/\td\t0\t?\ncourse/course.xml\tf\t9\t5"))
    assert index == [MemberInfo("course", 0, None, True), MemberInfo("course/course.xml", 9, 5,
                                                                      False)]


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(hypothesis.strategies.text(alphabet="ab_-./\\é\t", min_size=1, max_size=10),
                  hypothesis.strategies.sampled_from("fd"))
def test_index_fast_path_agrees_with_member_name_rules(raw, kind):
    """Plain index lines skip normalize_member_name; the entry or refusal must not change."""
    line = f"{raw}\t{kind}\t7\t?\n".encode()
    try:
        entries = parse_archive_index(io.BytesIO(b"Moodle archive file index. Count: 1\n" + line))
        got = (entries[0].name, entries[0].is_dir)
    except ArchiveError as error:
        got = error.code
    try:
        name, _ = base.normalize_member_name(raw, source=None)
        expected = (name, kind == "d") if name and "\t" not in raw else "archive-bad-index"
    except ArchiveError:
        expected = "archive-bad-index"
    assert got == expected


def test_inflater_choice():
    assert inflate.inflater in available_inflaters()
    assert available_inflaters()[-1] == "zlib"
    with pytest.raises(ValueError):
        load_inflater("brotli")


# -- what ls -l, info and cat say -------------------------------------------------------------

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "demo-course"
#: the time Moodle's packer writes for directories and the index (format doc, §1.2)
MOODLE_NO_TIME = 1356998400


def moodle_tgz(path: Path, entries, *, index_entries=None, compressor=None) -> Path:
    """A tar.gz laid out byte for byte as Moodle's packer writes it: the index first,
    hand-made ustar headers, data padded to 512, two zero blocks, no record padding.
    ``index_entries`` (default ``entries``) is what the index claims."""
    index = moodle_index(entries if index_entries is None else index_entries)
    parts = [ustar_entry(b".ARCHIVE_INDEX", index, mtime=MOODLE_NO_TIME)]
    for name, content in entries:
        if content is None:
            parts.append(ustar_header(name.encode() + b"/", 0, b"5", mtime=MOODLE_NO_TIME))
        else:
            parts.append(ustar_entry(name.encode(), content))
    data = b"".join(parts) + END
    compressor = compressor or zlib.compressobj(6, zlib.DEFLATED, 31)
    path.write_bytes(compressor.compress(data) + compressor.flush())
    return path


def run_mbx(args, capsys) -> tuple[int, str, str]:
    from mbx.cli import main

    with no_writes(), deadline(30):
        code = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return code, out, err


def ls_long(path, capsys, *extra) -> tuple[int, list[dict] | dict, str]:
    code, out, err = run_mbx(["ls", "-l", "--json", path, *extra], capsys)
    return code, (json.loads(out) if code == 0 else None), err


def tarfile_listing(path) -> list[tuple[str, int, bool]]:
    with tarfile.open(path) as archive:
        return [(strip_dot_slash(m.name), m.size if m.isfile() else 0, m.isdir())
                for m in archive if strip_dot_slash(m.name) not in ("", ".")]


def test_ls_long_takes_an_index_that_agrees_with_the_gzip_trailer(tmp_path, capsys,
                                                                  counted_reads):
    entries = moodle_like_entries()[1:] + [("files/ab", None),
                                           ("files/ab/ab01", os.urandom(3 * MIB))]
    path = moodle_tgz(tmp_path / "moodle.mbz", entries)
    counted_reads.clear()
    code, listed, err = ls_long(path, capsys)
    assert code == 0 and "listing from .ARCHIVE_INDEX" in err
    assert sum(counted_reads) < MIB  # the index and the trailer, not the 3 MiB member
    assert [(m["name"], m["size"], m["is_dir"]) for m in listed] == tarfile_listing(path)
    code, envelope, _ = ls_long(path, capsys, "--envelope")
    assert envelope["source"] == "index" and envelope["warnings"] == []
    assert envelope["members"] == listed


def test_ls_long_shows_the_real_members_not_an_index_ghost(tmp_path, capsys):
    """The index lists a member that is not there and omits one that is."""
    entries = moodle_like_entries()[1:] + [("real.xml", b"<real/>\n" * 400)]
    claimed = moodle_like_entries()[1:] + [("ghost.xml", b"<ghost/>")]
    path = moodle_tgz(tmp_path / "ghost.mbz", entries, index_entries=claimed)
    code, listed, err = ls_long(path, capsys)
    assert code == 0, err
    names = [m["name"] for m in listed]
    assert "ghost.xml" not in names and "real.xml" in names
    assert [(m["name"], m["size"], m["is_dir"]) for m in listed] == tarfile_listing(path)
    assert "listing from a scan" in err


def test_ls_long_of_an_archive_cut_in_half_fails_like_ls(tmp_path, capsys):
    entries = [*_sample_entries(), ("files", None), ("files/ab", None),
               ("files/ab/ab01", os.urandom(MIB))]
    whole = moodle_tgz(tmp_path / "whole.mbz", entries)
    assert run_mbx(["ls", "-l", whole], capsys)[0] == run_mbx(["ls", whole], capsys)[0] == 0
    cut = tmp_path / "cut.mbz"
    cut.write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])
    codes = {}
    for command in (["ls"], ["ls", "-l"]):
        code, _, err = run_mbx([*command, "--json", cut], capsys)
        codes[" ".join(command)] = code, json.loads(err)["error"]["code"]
    assert codes["ls -l"] == (1, "archive-truncated-gzip")
    assert codes["ls -l"] == codes["ls"]


def test_ls_long_of_a_real_backup_edited_after_packing_prints_the_real_sizes(corpus, capsys):
    path = corpus / "moodle__moodle" / "question_attempts_missing_users.mbz"
    with tarfile.open(path) as archive:
        first = archive.next()
        claimed = {line.split("\t")[0]: int(line.split("\t")[2]) for line in
                   archive.extractfile(first).read().decode().splitlines()[1:]}
        real = {m.name: m.size for m in archive if m.isfile()}
    assert claimed["users.xml"] != real["users.xml"]  # the corpus item is as described
    code, listed, err = ls_long(path, capsys)
    assert code == 0
    assert {m["name"]: m["size"] for m in listed if not m["is_dir"]} == real
    assert "listing from a scan" in err


def _index_tells_the_truth(path) -> bool:
    """Independently of mbx: the index is first and names every later entry, with its size."""
    with tarfile.open(path) as archive:
        members = archive.getmembers()
        if members[0].name != ".ARCHIVE_INDEX":
            return False
        lines = archive.extractfile(members[0]).read().decode().splitlines()[1:]
    claimed = [(line.split("\t")[0].rstrip("/"), int(line.split("\t")[2])) for line in lines]
    return claimed == [(m.name.rstrip("/"), m.size) for m in members[1:]]


def test_ls_long_of_every_real_tar_gz_is_what_tarfile_reads(corpus, capsys):
    from mbx.archive import list_members

    manifest = json.loads((corpus / "manifest.json").read_text())
    sources = []
    for entry in manifest:
        if entry["container"] != "tar.gz":
            continue
        path = corpus / entry["item"]
        listing = list_members(path)
        sources.append(listing.source)
        assert listing.source == ("index" if _index_tells_the_truth(path) else "scan"), path
        expected, _, _self_links = tarfile_view(path)  # self-links left out, as mbx ignores them
        assert [(m.name, m.size, m.is_dir) for m in listing] == expected, path
        # a listing from the index is the listing a scan gives
        with open_backup(path) as backup:
            scanned = [(m.name, m.size, m.is_dir) for m in backup.members()]
        assert [(m.name, m.size, m.is_dir) for m in listing] == scanned
    assert sources.count("index") >= 30 and sources.count("scan") >= 5


def test_ls_long_gives_directories_the_newest_time_below_them(corpus, capsys):
    path = corpus / "moodle__moodle" / "moodle_311_quiz.mbz"
    with tarfile.open(path) as archive:
        members = archive.getmembers()
    newest: dict[str, int] = {}
    for member in members:
        if member.isfile() and member.mtime != MOODLE_NO_TIME:
            parts = member.name.split("/")
            for depth in range(1, len(parts)):
                folder = "/".join(parts[:depth])
                newest[folder] = max(newest.get(folder, 0), member.mtime)
    assert {m.mtime for m in members if m.isdir()} == {MOODLE_NO_TIME}  # what Moodle writes
    code, listed, _ = ls_long(path, capsys)
    folders = {m["name"]: m["mtime"] for m in listed if m["is_dir"]}
    assert folders and folders == {name: newest[name] for name in folders}
    code, out, _ = run_mbx(["ls", "-l", path], capsys)
    assert code == 0 and "?" not in out and "2013-01-01" not in out.replace(
        ".ARCHIVE_INDEX", "").split("\n", 1)[1]


def _bomb_tgz(path: Path, size: int = 64 * MIB) -> Path:
    """A Moodle-laid-out backup whose truthful index lists a member of ``size`` zeros."""
    zeros = [("files", None), ("files/00", None), ("files/00/zeros", size)]
    entries = [("moodle_backup.xml", MOODLE_BACKUP_XML)]
    index = moodle_index(entries + [(name, None if size is None else b"") for name, size in
                                    zeros]).replace(b"files/00/zeros\tf\t0",
                                                    b"files/00/zeros\tf\t%d" % size)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as file:
        file.write(compressor.compress(ustar_entry(b".ARCHIVE_INDEX", index,
                                                   mtime=MOODLE_NO_TIME)))
        file.write(compressor.compress(ustar_entry(b"moodle_backup.xml", MOODLE_BACKUP_XML)))
        file.write(compressor.compress(ustar_header(b"files/", 0, b"5")
                                       + ustar_header(b"files/00/", 0, b"5")
                                       + ustar_header(b"files/00/zeros", size)))
        for _ in range(size // MIB):
            file.write(compressor.compress(bytes(MIB)))
        file.write(compressor.compress(END) + compressor.flush())
    return path


def test_max_ratio_flag_refuses_a_bomb_at_the_default_and_reads_it_when_raised(tmp_path, capsys):
    path = _bomb_tgz(tmp_path / "bomb.mbz")
    for command in (["ls", "-l"], ["info"], ["cat", path, "files/00/zeros"]):
        args = command if command[0] == "cat" else [*command, path]
        code, out, err = run_mbx(args, capsys)
        assert code == 1 and out == "", command
        assert "archive-ratio-exceeded" in err and "--max-ratio" in err, err
    code, listed, _ = ls_long(path, capsys, "--max-ratio", "5000")
    assert code == 0
    assert [(m["name"], m["size"]) for m in listed if not m["is_dir"]][-1] == (
        "files/00/zeros", 64 * MIB)
    assert run_mbx(["info", path, "--max-ratio", "5000"], capsys)[0] == 0


def test_cat_of_a_bomb_writes_nothing_before_the_verdict(tmp_path):
    from mbx.inspect import copy_member

    path = _bomb_tgz(tmp_path / "bomb.mbz")
    out = io.BytesIO()
    with no_writes(), deadline(), pytest.raises(ArchiveError) as caught:
        copy_member(path, "files/00/zeros", out)
    assert caught.value.code == "archive-ratio-exceeded"
    assert out.getvalue() == b""
    assert copy_member(path, "files/00/zeros", out,
                       limits=ArchiveLimits(max_ratio=5000)) == 64 * MIB


#: Hostile entries placed after moodle_backup.xml, where commands that read only the
#: start of a tar.gz never looked: (entry for tar_bytes, the code every command gives).
LATE_HOSTILE = {
    "traversal": (("../../evil.sh", b"#!/bin/sh\n"), "archive-parent-reference"),
    "absolute": (("/etc/cron.d/evil", b"* * * * * root true\n"), "archive-absolute-name"),
    "symlink": (("files/link", b"", {"type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}),
                "archive-symlink"),
    "hardlink": (("files/hard", b"", {"type": tarfile.LNKTYPE, "linkname": "users.xml"}),
                 "archive-hardlink"),
    "duplicate": (("moodle_backup.xml", b"<other/>"), "archive-duplicate-name"),
}


def _sample_entries():
    return [(str(file.relative_to(SAMPLE)), file.read_bytes() if file.is_file() else None)
            for file in sorted(SAMPLE.rglob("*"))]


@pytest.mark.parametrize("kind", sorted(LATE_HOSTILE))
def test_info_and_cat_give_the_verdict_of_ls_and_verify(tmp_path, capsys, kind):
    entry, code = LATE_HOSTILE[kind]
    sound = write_tgz(tmp_path / "sound.mbz", _sample_entries(), format=tarfile.GNU_FORMAT)
    assert run_mbx(["info", sound], capsys)[0] == 0
    assert run_mbx(["cat", sound, "moodle_backup.xml"], capsys)[1] == (
        SAMPLE / "moodle_backup.xml").read_text()
    path = write_tgz(tmp_path / f"{kind}.mbz", [*_sample_entries(), entry],
                     format=tarfile.GNU_FORMAT)
    for command in (["ls", path], ["ls", "-l", path], ["info", path],
                    ["cat", path, "moodle_backup.xml"], ["info", "--json", path]):
        status, out, err = run_mbx(command, capsys)
        assert status == 1 and out == "", (command, out)
        assert code in err, (command, err)


def test_info_and_cat_of_a_late_bomb_are_refused(tmp_path, capsys):
    path = tmp_path / "late-bomb.mbz"
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as file:
        for name, content in _sample_entries():
            if content is None:
                file.write(compressor.compress(ustar_header(name.encode() + b"/", 0, b"5")))
            else:
                file.write(compressor.compress(ustar_entry(name.encode(), content)))
        file.write(compressor.compress(ustar_header(b"files/zeros", 64 * MIB)))
        for _ in range(64):
            file.write(compressor.compress(bytes(MIB)))
        file.write(compressor.compress(END) + compressor.flush())
    for command in (["info", path], ["cat", path, "moodle_backup.xml"]):
        status, out, err = run_mbx(command, capsys)
        assert (status, out) == (1, "") and "archive-ratio-exceeded" in err, command
    assert run_mbx(["info", path, "--max-ratio", "5000"], capsys)[0] == 0


def test_check_is_one_pass_made_once(tmp_path, counted_reads):
    path = write_tgz(tmp_path / "big.mbz", _big_member_entries(2 * MIB)[0])
    with open_backup(path) as backup:
        counted_reads.clear()
        backup.check()
        first = sum(counted_reads)
        assert first >= path.stat().st_size
        backup.check()
        assert backup.warnings == () and backup.ignored == ()
        assert sum(counted_reads) == first


def test_a_real_1_9_backup_with_a_case_collision_lists_with_a_warning(corpus, tmp_path, capsys):
    """The corpus's Moodle 1.9 backup, given course files whose names differ only in case."""
    from mbx.archive import ArchiveWarning

    folder = tmp_path / "moodle19"
    shutil.copytree(corpus / "moodle__moodle" / "moodle1-converter-fixtures", folder)
    (folder / "course_files").mkdir()
    (folder / "course_files" / "Photo.JPG").write_bytes(b"\xff\xd8\xff" + b"1" * 100)
    (folder / "course_files" / "photo.jpg").write_bytes(b"\xff\xd8\xff" + b"2" * 200)
    code, out, err = run_mbx(["ls", folder], capsys)
    assert code == 0 and "Moodle 2.0 Test Restore" in out, err
    code, listed, err = ls_long(folder, capsys)
    assert code == 0 and "archive-name-collision" in err
    expected = sorted((str(f.relative_to(folder)), f.stat().st_size) for f in folder.rglob("*")
                      if f.is_file())
    assert sorted((m["name"], m["size"]) for m in listed if not m["is_dir"]) == expected
    with open_backup(folder) as backup:
        assert backup.format == "moodle1"
        assert [(type(w), w.code, w.member) for w in backup.warnings] == [
            (ArchiveWarning, "archive-name-collision", "course_files/photo.jpg")]


def test_limit_flags_reach_archive_limits():
    from mbx.cli import build_parser
    from mbx.cli.commands import LIMIT_FLAGS as _LIMIT_FLAGS, archive_limits as _archive_limits

    parser = build_parser()
    defaults = ArchiveLimits()
    for command in (["ls"], ["ls", "-l"], ["info"], ["verify"], ["cat", "x", "m"]):
        backup = [] if command[0] == "cat" else ["x"]
        args = parser.parse_args([*command, *backup, "--max-ratio", "1e4", "--max-member-size",
                                  "1.5G", "--max-total-size", "64G", "--max-members", "7"])
        assert _archive_limits(args) == ArchiveLimits(
            max_ratio=10_000, max_member_size=3 << 29, max_total_size=64 << 30, max_members=7)
        assert _archive_limits(parser.parse_args([*command, *backup])) == defaults
    for flag in ("--max-ratio", "--max-members", "--max-total-size"):
        with pytest.raises(SystemExit) as caught:
            parser.parse_args(["ls", "x", flag, "0"])
        assert caught.value.code == 2
    # each flag's help names the default ArchiveLimits really has
    shown = {"max_ratio": "200", "max_member_size": "16G", "max_total_size": "64G",
             "max_members": "1000000"}
    from mbx.units import parse_size
    for field, (_, _, text) in _LIMIT_FLAGS.items():
        assert f"(default {shown[field]})" in text
        assert parse_size(shown[field]) == getattr(defaults, field)


@pytest.mark.parametrize("field, limits, flag", [
    ("max_members", ArchiveLimits(max_members=3), "--max-members"),
    ("max_member_size", ArchiveLimits(max_member_size=100), "--max-member-size"),
    ("max_total_size", ArchiveLimits(max_total_size=200), "--max-total-size"),
])
def test_limit_refusals_name_their_flag(tmp_path, field, limits, flag):
    path = write_tgz(tmp_path / "x.mbz", [(f"f{i}.xml", b"x" * 150) for i in range(5)])
    error = assert_refused({"max_members": "archive-too-many-members",
                            "max_member_size": "archive-member-too-large",
                            "max_total_size": "archive-too-large"}[field], path, limits)
    assert flag in error.message and f"ArchiveLimits.{field}" in error.message


def test_a_long_index_parses_like_a_line_by_line_reading(tmp_path):
    """Over a megabyte of index, plain lines read in blocks, others one by one."""
    lines, expected = [], []
    for n in range(30_000):
        name = f"files/{n % 256:02x}/{n:040x}" if n % 7 else f"activities/page_{n}/caf\u00e9.xml"
        mtime = "?" if n % 5 == 0 else str(1_700_000_000 + n)
        kind = "d" if n % 11 == 0 else "f"
        lines.append(f"{name}{'/' if kind == 'd' else ''}\t{kind}\t{n}\t{mtime}\n")
        expected.append((name, n, None if mtime == "?" else int(mtime), kind == "d"))
    text = f"Moodle archive file index. Count: {len(lines)}\n{''.join(lines)}".encode()
    assert len(text) > MIB
    for body in (text, text.rstrip(b"\n")):  # the last line with or without its newline
        entries = parse_archive_index(io.BytesIO(body))
        assert [(e.name, e.size, e.mtime, e.is_dir) for e in entries] == expected
    plain = text.replace("caf\u00e9".encode(), b"cafe")
    assert len(parse_archive_index(io.BytesIO(plain))) == len(lines)
    with pytest.raises(ArchiveError) as caught:
        parse_archive_index(io.BytesIO(plain + b"extra\tf\t1\t1\n"))
    assert caught.value.line == len(lines) + 2
    with pytest.raises(ArchiveError) as caught:
        parse_archive_index(io.BytesIO(plain.replace(b"\t9\t", b"\tnine\t", 1)))
    assert caught.value.line == 11 and "not 'path" in caught.value.message


def test_ls_long_from_a_truthful_index_still_applies_the_limits(tmp_path, capsys):
    path = moodle_tgz(tmp_path / "moodle.mbz", moodle_like_entries()[1:])
    assert ls_long(path, capsys)[0] == 0
    for flags, code in ((["--max-members", "3"], "archive-too-many-members"),
                        (["--max-member-size", "100"], "archive-member-too-large")):
        status, _, err = run_mbx(["ls", "-l", path, *flags], capsys)
        assert status == 1 and code in err, (flags, err)


_LISTED_NAMES = hypothesis.strategies.lists(
    hypothesis.strategies.tuples(
        hypothesis.strategies.text(alphabet="aAb/._M", min_size=1, max_size=9),
        hypothesis.strategies.booleans(),
        hypothesis.strategies.integers(0, 1 << 20)),
    max_size=12)


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(_LISTED_NAMES)
def test_admitting_a_listing_at_once_agrees_with_one_by_one(entries):
    """The whole-list fast path of ``EntryChecker.admit_listed`` gives what the
    one-by-one checks give: the same members, ignored names, warnings or error."""
    from mbx.archive.base import EntryChecker

    members = []
    for raw, is_dir, size in entries:
        parts = [part for part in raw.split("/") if part not in ("", ".", "..")]
        if parts:
            members.append(MemberInfo("/".join(parts), 0 if is_dir else size, None, is_dir))
    limits = ArchiveLimits(max_total_size=4 << 20)

    def outcome(admit):
        checker = EntryChecker(limits, "x.mbz")
        try:
            kept = admit(checker)
        except ArchiveError as error:
            return ("refused", error.code)
        return (kept, checker.ignored, checker.warnings, checker.total_size)

    at_once = outcome(lambda checker: checker.admit_listed(list(members)))
    one_by_one = outcome(lambda checker: [
        member for member in members
        if checker._keep(member.name, member.is_dir, member.size, member.name)])
    assert at_once == one_by_one


def test_read_ahead_gives_the_same_members_and_the_same_refusals(tmp_path):
    """Inflating in a second thread (what the transforms ask for) changes nothing a
    reader sees: the same members and bytes, the same error for a cut archive."""
    from mbx.archive import open_backup

    source = next(p for p in sorted(CORPUS.rglob("*.mbz")) if p.read_bytes()[:2] == b"\x1f\x8b")

    def walk(path, read_ahead):
        with open_backup(path) as backup:
            return [(info.name, stream.read()) for info, stream in
                    backup.iter_members(read_ahead=read_ahead)]

    assert walk(source, True) == walk(source, False)
    cut = tmp_path / "cut.mbz"
    cut.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    codes = []
    for read_ahead in (False, True):
        with pytest.raises(ArchiveError) as refused:
            walk(cut, read_ahead)
        codes.append(refused.value.code)
    assert codes[0] == codes[1]
