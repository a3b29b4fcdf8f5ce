"""The facts every module declaration states, held against what Moodle wrote.

:func:`mbx.moodle2.modules.facts` gives every declared module, restored or not;
the transforms read from it which fields are dates, user data, user and group
references and file areas. A fact missed there is a date left unrolled or a
user id left in an "anonymised" backup, so each kind of fact is checked against
the real backups in ``../shared/fixtures/real``, read here with lxml and the
standard library (never with mbx's parser):

* every element Moodle wrote with a user id (or group id) leaf is declared, with
  that leaf a reference to ``user`` (``group``);
* every declared element occurs in some backup of its module, or is written in
  ``moodle-restore.md`` §5, or is listed below with where it is known from;
* every declared date is a leaf of its element wherever the element occurs,
  except in backups older than every backup that has it;
* no user-data element, and no file of a user-data element's areas, occurs in an
  activity backed up without user information;
* every file Moodle wrote for an activity is in a declared area, and the itemid
  of an area declared ``files_by`` a kind is the id of a record of that kind.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from conftest import FIXTURES
from corpus import items, xml_members
from mbx.moodle2.declare import Element, Module
from mbx.moodle2.modules import KNOWN, NAMES, declaration, facts

DOCS = FIXTURES.parents[1] / "docs"
MODULES_FOLDER = Path(__file__).resolve().parents[1] / "src" / "mbx" / "moodle2" / "modules"

_ACTIVITY_XML = re.compile(r"(?:^|/)activities/([a-z0-9]+)_(\d+)/([a-z0-9]+)\.xml$")
_HUGE = etree.XMLParser(huge_tree=True)


@dataclass(frozen=True)
class Record:
    """One occurrence of an element: its leaf children, its ``id`` attribute, and whether
    it holds data (an id, or a leaf with text) rather than only wrapping other elements."""

    leaves: frozenset[str]
    id: str | None
    filled: bool


@dataclass
class Activity:
    """One ``activities/<mod>_<cmid>/<mod>.xml``: its records by path, below the instance."""

    item: str
    module: str
    cmid: str
    contextid: str
    #: path relative to ``/activity/<mod>`` ("." the instance) -> its occurrences
    records: dict[str, list[Record]] = field(default_factory=dict)
    userinfo: bool = True
    version: int = 0

    def ids(self, path: str) -> set[str]:
        return {record.id for record in self.records.get(path, ()) if record.id is not None}


def _records(instance: etree._Element) -> dict[str, list[Record]]:
    found: dict[str, list[Record]] = defaultdict(list)

    def walk(element, path):
        leaves = [child for child in element if isinstance(child.tag, str) and len(child) == 0]
        filled = element.get("id") is not None or any((leaf.text or "").strip() for leaf in leaves)
        found[path].append(Record(frozenset(leaf.tag for leaf in leaves), element.get("id"), filled))
        for child in element:
            if isinstance(child.tag, str) and len(child):
                walk(child, child.tag if path == "." else f"{path}/{child.tag}")

    walk(instance, ".")
    return dict(found)


@cache
def corpus_activities() -> tuple[list[Activity], dict[str, list[tuple[str, str, str, str]]]]:
    """Every activity of a declared module in the corpus, and per item its module-context
    files as (contextid, component, filearea, itemid)."""
    activities: list[Activity] = []
    files: dict[str, list[tuple[str, str, str, str]]] = {}
    for item in items():
        found: list[Activity] = []
        settings: dict[str, str] = {}
        version = 0
        item_files: list[tuple[str, str, str, str]] = []
        for name, data in xml_members(item):
            match = _ACTIVITY_XML.search(name)
            if match and match.group(1) == match.group(3) and match.group(1) in KNOWN:
                module, cmid = match.group(1), match.group(2)
                root = etree.fromstring(data, _HUGE)
                instance = root.find(module)
                assert root.tag == "activity" and instance is not None, f"{item}: {name}"
                found.append(Activity(item, module, cmid, root.get("contextid"), _records(instance)))
            elif name.endswith("moodle_backup.xml") and name.count("/") == 0:
                root = etree.fromstring(data, _HUGE)
                version = int(root.findtext("information/backup_version") or 0)
                for setting in root.iterfind("information/settings/setting"):
                    settings[setting.findtext("name")] = (setting.findtext("value") or "").strip()
            elif name == "files.xml":
                root = etree.fromstring(data, _HUGE)
                item_files = [(file.findtext("contextid"), file.findtext("component"),
                               file.findtext("filearea"), file.findtext("itemid"))
                              for file in root.iterfind("file")]
        for activity in found:
            activity.version = version
            activity.userinfo = (settings.get("users") == "1"
                                 and settings.get(f"{activity.module}_{activity.cmid}_userinfo", "1") == "1")
        activities += found
        files[item] = item_files
    return activities, files


def _of(module: str) -> list[Activity]:
    return [activity for activity in corpus_activities()[0] if activity.module == module]


def _leaf(element: Element, column: str) -> str:
    """The leaf a column is read from."""
    return element.rename.get(column, column)


def _reference_kind(element: Element, leaf: str) -> str | None:
    """The kind the column read from ``leaf`` refers to, if it is a reference."""
    columns = [column for column, source in element.rename.items() if source == leaf] or [leaf]
    references = element.references()
    kinds = {references[column].kind for column in columns if column in references}
    return kinds.pop() if len(kinds) == 1 else None


def _declared(module: Module) -> dict[str, Element]:
    return {element.path: element for element in module.elements}


# -- the registry ---------------------------------------------------------------------------------

def test_known_lists_every_module_file_and_restore_keeps_its_own():
    files = sorted(path.stem for path in MODULES_FOLDER.glob("*.py") if path.stem != "__init__")
    assert list(KNOWN) == files
    assert set(NAMES) <= set(KNOWN)
    assert NAMES == ("assign", "book", "folder", "forum", "label", "page", "quiz", "resource", "url")
    for name in KNOWN:
        module = facts(name)
        assert isinstance(module, Module) and module.name == name
        assert module.step().root == f"/activity/{name}"
        assert declaration(name) is (module if name in NAMES else None)


@pytest.mark.parametrize("name", ["", "assignment", "hsuforum", "studentquiz", "../quiz", "Quiz"])
def test_unknown_modules_have_no_facts(name):
    assert facts(name) is None
    assert declaration(name) is None


# -- each declaration is coherent on its own -----------------------------------------------------

#: Kinds a module's references may name without declaring them: the ones the root,
#: course and question bank steps map.
CORE_KINDS = {"user", "group", "grouping", "scale", "outcome", "course", "course_module", "context",
              "question_bank_entry", "question_created", "question_category"}


def _ancestors(path: str) -> list[str]:
    """The enclosing element paths of ``path``, nearest first, ending with the instance."""
    parts = path.split("/") if path != "." else []
    return ["/".join(parts[:n]) for n in range(len(parts) - 1, 0, -1)] + (["."] if parts else [])


@pytest.mark.parametrize("name", KNOWN)
def test_declaration_is_coherent(name):
    module = facts(name)
    paths = [element.path for element in module.elements]
    assert len(paths) == len(set(paths)), "a path is declared twice"
    declared = _declared(module)
    assert "." in declared and declared["."].table == name and declared["."].kind == name
    kinds = {element.kind for element in module.elements if element.kind}
    for element in module.elements:
        enclosing = [declared[path] for path in _ancestors(element.path) if path in declared]
        enclosing_kinds = {other.kind for other in enclosing if other.kind}
        for column, kind in element.parents.items():
            assert kind in enclosing_kinds, f"{element.path}: parent {column} -> {kind} encloses nothing"
        if element.files_by:
            assert element.files_by in enclosing_kinds | {element.kind}, element.path
        assert element.files or not element.files_by, element.path
        for column, reference in element.references().items():
            assert reference.kind in kinds | CORE_KINDS, f"{element.path}: {column} -> {reference.kind}"
        if any(other.userdata for other in enclosing):
            assert element.userdata, f"{element.path} is inside user data but not marked so"
        assert not set(element.dates) & set(element.references()), element.path


# -- against the corpus ---------------------------------------------------------------------------

#: Leaves that hold a user id wherever Moodle's core modules write them.
USER_LEAVES = frozenset({"userid", "usermodified", "usercreated", "grader", "teacher", "allocatedmarker",
                         "authorid", "reviewerid", "gradeoverby", "gradinggradeoverby", "createdby",
                         "raterid", "privatereplyto", "loggeduser"})
#: Leaves that hold a group id.
GROUP_LEAVES = frozenset({"groupid"})


def test_the_corpus_has_what_the_checks_need():
    """The checks below pass vacuously on what is absent: make sure most is present."""
    activities, files = corpus_activities()
    assert {activity.module for activity in activities} >= set(NAMES) | {
        "choice", "data", "feedback", "glossary", "h5pactivity", "lesson", "lti", "scorm", "wiki"}
    assert any(activity.userinfo for activity in activities)
    assert any(not activity.userinfo for activity in activities)
    contexts = {(activity.item, activity.contextid) for activity in activities}
    assert sum((item, file[0]) in contexts for item, listed in files.items() for file in listed) > 1000


@pytest.mark.parametrize("name", KNOWN)
def test_every_record_moodle_wrote_is_declared(name):
    """An element with an id or a leaf holding text is a record: none goes unmentioned.
    (Wrappers, like a subplugin's empty element, only group other elements.)"""
    declared = _declared(facts(name))
    missing = {(activity.item, path) for activity in _of(name)
               for path, records in activity.records.items()
               if path not in declared and any(record.filled for record in records)}
    assert not missing


@pytest.mark.parametrize("name", KNOWN)
def test_user_and_group_ids_are_references(name):
    declared = _declared(facts(name))
    wrong = set()
    for activity in _of(name):
        for path, records in activity.records.items():
            leaves = frozenset().union(*(record.leaves for record in records))
            for leaf in leaves & (USER_LEAVES | GROUP_LEAVES):
                kind = "group" if leaf in GROUP_LEAVES else "user"
                element = declared.get(path)
                if element is None or _reference_kind(element, leaf) != kind:
                    wrong.add((path, leaf, kind))
    assert not wrong


def _documented_paths() -> tuple[str, set[str]]:
    """§5 of ``moodle-restore.md`` and the element paths it writes in backquotes (a
    leading ``…/`` marks a path's tail)."""
    text = (DOCS / "moodle-restore.md").read_text()
    modules = text[text.index("## 5. Core modules"):text.index("## 6. Question bank")]
    paths = {quoted for quoted in re.findall(r"`([^`]+)`", modules)
             if re.fullmatch(r"(…/)?[a-z0-9_]+(/[a-z0-9_]+)*", quoted)}
    return modules, paths


def _documented(name: str, path: str) -> bool:
    text, paths = _documented_paths()
    if path == ".":
        return re.search(rf"`\.`\s*(→|\|)\s*`{name}`", text) is not None
    return any(path.endswith("/" + quoted[2:]) if quoted.startswith("…/") else path == quoted
               for quoted in paths)


def _workshop_forms() -> dict[tuple[str, str], str]:
    """Where the four grading forms write, by Moodle's subplugin naming
    (``subplugin_<type>_<name>_<parent element>``, ``backup_subplugin::get_recommended_name``)."""
    source = "Moodle's mod/workshop/form/*/backup/moodle2 (§5.12 gives only the pattern)"
    example = "examplesubmissions/examplesubmission"
    assessments = {"referenceassessment": f"{example}/referenceassessment",
                   "exampleassessment": f"{example}/exampleassessments/exampleassessment",
                   "assessment": "submissions/submission/assessments/assessment"}
    grades = {"referenceassessment": "referencegrade", "exampleassessment": "examplegrade",
              "assessment": "grade"}
    paths = {}
    for form, extra in (("accumulative", ()), ("comments", ()), ("numerrors", ("map",)),
                        ("rubric", ("config", "dimension/workshopform_rubric_level"))):
        top = f"subplugin_workshopform_{form}_workshop"
        for part in ("dimension", *extra):
            paths[("workshop", f"{top}/workshopform_{form}_{part}")] = source
        for parent, path in assessments.items():
            paths[("workshop", f"{path}/subplugin_workshopform_{form}_{parent}/"
                               f"workshopform_{form}_{grades[parent]}")] = source
    return paths


#: Declared elements that neither occur in the corpus nor are written in §5, and where
#: they are known from.
UNDOCUMENTED = {
    ("subsection", "."): "Moodle 4.5's mod/subsection/backup/moodle2 (no corpus backup is that new)",
    ("feedback", "trackings/tracking"): "backups before feedback_tracking was dropped (Moodle 3.x);"
                                        " the corpus's are empty",
    ("scorm", "scoes/sco/seq_rolluprules/seq_rolluprule/seq_rollupruleconds/seq_rolluprulecond"):
        "Moodle's backup_scorm_stepslib nests it in the rule; §5.11 gives the restore's path,"
        " directly under the SCO, which the backup never writes",
    ("scorm", "scoes/sco/seq_ruleconds/seq_rulecond/seq_rulecond_datas/seq_rulecond_data"):
        "as for seq_rolluprulecond",
    ("workshop", "subplugin_workshopeval_best_workshop/workshopeval_best_settings"):
        "Moodle's mod/workshop/eval/best/backup/moodle2",
    **_workshop_forms(),
}


@pytest.mark.parametrize("name", KNOWN)
def test_declared_elements_occur_or_are_documented(name):
    seen = {path for activity in _of(name) for path in activity.records}
    unknown = {(name, element.path) for element in facts(name).elements
               if element.path not in seen and not _documented(name, element.path)}
    assert unknown == {key for key in UNDOCUMENTED if key[0] == name}


#: Declared dates never seen in the corpus, and why.
UNSEEN_DATES = {
    ("assign", "overrides/override"): (("allowsubmissionsfromdate", "duedate", "cutoffdate"),
                                       "no corpus assignment has an override"),
    ("quiz", "overrides/override"): (("timeopen", "timeclose"), "no corpus quiz has an override"),
    ("lesson", "overrides/override"): (("available", "deadline"), "no corpus lesson has an override"),
    ("lti", "ltisubmissions/ltisubmission"): (("datesubmitted", "dateupdated"),
                                              "the corpus's tools have no submissions"),
    ("chat", "."): (("chattime",), "no corpus backup has a chat"),
    ("workshop", "."): (("submissionstart", "submissionend", "assessmentstart", "assessmentend"),
                        "no corpus backup has a workshop"),
}


@pytest.mark.parametrize("name", KNOWN)
def test_dates_are_leaves_of_their_elements(name):
    """A declared date is written wherever its element is, except by Moodle versions older
    than every backup that writes it (fields come and go with releases)."""
    unseen = set()
    for element in facts(name).elements:
        for column in element.dates:
            leaf = element.rename.get(column, column)
            occurs = [activity for activity in _of(name) if element.path in activity.records]
            has = [activity.version for activity in occurs
                   if all(leaf in record.leaves for record in activity.records[element.path])]
            if not has:
                unseen.add((element.path, column))
                continue
            newer_without = {(activity.item, activity.version) for activity in occurs
                             if activity.version >= min(has) and
                             not all(leaf in record.leaves for record in activity.records[element.path])}
            assert not newer_without, f"{element.path}: {column}"
    assert unseen == {(path, column) for (module, path), (columns, _) in UNSEEN_DATES.items()
                      if module == name for column in columns}


def _areas(module: Module) -> dict[tuple[str, str], Element]:
    areas = {}
    for element in module.elements:
        for area in element.files:
            component, _, name = area.rpartition("/")
            areas[(component or module.component, name)] = element
    return areas


def _itemid_source(module: Module, element: Element) -> str:
    """The path of the element whose ids the files of ``element``'s areas carry."""
    declared = _declared(module)
    return next(path for path in [element.path, *_ancestors(element.path)]
                if path in declared and declared[path].kind == element.files_by)


@pytest.mark.parametrize("name", KNOWN)
def test_user_data_is_written_only_with_users(name):
    module = facts(name)
    private = [element for element in module.elements if element.userdata]
    private_areas = {area for area, element in _areas(module).items() if element.userdata}
    files = corpus_activities()[1]
    written = set()
    for activity in _of(name):
        if activity.userinfo:
            continue
        written |= {(activity.item, element.path) for element in private if element.path in activity.records}
        written |= {(activity.item, component, area) for contextid, component, area, _ in files[activity.item]
                    if contextid == activity.contextid and (component, area) in private_areas}
    assert not written


@pytest.mark.parametrize("name", KNOWN)
def test_files_are_in_declared_areas(name):
    """Every file of the activity's context is in a declared area, and carries the id of a
    record of the area's ``files_by`` kind (else 0). Question files in a module context
    belong to a question category there, restored with the question bank."""
    module = facts(name)
    areas = _areas(module)
    files = corpus_activities()[1]
    wrong = set()
    for activity in _of(name):
        for contextid, component, area, itemid in files[activity.item]:
            if contextid != activity.contextid:
                continue
            element = areas.get((component, area))
            if element is None:
                if component != "question":
                    wrong.add((activity.item, component, area, "undeclared"))
            elif element.files_by:
                if itemid not in activity.ids(_itemid_source(module, element)):
                    wrong.add((activity.item, component, area, itemid))
            elif itemid != "0":
                wrong.add((activity.item, component, area, itemid))
    assert not wrong
