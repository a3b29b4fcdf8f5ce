"""extract: one activity or one section of a course backup as its own backup.

Over a sample of the corpus (the first and the last activity and one section
of each backup), every output is checked against an independent reading of the
input (lxml over its members, tarfile/zipfile for the containers): it passes
``mbx verify`` with no error the input does not have, ``mbx ls`` shows just the
chosen part and the backup type, the kept folders are byte for byte the
input's, and the top-level files hold exactly the inforef closure computed
here. Then the issue's check: the extract restored with ``mbx restore`` gives
the rows a selective restore of the same part of the full backup gives, except
where Moodle's own activity and section backups differ from a course backup
(:data:`DIFFERENCES`, each with its reason).
"""

from __future__ import annotations

import json
import sqlite3
import tarfile
import zipfile
from pathlib import Path

import pytest
from lxml import etree

import mbx.restore
from conftest import FIXTURES
from corpus import xml_members
from mbx.errors import MbxError
from mbx.inspect import summarize
from mbx.transform.extract import Extract, SelectionError, extract
from mbx.verification import verify

ITEMS = [
    "IET-OU__moodle-backup-parser/backup-moodle2",
    "LINCS__course-engaging-adult-learners-in-science/course-engaging-adult-learners-in-science",
    "instructure__moodle2cc/moodle2-backup",
    "bozoh__moodle-mod_simplecertificate/backup-test-course-for-moodle3.1-and-above.mbz",
    "gjb2048__moodle-format_grid/backup-moodle2-course-21-gt-20131104-1255-nu.mbz",
    "kordan__moodle-mod_surveypro/demo_course-20240410.mbz",
    "marcusgreen__moodle-qtype_gapfill/gapfill_example_course.mbz",
    "marcusgreen__moodle-report_advancedgrading/backup-advgrade.mbz",
    "marcusgreen__moodle-tool_driprelease/test_backup.mbz",
    "maths__moodle-qtype_stack/STACK-demo.mbz",
    "mitocw__moodle2edx/intro_to_stats.mbz",
    "moodle__moodle/availability_26_format.mbz",
    "moodle__moodle/legacy_course_completion.mbz",
    "moodle__moodle/pre-40-shared-random-question.mbz",
    "noisyjerm__moodle-gradereport_calcsetup/example.mbz",
    "sanadov__mbz/mbz",
    "studentquiz__moodle-mod_studentquiz/backup-moodle2-course-two-moodle_31_sq203.mbz",
    "trampgeek__moodle-qtype_coderunner/backuptester_V4.5.3.mbz",
]
VERDICTS = {entry["item"]: entry for entry in
            json.loads((Path(__file__).parent / "verify_verdicts.json").read_text())}
KINDS = ("user", "group", "grouping", "role", "scale", "outcome", "question_category",
         "file", "grade_item")


# -- independent reading of a backup ----------------------------------------------------

def read_xml(path: Path) -> dict[str, etree._Element]:
    return {name: etree.fromstring(data) for name, data in xml_members(str(path))}


def member_names(path: Path) -> set[str]:
    """Every file member's name (no directories)."""
    if path.is_dir():
        return {str(file.relative_to(path)) for file in path.rglob("*") if file.is_file()}
    with open(path, "rb") as stream:
        magic = stream.read(2)
    if magic == b"\x1f\x8b":
        with tarfile.open(path, "r:gz") as archive:
            return {member.name.removeprefix("./") for member in archive if member.isfile()}
    with zipfile.ZipFile(path) as archive:
        return {name.removeprefix("./") for name in archive.namelist() if not name.endswith("/")}


def member_bytes(path: Path, names: set[str]) -> dict[str, bytes]:
    if path.is_dir():
        return {name: (path / name).read_bytes() for name in names}
    with open(path, "rb") as stream:
        magic = stream.read(2)
    found = {}
    if magic == b"\x1f\x8b":
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                name = member.name.removeprefix("./")
                if member.isfile() and name in names:
                    found[name] = archive.extractfile(member).read()
    else:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.removeprefix("./") in names:
                    found[name.removeprefix("./")] = archive.read(name)
    return found


def is_record(element) -> bool:
    """Whether Moodle's parser delivers the element as a record: an element with
    no leaf is never dispatched, whatever its attributes (format §7.2)."""
    return any(len(child) == 0 for child in element)


def fields(element) -> dict[str, str | None]:
    return {child.tag: child.text for child in element if len(child) == 0}


def listing(xml: dict) -> tuple[list[dict], list[dict]]:
    contents = xml["moodle_backup.xml"].find("information/contents")
    activities = [fields(a) for a in contents.iterfind("activities/activity")]
    sections = [fields(s) for s in contents.iterfind("sections/section")]
    return activities, sections


def section_number(xml: dict, directory: str) -> str | None:
    document = xml.get(f"{directory.strip('/')}/section.xml")
    return document.findtext("number") if document is not None else None


def chosen_folders(xml: dict, kind: str, value: int) -> list[str]:
    activities, sections = listing(xml)
    if kind == "activity":
        return [a["directory"].strip("/") for a in activities if a["moduleid"] == str(value)]
    first = next(s for s in sections if section_number(xml, s["directory"]) == str(value))
    folders, pending = [], [first]
    while pending:
        section = pending.pop(0)
        folders.append(section["directory"].strip("/"))
        inside = [a for a in activities if a["sectionid"] == section["sectionid"]]
        folders += [a["directory"].strip("/") for a in inside]
        owners = {a["moduleid"] for a in inside}
        pending += [s for s in sections if s.get("parentcmid") and s["parentcmid"] in owners]
    return folders


def samples(item: str) -> list[tuple[str, int]]:
    """The first and the last activity whose folder is there, and a middle section
    holding activities."""
    xml = read_xml(FIXTURES / item)
    names = member_names(FIXTURES / item)
    activities, sections = listing(xml)
    present = [a for a in activities if any(n.startswith(a["directory"].strip("/") + "/")
                                            for n in names)]
    chosen = [("activity", int(present[0]["moduleid"]))] if present else []
    if len(present) > 1:
        chosen.append(("activity", int(present[-1]["moduleid"])))
    # and the first whose inforef names groups or groupings, which few do
    grouped = [a for a in present if (root := xml.get(a["directory"].strip("/") + "/inforef.xml"))
               is not None and (root.find("groupref") is not None or root.find("groupingref") is not None)]
    if grouped and ("activity", int(grouped[0]["moduleid"])) not in chosen:
        chosen.append(("activity", int(grouped[0]["moduleid"])))
    holding = [s for s in sections if any(a["sectionid"] == s["sectionid"] for a in present)]
    if holding:
        chosen.append(("section", int(section_number(xml, holding[len(holding) // 2]["directory"]))))
    return chosen


class Expected:
    """What the extract must hold, read from the input alone."""

    def __init__(self, xml: dict, names: set[str], kind: str, value: int) -> None:
        self.folders = chosen_folders(xml, kind, value)
        inside = lambda name: any(name.startswith(f + "/") for f in self.folders)  # noqa: E731
        self.refs = {kind_: set() for kind_ in KINDS}
        for name, root in xml.items():
            if name.endswith("/inforef.xml") and inside(name):
                for kind_ in KINDS:
                    self.refs[kind_] |= {node.text for node in root.iterfind(f"{kind_}ref/{kind_}/id")}
        # grade items: which activities have some, and what they name
        graded, items, self.grade_grades, self.histories = set(), [], set(), set()
        for name, root in xml.items():
            parts = name.split("/")
            if len(parts) == 3 and parts[0] == "activities" and parts[2] == "grades.xml":
                found = root.findall("grade_items/grade_item")
                if found:
                    graded.add("/".join(parts[:2]))
                if inside(name):
                    items += found
                    self.grade_grades |= {g.get("id") for g in root.iterfind(".//grade_grade")}
            if len(parts) == 3 and parts[0] == "activities" and parts[2] == "grade_history.xml" \
                    and inside(name):
                self.histories |= {g.get("id") for g in root.iterfind("grade_grades/grade_grade")}
        self.gradebook = "gradebook.xml" in xml and graded <= set(self.folders)
        if self.gradebook:
            items += xml["gradebook.xml"].findall("grade_items/grade_item")
            self.grade_grades |= {g.get("id") for g in xml["gradebook.xml"].iterfind(".//grade_grade")}

        def defined(member: str, path: str) -> dict[str, etree._Element]:
            root = xml.get(member)
            return {node.get("id"): node for node in root.iterfind(path)
                    if is_record(node)} if root is not None else {}

        users = defined("users.xml", "user")
        categories = defined("questions.xml", "question_category")
        groupings = defined("groups.xml", "groupings/grouping")
        outcomes = defined("outcomes.xml", "outcome")
        named = lambda field: {i.findtext(field) for i in items} - {None, "", "0", "$@NULL@$"}  # noqa: E731
        self.users = self.refs["user"] & set(users)
        self.roles = self.refs["role"] & set(defined("roles.xml", "role"))
        self.categories = self.refs["question_category"] & set(categories)
        self.groupings = self.refs["grouping"] & set(groupings)
        self.groups = (self.refs["group"] | {g.findtext("groupid") for grouping in self.groupings
                                              for g in groupings[grouping].iterfind(".//grouping_group")}
                       ) & set(defined("groups.xml", "group"))
        self.outcomes = (self.refs["outcome"] | named("outcomeid")) & set(outcomes)
        self.scales = (self.refs["scale"] | named("scaleid")
                       | {outcomes[o].findtext("scaleid") for o in self.outcomes}
                       ) & set(defined("scales.xml", "scale"))
        user_contexts = {users[u].get("contextid") for u in self.users}
        question_contexts = {categories[c].findtext("contextid") for c in self.categories}
        owners = {"scale": self.scales, "outcome": self.outcomes, "feedback": self.grade_grades,
                  "historyfeedback": self.histories}
        self.files_in = defined("files.xml", "file")

        def stays(file) -> bool:
            component, area = file.findtext("component"), file.findtext("filearea")
            context, item = file.findtext("contextid"), file.findtext("itemid")
            if file.get("id") in self.refs["file"]:
                return True
            if component == "user":
                return context in user_contexts
            if component == "group":
                return item in self.groups
            if component == "grouping":
                return item in self.groupings
            if component == "grade":
                return item in owners.get(area, ())
            if component == "question" or component.startswith("qtype"):
                return context in question_contexts
            return False

        self.files = {file_id for file_id, file in self.files_in.items() if stays(file)}
        self.blobs = {f"files/{h[:2]}/{h}" for file_id in self.files
                      for h in [self.files_in[file_id].findtext("contenthash")]
                      if h and self.files_in[file_id].findtext("filename") != "."} & names


PAIRS = [(item, kind, value) for item in ITEMS for kind, value in samples(item)]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Each sampled extract, written once for the module."""
    root = tmp_path_factory.mktemp("extract")
    made = {}
    for number, (item, kind, value) in enumerate(PAIRS):
        output = root / f"{number}.mbz"
        report = extract(FIXTURES / item, output, **{kind: value})
        made[(item, kind, value)] = (output, report)
    return made


@pytest.mark.parametrize("item,kind,value", PAIRS, ids=[f"{i.split('/')[-1][:30]}-{k}-{v}"
                                                        for i, k, v in PAIRS])
def test_extract_holds_the_part_and_its_closure(outputs, item, kind, value):
    source = FIXTURES / item
    output, report = outputs[(item, kind, value)]
    xml_in, names_in = read_xml(source), member_names(source)
    xml_out, names_out = read_xml(output), member_names(output)
    want = Expected(xml_in, names_in, kind, value)

    # verify: nothing the input does not have already
    problems = verify(output)
    assert {p.code for p in problems.errors} <= set(VERDICTS[item]["errors"]), \
        [str(p) for p in problems.errors]

    # mbx ls: the type, just the chosen activity or section
    summary = summarize(output)
    assert summary["type"] == kind
    activities_in, sections_in = listing(xml_in)
    kept_activities = [a["moduleid"] for a in activities_in
                       if a["directory"].strip("/") in want.folders]
    assert [a["moduleid"] for a in summary["activities"]] == kept_activities
    if kind == "activity":
        assert kept_activities == [str(value)] and summary["sections"] == []
    else:
        assert [s["number"] for s in summary["sections"]][:1] == [value]
        assert [s["sectionid"] for s in summary["sections"]] == [
            s["sectionid"] for s in sections_in if s["directory"].strip("/") in want.folders]

    # members: the kept folders byte for byte, no other part, no course folder
    inside = lambda name: any(name.startswith(f + "/") for f in want.folders)  # noqa: E731
    kept_members = {n for n in names_in if inside(n)}
    assert {n for n in names_out if n.split("/")[0] in ("activities", "sections", "course")} \
        == kept_members
    assert member_bytes(output, kept_members) == member_bytes(source, kept_members)
    assert "badges.xml" not in names_out
    assert ("gradebook.xml" in names_out) == want.gradebook
    assert report.details["extract"]["gradebook"] == want.gradebook

    # the closure
    def ids(member: str, path: str) -> set[str]:
        root = xml_out.get(member)
        return {node.get("id") for node in root.iterfind(path)
                if is_record(node)} if root is not None else set()

    assert ids("users.xml", "user") == want.users
    assert ids("roles.xml", "role") == want.roles
    assert ids("questions.xml", "question_category") == want.categories
    assert ids("groups.xml", "group") == want.groups
    assert ids("groups.xml", "groupings/grouping") == want.groupings
    assert ids("scales.xml", "scale") == want.scales
    assert ids("outcomes.xml", "outcome") == want.outcomes
    assert ids("files.xml", "file") == want.files
    assert {n for n in names_out if n.startswith("files/")} == want.blobs
    # every reference the kept inforefs make is kept (those the input defines)
    assert want.refs["file"] & set(want.files_in) <= want.files
    # the grade items are the kept activities' own (and the course's with gradebook.xml)
    grade_items = {i.get("id") for name, root in xml_out.items() if name.endswith("grades.xml")
                   for i in root.iterfind("grade_items/grade_item")}
    assert want.refs["grade_item"] <= grade_items
    # the records left are byte for byte the input's
    for member in ("users.xml", "files.xml", "questions.xml"):
        if member in xml_in:
            kept = {etree.tostring(node, with_tail=False) for node in xml_out[member]}
            assert kept <= {etree.tostring(node, with_tail=False) for node in xml_in[member]}

    # moodle_backup.xml: the listing and the settings of what is kept
    info_in = xml_in["moodle_backup.xml"].find("information")
    info_out = xml_out["moodle_backup.xml"].find("information")
    assert info_out.findtext("details/detail/type") == kind
    assert info_out.find("contents/course") is None
    assert [fields(s) for s in info_out.iterfind("contents/sections/section")] == \
        [s for s in sections_in if s["directory"].strip("/") in want.folders]
    basenames = {folder.rsplit("/", 1)[-1] for folder in want.folders}

    def settings(info, keep) -> list[dict]:
        return [fields(s) for s in info.iterfind("settings/setting") if keep(fields(s))]

    part = lambda s: s.get("level") in ("activity", "section")  # noqa: E731
    assert settings(info_out, part) == settings(
        info_in, lambda s: part(s) and s.get(s["level"]) in basenames)
    expected_root = [{**s, "value": "0"} if s["name"] == "badges" else s
                     for s in settings(info_in, lambda s: not part(s)) if s["name"] != "imscc11"]
    assert settings(info_out, lambda s: not part(s)) == expected_root


# -- refusals ---------------------------------------------------------------------------

SMALL = "moodle__moodle/legacy_course_completion.mbz"


@pytest.mark.parametrize("options", [{}, {"activity": 1, "section": 0}, {"activity": -1},
                                     {"section": "2"}, {"activity": True}])
def test_a_selection_not_one_whole_number_is_refused(options):
    with pytest.raises(SelectionError):
        Extract(**options)


@pytest.mark.parametrize("options,says", [({"activity": 999999}, "no activity"),
                                          ({"section": 77}, "no section number 77")])
def test_a_part_not_in_the_backup_is_refused_and_nothing_written(tmp_path, options, says):
    output = tmp_path / "out.mbz"
    with pytest.raises(MbxError, match=says) as error:
        extract(FIXTURES / SMALL, output, **options)
    assert error.value.code == "transform-bad-selection"
    assert list(tmp_path.iterdir()) == []


def test_a_moodle1_backup_is_refused_and_nothing_written(tmp_path):
    with pytest.raises(MbxError) as error:
        extract(FIXTURES / "moodle__moodle/moodle1-converter-fixtures", tmp_path / "out.mbz",
                activity=1)
    assert error.value.code == "format-unsupported"
    assert list(tmp_path.iterdir()) == []


def test_an_activity_listed_without_its_folder_is_refused(tmp_path):
    # a copy of a folder backup without one activity's folder: listed, not there
    import shutil
    source = tmp_path / "backup"
    shutil.copytree(FIXTURES / "IET-OU__moodle-backup-parser/backup-moodle2", source)
    activities, _ = listing(read_xml(source))
    gone = activities[0]
    shutil.rmtree(source / gone["directory"])
    with pytest.raises(SelectionError, match="not in the backup"):
        extract(source, tmp_path / "out.mbz", activity=int(gone["moduleid"]))
    assert {path.name for path in tmp_path.iterdir()} == {"backup"}


def test_a_broken_inforef_is_refused_and_nothing_written(tmp_path):
    import shutil
    source = tmp_path / "backup"
    shutil.copytree(FIXTURES / "IET-OU__moodle-backup-parser/backup-moodle2", source)
    activities, _ = listing(read_xml(source))
    (source / activities[0]["directory"] / "inforef.xml").write_bytes(b"<inforef><userref>")
    with pytest.raises(MbxError) as error:
        extract(source, tmp_path / "out.mbz", activity=int(activities[0]["moduleid"]))
    assert error.value.code.startswith("xml-")
    assert {path.name for path in tmp_path.iterdir()} == {"backup"}


def test_an_activity_backup_gives_back_its_own_activity(tmp_path):
    item = FIXTURES / "ngandrass__moodle-quiz_archiver/referencequiz.mbz"
    output = tmp_path / "out.mbz"
    report = extract(item, output, activity=2)
    names = member_names(item) - {".ARCHIVE_INDEX"}
    assert member_names(output) - {".ARCHIVE_INDEX"} == names
    assert member_bytes(output, names) == member_bytes(item, names)
    assert report.details["extract"]["removed"] == {}
    assert verify(output).ok


# -- restored: the same rows as a selective restore of the full backup -----------------------

#: Tables a restore of the extract and a selective restore of the whole backup may
#: hold different numbers of rows in, and why. ``subset``: the extract's are fewer
#: or as many; ``superset``: more or as many; ``own``: only the rows in the
#: activities' contexts (module contexts and the blocks below them) are compared.
COURSE_TASK = ("Moodle's activity and section backups have no course/ folder and their restore "
               "no course task: course.xml, enrolments, course roles, filters, blocks and events "
               "are not in them")
DIFFERENCES = {
    "course": ("skip", "the course row comes from course.xml in one, from moodle_backup.xml's "
                       "course information in the other (an activity backup's restore makes the "
                       "course as Moodle's command line does)"),
    "course_format_options": ("skip", COURSE_TASK),
    "enrol": ("skip", COURSE_TASK),
    "user_enrolments": ("skip", COURSE_TASK),
    "groups_members": ("skip", COURSE_TASK + " (members are restored by the course task)"),
    "role_names": ("skip", COURSE_TASK + " (course role names come with the course's roles)"),
    "role_assignments": ("own", COURSE_TASK),
    "role_capabilities": ("own", COURSE_TASK),
    "filter_active": ("own", COURSE_TASK),
    "filter_config": ("own", COURSE_TASK),
    "block_instances": ("own", COURSE_TASK),
    "block_positions": ("own", COURSE_TASK),
    "event": ("own", COURSE_TASK),
    "comments": ("own", COURSE_TASK),
    "files": ("own", COURSE_TASK + "; and the question bank and the users are fewer (below)"),
    "context": ("own", COURSE_TASK + "; and fewer users"),
    "course_sections": ("section-only", "an activity backup holds no section: the restore puts "
                                        "the module in section 0 of a new course (sections 0 and "
                                        "1), the selective restore in its section's number"),
    "user": ("subset", "a course backup's course/inforef.xml names the enrolled users and the "
                       "selective restore loads them; the extract holds the activities' users"),
    "user_preferences": ("subset", "with the users"),
    "user_info_data": ("subset", "with the users"),
    "groups": ("subset", "a selective restore restores groups.xml whole; Moodle's activity "
                         "backups hold the groups the activities use"),
    "groupings": ("subset", "as groups"),
    "groupings_groups": ("subset", "as groups"),
    "scale": ("subset", "as groups: scales.xml is restored whole"),
    "grade_outcomes": ("subset", "as groups: outcomes.xml is restored whole"),
    "grade_outcomes_courses": ("subset", "with the outcomes"),
    "tag": ("subset", "the tags of the questions below"),
    "tag_instance": ("subset", "the tags of the questions below"),
    "mbx_raw_members": ("subset", "the raw parts of the questions below"),
    "grade_categories": ("superset", "gradebook.xml: Moodle writes it into an activity or section "
                                     "backup holding every graded activity, and its restore "
                                     "restores it; a selective restore leaving activities out "
                                     "does not"),
    "grade_items": ("superset", "the course item of gradebook.xml (above); the module items "
                                "are compared row by row"),
    "grade_grades": ("superset", "the course item's grades of gradebook.xml (above)"),
    "grade_settings": ("superset", "gradebook.xml (above)"),
    "grade_letters": ("superset", "gradebook.xml (above)"),
    "grade_categories_history": ("superset", "gradebook.xml (above)"),
    "grade_items_history": ("superset", "gradebook.xml (above)"),
    "grade_grades_history": ("superset", "gradebook.xml (above)"),
    "course_completion_criteria": ("superset", "completion.xml: Moodle writes the course's "
                                               "completion into activity and section backups, "
                                               "and restores it; a selective restore leaving "
                                               "activities out does not"),
    "course_completions": ("superset", "completion.xml (above)"),
    "course_completion_crit_compl": ("superset", "completion.xml (above)"),
    "course_completion_aggr_methd": ("superset", "completion.xml (above)"),
}
#: The question bank: a course backup's course/inforef.xml names the course's
#: categories, which a selective restore loads; Moodle's activity backup holds
#: the categories its activities name.
QUESTION_BANK = ("question", "qtype_", "question_")
IGNORED = {"sqlite_sequence"}

RESTORED = [
    ("marcusgreen__moodle-report_advancedgrading/backup-advgrade.mbz", "activity", 87),
    ("marcusgreen__moodle-report_advancedgrading/backup-advgrade.mbz", "section", 1),
    ("studentquiz__moodle-mod_studentquiz/backup-moodle2-course-two-moodle_31_sq203.mbz",
     "activity", 71),
    ("sanadov__mbz/mbz", "section", 3),
    ("moodle__moodle/legacy_course_completion.mbz", "activity", 109000),
    ("IET-OU__moodle-backup-parser/backup-moodle2", "section", 2),
]


def database(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path)


def counts(db: sqlite3.Connection) -> dict[str, int]:
    tables = [name for name, in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {name.removeprefix("mdl_"): db.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]
            for name in tables}


def own_contexts(db: sqlite3.Connection) -> set[int]:
    """The module contexts and everything below them (their blocks)."""
    paths = [path for path, in db.execute("SELECT path FROM mdl_context WHERE contextlevel = 70")]
    return {context for context, path in db.execute("SELECT id, path FROM mdl_context")
            if any(path == p or path.startswith(p + "/") for p in paths)}


def own_rows(db: sqlite3.Connection, table: str) -> int:
    columns = {row[1] for row in db.execute(f"PRAGMA table_info(mdl_{table})")}
    column = next(c for c in ("contextid", "parentcontextid", "id") if c in columns)
    if table == "context":
        column = "id"
    elif table == "event":
        return db.execute("SELECT COUNT(*) FROM mdl_event WHERE modulename <> ''").fetchone()[0]
    contexts = own_contexts(db)
    return sum(1 for value, in db.execute(f"SELECT {column} FROM mdl_{table}") if value in contexts)


def module_rows(db: sqlite3.Connection, course: int) -> dict[str, list[tuple]]:
    """The content of each restored module's table and its course modules, ids left out."""
    found = {}
    modules = dict(db.execute("SELECT id, name FROM mdl_modules"))
    found["course_modules"] = sorted(
        (modules[module], idnumber, visible, indent, groupmode, completion, availability)
        for module, idnumber, visible, indent, groupmode, completion, availability in db.execute(
            "SELECT module, idnumber, visible, indent, groupmode, completion, availability "
            "FROM mdl_course_modules WHERE course = ?", (course,)))
    for name in {modules[m] for m, in db.execute(
            "SELECT module FROM mdl_course_modules WHERE course = ?", (course,))}:
        columns = [row[1] for row in db.execute(f"PRAGMA table_info(mdl_{name})")]
        if "course" not in columns:
            continue
        kept = [c for c in columns if c not in ("id", "course")]
        found[name] = sorted(tuple(map(str, row)) for row in db.execute(
            f"SELECT {', '.join(kept)} FROM mdl_{name} WHERE course = ?", (course,)))
    found["grade_items"] = sorted(db.execute(
        "SELECT itemname, itemmodule, itemnumber, gradetype, grademax, grademin, gradepass, "
        "idnumber, hidden FROM mdl_grade_items WHERE courseid = ? AND itemtype = 'mod'", (course,)))
    return found


@pytest.mark.parametrize("item,kind,value", RESTORED,
                         ids=[f"{i.split('/')[-1][:30]}-{k}-{v}" for i, k, v in RESTORED])
def test_the_extract_restores_as_a_selective_restore_does(tmp_path, item, kind, value):
    source = FIXTURES / item
    extract(source, tmp_path / "part.mbz", **{kind: value})
    part = mbx.restore.restore(tmp_path / "part.mbz", f"sqlite:{tmp_path / 'part.db'}",
                               files=str(tmp_path / "part.files"))
    selection = {"activities" if kind == "activity" else "sections": (value,)}
    whole = mbx.restore.restore(source, f"sqlite:{tmp_path / 'whole.db'}",
                                files=str(tmp_path / "whole.files"), **selection)
    a, b = database(tmp_path / "part.db"), database(tmp_path / "whole.db")
    try:
        count_a, count_b = counts(a), counts(b)
        assert count_a.get("course_modules") == count_b.get("course_modules") > 0
        for table in sorted((set(count_a) | set(count_b)) - IGNORED):
            mine, theirs = count_a.get(table, 0), count_b.get(table, 0)
            rule, why = DIFFERENCES.get(table, ("subset", "the question bank") if
                                        table.startswith(QUESTION_BANK) else ("equal", ""))
            if rule == "equal" or rule == "section-only" and kind == "section":
                assert mine == theirs, table
            elif rule == "subset":
                assert mine <= theirs, (table, why)
            elif rule == "superset":
                assert mine >= theirs, (table, why)
            elif rule == "own":
                assert own_rows(a, table) == own_rows(b, table), (table, why)
        assert module_rows(a, part.course_id) == module_rows(b, whole.course_id)
    finally:
        a.close()
        b.close()
