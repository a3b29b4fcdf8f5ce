"""Restore of every moodle2 backup of the corpus, checked against independent readings.

Expected values come from lxml over the members as the standard library's
tarfile/zipfile read them (``corpus.xml_members``) and from Moodle's schema
facts (``install.xml`` foreign keys), never from the engine's declarations.

Every target is first given ids far above any backup's (``FLOOR``), so that a
value below the floor in a restored row can only be a row the target held
before: an old id that leaked through unmapped is caught even when the row
it names happens to exist.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest
from lxml import etree

import corpus
import mbx.restore
from conftest import FIXTURES
from mbx.errors import FormatError
from mbx.moodle2 import schema

FLOOR = 1_000_000
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "demo-course"
#: The modules of a standard Moodle 4.5 site.
STANDARD_MODULES = frozenset("assign bigbluebuttonbn book chat choice data feedback folder forum "
                             "glossary h5pactivity imscp label lesson lti page quiz resource scorm "
                             "subsection survey url wiki workshop".split())
MOODLE2_ITEMS = [item for item in corpus.items() if "moodle1" not in item]
#: Moodle's declared keys that point at rows a restore does not write, or whose value
#: is not an id at all: (table, column) -> reason.
UNCHECKED_KEYS = {
    ("files", "referencefileid"): "aliases are not restored: always NULL",
    ("course", "originalcourseid"): "only set on the same site: NULL here",
}


# -- independent readings ---------------------------------------------------------------

@lru_cache(maxsize=None)
def members(item: str) -> dict[str, bytes]:
    return dict(corpus.xml_members(item))


def parse(item: str, name: str):
    data = members(item).get(name)
    return None if data is None else etree.fromstring(data, etree.XMLParser(resolve_entities=False))


def included_activities(item: str) -> list[tuple[str, str, str]]:
    """(directory, module name, old cmid) of every activity the backup lists as included."""
    root = parse(item, "moodle_backup.xml")
    settings = {s.findtext("name"): s.findtext("value") for s in root.iter("setting")}
    found = []
    for activity in root.iter("activity"):
        directory = activity.findtext("directory")
        if directory is None or activity.getparent().tag != "activities":
            continue
        name, cmid = activity.findtext("modulename"), activity.findtext("moduleid")
        if settings.get(f"{name}_{cmid}_included", "1") == "1":
            found.append((directory, name, cmid))
    return found


def users_on(item: str) -> bool:
    root = parse(item, "moodle_backup.xml")
    return any(s.findtext("name") == "users" and s.findtext("value") == "1"
               and s.findtext("level") in (None, "root") for s in root.iter("setting"))


def expected_counts(item: str, usernames: frozenset = frozenset({"admin", "guest"})) -> dict[str, int]:
    """Rows that must exist for the parts mbx declares, counted in the XML; ``usernames``
    are those the target already has (their backup users are mapped, not created)."""
    counts: Counter = Counter()
    activities = included_activities(item)
    with_module_xml = [(d, name) for d, name, _ in activities if f"{d}/module.xml" in members(item)
                       and f"{d}/{name}.xml" in members(item)]
    counts["course_modules"] = len(with_module_xml)
    for directory, name in with_module_xml:
        if name in ("forum", "page", "label", "url", "resource", "folder", "book"):
            counts[name] += 1
            document = parse(item, f"{directory}/{name}.xml")
            if name == "book":
                counts["book_chapters"] += len(document.findall("book/chapters/chapter"))
            if name == "forum" and users_on(item):
                counts["forum_discussions"] += len(document.findall("forum/discussions/discussion"))
                counts["forum_posts"] += len(document.findall("forum/discussions/discussion/posts/post"))
    numbers = {int(parse(item, name).findtext("number")) for name in members(item)
               if name.startswith("sections/") and name.endswith("/section.xml")}
    if numbers:
        counts["course_sections"] = max(numbers) + 1
    if users_on(item) and "users.xml" in members(item):
        referenced = set()
        # an activity of a module the site lacks has no task in Moodle: its references don't count
        folders = ["course/"] + [f"{d}/" for d, name, _ in activities if name in STANDARD_MODULES] + sorted(
            {name.rsplit("/", 1)[0] + "/" for name in members(item) if name.startswith("sections/")})
        for folder in folders:
            inforef = parse(item, folder + "inforef.xml")
            if inforef is not None:
                referenced |= {node.text for node in inforef.findall("userref/user/id")}
        users = parse(item, "users.xml")
        counts["user"] = sum(1 for user in users.findall("user")
                             if user.get("id") in referenced
                             and user.findtext("username") not in usernames)
    return {table: count for table, count in counts.items() if count}


# -- targets --------------------------------------------------------------------------

def fresh_sqlite(path) -> str:
    """A target holding the seeded site and the sample course, with every id sequence
    raised to FLOOR."""
    url = f"sqlite:{path}"
    mbx.restore.restore(SAMPLE, url, files=str(path) + ".files")
    raise_sequences(url, FLOOR)
    return url


def raise_sequences(url: str, floor: int) -> None:
    """Every table's next id above ``floor``."""
    if url.startswith("postgresql://"):
        import psycopg
        with psycopg.connect(url, autocommit=True) as connection:
            for table in schema.tables():
                connection.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)",
                                   (f"mdl_{table}", floor))
        return
    database = sqlite3.connect(url[len("sqlite:"):])
    with database:
        for table in schema.tables():
            database.execute("DELETE FROM sqlite_sequence WHERE name = ?", (f"mdl_{table}",))
            database.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)",
                             (f"mdl_{table}", floor))
    database.close()


class Db:
    """The few queries the checks need, on SQLite (a path) or PostgreSQL (a URL)."""

    def __init__(self, where) -> None:
        if str(where).startswith("postgresql://"):
            import psycopg
            self.connection = psycopg.connect(str(where), autocommit=True)
            self.mark = "%s"
            tables = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        else:
            self.connection = sqlite3.connect(where)
            self.mark = "?"
            tables = "SELECT name FROM sqlite_master WHERE type = 'table'"
        self.tables = {name for name, in self.rows(tables)}

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self.connection.execute(sql.replace("?", self.mark), params).fetchall()

    def keys(self):
        """(table, column, referenced table) of every Moodle foreign key both ends of which exist."""
        for table in schema.tables().values():
            for column, referenced, ref_column in table.foreign_keys:
                if (ref_column == "id" and (table.name, column) not in UNCHECKED_KEYS
                        and {f"mdl_{table.name}", f"mdl_{referenced}"} <= self.tables):
                    yield table.name, column, referenced

    def close(self) -> None:
        self.connection.close()


def table_ids(db: Db, table: str) -> set[int]:
    return {row[0] for row in db.rows(f'SELECT id FROM "mdl_{table}"')}


def key_problems(db: Db, floor: int = FLOOR) -> list[str]:
    """Every Moodle foreign key of every restored row (id above ``floor``) names a row
    that exists: one query per key."""
    problems = []
    for table, column, referenced in db.keys():
        bad = db.rows(f'SELECT t.id, t."{column}" FROM "mdl_{table}" t WHERE t.id > ? '
                      f'AND t."{column}" IS NOT NULL AND t."{column}" <> 0 '
                      f'AND NOT EXISTS (SELECT 1 FROM "mdl_{referenced}" r WHERE r.id = t."{column}")',
                      (floor,))
        if bad:
            problems.append(f"{table}.{column} -> {referenced}: {len(bad)} unresolved, e.g. {bad[:3]}")
    return problems


def leaked_ids(db: Db, before: dict[str, set[int]], floor: int = FLOOR) -> list[str]:
    """References in restored rows to rows below the floor that the target did not hold."""
    leaks = []
    for table, column, referenced in db.keys():
        rows = db.rows(f'SELECT "{column}" FROM "mdl_{table}" WHERE id > ? AND "{column}" IS NOT NULL '
                       f'AND "{column}" <> 0 AND "{column}" < ?', (floor, floor))
        old = [value for value, in rows if value not in before.get(referenced, set())]
        if old:
            leaks.append(f"{table}.{column}: old ids {sorted(set(old))[:5]}")
    return leaks


def ids_before(db: Db) -> dict:
    """The ids of every table the target holds, and (``usernames``) its users' names."""
    before: dict = {table: table_ids(db, table) for table in schema.tables() if f"mdl_{table}" in db.tables}
    before["usernames"] = frozenset(name for name, in db.rows('SELECT username FROM "mdl_user"'))
    return before


def check_restored(db: Db, item: str, report, before, floor: int = FLOOR) -> None:
    """The checks every restored item passes, whatever the target; its rows have ids
    above ``floor`` and below any later restore's."""
    ceiling = floor + FLOOR
    expected = expected_counts(item, before["usernames"])
    counts = {table: db.rows(f'SELECT COUNT(*) FROM "mdl_{table}" WHERE id > ? AND id <= ?',
                             (floor, ceiling))[0][0]
              for table in expected}
    assert counts == expected
    assert {table: n for table, n in report.rows.items() if table in counts} == counts
    assert key_problems(db, floor) == []
    assert leaked_ids(db, before, floor) == []
    assert db.rows("SELECT id, category FROM mdl_course WHERE id = ?", (report.course_id,)) == [
        (report.course_id, 1)]
    path_of_course = db.rows("SELECT path FROM mdl_context WHERE contextlevel = 50 AND instanceid = ?",
                             (report.course_id,))[0][0]
    assert path_of_course == f"/1/3/{report.course_context_id}"


@pytest.fixture(scope="module")
def restored(tmp_path_factory):
    """Each corpus item restored once into its own prepared SQLite target."""
    cache = {}

    def get(item: str):
        if item not in cache:
            folder = tmp_path_factory.mktemp("restore")
            url = fresh_sqlite(folder / "t.db")
            db = Db(folder / "t.db")
            before = ids_before(db)
            db.close()
            report = mbx.restore.restore(FIXTURES / item, url, files=str(folder / "pool"))
            cache[item] = (folder / "t.db", report, before)
        return cache[item]
    return get


# -- the tests ----------------------------------------------------------------------

@pytest.mark.parametrize("item", MOODLE2_ITEMS)
def test_restore_counts_keys_and_no_leaked_ids(restored, item):
    path, report, before = restored(item)
    db = Db(path)
    try:
        check_restored(db, item, report, before)
    finally:
        db.close()


@pytest.mark.parametrize("item", MOODLE2_ITEMS)
def test_what_is_kept_raw_is_byte_for_byte(restored, item):
    path, report, _ = restored(item)
    database = sqlite3.connect(path)
    try:
        for kept in report.kept_raw:
            parts = database.execute("SELECT data FROM mdl_mbx_raw_members WHERE member = ? AND "
                                     "courseid = ? ORDER BY part", (kept.member, report.course_id)).fetchall()
            assert b"".join(bytes(part) for part, in parts) == members(item)[kept.member], kept.member
            assert kept.bytes == len(members(item)[kept.member])
    finally:
        database.close()


@pytest.mark.parametrize("item", ["moodle__moodle/question_attempts_missing_users.mbz",
                                  "LINCS__course-teal-formative-assessment/course-teal-formative-assessment",
                                  "IET-OU__moodle-backup-parser/backup-moodle2"])
def test_restoring_twice_gives_two_courses_sharing_no_id(tmp_path, item):
    url = f"sqlite:{tmp_path / 't.db'}"
    first = mbx.restore.restore(FIXTURES / item, url, files=str(tmp_path / "pool"))
    second = mbx.restore.restore(FIXTURES / item, url, files=str(tmp_path / "pool"))
    assert first.course_id != second.course_id
    # the second time, the users the first created are in the target: mapped, not created again
    assert all(decision.action == "map" for decision in second.users)
    created = {decision.old_id for decision in first.users if decision.action == "create"}
    user_tables = ("user", "user_preferences", "user_info_data", "modules", "scale", "tag")
    assert second.rows.get("context", 0) == first.rows.get("context", 0) - len(created)
    assert ({t: n for t, n in first.rows.items() if t not in user_tables + ("context",)}
            == {t: n for t, n in second.rows.items() if t not in user_tables + ("context",)})
    database = sqlite3.connect(tmp_path / "t.db")
    try:
        contexts = [set(row[0] for row in database.execute(
            "SELECT id FROM mdl_context WHERE path LIKE ?", (f"/1/3/{report.course_context_id}%",)))
            for report in (first, second)]
        assert contexts[0] and contexts[1] and not contexts[0] & contexts[1]
        names = database.execute("SELECT fullname, shortname FROM mdl_course WHERE id IN (?, ?) ORDER BY id",
                                 (first.course_id, second.course_id)).fetchall()
        assert names[1] == (names[0][0] + " copy 1", names[0][1] + "_1")
        db = Db(tmp_path / "t.db")
        assert key_problems(db, floor=0) == []
        db.close()
        for table, count in second.rows.items():
            if table in ("tag", "modules"):
                continue  # shared by both courses: written once
            rows, = database.execute(f'SELECT COUNT(*) FROM "mdl_{table}"').fetchone()
            assert rows >= 2 * count, table
    finally:
        database.close()


def test_a_moodle_19_backup_is_refused_saying_why(tmp_path):
    with pytest.raises(FormatError) as caught:
        mbx.restore.restore(FIXTURES / "moodle__moodle/moodle1-converter-fixtures",
                            f"sqlite:{tmp_path / 't.db'}")
    assert caught.value.code == "format-unsupported"
    assert "1.9" in str(caught.value)
    assert not (tmp_path / "t.db").exists()


WITH_FILES = "LINCS__course-build-lesson-oer/course-build-lesson-oer"


def test_the_same_blob_is_not_written_twice(tmp_path):
    item = WITH_FILES
    first = mbx.restore.restore(FIXTURES / item, f"sqlite:{tmp_path / 'a.db'}", files=str(tmp_path / "pool"))
    second = mbx.restore.restore(FIXTURES / item, f"sqlite:{tmp_path / 'b.db'}", files=str(tmp_path / "pool"))
    assert first.files_written > 0 and first.files_reused == 0
    assert second.files_written == 0 and second.files_reused == first.files_written


def test_pathnamehash_is_moodles(tmp_path):
    import hashlib

    item = WITH_FILES
    mbx.restore.restore(FIXTURES / item, f"sqlite:{tmp_path / 't.db'}", files=str(tmp_path / "pool"))
    database = sqlite3.connect(tmp_path / "t.db")
    rows = database.execute("SELECT pathnamehash, contextid, component, filearea, itemid, filepath, "
                            "filename, contenthash FROM mdl_files").fetchall()
    assert rows
    for pathnamehash, context, component, area, itemid, filepath, filename, contenthash in rows:
        text = f"/{context}/{component}/{area}/{itemid}{filepath}{filename}"
        assert pathnamehash == hashlib.sha1(text.encode()).hexdigest()
        blob = tmp_path / "pool" / contenthash[:2] / contenthash[2:4] / contenthash
        assert hashlib.sha1(blob.read_bytes()).hexdigest() == contenthash


def test_a_new_target_has_every_index_of_moodles_schema(tmp_path):
    """The plain indexes wait until the rows are in; the commit still has them all, as
    ``moodle45_schema.json`` lists them (columns in order, unique or not)."""
    mbx.restore.restore(FIXTURES / WITH_FILES, f"sqlite:{tmp_path / 't.db'}", files=str(tmp_path / "pool"))
    database = sqlite3.connect(tmp_path / "t.db")
    try:
        for table in schema.tables().values():
            found = set()
            for _, name, unique, *_ in database.execute(f'PRAGMA index_list("mdl_{table.name}")'):
                columns = tuple(row[2] for row in database.execute(f'PRAGMA index_info("{name}")'))
                found.add((columns, bool(unique)))
            for index in table.indexes:
                assert (tuple(index.columns), index.unique) in found, (table.name, index)
    finally:
        database.close()


def test_deferred_indexes_are_built_before_a_query_reads_their_table(tmp_path):
    from mbx.restore.targets.base import open_target

    target = open_target(f"sqlite:{tmp_path / 't.db'}")
    target.begin()
    target.ensure_schema(["forum_posts", "forum_discussions"], defer_indexes=True)

    def indexes(table: str) -> int:
        return len(target.query(f"PRAGMA index_list(\"mdl_{table}\")"))

    assert indexes("forum_posts") == 0 and indexes("forum_discussions") == 0
    target.index_tables_in('SELECT id FROM "mdl_forum_posts" WHERE userid = 3')
    posts = schema.table("forum_posts")  # its indexes, and one for each key column
    assert indexes("forum_posts") == len(posts.indexes) + len(posts.foreign_keys) == 6
    assert indexes("forum_discussions") == 0
    target.build_indexes()
    assert indexes("forum_discussions") > 0
    target.rollback()
    target.close()


def test_sqlite_inserts_in_multi_row_statements_keep_every_row(tmp_path):
    """Whole batches go in as one statement, the rest row by row: all arrive, in order,
    as a row-by-row ``executemany`` would write them."""
    from mbx.restore.targets.base import open_target
    from mbx.restore.targets.sqlite import MULTI_ROWS

    target = open_target(f"sqlite:{tmp_path / 't.db'}")
    target.begin()
    target.ensure_schema(["rating"])
    columns = ("id", "contextid", "component", "ratingarea", "itemid", "scaleid", "rating", "userid",
               "timecreated", "timemodified")
    rows = [(n, 5, "mod_forum", "post", n * 3, 0, n % 5, 2, 1700000000 + n, 1700000000 + 2 * n)
            for n in range(1, 2 * MULTI_ROWS + 235)]
    target.insert("rating", columns, rows[:MULTI_ROWS * 2 + 17])
    target.insert("rating", columns, rows[MULTI_ROWS * 2 + 17:])
    target.commit()
    target.close()
    database = sqlite3.connect(tmp_path / "t.db")
    try:
        stored = database.execute(f"SELECT {', '.join(columns)} FROM mdl_rating ORDER BY id").fetchall()
    finally:
        database.close()
    assert stored == rows
