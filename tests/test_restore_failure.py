"""A restore completes, or its database is exactly as it was and its pool holds no
partial blob (issue 9, "What it must show" 4 and "Safety").

**Kills.** A real restore runs in a child process (``CHILD`` below, written to the
test's folder) that sends itself SIGKILL at a chosen point, found through public
observation points only:

- ``member``: a progress listener (``Monitor(listener, interval=0)``) kills once the
  stream pass (phase ``restoring``) has counted N members: after the rows of the
  members before it were written, inside the transaction;
- ``check``: the N-th cancel check the engine makes between records and chunks
  (``Monitor.check``, overridden in the child; the checks of ``advance`` and
  ``phase`` are not counted), from the ``preparing`` phase on: in the middle of a
  step's records;
- ``phase``: when a phase starts: ``preparing`` (the transaction has just opened),
  ``finishing`` (the final task) and ``committing`` (before the last flush);
- ``blob``: while one chosen blob is being written: the child wraps the stream that
  ``FilePool.add`` reads so that it hands over 64 KiB at a time, and kills on the
  second read, when the first 64 KiB are in the pool's ``.incoming`` file (the test
  checks they are, so the kill really fell mid-blob);
- ``commit``: the child wraps the target's ``commit``: with delay 0 it kills as
  ``commit()`` is called (every row flushed, COMMIT not yet sent); with a delay, a
  thread kills that long after the COMMIT was issued, and the child, if COMMIT
  returns first, notes it and waits for the kill. A kill during a COMMIT may land
  either side of it: the test accepts the database as it was or with the whole
  course (the same rows added and changed per table as a clean restore), and
  only the latter once COMMIT had returned;
- ``interrupt``: SIGINT (Ctrl-C) instead of SIGKILL, in the stream pass.

One site per target serves every test in turn: the synth course restored into
it twice (the second restore measures what a clean restore adds), then kill
after kill. "Unchanged" compares a full dump of every table and the schema,
taken just before the kill. After each kill: the dump equals the one before,
every file of the pool hashes to its ``ab/cd/<sha1>`` name, and a restore then
succeeds, adds exactly what a clean restore adds (rows added, changed and
removed per table) and removes the ``.incoming`` leftovers of the dead one.

**Full disk**: the pool, then the SQLite file, on a small tmpfs; for PostgreSQL a
tablespace on a small tmpfs holding the table that grows most. **Cancel** through
the CancelToken, and **errors** found mid-transaction (a malformed and a hostile
activity document, a blob that does not hash to its name with ``strict``, and a
traversal member, which the survey refuses before the database is opened).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

import mbx
from mbx.archive import as_backup
from mbx.errors import Cancelled, MbxError, XmlForbiddenError, XmlSyntaxError
from mbx.progress import CancelToken, Monitor
from mbx.restore import restore

from postgres import fresh_database

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real"
#: A real course backup (a zip) with six blobs of 70 KB to 750 KB.
GRID = REAL / "gjb2048__moodle-format_grid" / "backup-moodle2-course-21-gt-20131104-1255-nu.mbz"
SRC = str(Path(mbx.__file__).resolve().parents[1])
READ = 1 << 16

CHILD = r'''
import json, os, signal, sys, threading, time

from mbx.progress import Monitor
from mbx.restore import restore
from mbx.restore import pool as pool_module
from mbx.restore.targets.postgresql import PostgresTarget
from mbx.restore.targets.sqlite import SqliteTarget

job = json.loads(sys.argv[1])
point = job["point"]
how = point["at"]


NOTES = threading.Lock()  # held by die() to the end: no note can follow the kill's


def _write_note(text):
    with open(job["notes"], "a") as out:
        out.write(text + "\n")


def note(text):
    with NOTES:
        _write_note(text)


def die(where):
    NOTES.acquire()
    _write_note("killed " + where)
    os.kill(os.getpid(), signal.SIGKILL)


class KillingMonitor(Monitor):
    """Counts the engine's own cancel checks (not those of advance and phase)."""
    checks = 0
    counting = True

    def advance(self, *args, **kwargs):
        self.counting = False
        try:
            super().advance(*args, **kwargs)
        finally:
            self.counting = True

    def phase(self, *args, **kwargs):
        self.counting = False
        try:
            super().phase(*args, **kwargs)
        finally:
            self.counting = True

    def check(self):
        super().check()
        if how == "check" and self.counting and self.phase_name != "surveying":
            self.checks += 1
            if self.checks == point["n"]:
                die(f"check {self.checks} in {self.phase_name}")


def listener(snapshot):
    if snapshot.phase == "restoring" and snapshot.done_members >= point.get("n", 0) > 0:
        if how == "member":
            die(f"member {snapshot.done_members} {snapshot.item}")
        if how == "interrupt":
            note(f"interrupted at member {snapshot.done_members}")
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
    if how == "phase" and snapshot.phase == point["name"]:
        die("phase " + snapshot.phase)


class Dribble:
    """The blob's stream, 64 KiB a read; the second read comes once the first
    64 KiB were written."""

    def __init__(self, stream):
        self.stream = stream
        self.reads = 0

    def read(self, size=-1):
        self.reads += 1
        if self.reads == 2:
            die("blob " + point["hash"])
        return self.stream.read(min(size, 1 << 16) if size and size > 0 else 1 << 16)


if how == "blob":
    original_add = pool_module.FilePool.add

    def add(self, contenthash, stream, *, check=None):
        if contenthash == point["hash"]:
            stream = Dribble(stream)
        return original_add(self, contenthash, stream, check=check)

    pool_module.FilePool.add = add

if how == "commit":
    target_class = SqliteTarget if job["into"].startswith("sqlite:") else PostgresTarget
    original_commit = target_class.commit

    def commit(self):
        if point["delay"] == 0:
            die("commit called")
        threading.Timer(point["delay"], die, ("commit after %s s" % point["delay"],)).start()
        original_commit(self)
        note("committed")
        time.sleep(30)

    target_class.commit = commit

restore(job["archive"], job["into"], files=job["files"],
        progress=KillingMonitor(listener, interval=0))
note("finished")
'''


# -- what a site holds ------------------------------------------------------------------

class Site:
    """A database and its pool: dumped, checked, copied."""

    def __init__(self, into: str, pool: Path) -> None:
        self.into = into
        self.pool = pool

    def dump(self) -> dict[str, list]:
        raise NotImplementedError

    def restore(self, archive, **options):
        return restore(str(archive), self.into, files=str(self.pool), **options)


class SqliteSite(Site):
    def __init__(self, folder: Path) -> None:
        self.path = folder / "site.db"
        super().__init__(f"sqlite:{self.path}", folder / "site.files")

    def dump(self) -> dict[str, list]:
        connection = sqlite3.connect(self.path)
        try:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            tables = [name for name, in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            result = {"(schema)": sorted(connection.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall(), key=repr)}
            for table in tables:  # the first column is the key (id; name in sqlite_sequence)
                result[table] = connection.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()
            return result
        finally:
            connection.close()


class PostgresSite(Site):
    def dump(self) -> dict[str, list]:
        with psycopg.connect(self.into) as connection:
            schema = connection.execute(
                "SELECT table_name, column_name, data_type, column_default, is_nullable "
                "FROM information_schema.columns WHERE table_schema = current_schema()").fetchall()
            indexes = connection.execute("SELECT tablename, indexname, indexdef FROM pg_indexes "
                                         "WHERE schemaname = current_schema()").fetchall()
            result = {"(schema)": sorted(schema, key=repr), "(indexes)": sorted(indexes, key=repr)}
            tables = [name for name, in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
            for table in tables:
                result[table] = connection.execute(
                    sql.SQL("SELECT * FROM {} ORDER BY 1").format(sql.Identifier(table))).fetchall()
            return result


def differences(before: dict, after: dict) -> list[str]:
    """The tables whose rows differ, with how: short enough for an assertion message."""
    found = []
    for table in sorted(set(before) | set(after)):
        old, new = before.get(table), after.get(table)
        if old != new:
            found.append(f"{table}: {'absent' if old is None else len(old)} rows before, "
                         f"{'absent' if new is None else len(new)} after")
    return found


def added_rows(before: dict, after: dict) -> dict[str, tuple[int, int, int]]:
    """Per table that differs: rows (by id, the first column) added, changed and
    removed from ``before`` to ``after``. The schema must be the same."""
    found = {}
    for table in sorted(set(before) | set(after)):
        if table.startswith("("):
            assert after.get(table) == before.get(table), f"the schema changed: {table}"
            continue
        old = {row[0]: row for row in before.get(table, [])}
        new = {row[0]: row for row in after.get(table, [])}
        assert len(old) == len(before.get(table, [])), f"{table}: first column not a key"
        change = (len(new.keys() - old.keys()),
                  sum(1 for key in new.keys() & old.keys() if new[key] != old[key]),
                  len(old.keys() - new.keys()))
        if change != (0, 0, 0):
            found[table] = change
    return found


def pool_problems(pool: Path) -> list[str]:
    """Files of the pool that are not a complete blob at its ``ab/cd/<sha1>`` place."""
    problems = []
    for folder, _, names in os.walk(pool):
        relative = Path(folder).relative_to(pool)
        if relative.parts[:1] == (".incoming",):
            continue
        for name in names:
            path = Path(folder) / name
            digest = hashlib.sha1(path.read_bytes()).hexdigest()
            if digest != name or relative.parts != (name[:2], name[2:4]):
                problems.append(f"{path.relative_to(pool)} (its bytes hash to {digest})")
    return problems


def incoming(pool: Path) -> list[str]:
    spool = pool / ".incoming"
    return sorted(os.listdir(spool)) if spool.is_dir() else []


def blobs(archive) -> dict[str, int]:
    """contenthash -> size of the archive's blobs, in archive order."""
    with as_backup(str(archive)) as backup:
        return {info.name.rsplit("/", 1)[1]: info.size for info in backup.members()
                if info.name.startswith("files/") and not info.is_dir}


class Counting(Monitor):
    """Counts the stream pass's members and the engine's own checks, as the child does."""

    def __init__(self) -> None:
        super().__init__(self._listen, interval=0)
        self.members = 0
        self.checks = 0
        self._counting = True

    def _listen(self, snapshot) -> None:
        if snapshot.phase == "restoring":
            self.members = max(self.members, snapshot.done_members)

    def advance(self, *args, **kwargs) -> None:
        self._counting = False
        try:
            super().advance(*args, **kwargs)
        finally:
            self._counting = True

    def phase(self, *args, **kwargs) -> None:
        self._counting = False
        try:
            super().phase(*args, **kwargs)
        finally:
            self._counting = True

    def check(self) -> None:
        super().check()
        if self._counting and self.phase_name != "surveying":
            self.checks += 1


# -- the sites the tests start from -------------------------------------------------------

class Base:
    """One site per target that every test of this file works on in turn: the
    synth course restored into it once, then kill after kill, each followed by a
    restore (so the site grows by a course each time). A kill leaves the site as
    it was, so each one starts from a known state: the dump taken just before."""

    def __init__(self, archive: Path, site: Site) -> None:
        self.archive = archive
        self.site = site
        site.restore(archive)
        before = site.dump()
        counting = Counting()
        report = site.restore(archive, progress=counting)
        delta = added_rows(before, site.dump())
        assert report.course_id and delta["mdl_course"] == (1, 0, 0)
        assert sum(added for added, _, _ in delta.values()) >= sum(report.rows.values())
        self._deltas = {archive: _comparable(delta)}
        self.members = counting.members
        self.checks = counting.checks
        self.blobs = blobs(archive)

    def delta_of(self, archive: Path) -> dict[str, tuple[int, int, int]]:
        """What a clean restore of ``archive`` adds to this site (restoring it once)."""
        if archive not in self._deltas:
            before = self.site.dump()
            self.site.restore(archive)
            self._deltas[archive] = _comparable(added_rows(before, self.site.dump()))
        return self._deltas[archive]


def _comparable(delta: dict) -> dict:
    # SQLite's own AUTOINCREMENT table gains a row the first time a table gets one
    return {table: change for table, change in delta.items() if not table.startswith("sqlite_")}


@pytest.fixture(scope="module")
def synth_course(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("synth") / "course.mbz"
    mbx.synthesize(path, size="2M", seed=1)
    return path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def base(request, tmp_path_factory, synth_course):
    """The synth course restored into a site, twice (see :class:`Base`), on each target."""
    folder = tmp_path_factory.mktemp("site")
    if request.param == "sqlite":
        yield Base(synth_course, SqliteSite(folder))
    else:
        with fresh_database(request.getfixturevalue("postgres_server")) as url:
            yield Base(synth_course, PostgresSite(url, folder / "site.files"))


# -- the kills ----------------------------------------------------------------------------

def run_child(site: Site, archive: Path, point: dict, folder: Path) -> tuple[int, list[str], str]:
    script = folder / "child.py"
    script.write_text(CHILD)
    notes = folder / f"notes-{uuid.uuid4().hex[:8]}"
    notes.touch()
    job = {"archive": str(archive), "into": site.into, "files": str(site.pool),
           "point": point, "notes": str(notes)}
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [SRC, environment.get("PYTHONPATH")]))
    completed = subprocess.run([sys.executable, str(script), json.dumps(job)], env=environment,
                               capture_output=True, text=True, timeout=120)
    return completed.returncode, notes.read_text().splitlines(), completed.stderr


def kill_then_restore(base: Base, point: dict, folder: Path, archive: Path | None = None
                      ) -> list[str]:
    """Kills a restore at ``point``: the site must be as before (for a kill during the
    commit: or hold the whole course), its pool sound; then a restore succeeds, adds
    what a clean one adds and removes the dead one's ``.incoming`` folder, which is
    returned."""
    site = base.site
    archive = archive or base.archive
    delta = base.delta_of(archive)
    if point["at"] == "blob":
        _forget_blob(site.pool, point["hash"])
    before = site.dump()
    code, notes, stderr = run_child(site, archive, point, folder)
    if point["at"] == "interrupt":
        # Python ends on an unhandled KeyboardInterrupt by dying of SIGINT
        assert code == -signal.SIGINT and "KeyboardInterrupt" in stderr, (code, notes, stderr[-2000:])
        assert incoming(site.pool) == [], "an interrupted restore removes its own .incoming"
    else:
        assert code == -signal.SIGKILL, f"the kill point was not reached: {code} {notes} {stderr[-2000:]}"
        assert notes[-1].startswith("killed"), notes
    after = site.dump()
    if point["at"] == "commit" and point["delay"] > 0 and after != before:
        assert _comparable(added_rows(before, after)) == delta, "a kill in COMMIT left part of a course"
    else:
        assert "committed" not in notes, "COMMIT returned, yet the course is not there"
        assert differences(before, after) == [], f"the kill at {point} changed the database"
    assert pool_problems(site.pool) == []
    leftovers = incoming(site.pool)
    report = site.restore(archive)
    assert _comparable(added_rows(after, site.dump())) == delta, "the next restore is not a clean one"
    assert report.course_id
    assert incoming(site.pool) == [], "the next restore removes what the dead one left"
    assert pool_problems(site.pool) == []
    for contenthash in blobs(archive):
        assert (site.pool / contenthash[:2] / contenthash[2:4] / contenthash).is_file()
    return leftovers


def points(base: Base) -> list[dict]:
    """Kill points spread over the restore: members and checks counted in a clean one."""
    members, checks = base.members, base.checks
    assert members > 10 and checks >= 4, (members, checks)
    if isinstance(base.site, SqliteSite):
        return ([{"at": "member", "n": n} for n in (1, members // 2, members)]
                + [{"at": "check", "n": n} for n in (1, checks // 2, checks)]
                + [{"at": "phase", "name": name} for name in ("preparing", "finishing", "committing")]
                + [{"at": "commit", "delay": delay} for delay in (0, 0.002, 0.01)]
                + [{"at": "interrupt", "n": members // 3}])
    # fewer on PostgreSQL, where a restore takes longer: one of each kind at least
    return ([{"at": "member", "n": n} for n in (1, 2 * members // 3)]
            + [{"at": "check", "n": checks // 2}]
            + [{"at": "phase", "name": name} for name in ("preparing", "committing")]
            + [{"at": "commit", "delay": delay} for delay in (0, 0.002)]
            + [{"at": "interrupt", "n": members // 3}])


def test_a_restore_killed_anywhere_leaves_the_site_as_it_was(base, tmp_path):
    """SIGKILL at every kind of point, several of each, on the synth course."""
    for point in points(base):
        leftovers = kill_then_restore(base, point, tmp_path)
        if point["at"] not in ("interrupt", "commit"):
            # the dead restore's own .incoming folder and its lock, which the next
            # restore removed
            assert len(leftovers) == 2 and leftovers[1] == leftovers[0] + ".lock", leftovers


def test_a_kill_mid_blob_leaves_a_partial_file_only_in_incoming(base, tmp_path):
    """The partial blob, looked at before the next restore removes it."""
    chosen = next(contenthash for contenthash, size in base.blobs.items() if size > 2 * READ)
    site = base.site
    _forget_blob(site.pool, chosen)
    before = site.dump()
    code, notes, stderr = run_child(site, base.archive, {"at": "blob", "hash": chosen}, tmp_path)
    assert code == -signal.SIGKILL, (notes, stderr[-2000:])
    assert differences(before, site.dump()) == []
    partial = [path for path in (site.pool / ".incoming").rglob("*") if path.is_file()
               and not path.name.endswith(".lock")]
    assert [path.stat().st_size for path in partial] == [READ]
    assert partial[0].read_bytes() == _blob_bytes(base.archive, chosen)[:READ]
    assert not (site.pool / chosen[:2] / chosen[2:4] / chosen).exists()
    assert pool_problems(site.pool) == []
    site.restore(base.archive)
    assert incoming(site.pool) == []
    assert hashlib.sha1((site.pool / chosen[:2] / chosen[2:4] / chosen).read_bytes()
                        ).hexdigest() == chosen


def test_a_real_course_with_files_killed_in_its_blobs_and_commit(base, tmp_path):
    """A real corpus backup (a zip, six blobs of 70 to 750 KB) restored beside the
    synth courses, killed after its first member, in its first and last blob and in
    its commit."""
    grid_blobs = list(blobs(GRID))
    assert len(grid_blobs) == 6
    for point in ({"at": "member", "n": 1}, {"at": "blob", "hash": grid_blobs[0]},
                  {"at": "blob", "hash": grid_blobs[-1]}, {"at": "commit", "delay": 0.002}):
        kill_then_restore(base, point, tmp_path, archive=GRID)


def _forget_blob(pool: Path, contenthash: str) -> None:
    """The blob out of the pool, so that the restore writes it again (the site's
    courses point at it: the pool is one blob short only until the next restore)."""
    (pool / contenthash[:2] / contenthash[2:4] / contenthash).unlink(missing_ok=True)


def _blob_bytes(archive: Path, contenthash: str) -> bytes:
    with as_backup(str(archive)) as backup:
        with backup.open(f"files/{contenthash[:2]}/{contenthash}") as stream:
            return stream.read()


# -- full disk ----------------------------------------------------------------------------

@contextlib.contextmanager
def small_disk(path: Path, size: int):
    """A tmpfs of ``size`` bytes mounted at ``path`` (we run as root), unmounted after."""
    path.mkdir(parents=True, exist_ok=True)
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


def grow_disk(path: Path, size: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


@pytest.fixture(scope="module")
def other_course(tmp_path_factory) -> Path:
    """Another synth course: blobs of its own (1.7 MB of them) that no pool has yet."""
    path = tmp_path_factory.mktemp("other") / "other.mbz"
    mbx.synthesize(path, size="2M", seed=2)
    return path


def _fails_cleanly(error: MbxError, code: str) -> None:
    assert error.code == code, error
    assert "\n" not in str(error)


def test_a_full_pool_fails_with_target_full_and_leaves_nothing(base, other_course, tmp_path):
    assert not set(blobs(other_course)) & set(base.blobs)
    site = base.site
    before = site.dump()
    with small_disk(tmp_path / "pool", 1 << 20) as pool:
        with pytest.raises(MbxError) as raised:
            restore(str(other_course), site.into, files=str(pool))
        _fails_cleanly(raised.value, "target-full")
        assert "no space left" in str(raised.value)
        assert differences(before, site.dump()) == []
        assert pool_problems(pool) == []
        assert incoming(pool) == []
        assert any(pool.glob("??/??/*")), "the pool filled up with complete blobs first"
        grow_disk(pool, 64 << 20)
        report = restore(str(other_course), site.into, files=str(pool))
        assert report.files_written + report.files_reused == len(blobs(other_course))
        assert pool_problems(pool) == [] and incoming(pool) == []


def test_a_full_sqlite_disk_fails_with_target_full_and_leaves_it_as_it_was(synth_course,
                                                                           tmp_path):
    with small_disk(tmp_path / "disk", 64 << 20) as disk:
        site = SqliteSite(disk)
        site.pool = tmp_path / "pool"
        site.restore(GRID)
        used = shutil.disk_usage(disk).used
        grow_disk(disk, used + (1 << 20))  # the synth course needs about 6 MB more
        before = site.dump()
        with pytest.raises(MbxError) as raised:
            site.restore(synth_course)
        _fails_cleanly(raised.value, "target-full")
        assert differences(before, site.dump()) == []
        assert pool_problems(site.pool) == [] and incoming(site.pool) == []
        grow_disk(disk, 64 << 20)
        assert site.restore(synth_course).course_id
        assert added_rows(before, site.dump())["mdl_course"] == (1, 0, 0)


@pytest.mark.parametrize("base", ["postgresql"], indirect=True)
def test_a_full_postgresql_tablespace_fails_with_target_full(base, tmp_path):
    """The table a synth restore grows most lives on a small tmpfs (a tablespace)."""
    site = base.site
    table = "mdl_forum_posts"
    with psycopg.connect(site.into, autocommit=True) as connection:
        data, = connection.execute("SHOW data_directory").fetchone()
        if not os.path.isdir(data):
            pytest.fail(f"the PostgreSQL server's data directory {data} is not on this machine: "
                        "the full-tablespace test needs a local server", pytrace=False)
        owner = os.stat(data)
        # the killed restores before this test left dead rows: compact the table first,
        # or its move frees room enough on the small disk for the whole restore
        connection.execute(sql.SQL("VACUUM FULL {}").format(sql.Identifier(table)))
        size, = connection.execute("SELECT pg_table_size(%s)", (table,)).fetchone()
        name = f"mbx_small_{uuid.uuid4().hex[:8]}"
        # the server's user must reach it: not under pytest's root-only folders
        reachable = Path(tempfile.mkdtemp(prefix="mbx-tablespace-"))
        reachable.chmod(0o755)
        request_cleanup = contextlib.ExitStack()
        request_cleanup.callback(shutil.rmtree, reachable, True)
        with request_cleanup, small_disk(reachable / "disk", size + (256 << 10)) as disk:
            os.chown(disk, owner.st_uid, owner.st_gid)
            os.chmod(disk, 0o700)
            connection.execute(sql.SQL("CREATE TABLESPACE {} LOCATION {}").format(
                sql.Identifier(name), sql.Literal(str(disk))))
            try:
                connection.execute(sql.SQL("ALTER TABLE {} SET TABLESPACE {}").format(
                    sql.Identifier(table), sql.Identifier(name)))
                before = site.dump()
                with pytest.raises(MbxError) as raised:
                    site.restore(base.archive)
                _fails_cleanly(raised.value, "target-full")
                assert differences(before, site.dump()) == []
                assert pool_problems(site.pool) == [] and incoming(site.pool) == []
            finally:
                connection.execute(sql.SQL("ALTER TABLE {} SET TABLESPACE pg_default").format(
                    sql.Identifier(table)))
                connection.execute(sql.SQL("DROP TABLESPACE {}").format(sql.Identifier(name)))
    assert site.restore(base.archive).course_id


# -- cancel and errors --------------------------------------------------------------------

@pytest.mark.parametrize("when", ["restoring", "finishing"])
def test_a_cancel_rolls_back(base, when):
    """Cancelled half-way through the stream pass, or in the final task (the cancel
    takes effect when ``committing`` starts)."""
    site = base.site
    token = CancelToken()
    seen = []

    def listener(snapshot):
        seen.append(snapshot.phase)
        if snapshot.phase == when and snapshot.done_members >= (base.members // 2 if
                                                                when == "restoring" else 0):
            token.cancel()

    before = site.dump()
    with pytest.raises(Cancelled):
        site.restore(base.archive, progress=Monitor(listener, cancel=token, interval=0))
    assert "committing" not in seen[:-1]
    assert differences(before, site.dump()) == []
    assert pool_problems(site.pool) == [] and incoming(site.pool) == []


def variant(source: Path, target: Path, change=None, extra: dict[str, bytes] | None = None) -> Path:
    """A copy of the tar.gz ``source`` with members' bytes changed by ``change(name,
    data)`` and ``extra`` members appended at the end."""
    with tarfile.open(source) as given, tarfile.open(target, "w:gz", compresslevel=1) as out:
        for member in given.getmembers():
            if not member.isfile():
                out.addfile(member)
                continue
            data = given.extractfile(member).read()
            if change is not None:
                data = change(member.name, data)
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
        for name, data in (extra or {}).items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    return target


def _last_forum(archive: Path) -> str:
    with tarfile.open(archive) as given:
        return [name for name in given.getnames()
                if name.startswith("activities/forum_") and name.endswith("/forum.xml")][-1]


def test_errors_found_mid_restore_roll_back(base, tmp_path):
    """Each of these is found in the stream pass, after the rows of the root, course,
    sections and earlier activities were written."""
    site = base.site
    forum = _last_forum(base.archive)
    some_blob = next(iter(base.blobs))
    malformed = variant(base.archive, tmp_path / "malformed.mbz",
                        lambda name, data: data[:len(data) // 2] if name == forum else data)
    hostile = variant(base.archive, tmp_path / "hostile.mbz", lambda name, data: data.replace(
        b"?>", b'?>\n<!DOCTYPE activity [<!ENTITY boom "boom">]>', 1) if name == forum else data)
    wrong_blob = variant(base.archive, tmp_path / "wrong-blob.mbz", lambda name, data: (
        b"x" + data[1:] if name.endswith(some_blob) else data))
    for archive, options, kind in ((malformed, {}, XmlSyntaxError), (hostile, {}, XmlForbiddenError),
                                   (wrong_blob, {"strict": True}, "restore-bad-blob")):
        _forget_blob(site.pool, some_blob)
        before = site.dump()
        progress = Counting()
        with pytest.raises(MbxError) as raised:
            site.restore(archive, progress=progress, **options)
        if isinstance(kind, str):
            assert raised.value.code == kind, raised.value
        else:
            assert isinstance(raised.value, kind), raised.value
        assert progress.members > 1, "the error came after the stream pass had begun"
        assert differences(before, site.dump()) == [], f"{archive.name} changed the database"
        assert pool_problems(site.pool) == [] and incoming(site.pool) == []
    assert not (site.pool / some_blob[:2] / some_blob[2:4] / some_blob).exists(), \
        "the blob that does not hash to its name was not stored"
    site.restore(base.archive)


def test_a_traversal_member_after_moodle_backup_xml_writes_nothing(base, tmp_path):
    """Refused by the archive layer in the survey, before the database is opened."""
    site = base.site
    hostile = variant(base.archive, tmp_path / "climbs.mbz",
                      extra={"../evil.txt": b"evil", "files/../../evil.txt": b"evil"})
    with tarfile.open(hostile) as given:
        names = given.getnames()
    assert names.index("../evil.txt") > names.index("moodle_backup.xml")
    before = site.dump()
    pool_before = sorted(str(path) for path in site.pool.rglob("*"))
    with pytest.raises(MbxError) as raised:
        site.restore(hostile)
    assert raised.value.code == "archive-parent-reference"
    assert differences(before, site.dump()) == []
    assert sorted(str(path) for path in site.pool.rglob("*")) == pool_before
    assert not list(tmp_path.parent.rglob("evil.txt")) and not (site.pool.parent / "evil.txt").exists()


def test_the_pool_clears_what_dead_restores_left_and_nothing_of_live_ones(tmp_path):
    """Folders whose lock is free go; a live restore's folder, and a lock being named
    right now, stay."""
    from mbx.restore.pool import UNNAMED_LOCK_AGE, FilePool

    live = FilePool(str(tmp_path))
    spool = tmp_path / ".incoming"
    dead = spool / ("0" * 32)
    dead.mkdir()
    (dead / "blob-partial").write_bytes(b"half")
    (spool / ("0" * 32 + ".lock")).touch()
    old_unnamed = spool / ".1111.new"
    young_unnamed = spool / ".2222.new"
    old_unnamed.touch()
    young_unnamed.touch()
    os.utime(old_unnamed, (time.time() - UNNAMED_LOCK_AGE - 5,) * 2)
    other = FilePool(str(tmp_path))
    try:
        left = sorted(os.listdir(spool))
        assert left == sorted([".2222.new", os.path.basename(live.incoming),
                               os.path.basename(live.incoming) + ".lock",
                               os.path.basename(other.incoming),
                               os.path.basename(other.incoming) + ".lock"])
        assert other.add(hashlib.sha1(b"data").hexdigest(), io.BytesIO(b"data"))
    finally:
        other.close()
        live.close()
    assert sorted(os.listdir(spool)) == [".2222.new"]
    assert pool_problems(tmp_path) == []
