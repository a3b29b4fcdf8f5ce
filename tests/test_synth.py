"""Synthetic courses: sound, sized, deterministic, and shaped like real Moodle backups.

Structural fidelity is checked against the real-backup corpus: every element path
the generator writes into a member must occur in the same kind of member (the same
module's ``forum.xml``, any ``module.xml`` of that module, any ``moodle_backup.xml``
...) of some real backup. A path the corpus never shows is a generator bug: drop
it from the generator, never from this test. The one exception is a short,
explicit list of paths the format reference documents but no corpus backup
happens to fill (``DOCUMENTED_PATHS``).

The other direction is checked against the newest backups only (4.4, 4.5 and
5.0): every path they hold for a module synth writes, or for a course-level
member, must be in synth's output, unless it is listed in ``DELIBERATE`` with
its reason. Then the defects real Moodle 4.5 showed on restore: submission
files without their ``submission_file`` record, images that do not decode,
pre-4.3 completion data, the missing course totals.
"""

from __future__ import annotations

import io
import re
import tarfile
import zipfile
from collections import defaultdict

import pytest
from lxml import etree

from mbx.inspect import summarize
from mbx.synth import synthesize
from mbx.verification import verify

ACTIVITIES = {"forum": 3, "page": 2, "label": 1, "url": 1, "resource": 2, "folder": 1,
              "assign": 2, "quiz": 2}
CASES = [  # (size, seed, format, users, sections)
    ("2M", 1, "tgz", 8, 4),
    ("2M", 2, "zip", 6, 3),
    ("8M", 1, "tgz", 12, 5),
    ("8M", 2, "tgz", 9, 6),
]
_ACTIVITY = re.compile(r"activities/([a-z0-9]+)_\d+/([^/]+\.xml)")
_SECTION = re.compile(r"sections/section_\d+/([^/]+\.xml)")
_COURSE = re.compile(r"course/([^/]+\.xml)")
# Forum ratings and subscriptions: in the forum table of the format reference
# (docs/moodle2-format.md §4.4, from Moodle's backup_forum_stepslib.php), but the
# corpus's forums have none, only the empty ratings and subscriptions wrappers.
_POST = "/activity/forum/discussions/discussion/posts/post"
_SUBMISSION = "/activity/assign/submissions/submission"
DOCUMENTED_PATHS = {
    ("activity", "forum", "forum.xml"): {
        f"{_POST}/ratings/rating",
        *(f"{_POST}/ratings/rating/{leaf}" for leaf in (
            "component", "ratingarea", "scaleid", "value", "userid", "timecreated",
            "timemodified")),
        "/activity/forum/subscriptions/subscription",
        "/activity/forum/subscriptions/subscription/userid",
        # 4.x columns of forum_discussions and forum_posts (docs/moodle-restore.md §8,
        # mod/forum/db/install.xml): the corpus's 4.x forums have no discussions
        "/activity/forum/discussions/discussion/timelocked",
        f"{_POST}/privatereplyto",
    },
    # the record through which Moodle restores a submission's files (moodle-restore.md
    # §5.2): the corpus's only assignments with submissions (4.0) have no files
    ("activity", "assign", "assign.xml"): {
        f"{_SUBMISSION}/subplugin_assignsubmission_file_submission/submission_file",
        *(f"{_SUBMISSION}/subplugin_assignsubmission_file_submission/submission_file/{leaf}"
          for leaf in ("numfiles", "submission")),
    },
    # completion views, 4.3+ (moodle-restore.md §4.10): the corpus's newest completion
    # data (4.1) has an empty completionviews list at most
    ("activity", "*", "completion.xml"): {
        "/completions/completionviews", "/completions/completionviews/completionview",
        "/completions/completionviews/completionview/userid",
        "/completions/completionviews/completionview/timecreated",
    },
    # 4.x columns of groups (moodle-restore.md §8, lib/db/install.xml): the corpus's 4.x
    # backups have no groups
    ("top", "groups.xml"): {"/groups/group/visibility", "/groups/group/participation"},
}


#: Activity files one common Moodle step writes for every module, whatever it is
#: (the activity grades, inforef and user completion steps): real backups of any module show their
#: shapes, so an assessed forum's grade item and its grade_itemref may look like an
#: assignment's although no forum in the corpus is assessed.
COMMON_ACTIVITY_FILES = ("grades.xml", "inforef.xml", "completion.xml")


def kind_of(name: str):
    """Which members are comparable: (activity, module, file), (section, file), ..."""
    name = name.removeprefix("./")
    if match := _ACTIVITY.fullmatch(name):
        module, file = match.groups()
        return ("activity", "*" if file in COMMON_ACTIVITY_FILES else module, file)
    if match := _SECTION.fullmatch(name):
        return ("section", match.group(1))
    if match := _COURSE.fullmatch(name):
        return ("course", match.group(1))
    if "/" not in name and name.endswith(".xml"):
        return ("top", name)
    return None


def element_paths(data: bytes) -> set[str]:
    paths, stack = set(), []
    for event, element in etree.iterparse(io.BytesIO(data), events=("start", "end"),
                                          recover=True, huge_tree=True):
        if event == "start":
            stack.append(element.tag)
            paths.add("/" + "/".join(stack))
        else:
            stack.pop()
            element.clear()
    return paths


def archive_xml(path) -> dict[str, bytes]:
    """Every XML member of a generated archive (they are small in these tests)."""
    out = {}
    if str(path).endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith(".xml"):
                    out[name] = archive.read(name)
        return out
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            if member.isfile() and member.name.endswith(".xml"):
                out[member.name] = archive.extractfile(member).read()
    return out


@pytest.fixture(scope="module")
def real_paths(corpus) -> dict[tuple, set[str]]:
    import corpus as corpus_module

    paths: dict[tuple, set[str]] = defaultdict(set)
    for item in corpus_module.items():
        try:
            for name, data in corpus_module.xml_members(item):
                kind = kind_of(name)
                if kind is not None:
                    paths[kind] |= element_paths(data)
        except (tarfile.TarError, zipfile.BadZipFile, AssertionError, EOFError, OSError):
            continue  # a damaged corpus item says nothing about shapes
    return paths


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[tuple, tuple]:
    folder = tmp_path_factory.mktemp("synth")
    out = {}
    for size, seed, format, users, sections in CASES:
        path = folder / f"course-{size}-{seed}.{'zip' if format == 'zip' else 'mbz'}"
        result = synthesize(path, size=size, seed=seed, users=users, sections=sections,
                            activities=ACTIVITIES, format=format)
        out[(size, seed, format)] = (path, result, users, sections)
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case[0]}-seed{case[1]}-{case[2]}")
def test_sound_and_as_requested(generated, case):
    path, result, users, sections = generated[case[:3]]
    report = verify(path)
    assert report.ok, [str(problem) for problem in report.problems]
    assert report.unknown_ref_kinds == []
    assert report.checked["blobs"] > 0 and report.checked["references"] > 0
    summary = summarize(path)
    assert len(summary["sections"]) == sections
    assert [s["number"] for s in summary["sections"]] == list(range(sections))
    assert summary["counts"]["users"] == users
    modules: dict[str, int] = defaultdict(int)
    for section in summary["sections"]:
        for activity in section["activities"]:
            modules[activity["modulename"]] += 1
    assert dict(modules) == ACTIVITIES
    assert summary["counts"]["activities"] == sum(ACTIVITIES.values())
    assert result["posts"] > 0 and result["submissions"] > 0 and result["files"] > 0
    assert result["ratings"] > 0 and result["quiz_attempts"] > 0
    assert summary["counts"]["questions"] == result["questions"] > 0


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case[0]}-seed{case[1]}-{case[2]}")
def test_size_within_five_percent(generated, case):
    path, result, _, _ = generated[case[:3]]
    target = {"2M": 2 << 20, "8M": 8 << 20}[case[0]]
    assert path.stat().st_size == result["size"]
    assert abs(result["size"] - target) / target < 0.05, result


def test_same_seed_same_bytes(generated, tmp_path):
    path, _, users, sections = generated[("2M", 1, "tgz")]
    again = tmp_path / "again.mbz"
    synthesize(again, size="2M", seed=1, users=users, sections=sections, activities=ACTIVITIES)
    assert again.read_bytes() == path.read_bytes()
    other, _, _, _ = generated[("2M", 2, "zip")]
    assert other.read_bytes() != path.read_bytes()


def test_without_users_or_files(tmp_path):
    no_users = tmp_path / "nu.mbz"
    result = synthesize(no_users, size="1M", seed=5, activities=ACTIVITIES, include_users=False)
    assert verify(no_users).ok
    assert result["posts"] == 0 and result["users"] == 0
    xml = archive_xml(no_users)
    assert "users.xml" not in xml
    assert b"<userref>" not in b"".join(data for name, data in xml.items()
                                        if name.endswith("inforef.xml"))
    no_files = tmp_path / "nf.mbz"
    result = synthesize(no_files, size="1M", seed=5, activities=ACTIVITIES, include_files=False)
    assert verify(no_files).ok
    assert result["files"] == 0
    assert abs(result["size"] - (1 << 20)) / (1 << 20) < 0.05
    with tarfile.open(no_files) as archive:
        assert not any(name.startswith("files/") for name in archive.getnames())


def test_paths_occur_in_real_backups(generated, real_paths):
    missing = defaultdict(set)
    checked = 0
    for path, _, _, _ in generated.values():
        for name, data in archive_xml(path).items():
            kind = kind_of(name)
            assert kind is not None, name
            assert kind in real_paths, f"no real backup has a member like {name}"
            unknown = element_paths(data) - real_paths[kind] - DOCUMENTED_PATHS.get(kind, set())
            checked += 1
            if unknown:
                missing[kind] |= unknown
    assert checked > 100
    assert not missing, dict(missing)


def test_inforef_and_ids_consistent(generated):
    path, _, _, _ = generated[("8M", 1, "tgz")]
    xml = archive_xml(path)
    trees = {name: etree.fromstring(data) for name, data in xml.items()}
    users = {u.get("id") for u in trees["users.xml"].iter("user")}
    files = {f.get("id"): f for f in trees["files.xml"].iter("file")}
    groups = {g.get("id") for g in trees["groups.xml"].iter("group")}
    roles = {r.get("id") for r in trees["roles.xml"].iter("role")}
    questions_xml = trees["questions.xml"]
    categories = {c.get("id") for c in questions_xml.iter("question_category")}
    bank_entries = {e.get("id") for e in questions_xml.iter("question_bank_entry")}
    questions = {q.get("id") for q in questions_xml.iter("question")}
    info = trees["moodle_backup.xml"]
    listed = {a.findtext("directory"): a for a in info.iter("activity")}
    sections = {s.findtext("sectionid") for s in info.iter("section")}
    referenced_files: set[str] = set()
    for name, root in trees.items():
        if not name.endswith("inforef.xml"):
            continue
        folder = name.rsplit("/", 1)[0]
        refs = {kind: {e.findtext("id") for e in root.iter(kind)}
                for kind in ("user", "file", "group", "role", "grade_item", "question_category")}
        assert refs["user"] <= users, name
        assert refs["file"] <= set(files), name
        assert refs["group"] <= groups, name
        assert refs["role"] <= roles, name
        assert refs["question_category"] <= categories, name
        referenced_files |= refs["file"]
        if folder.startswith("activities/"):
            module = trees[f"{folder}/module.xml"]
            assert folder in listed
            assert listed[folder].findtext("moduleid") == module.get("id")
            assert module.findtext("sectionid") in sections
            grade_items = {g.get("id") for g in trees[f"{folder}/grades.xml"].iter("grade_item")}
            assert refs["grade_item"] == grade_items, name
            modname = folder.split("/")[1].rsplit("_", 1)[0]
            activity = trees[f"{folder}/{modname}.xml"]
            assert activity.get("moduleid") == module.get("id")
            # every user the module's XML mentions is in its inforef, and only those
            mentioned = {e.text for e in activity.iter("userid")}
            mentioned |= {e.text for e in trees[f"{folder}/grades.xml"].iter("userid")}
            mentioned |= {e.text for e in activity.iter("grader") if e.text != "0"}
            assert mentioned == refs["user"], name
            # files of this module's context are exactly those its inforef lists
            context = activity.get("contextid")
            own = {fid for fid, f in files.items() if f.findtext("contextid") == context}
            assert own == refs["file"], name
            # a quiz's slots and attempts point into questions.xml, whose categories
            # its inforef lists
            if modname == "quiz":
                assert refs["question_category"] == categories, name
                used_entries = {e.text for e in activity.iter("questionbankentryid")}
                assert used_entries and used_entries <= bank_entries, name
                assert {e.text for e in activity.iter("questionid")} <= questions, name
                usages = {u.get("id") for u in activity.iter("question_usage")}
                assert {e.text for e in activity.iter("uniqueid")} == usages, name
            # an assessed forum grades each author with the average of their posts' ratings
            if modname == "forum":
                assessed = activity.findtext("forum/assessed") == "1"
                assert len(grade_items) == (1 if assessed else 0), name
                received: dict[str, list[int]] = defaultdict(list)
                for post in activity.iter("post"):
                    for rating in post.iter("rating"):
                        received[post.findtext("userid")].append(int(rating.findtext("value")))
                assert assessed or not received, name
                grades = {g.findtext("userid"): float(g.findtext("rawgrade"))
                          for g in trees[f"{folder}/grades.xml"].iter("grade_grade")}
                assert grades == pytest.approx({user: sum(values) / len(values)
                                                for user, values in received.items()}), name
    # every files.xml record is referenced by some inforef, as Moodle's annotations make it
    assert referenced_files == set(files)
    # section sequences list exactly the listed activities of that section
    for name, root in trees.items():
        if name.endswith("section.xml"):
            sequence = [cm for cm in (root.findtext("sequence") or "").split(",") if cm]
            expected = [a.findtext("moduleid") for a in listed.values()
                        if a.findtext("sectionid") == root.get("id")]
            assert sorted(sequence) == sorted(expected)


def _small_synthesizer(activities: dict[str, int]):
    from mbx.synth.course import CourseSynthesizer

    synth = CourseSynthesizer("unused.mbz", target=1 << 20, seed=3, users=6, sections=2,
                              activities=activities, include_users=True, include_files=True,
                              format="tgz", progress=None, compressor=None, level=None,
                              xml_share=0.15)
    synth.plan()
    return synth


def _both_renderings(wrappers: tuple[str, ...], with_writer, template) -> list[bytes]:
    """A subtree written inside ``wrappers`` through XmlWriter (``with_writer(writer)``)
    and as the template's text written past it (``template()``)."""
    from mbx.xml import XmlWriter

    outputs = []
    for use_template in (False, True):
        buffer = io.BytesIO()
        writer = XmlWriter(buffer)
        for name in wrappers:
            writer.start(name)
        if use_template:
            writer.flush()
            buffer.write(template().encode("utf-8"))
        else:
            with_writer(writer)
        for name in reversed(wrappers):
            writer.end(name)
        writer.close()
        outputs.append(buffer.getvalue())
    return outputs


def test_discussion_template_is_xmlwriter_output():
    """Posts are rendered by a template for speed; it must give XmlWriter's bytes."""
    from mbx.synth.modules import MODULES
    from mbx.synth.modules.forum import render_discussion, write_discussion_with_writer

    synth = _small_synthesizer({"forum": 2})
    forum = synth.activities[1]
    forum.rating_scale = 100
    for _ in range(30):
        drawn = MODULES["forum"].draw_discussion(synth, forum, synth.users, set(), [], 0.3)
        outputs = _both_renderings(
            ("activity", "forum", "discussions"),
            lambda writer: write_discussion_with_writer(writer, drawn, synth.text),
            lambda: render_discussion(drawn, synth.text))
        assert outputs[0] == outputs[1]
    assert any(b"&amp;" in output or b"&lt;" in output for output in outputs)
    assert synth.stats["ratings"] > 0


def test_attempt_template_is_xmlwriter_output():
    """Quiz attempts are rendered by a template too; it must give XmlWriter's bytes."""
    from mbx.synth.modules import MODULES
    from mbx.synth.modules.quiz import render_attempt, write_attempt_with_writer
    from mbx.synth.questions import draw_questions

    synth = _small_synthesizer({"quiz": 1})
    questions = draw_questions(synth, 12)
    assert {question.qtype for question in questions} == {"truefalse", "multichoice"}
    attempts = MODULES["quiz"].draw_attempts(synth, questions, synth.start)
    assert attempts
    for attempt in attempts:
        outputs = _both_renderings(
            ("activity", "quiz", "attempts"),
            lambda writer: write_attempt_with_writer(writer, attempt),
            lambda: render_attempt(attempt))
        assert outputs[0] == outputs[1]


# -- as Moodle 4.5 writes it -----------------------------------------------------------------

#: The corpus's newest backups are the reference for what Moodle writes now.
REFERENCE_SINCE = (4, 4)
#: Paths the reference backups hold that synth deliberately leaves out, by member kind:
#: path (or path prefix: everything under it) -> why.
DELIBERATE = {
    ("activity", "quiz", "quiz.xml"): {
        "/activity/quiz/precreateattempts": "a 5.0 field (the 5.0 reference); synth writes 4.5",
    },
    ("section", "section.xml"): {
        "/section/course_format_options": "section options of the flexsections format (the "
                                          "5.0 reference); synth's topics format has none",
    },
    ("top", "questions.xml"): {
        f"{'/question_categories/question_category/question_bank_entries/question_bank_entry'}"
        f"/question_version/question_versions/questions/question/{suffix}": why
        for suffix, why in (("tags/tag", "question tags: synth's questions have none"),
                            ("plugin_qtype_coderunner_question",
                             "a third-party question type (qtype_coderunner)"))
    },
}


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _exact_kind(name: str):
    """Like :func:`kind_of`, but every activity file keyed by its own module."""
    name = name.removeprefix("./")
    if match := _ACTIVITY.fullmatch(name):
        return ("activity", *match.groups())
    return kind_of(name)


@pytest.fixture(scope="module")
def reference(corpus) -> tuple[dict[tuple, set[str]], dict[str, list[str]]]:
    """(member kind -> element paths of the reference backups, module -> the items they
    come from). An activity kind's reference is the 4.4+ backups holding that module,
    or, for a module none of them holds, the newest corpus backups holding it; the
    course-level kinds come from every 4.4+ backup. Read with tarfile and lxml."""
    import json

    import corpus as corpus_module

    manifest = json.loads((corpus / "manifest.json").read_text())
    recent = [entry for entry in manifest if _release(entry["backup_release"]) >= REFERENCE_SINCE]
    sources: dict[str, list[str]] = {}
    from mbx.synth import SUPPORTED

    for module in SUPPORTED:
        holders = [entry for entry in manifest if module in entry["activities"]]
        chosen = [entry for entry in holders if entry in recent]
        if not chosen:
            newest = max(_release(entry["backup_release"]) for entry in holders)
            chosen = [entry for entry in holders if _release(entry["backup_release"]) == newest]
        sources[module] = [entry["item"] for entry in chosen]
    paths: dict[tuple, set[str]] = defaultdict(set)
    for item in {item for items in sources.values() for item in items} | \
            {entry["item"] for entry in recent}:
        is_recent = any(entry["item"] == item for entry in recent)
        for name, data in corpus_module.xml_members(item):
            kind = _exact_kind(name)
            if kind is None:
                continue
            if kind[0] == "activity":
                if kind[1] in sources and item in sources[kind[1]]:
                    paths[kind] |= element_paths(data)
            elif is_recent:
                paths[kind] |= element_paths(data)
    sources["course"] = [entry["item"] for entry in recent]
    return paths, sources


def _excused(kind: tuple, path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/")
               for prefix in DELIBERATE.get(kind, {}))


def test_every_path_moodle_writes_is_written(generated, reference):
    """Per module and per course-level member, every element path of the newest real
    backups is in synth's output, or listed in DELIBERATE with its reason."""
    from mbx.synth import SUPPORTED

    real, sources = reference
    assert set(sources["course"]) >= {"trampgeek__moodle-qtype_coderunner/backuptester_V4.5.3.mbz"}
    ours: dict[tuple, set[str]] = defaultdict(set)
    for path, _, _, _ in generated.values():
        for name, data in archive_xml(path).items():
            ours[_exact_kind(name)] |= element_paths(data)
    missing = {}
    for kind, paths in real.items():
        if kind[0] == "activity" and kind[1] not in SUPPORTED:
            continue
        lost = {path for path in paths - ours.get(kind, set()) if not _excused(kind, path)}
        if lost:
            missing[kind] = sorted(lost)
    assert not missing, missing
    # the comparison covered every module synth writes, and the course-level members
    assert {kind[1] for kind in real if kind[0] == "activity"} >= set(SUPPORTED)
    assert {("top", "moodle_backup.xml"), ("course", "course.xml"), ("section", "section.xml"),
            ("top", "groups.xml"), ("top", "gradebook.xml"), ("top", "questions.xml"),
            ("course", "inforef.xml"), ("top", "roles.xml")} <= set(real)
    # and every deliberate difference is still a difference
    for kind, prefixes in DELIBERATE.items():
        for prefix in prefixes:
            assert any(path == prefix or path.startswith(prefix + "/")
                       for path in real.get(kind, ())), (kind, prefix)


def test_root_settings_as_moodle_45_sets_them(generated, corpus):
    """The root settings, their order and the values that do not depend on the
    course (blocks, xapistate) are those of Moodle 4.5's own backup."""
    import corpus as corpus_module

    item = "trampgeek__moodle-qtype_coderunner/backuptester_V4.5.3.mbz"
    real = etree.fromstring(dict(corpus_module.xml_members(item))["moodle_backup.xml"])
    path, _, _, _ = generated[("2M", 1, "tgz")]
    ours = etree.fromstring(archive_xml(path)["moodle_backup.xml"])

    def root_settings(tree):
        return [(s.findtext("name"), s.findtext("value")) for s in tree.iter("setting")
                if s.findtext("level") == "root"]

    assert [name for name, _ in root_settings(ours)] == [name for name, _ in root_settings(real)]
    for name in ("blocks", "xapistate"):
        assert dict(root_settings(ours))[name] == dict(root_settings(real))[name], name


def test_submission_files_sit_in_submission_file_records(generated):
    """Moodle restores a submission's files only through its submission_file record:
    every submission with files in files.xml has one, with their number."""
    checked = 0
    for path, _, _, _ in generated.values():
        xml = archive_xml(path)
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for record in etree.fromstring(xml["files.xml"]).iter("file"):
            if (record.findtext("component"), record.findtext("filearea")) == \
                    ("assignsubmission_file", "submission_files") and \
                    record.findtext("filename") != ".":
                counts[(record.findtext("contextid"), record.findtext("itemid"))] += 1
        assert counts, path
        for name, data in xml.items():
            if not re.fullmatch(r"activities/assign_\d+/assign\.xml", name):
                continue
            activity = etree.fromstring(data)
            for submission in activity.iter("submission"):
                key = (activity.get("contextid"), submission.get("id"))
                records = submission.findall(
                    "subplugin_assignsubmission_file_submission/submission_file")
                if key in counts:
                    assert len(records) == 1, (name, key)
                    assert records[0].findtext("numfiles") == str(counts.pop(key)), (name, key)
                    assert records[0].findtext("submission") == submission.get("id")
                    checked += 1
                for record in records:
                    assert record.findtext("submission") == submission.get("id")
        assert not counts, f"files of no submission: {counts}"
    assert checked > 5


def _blobs(path) -> dict[str, bytes]:
    if str(path).endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            return {name: archive.read(name) for name in archive.namelist()
                    if name.startswith("files/") and not name.endswith("/")}
    with tarfile.open(path, "r:gz") as archive:
        return {member.name: archive.extractfile(member).read() for member in archive
                if member.isfile() and member.name.startswith("files/")}


def test_every_image_decodes(generated):
    """Every image/* file is a real image an independent decoder (Pillow) verifies and
    decodes, of the format its mimetype says, in more than one size."""
    from PIL import Image

    formats = {"image/png": "PNG", "image/jpeg": "JPEG"}
    sizes = set()
    decoded = 0
    for path, _, _, _ in generated.values():
        blobs = _blobs(path)
        for record in etree.fromstring(archive_xml(path)["files.xml"]).iter("file"):
            mimetype = record.findtext("mimetype") or ""
            if not mimetype.startswith("image/"):
                continue
            digest = record.findtext("contenthash")
            data = blobs[f"files/{digest[:2]}/{digest}"]
            assert len(data) == int(record.findtext("filesize"))
            with Image.open(io.BytesIO(data)) as image:
                assert image.format == formats[mimetype], record.get("id")
                image.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                sizes.add(image.size)
            decoded += 1
    assert decoded > 20
    assert len(sizes) > 1


def test_completion_in_the_43_form(generated):
    """Activity completion.xml as Moodle 4.3+ writes it: no per-row ``viewed``, the
    views in ``completionviews``; an assignment is complete for those who submitted."""
    path, _, _, _ = generated[("8M", 1, "tgz")]
    xml = archive_xml(path)
    completions = 0
    for name, data in xml.items():
        if not re.fullmatch(r"activities/[a-z]+_\d+/completion\.xml", name):
            continue
        root = etree.fromstring(data)
        assert root.tag == "completions"
        assert root.find("completion/viewed") is None, name
        assert root.find("completionviews") is not None, name
        if name.startswith("activities/assign_"):
            activity = etree.fromstring(xml[name.replace("completion.xml", "assign.xml")])
            submitted = {s.findtext("userid") for s in activity.iter("submission")
                         if s.findtext("status") == "submitted"}
            assert {c.findtext("userid") for c in root.iter("completion")} == submitted
            viewers = {v.findtext("userid") for v in root.iter("completionview")}
            assert submitted <= viewers
            completions += len(submitted)
    assert completions > 0


def test_course_totals_and_course_question_categories(generated):
    """gradebook.xml gives every graded user the course total (natural aggregation:
    the sum of their activity grades), and the course inforef lists the question
    categories of questions.xml."""
    path, _, _, _ = generated[("8M", 1, "tgz")]
    xml = archive_xml(path)
    sums: dict[str, float] = defaultdict(float)
    for name, data in xml.items():
        if name.endswith("/grades.xml"):
            for grade in etree.fromstring(data).iter("grade_grade"):
                sums[grade.findtext("userid")] += float(grade.findtext("rawgrade"))
    gradebook = etree.fromstring(xml["gradebook.xml"])
    course_item = next(item for item in gradebook.iter("grade_item")
                       if item.findtext("itemtype") == "course")
    totals = {grade.findtext("userid"): float(grade.findtext("finalgrade"))
              for grade in course_item.iter("grade_grade")}
    assert sums and totals == pytest.approx(dict(sums))
    categories = {c.get("id") for c in etree.fromstring(xml["questions.xml"])
                  .iter("question_category")}
    inforef = etree.fromstring(xml["course/inforef.xml"])
    assert {e.findtext("id") for e in inforef.iter("question_category")} == categories
