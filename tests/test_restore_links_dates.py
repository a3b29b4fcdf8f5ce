"""Interlinks decoded into the chosen site, and dates rolled to a new start date.

Expected values are read with lxml from the backup: the links' old course module
ids and the activities they name (``moodle_backup.xml``), the dates as the XML
holds them."""

from __future__ import annotations

import re
import sqlite3
import tarfile

import pytest
from lxml import etree

import corpus
import mbx.restore
from conftest import FIXTURES

LINKED = "IET-OU__moodle-backup-parser/backup-moodle2"
SYNTH = FIXTURES.parent / "moodle-restored" / "synth-2M-seed1.mbz"
TOKEN = re.compile(r"\$@(URL|FOLDER|PAGE)VIEWBYID\*(\d+)@\$")
WEEK = 7 * 24 * 3600


def test_links_are_decoded_into_the_new_site(tmp_path):
    members = dict(corpus.xml_members(LINKED))
    tokens = {(kind, int(cmid)) for data in members.values()
              for kind, cmid in TOKEN.findall(data.decode("utf-8"))}
    assert tokens
    titles = {int(a.findtext("moduleid")): (a.findtext("modulename"), a.findtext("title"))
              for a in etree.fromstring(members["moodle_backup.xml"]).iter("activity")
              if a.findtext("moduleid")}
    report = mbx.restore.restore(FIXTURES / LINKED, f"sqlite:{tmp_path / 't.db'}",
                                 files=str(tmp_path / "pool"), wwwroot="https://new.example/moodle")
    database = sqlite3.connect(tmp_path / "t.db")
    texts = _texts(database)
    assert not TOKEN.search(texts), "a link whose activity was restored is still a token"
    for kind, old in tokens:
        module, title = titles[old]
        new, = database.execute(
            f"SELECT cm.id FROM mdl_course_modules cm JOIN mdl_{module} i ON i.id = cm.instance "
            f"JOIN mdl_modules m ON m.id = cm.module AND m.name = ? WHERE i.name = ? AND cm.course = ?",
            (module, title, report.course_id)).fetchone()
        assert f"https://new.example/moodle/mod/{kind.lower()}/view.php?id={new}" in texts


def _texts(database) -> str:
    return " ".join(value for table in ("page", "url", "folder", "course_sections", "course", "label")
                    for row in database.execute(f"SELECT * FROM mdl_{table} ORDER BY id")
                    for value in row if isinstance(value, str))


def test_links_are_decoded_page_by_page(tmp_path, monkeypatch):
    """The final pass reads what it wrote back a page at a time: pages of one row
    decode every link as one page of all rows does."""
    import mbx.restore.final as final

    texts = []
    for page in (final.PAGE, 1):
        monkeypatch.setattr(final, "PAGE", page)
        mbx.restore.restore(FIXTURES / LINKED, f"sqlite:{tmp_path / f'{page}.db'}",
                            files=str(tmp_path / "pool"), wwwroot="https://new.example/moodle")
        database = sqlite3.connect(tmp_path / f"{page}.db")
        texts.append(_texts(database))
        database.close()
    assert "https://new.example/moodle/mod/" in texts[0]
    assert texts[1] == texts[0]


def _xml(name: str):
    with tarfile.open(SYNTH, "r:gz") as tar:
        return etree.fromstring(tar.extractfile(name).read())


@pytest.mark.parametrize("module, rolled, kept", [
    ("quiz", ("timeopen", "timeclose"), ("timemodified",)),
    ("assign", ("duedate", "allowsubmissionsfromdate", "gradingduedate", "cutoffdate"), ("timemodified",)),
])
def test_dates_roll_by_the_new_start_date(tmp_path, module, rolled, kept):
    info = _xml("moodle_backup.xml").find("information")
    start = int(info.findtext("original_course_startdate"))
    report = mbx.restore.restore(SYNTH, f"sqlite:{tmp_path / 't.db'}", files=str(tmp_path / "pool"),
                                 start_date=start + WEEK)
    database = sqlite3.connect(tmp_path / "t.db")
    assert database.execute("SELECT startdate FROM mdl_course WHERE id = ?",
                            (report.course_id,)).fetchone() == (start + WEEK,)
    activities = [a for a in info.iter("activity") if a.findtext("modulename") == module]
    assert activities
    checked = 0
    for activity in activities:
        document = _xml(f"{activity.findtext('directory')}/{module}.xml").find(module)
        row = database.execute(f"SELECT {', '.join(rolled + kept)} FROM mdl_{module} WHERE name = ?",
                               (document.findtext("name"),)).fetchone()
        for column, value in zip(rolled + kept, row):
            original = int(document.findtext(column) or 0)
            if column in rolled and original:
                assert value == original + WEEK, column
                checked += 1
            else:
                assert value == original, column
    assert checked
    # logs and posts are never rolled
    post = _xml(f"{next(a for a in info.iter('activity') if a.findtext('modulename') == 'forum').findtext('directory')}/forum.xml")
    first = post.find(".//post")
    assert database.execute("SELECT created FROM mdl_forum_posts WHERE subject = ? ORDER BY id LIMIT 1",
                            (first.findtext("subject"),)).fetchone() == (int(first.findtext("created")),)
