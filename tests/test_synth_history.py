"""``mbx.synth.synthesize_history``: weekly versions of one course, each the one before
plus a week's activity. Everything is read back with tarfile and lxml."""

from __future__ import annotations

import re
import tarfile

import pytest
from lxml import etree

from mbx.inspect import summarize
from mbx.synth import synthesize_history
from mbx.verification import verify

VERSIONS = 6
ARGS = {"versions": VERSIONS, "size": "4M", "seed": 3}
#: members that may change from a week to the next: what the week's activity touches
#: (an activity's own document, grades, completion, references), and the course-level
#: documents that list or date everything
CHANGING = re.compile(r"(\.ARCHIVE_INDEX|moodle_backup\.(xml|log)|course/course\.xml|"
                      r"users\.xml|files\.xml|gradebook\.xml|questions\.xml|"
                      r"sections/section_\d+/section\.xml|"
                      r"activities/(forum|assign|quiz|page)_\d+/(forum|assign|quiz|page)\.xml|"
                      r"activities/\w+_\d+/(grades|inforef|completion)\.xml)")


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    folder = tmp_path_factory.mktemp("history")
    result = synthesize_history(folder, **ARGS)
    return folder, result


def paths(folder):
    return [folder / f"week-{number:02d}.mbz" for number in range(1, VERSIONS + 1)]


def members(path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


def test_same_arguments_same_bytes(history, tmp_path):
    folder, _ = history
    synthesize_history(tmp_path, **ARGS)
    for path in paths(folder):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


def test_every_version_is_sound(history):
    folder, _ = history
    for path in paths(folder):
        report = verify(path)
        assert not report.errors, (path.name, report.errors[:3])


def test_dates_advance_a_week(history):
    folder, _ = history
    dates = [int(etree.fromstring(members(path)["moodle_backup.xml"])
                 .findtext("information/backup_date")) for path in paths(folder)]
    assert [later - earlier for earlier, later in zip(dates, dates[1:])] == \
        [7 * 86400] * (VERSIONS - 1)


def test_a_version_keeps_every_activity_user_and_section(history):
    folder, _ = history
    before = None
    for path in paths(folder):
        data = members(path)
        info = etree.fromstring(data["moodle_backup.xml"])
        now = ({a.findtext("moduleid"): a.findtext("directory") for a in info.iterfind("information/contents/activities/activity")},
               {s.findtext("sectionid")
                for s in info.iterfind("information/contents/sections/section")},
               {u.get("id") for u in etree.fromstring(data["users.xml"]).iter("user")})
        if before is not None:
            assert before[0].items() <= now[0].items(), path.name
            assert before[1] == now[1] and before[2] == now[2], path.name
        before = now
    first = etree.fromstring(members(paths(folder)[0])["moodle_backup.xml"])
    assert len(now[0]) > len(first.findall("information/contents/activities/activity"))


def test_most_members_unchanged_and_the_others_expected(history):
    folder, _ = history
    previous = members(paths(folder)[0])
    for path in paths(folder)[1:]:
        current = members(path)
        kept = [name for name in previous if current.get(name) == previous[name]]
        changed = [name for name in previous if name in current and current[name] != previous[name]]
        gone = [name for name in previous if name not in current]
        assert len(kept) / len(previous) >= 0.85, (path.name, len(kept), len(previous))
        assert all(CHANGING.fullmatch(name) for name in changed), \
            [name for name in changed if not CHANGING.fullmatch(name)]
        # only blobs go: the files a teacher removed, absent from files.xml too
        listed = {f.findtext("contenthash")
                  for f in etree.fromstring(current["files.xml"]).iter("file")}
        assert all(name.startswith("files/") and name.rsplit("/", 1)[1] not in listed
                   for name in gone), gone
        previous = current


def posts(data: dict[str, bytes]) -> dict[str, bytes]:
    """Post id -> the post element's bytes without its ratings (a post is rated after
    it is written, sometimes in a later week), over every forum."""
    found = {}
    for name, content in data.items():
        if name.endswith("/forum.xml"):
            for post in etree.fromstring(content).iter("post"):
                for ratings in post.findall("ratings"):
                    post.remove(ratings)
                post.tail = None  # the indent of what follows: a reply may come after
                found[post.get("id")] = etree.tostring(post)
    return found


def test_new_posts_appear_and_old_ones_stay_the_same(history):
    folder, _ = history
    before = posts(members(paths(folder)[0]))
    for path in paths(folder)[1:]:
        now = posts(members(path))
        assert len(now) > len(before), path.name
        assert all(now.get(post_id) == content for post_id, content in before.items())
        before = now


def count(data: dict[str, bytes], suffix: str, tag: str) -> int:
    return sum(len(list(etree.fromstring(content).iter(tag)))
               for name, content in data.items() if name.endswith(suffix))


def test_submissions_attempts_files_and_edits_grow(history):
    folder, _ = history
    rows = []
    for path in paths(folder):
        data = members(path)
        revisions = [int(etree.fromstring(content).findtext("page/revision"))
                     for name, content in data.items() if name.endswith("/page.xml")]
        rows.append((count(data, "/assign.xml", "submission"), count(data, "/quiz.xml", "attempt"),
                     sum(name.startswith("files/") for name in data), sum(revisions) - len(revisions)))
    for column in range(4):
        values = [row[column] for row in rows]
        assert values[-1] > values[0], (column, values)
    submissions, attempts, _, edits = zip(*rows)
    assert list(submissions) == sorted(submissions) and list(attempts) == sorted(attempts)
    assert list(edits) == list(range(VERSIONS))  # one page edit a week


def test_ls_shows_growing_counts(history):
    folder, result = history
    summaries = [summarize(path) for path in paths(folder)]
    activities = [summary["counts"]["activities"] for summary in summaries]
    xml = [summary["sizes"]["xml"] for summary in summaries]
    assert activities == sorted(activities) and activities[-1] > activities[0]
    assert xml == sorted(xml) and xml[-1] > xml[0]
    assert [version["posts"] for version in result["versions"]] == \
        [len(posts(members(path))) for path in paths(folder)]


def test_the_last_version_is_about_the_size(history):
    """Within 10 %: the files removed during the term were sized in its budget."""
    folder, _ = history
    size = paths(folder)[-1].stat().st_size
    assert abs(size - 4 * (1 << 20)) <= 0.10 * 4 * (1 << 20)


def test_refusals(tmp_path):
    with pytest.raises(ValueError, match="versions"):
        synthesize_history(tmp_path / "none", versions=0, size="4M")
    with pytest.raises(ValueError, match="size"):
        synthesize_history(tmp_path / "tiny", versions=2, size="1K")
    assert not (tmp_path / "none").exists() and not (tmp_path / "tiny").exists()


def test_the_command_writes_the_versions_and_refuses_what_it_cannot(tmp_path):
    import os
    import subprocess
    import sys

    def run(*arguments):
        return subprocess.run([sys.executable, "-m", "mbx", "-q", "synth", *arguments],
                              capture_output=True, text=True, env={**os.environ})
    done = run(str(tmp_path / "term"), "--versions", "2", "--size", "2M", "--seed", "3")
    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in (tmp_path / "term").iterdir()) == \
        ["week-01.mbz", "week-02.mbz"]
    for arguments, message in ((["--versions", "0"], "at least 1"),
                               (["--versions", "2", "--no-files"], "with users and files")):
        done = run(str(tmp_path / "refused"), "--size", "2M", *arguments)
        assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not (tmp_path / "refused").exists()
