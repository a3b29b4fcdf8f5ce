"""The store: round trips of every real backup, deduplication, checkouts, diff, rm and gc,
concurrency, kills, and damage. Expected values come from independent readings: the
stdlib's tarfile and zipfile over the originals and the outputs, hashlib, os.stat."""

from __future__ import annotations

import ast
import contextlib
import hashlib
import io
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import fastcdc
import pytest

from conftest import FIXTURES
from corpus import files_in_order, items
from mbx import store
from mbx.errors import MbxError
from mbx.store import StoreError
from mbx.verification import verify as verify_backup

#: Where the mbx this process runs lives (the installed, compiled one in CI), for children.
SRC = Path(store.__file__).resolve().parents[2]


def store_files(root: Path) -> dict[str, int]:
    """Every content file of a store (relative path -> size), from the file system."""
    return {str(p.relative_to(root)): p.stat().st_size
            for top in ("chunks", "blobs") for p in (root / top).rglob("*") if p.is_file()}


def fixture_paths() -> list[Path]:
    return [FIXTURES / item for item in items()]


@pytest.fixture
def repo(tmp_path) -> Path:
    root = tmp_path / "store"
    store.init(root)
    return root


# -- round trips ---------------------------------------------------------------------------

def test_every_real_backup_comes_back_member_for_member(tmp_path, repo):
    """All 73 backups in one store (so dedup across courses is exercised too)."""
    for number, path in enumerate(fixture_paths()):
        result = store.add(repo, path, course=f"c{number}")
        original = files_in_order(path)
        out = tmp_path / f"out{number}.mbz"
        got = store.get(repo, f"c{number}", out)
        assert got.members == result.members
        back = files_in_order(out)
        if path.is_dir():  # a folder has no order: the walk's
            assert sorted(back) == sorted(original), path
        else:
            assert back == original, path
        if got.format == "tgz":
            with tarfile.open(out, "r:gz") as archive:
                assert archive.next().name == ".ARCHIVE_INDEX"
        out.unlink()
    assert store.verify(repo).ok


def test_output_passes_mbx_verify_and_keeps_a_right_index(tmp_path, repo):
    with_index = [p for p in fixture_paths() if p.is_file() and p.read_bytes()[:2] == b"\x1f\x8b"]
    compared = 0
    for path in with_index[:12]:
        result = store.add(repo, path)
        out = tmp_path / "out.mbz"
        store.get(repo, f"{result.course}@{result.version}", out)
        report = verify_backup(out)
        original = verify_backup(path)
        assert {p.code for p in report.problems if p.severity == "error"} <= \
            {p.code for p in original.problems if p.severity == "error"}, path
        with tarfile.open(path, "r:gz") as archive:
            first = archive.next()
            original_index = archive.extractfile(first).read() \
                if first.name == ".ARCHIVE_INDEX" else None
        with tarfile.open(out, "r:gz") as archive:
            new_index = archive.extractfile(archive.next()).read()
        if original_index is not None and _index_true(path, original_index):
            assert new_index == original_index, path
            compared += 1
    assert compared >= 6


def _index_true(path: Path, index: bytes) -> bool:
    """Whether an index lists exactly the entries after it (some hand-packed ones do not)."""
    lines = index.decode().splitlines()[1:]
    with tarfile.open(path, "r:gz") as archive:
        entries = [m for m in archive.getmembers()[1:]]
    listed = [(line.split("\t")[0].rstrip("/"), int(line.split("\t")[2])) for line in lines]
    return listed == [(m.name.removeprefix("./").rstrip("/"), m.size if m.isfile() else 0)
                      for m in entries]


def test_a_moodle1_backup_is_stored_as_members(tmp_path, repo):
    path = FIXTURES / "moodle__moodle" / "moodle1-converter-fixtures"
    assert (path / "moodle.xml").is_file()
    result = store.add(repo, path, course="old")
    assert store.ls(repo, "old").courses[0].versions[0].format == "moodle1"
    store.get(repo, "old", tmp_path / "old.mbz")
    assert sorted(files_in_order(tmp_path / "old.mbz")) == sorted(files_in_order(path))
    assert result.members >= 1


def test_zip_comes_back_as_zip(tmp_path, repo):
    path = next(p for p in fixture_paths() if p.is_file() and p.read_bytes()[:2] == b"PK")
    store.add(repo, path, course="z")
    assert store.get(repo, "z", tmp_path / "z.mbz").format == "zip"
    assert zipfile.is_zipfile(tmp_path / "z.mbz")
    assert files_in_order(tmp_path / "z.mbz") == files_in_order(path)
    assert store.get(repo, "z", tmp_path / "z2.mbz", format="tgz").format == "tgz"
    assert files_in_order(tmp_path / "z2.mbz") == files_in_order(path)


# -- deduplication ---------------------------------------------------------------------------

def _with_files() -> Path:
    """A real tar.gz backup with blobs."""
    best = max((p for p in fixture_paths() if p.is_file() and p.read_bytes()[:2] == b"\x1f\x8b"),
               key=lambda p: sum(1 for name, _ in files_in_order(p) if name.startswith("files/")))
    return best


def test_adding_the_same_archive_again_adds_nothing(repo):
    path = _with_files()
    first = store.add(repo, path, course="c")
    before = store_files(repo)
    again = store.add(repo, path, course="c", tags=["again"])
    assert again.duplicate_of == first.version and again.added_bytes == 0
    assert store_files(repo) == before
    listing = store.ls(repo, "c").courses[0]
    assert [v.version for v in listing.versions] == [1]
    assert listing.versions[0].tags == ["again"]


def test_the_same_members_repacked_add_nothing(tmp_path, repo):
    path = _with_files()
    store.add(repo, path, course="c")
    before = store_files(repo)
    repacked = tmp_path / "repacked.mbz"
    _repack(path, repacked)
    again = store.add(repo, repacked, course="c")
    assert again.duplicate_of == 1 and again.added_bytes == 0
    assert store_files(repo) == before


def _repack(source: Path, target: Path, edit=None) -> None:
    """Writes the members of ``source`` into a new tar.gz with tarfile, ``edit(name, data)``
    changing some on the way (an independent writer: not mbx's)."""
    with tarfile.open(source, "r:gz") as original, tarfile.open(target, "w:gz") as out:
        for member in original:
            data = original.extractfile(member).read() if member.isfile() else None
            if data is not None and edit is not None:
                data = edit(member.name.removeprefix("./"), data)
                member.size = len(data)
            out.addfile(member, io.BytesIO(data) if data is not None else None)


def _edited_course(source: Path, target: Path) -> str:
    """A second version of ``source``: one XML member edited, one blob added. Returns
    the edited member's name."""
    members = dict(files_in_order(source))
    name = max((n for n in members if n.endswith(".xml") and n.startswith("activities/")),
               key=lambda n: len(members[n]))
    extra = b"a new picture, byte for byte" * 100
    sha1 = hashlib.sha1(extra).hexdigest()

    def edit(member: str, data: bytes) -> bytes:
        if member == name:
            middle = len(data) // 2
            return data[:middle] + b"<!-- edited -->" + data[middle:]
        return data

    _repack(source, target, edit)
    with tarfile.open(target, "r:gz") as archive:
        kept = [(m, archive.extractfile(m).read() if m.isfile() else None) for m in archive]
    with tarfile.open(target, "w:gz") as out:
        for member, data in kept:
            out.addfile(member, io.BytesIO(data) if data is not None else None)
        info = tarfile.TarInfo(f"files/{sha1[:2]}/{sha1}")
        info.size = len(extra)
        out.addfile(info, io.BytesIO(extra))
    return name


def test_two_versions_share_chunks_and_blobs(tmp_path, repo):
    path = _with_files()
    first = store.add(repo, path, course="c")
    second_path = tmp_path / "second.mbz"
    edited = _edited_course(path, second_path)
    second = store.add(repo, second_path, course="c", tags=["edited"])
    assert second.version == 2 and second.duplicate_of is None
    assert second.new_blobs == 1
    edited_size = len(dict(files_in_order(second_path))[edited])
    # the edit costs a few chunks, the new blob its bytes: far less than the archive
    assert second.added_bytes < first.added_bytes / 4
    assert second.added_bytes < edited_size + 3000 + 4 * 65536
    store.get(repo, "c@edited", tmp_path / "back2.mbz")
    store.get(repo, "c@1", tmp_path / "back1.mbz")
    assert files_in_order(tmp_path / "back2.mbz") == files_in_order(second_path)
    assert files_in_order(tmp_path / "back1.mbz") == files_in_order(path)
    listing = store.ls(repo).courses[0].versions
    assert [(v.version, v.added_bytes) for v in listing] == \
        [(1, first.added_bytes), (2, second.added_bytes)]


def test_rolled_dates_share_most_chunks(tmp_path, repo):
    from mbx.transform import roll_dates  # the test's own tool to make a second version

    path = _with_files()
    rolled = tmp_path / "rolled.mbz"
    roll_dates(path, rolled, offset="+1d")
    first = store.add(repo, path, course="c")
    second = store.add(repo, rolled, course="c")
    assert second.version == 2
    assert second.new_blobs == 0
    assert second.added_bytes < first.added_bytes
    store.get(repo, "c@2", tmp_path / "back.mbz")
    assert files_in_order(tmp_path / "back.mbz") == files_in_order(rolled)


def _index_bytes(root: Path) -> int:
    """The index's bytes on disk, its write-ahead log folded in first (stdlib sqlite3)."""
    with contextlib.closing(sqlite3.connect(root / "store.sqlite")) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return (root / "store.sqlite").stat().st_size


def test_a_growing_member_costs_the_index_its_chunk_list_not_a_row_a_chunk(tmp_path, repo):
    """A big XML member that grows a little each week is a new content every version,
    listing all its chunks again (most of them shared). The index grows by some 16
    bytes a listed chunk (a packed list), not by rows: at a row and an index entry a
    chunk, a term of a 1 GB course made the index 15 % of one version."""
    rng = random.Random(11)
    words = [bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9)))
             for _ in range(2000)]
    entries = [b'<entry id="%d"><text>%s</text></entry>\n' % (number, b" ".join(
        rng.choices(words, k=rng.randint(5, 25)))) for number in range(60000)]
    information = dict(files_in_order(_with_files()))["moodle_backup.xml"]
    versions = []
    for week in range(8):
        log = b"<log>\n" + b"".join(entries[:40000 + 2000 * week]) + b"</log>\n"
        path = tmp_path / f"week-{week + 1}.mbz"
        with tarfile.open(path, "w:gz") as out:
            for name, data in (("moodle_backup.xml", information), ("course/log.xml", log)):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                out.addfile(info, io.BytesIO(data))
        versions.append((path, log))
    store.add(repo, versions[0][0], course="c")
    before = _index_bytes(repo)
    for path, _ in versions[1:]:
        store.add(repo, path, course="c")
    grown = _index_bytes(repo) - before
    # the chunks each later version lists, as the FastCDC library cuts the member
    listed = sum(len(list(fastcdc.fastcdc(log, min_size=2048, avg_size=8192, max_size=65536)))
                 for _, log in versions[1:])
    assert listed > 7 * 500  # some 5 MB a week: 700 chunks or so
    assert grown <= 16 * listed + 7 * 4 * 4096  # a few pages a version for the rest
    for number in (1, 8):
        store.get(repo, f"c@{number}", tmp_path / "back.mbz")
        assert dict(files_in_order(tmp_path / "back.mbz"))["course/log.xml"] == \
            versions[number - 1][1]


# -- checkout --------------------------------------------------------------------------------

def test_checkout_links_blobs_and_copy_does_not(tmp_path, repo):
    path = _with_files()
    store.add(repo, path, course="c")
    folder = tmp_path / "folder"
    result = store.checkout(repo, "c", folder)
    original = dict(files_in_order(path))
    assert {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
            if p.is_file()} == original
    blobs = [name for name in original if name.startswith("files/")]
    assert blobs and result.linked == len(blobs)
    for name in blobs:
        stored = repo / "blobs" / name.split("/")[1] / name.split("/")[2]
        assert os.stat(folder / name).st_ino == os.stat(stored).st_ino
    copied = tmp_path / "copied"
    result = store.checkout(repo, "c", copied, copy=True)
    assert result.linked == 0 and result.copied == len(blobs)
    for name in blobs:
        stored = repo / "blobs" / name.split("/")[1] / name.split("/")[2]
        assert os.stat(copied / name).st_ino != os.stat(stored).st_ino
        assert (copied / name).read_bytes() == original[name]
    with pytest.raises(StoreError) as refused:
        store.checkout(repo, "c", copied)
    assert refused.value.code == "store-output"


# -- diff -------------------------------------------------------------------------------------

def test_diff_names_the_changed_activity_and_the_new_file(tmp_path, repo):
    path = _with_files()
    second_path = tmp_path / "second.mbz"
    edited = _edited_course(path, second_path)
    store.add(repo, path, course="c")
    store.add(repo, second_path, course="c")
    result = store.diff(repo, "c@1", "c@2")
    folder = "/".join(edited.split("/")[:2])
    assert [(a.change, a.directory) for a in result.activities] == [("changed", folder)]
    assert result.activities[0].title  # from moodle_backup.xml
    assert [f.change for f in result.files_added] == ["added"]
    assert result.files_removed == []
    changed = {m.name: (m.size_a, m.size_b) for m in result.members}
    old, new = dict(files_in_order(path)), dict(files_in_order(second_path))
    assert changed == {edited: (len(old[edited]), len(new[edited]))}
    back = store.diff(repo, "c@2", "c@1")
    assert [f.change for f in back.files_removed] == ["removed"]


# -- rm and gc --------------------------------------------------------------------------------

def test_gc_after_rm_frees_exactly_what_only_the_removed_versions_held(tmp_path, repo):
    path = _with_files()
    second_path = tmp_path / "second.mbz"
    _edited_course(path, second_path)
    other = next(p for p in fixture_paths() if p.is_file() and p != path)
    store.add(repo, path, course="c")
    store.add(repo, second_path, course="c")
    store.add(repo, other, course="o")
    before = store_files(repo)
    removed = store.rm(repo, ["c@1"])
    assert removed.removed == ["c@1"]
    assert store_files(repo) == before  # rm touches the index only
    freed = store.gc(repo)
    # the reference: a store given only the versions that are left
    reference = tmp_path / "reference"
    store.init(reference)
    store.add(reference, second_path, course="c")
    store.add(reference, other, course="o")
    assert store_files(repo) == store_files(reference)
    gone = set(before) - set(store_files(repo))
    assert freed.bytes_freed == sum(before[name] for name in gone)
    assert freed.chunks_freed + freed.blobs_freed == len(gone)
    assert store.verify(repo).ok
    store.get(repo, "c", tmp_path / "left.mbz")
    assert files_in_order(tmp_path / "left.mbz") == files_in_order(second_path)
    with pytest.raises(StoreError):
        store.get(repo, "c@1", tmp_path / "gone.mbz")


def test_rm_of_a_whole_course_and_refusals(repo):
    store.add(repo, _with_files(), course="c")
    with pytest.raises(StoreError) as bare:
        store.rm(repo, ["c"])
    assert bare.value.code == "store-no-version"
    assert store.rm(repo, ["c@latest"]).courses_removed == ["c"]
    assert store.ls(repo).courses == []
    assert store.gc(repo).bytes_freed > 0
    assert store_files(repo) == {}


# -- concurrency, kills, damage ----------------------------------------------------------------

def _python(code: str, **env) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": str(SRC), **env}
    return subprocess.Popen([sys.executable, "-c", code], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_two_adds_at_once_both_succeed(tmp_path, repo):
    paths = [p for p in fixture_paths() if p.is_file()][:2] + [_with_files()]
    code = ("import sys; from mbx import store; "
            "print(store.add(sys.argv[1], sys.argv[2], course='same').version)")
    children = [subprocess.Popen([sys.executable, "-c", code, str(repo), str(path)],
                                 env={**os.environ, "PYTHONPATH": str(SRC)},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for path in paths]
    outputs = [child.communicate(timeout=120) for child in children]
    assert all(child.returncode == 0 for child in children), outputs
    assert sorted(int(out) for out, _ in outputs) == [1, 2, 3]
    for version in (1, 2, 3):
        source = Path(next(v.source for v in store.ls(repo, "same").courses[0].versions
                           if v.version == version))
        store.get(repo, f"same@{version}", tmp_path / f"{version}.mbz")
        assert files_in_order(tmp_path / f"{version}.mbz") == files_in_order(source)
    assert store.verify(repo).ok


def _sound(repo: Path, tmp_path: Path) -> None:
    """The store after a kill: verify finds no damage, every listed version comes out whole."""
    assert store.verify(repo).ok
    for course in store.ls(repo).courses:
        for version in course.versions:
            out = tmp_path / "check.mbz"
            store.get(repo, f"{course.name}@{version.version}", out)
            assert files_in_order(out) == files_in_order(Path(version.source))
            out.unlink()


@pytest.mark.parametrize("step", ["add:object-written", "add:before-commit", "add:after-commit"])
def test_a_kill_during_add_leaves_a_sound_store(tmp_path, repo, step):
    store.add(repo, fixture_paths()[0], course="base")
    child = _python(f"from mbx import store; store.add({str(repo)!r}, {str(_with_files())!r}, "
                    "course='c')", MBX_STORE_KILL_AT=step)
    child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL
    _sound(repo, tmp_path)
    versions = {c.name: len(c.versions) for c in store.ls(repo).courses}
    assert versions.get("c", 0) == (1 if step == "add:after-commit" else 0)
    store.gc(repo)
    assert list((repo / "tmp").iterdir()) == []
    _sound(repo, tmp_path)
    store.add(repo, _with_files(), course="c")  # and the add can be made again
    _sound(repo, tmp_path)


@pytest.mark.parametrize("step", ["gc:after-commit", "gc:file-deleted"])
def test_a_kill_during_gc_leaves_a_sound_store(tmp_path, repo, step):
    path = _with_files()
    second_path = tmp_path / "second.mbz"
    _edited_course(path, second_path)
    store.add(repo, path, course="c")
    store.add(repo, second_path, course="c")
    store.rm(repo, ["c@2"])
    child = _python(f"from mbx import store; store.gc({str(repo)!r})", MBX_STORE_KILL_AT=step)
    child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL
    _sound(repo, tmp_path)
    store.gc(repo)
    reference = tmp_path / "reference"
    store.init(reference)
    store.add(reference, path, course="c")
    assert store_files(repo) == store_files(reference)


def test_kills_at_random_moments_of_adds_and_gcs(tmp_path, repo):
    """Timed kills: the child says when its imports are done, then dies some
    milliseconds into its adds, rms and gcs; the store is sound after each."""
    paths = sorted((p for p in fixture_paths() if p.is_file()), key=lambda p: -p.stat().st_size)[:6]
    code = ("import sys; from mbx import store\n"
            "print('ready', flush=True)\n"
            "for i, p in enumerate(sys.argv[2:]):\n"
            "    store.add(sys.argv[1], p, course=f'k{i % 3}')\n"
            "    store.rm(sys.argv[1], [f'k{i % 3}@latest']) if i % 2 else store.gc(sys.argv[1])\n")
    killed = 0
    for delay in (0.0, 0.01, 0.03, 0.06, 0.1, 0.2, 0.4):
        child = subprocess.Popen([sys.executable, "-c", code, str(repo), *map(str, paths)],
                                 env={**os.environ, "PYTHONPATH": str(SRC)},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert child.stdout.readline() == b"ready\n"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=120)
        killed += child.returncode == -signal.SIGKILL
        _sound(repo, tmp_path)
    assert killed >= 5  # most kills landed while it worked


def _flip(path: Path) -> None:
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_flipped_byte_is_found_by_get_and_by_verify(tmp_path, repo):
    path = _with_files()
    store.add(repo, path, course="c")
    store.add(repo, fixture_paths()[0], course="other")
    shared_chunks = set(store_files(repo))
    chunk = max((p for p in (repo / "chunks").rglob("*") if p.is_file()),
                key=lambda p: p.stat().st_size)
    _flip(chunk)
    report = store.verify(repo)
    assert not report.ok
    assert [(d.kind, d.id) for d in report.damage] == [("chunk", chunk.name)]
    assert "c@1" in report.damaged_versions
    with pytest.raises(StoreError) as damaged:
        store.get(repo, "c", tmp_path / "out.mbz")
    assert damaged.value.code == "store-damaged" and "c@1" in damaged.value.message
    assert not (tmp_path / "out.mbz").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
    assert shared_chunks


def test_a_flipped_byte_in_a_blob_is_found(tmp_path, repo):
    store.add(repo, _with_files(), course="c")
    blob = next(p for p in (repo / "blobs").rglob("*") if p.is_file() and p.stat().st_size)
    _flip(blob)
    report = store.verify(repo)
    assert [(d.kind, d.id, d.problem, d.versions) for d in report.damage] == \
        [("blob", blob.name, "hash-mismatch", ["c@1"])]
    with pytest.raises(StoreError) as damaged:
        store.get(repo, "c", tmp_path / "out.mbz")
    assert damaged.value.code == "store-damaged"
    with pytest.raises(StoreError):
        store.checkout(repo, "c", tmp_path / "folder")
    assert not (tmp_path / "folder").exists()


# -- refusals -----------------------------------------------------------------------------------

def test_refusals(tmp_path, repo):
    with pytest.raises(StoreError) as exists:
        store.init(repo)
    assert exists.value.code == "store-exists"
    with pytest.raises(StoreError) as missing:
        store.ls(tmp_path / "nothing")
    assert missing.value.code == "store-not-found"
    for operation in (lambda where: store.add(where, _with_files()), store.gc):
        (tmp_path / "empty").mkdir(exist_ok=True)
        with pytest.raises(StoreError) as not_a_store:  # not a bare OSError about its lock
            operation(tmp_path / "empty")
        assert not_a_store.value.code == "store-not-found"
        assert not os.listdir(tmp_path / "empty")  # and nothing was created there
    with pytest.raises(StoreError) as bad_name:
        store.add(repo, _with_files(), course="a@b")
    assert bad_name.value.code == "store-bad-name"
    with pytest.raises(StoreError) as bad_tag:
        store.add(repo, _with_files(), course="a", tags=["12"])
    assert bad_tag.value.code == "store-bad-name"
    with pytest.raises(StoreError) as no_version:
        store.get(repo, "nobody@1", tmp_path / "x.mbz")
    assert no_version.value.code == "store-no-version"
    not_a_backup = tmp_path / "junk.mbz"
    not_a_backup.write_bytes(b"not a backup at all")
    with pytest.raises(MbxError):
        store.add(repo, not_a_backup, course="junk")
    assert store.ls(repo).courses == [] and store_files(repo) == {}
    store.add(repo, _with_files(), course="a", tags=["t"])
    other = next(p for p in fixture_paths() if p.is_file() and p != _with_files())
    with pytest.raises(StoreError) as taken:
        store.add(repo, other, course="a", tags=["t"])
    assert taken.value.code == "store-tag-taken"
    assert [v.version for v in store.ls(repo, "a").courses[0].versions] == [1]


def test_a_full_disk_during_add_leaves_nothing_listed(tmp_path, repo, monkeypatch):
    from mbx.store import objects

    store.add(repo, fixture_paths()[0], course="base")
    calls = {"n": 0}
    real = objects._TemporaryFile.write

    def full(self, data):
        calls["n"] += 1
        if calls["n"] > 5:
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(objects._TemporaryFile, "write", full)
    with pytest.raises(OSError):
        store.add(repo, _with_files(), course="c")
    monkeypatch.undo()
    assert [c.name for c in store.ls(repo).courses] == ["base"]
    assert list((repo / "tmp").iterdir()) == []
    _sound(repo, tmp_path)


def test_the_store_imports_only_what_lies_below_it():
    allowed = {"mbx", "mbx.archive", "mbx.xml", "mbx.moodle2", "mbx.progress", "mbx.errors",
               "mbx.units", "mbx._memory", "mbx.store"}
    for path in (SRC / "mbx" / "store").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            for name in names:
                if name.startswith("mbx"):
                    assert any(name == room or name.startswith(room + ".")
                               for room in allowed), f"{path.name} imports {name}"


# -- the command line ---------------------------------------------------------------------------

def test_the_store_commands(tmp_path, capsys):
    import json

    from mbx.cli import main

    root, path = tmp_path / "cli-store", _with_files()
    second = tmp_path / "second.mbz"
    _edited_course(path, second)
    assert main(["store", "init", str(root)]) == 0
    assert main(["store", "add", str(root), str(path), "--course", "c", "--tag", "first"]) == 0
    assert "added c@1 [first]" in capsys.readouterr().out
    assert main(["store", "add", str(root), str(path), "--course", "c"]) == 0
    assert "nothing added" in capsys.readouterr().out
    assert main(["store", "add", str(root), str(second), "--course", "c", "--json"]) == 0
    added = json.loads(capsys.readouterr().out)
    assert added["version"] == 2 and added["new_blobs"] == 1
    assert main(["store", "ls", str(root), "c", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [v["version"] for v in listing["courses"][0]["versions"]] == [1, 2]
    assert main(["store", "get", str(root), "c@first", str(tmp_path / "out.mbz")]) == 0
    assert files_in_order(tmp_path / "out.mbz") == files_in_order(path)
    capsys.readouterr()
    assert main(["store", "checkout", str(root), "c", str(tmp_path / "folder"), "--copy"]) == 0
    assert "0 blobs linked" in capsys.readouterr().out
    assert main(["store", "diff", str(root), "c@1", "c@2"]) == 0
    assert "files added: 1" in capsys.readouterr().out
    assert main(["store", "rm", str(root), "c@1"]) == 0
    assert "removed c@1" in capsys.readouterr().out
    assert main(["store", "gc", str(root), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bytes_freed"] > 0
    assert main(["store", "verify", str(root)]) == 0
    assert "sound" in capsys.readouterr().out
    assert main(["store", "get", str(root), "c@1", str(tmp_path / "gone.mbz"), "--json"]) == 1
    assert json.loads(capsys.readouterr().err)["error"]["code"] == "store-no-version"
    chunk = next(p for p in (root / "chunks").rglob("*") if p.is_file())
    _flip(chunk)
    assert main(["store", "verify", str(root)]) == 1
    assert "damaged versions: c@2" in capsys.readouterr().out


# -- the chunker ----------------------------------------------------------------------------------

@pytest.mark.parametrize("piece", [1, 977, 65536, 1 << 20, 1 << 23])
def test_stream_chunker_cuts_as_fastcdc_cuts_the_whole(piece):
    """Fed in pieces of any size, the window gives the library's chunks of the whole buffer."""
    import random

    import fastcdc

    from mbx.store.chunking import (AVERAGE_SIZE, MAXIMUM_SIZE, MINIMUM_SIZE, StreamChunker)

    generator = random.Random(piece)
    data = generator.randbytes(1_500_000) + b"<post>same text</post>" * 40_000 + \
        generator.randbytes(300_000)
    expected = [data[c.offset:c.offset + c.length] for c in fastcdc.fastcdc(
        data, min_size=MINIMUM_SIZE, avg_size=AVERAGE_SIZE, max_size=MAXIMUM_SIZE)]
    chunker = StreamChunker()
    step = piece if piece > 1 else 4099
    got = []
    for start in range(0, len(data), step):
        got += chunker.feed(data[start:start + step])
        assert len(chunker._pending) <= chunker._window + step  # bounded window
    got += chunker.finish()
    assert got == expected
