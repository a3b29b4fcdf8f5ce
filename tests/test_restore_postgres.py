"""Every moodle2 corpus backup restored into one real PostgreSQL database, one after another.

The same checks as the SQLite restore (``test_restore.check_restored``): counts
read with lxml, Moodle's foreign keys, no leaked old ids. Each item starts above
its own floor (the sequences are raised before it), so the courses already in
the database are the "target that already holds courses" of the issue.
"""

from __future__ import annotations

import pytest

import mbx.errors
import mbx.restore
from conftest import FIXTURES
from postgres import fresh_database
from test_restore import FLOOR, MOODLE2_ITEMS, SAMPLE, Db, check_restored, ids_before, raise_sequences


@pytest.fixture(scope="module")
def database(postgres_server, tmp_path_factory):
    with fresh_database(postgres_server) as url:
        pool = tmp_path_factory.mktemp("pgpool")
        mbx.restore.restore(SAMPLE, url, files=str(pool))
        yield url, pool


@pytest.mark.parametrize("number, item", list(enumerate(MOODLE2_ITEMS, 1)))
def test_restore_into_postgresql(database, number, item):
    url, pool = database
    floor = number * FLOOR
    raise_sequences(url, floor)
    db = Db(url)
    try:
        before = ids_before(db)
        report = mbx.restore.restore(FIXTURES / item, url, files=str(pool))
        assert report.course_id > floor
        check_restored(db, item, report, before, floor)
    finally:
        db.close()


def test_a_failed_restore_leaves_postgresql_as_it_was(postgres_url, tmp_path):
    """A backup refused halfway (its files.xml is not XML) writes nothing."""
    import shutil

    folder = tmp_path / "course"
    shutil.copytree(SAMPLE, folder)
    (folder / "files.xml").write_text("<files><file id='1'>")
    mbx.restore.restore(SAMPLE, postgres_url, files=str(tmp_path / "pool"))
    db = Db(postgres_url)
    counts = {table: db.rows(f'SELECT COUNT(*) FROM "{table}"')[0][0] for table in sorted(db.tables)}
    with pytest.raises(mbx.errors.MbxError):
        mbx.restore.restore(folder, postgres_url, files=str(tmp_path / "pool"))
    assert {table: db.rows(f'SELECT COUNT(*) FROM "{table}"')[0][0] for table in sorted(db.tables)} == counts
    db.close()
