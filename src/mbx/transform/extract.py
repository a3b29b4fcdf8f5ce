"""extract: one activity, or one section, as a backup of its own, as Moodle makes them.

Moodle backs an activity up with a plan of three tasks: root, the activity
(with its blocks), final; a section with root, the section, its activities,
final (``backup_plan_builder``). So the output holds:

* the chosen ``activities/<mod>_<cmid>/`` folder (or the section's
  ``sections/section_<id>/`` and the folders of its activities, delegated
  subsections with theirs), nothing of the others, and no ``course/`` folder:
  there is no course task;
* the top-level files the final task writes, holding what the kept tasks'
  ``inforef.xml`` files name (:class:`Closure`). Kinds restore loads only when
  an inforef names them (users, roles, question categories, files) keep
  exactly those ids; kinds restore takes whole (groups, groupings, scales,
  outcomes) keep those ids and what the kept records name (a grade item's
  scale, an outcome's scale, a grouping's groups), as Moodle's final
  annotations add them. Files restore loads whatever inforef says (users',
  groups', grades', the question bank's: ``ALWAYS_LOADED_COMPONENTS``) stay
  when their owner stays (:data:`OWNED_FILES`). Blobs follow their records;
* ``gradebook.xml`` and the top ``grade_history.xml`` only when every activity
  with grade items is kept (Moodle writes them only when all the course's
  module grade items are in the backup); ``completion.xml`` as it is (Moodle
  writes the course's completion into activity and section backups too; its
  criteria on activities left out are skipped on restore); no ``badges.xml``
  (badges are backed up with courses only);
* ``moodle_backup.xml`` saying so: ``details/detail/type`` ``activity`` or
  ``section``, the contents listing only what is kept (no ``course`` entry),
  the settings of the kept activities and sections only, the converters'
  root settings (``imscc11``: Moodle offers them for course backups only)
  gone and ``badges`` at 0. The ``backup_id`` attribute stays (the rewriter
  changes no attribute; restore does not read it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from mbx.errors import MbxError
from mbx.moodle2 import structure
from mbx.moodle2.files import QUESTION_COMPONENT, QUESTION_TYPE_PREFIX
from mbx.moodle2.inforef import DEFINITIONS, KNOWN_REFS
from mbx.moodle2.members import FILES, GROUPS, MOODLE_BACKUP, SECTION_XML
from mbx.transform.base import Facts, Transform
from mbx.transform.pipeline import run

__all__ = ["Extract", "SelectionError", "extract"]

INFORMATION = "/moodle_backup/information"
#: Top-level members a backup of an activity or a section never holds.
NOT_IN_PART_BACKUPS = frozenset({"badges.xml"})
#: Written only when every module grade item of the course is in the backup.
GRADEBOOK_MEMBERS = frozenset({"gradebook.xml", "grade_history.xml"})
#: Root settings of the converters, which Moodle offers for course backups only.
CONVERTER_SETTINGS = frozenset({"imscc11"})
#: Root settings a backup of an activity or a section has at 0 (course-only parts).
COURSE_ONLY_SETTINGS = frozenset({"badges"})
#: Files restore loads without a ``fileref`` (``ALWAYS_LOADED_COMPONENTS`` and the
#: question types): (component, file area or None for any) -> (the record's field,
#: the owner set the value must be in for the file to stay). Those of other
#: components (``badges``), and unknown areas, go.
OWNED_FILES: dict[tuple[str, str | None], tuple[str, str]] = {
    ("user", None): ("contextid", "user_context"),
    ("group", None): ("itemid", "group"),
    ("grouping", None): ("itemid", "grouping"),
    ("grade", "scale"): ("itemid", "scale"),
    ("grade", "outcome"): ("itemid", "outcome"),
    ("grade", "feedback"): ("itemid", "grade_grade"),
    ("grade", "historyfeedback"): ("itemid", "grade_history"),
    (QUESTION_COMPONENT, None): ("contextid", "question_context"),
    (QUESTION_TYPE_PREFIX, None): ("contextid", "question_context"),
}

#: Records naming what a kept record brings along (a grade item's scale and outcome,
#: an outcome's scale, a grouping's groups) or owns (grades' feedback files).
GRADE_ITEM = "/activity_gradebook/grade_items/grade_item"
GRADEBOOK_ITEM = "/gradebook/grade_items/grade_item"
HISTORY_GRADE = "/grade_history/grade_grades/grade_grade"
GROUPING = "/groups/groupings/grouping"
GROUPING_GROUP = f"{GROUPING}/grouping_groups/grouping_group"
OUTCOME = "/outcomes_definition/outcome"
#: The definitions read from the pipeline's own facts (files) or per folder (grade items).
GRADEBOOK = "gradebook.xml"
NOT_SURVEYED = frozenset({FILES, "grades.xml", GRADEBOOK})


class SelectionError(MbxError, ValueError):
    """What to extract is not said, said twice, or not in the backup."""

    code = "transform-bad-selection"


class _Tracked:
    """A member pattern that remembers the name it last matched.

    The survey's rules are fixed before the first member (when no name is known
    yet); the pipeline matches each member's name just before parsing it, so a
    handler reading :attr:`current` knows which member its records come from.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern)
        self.current = ""

    def fullmatch(self, name: str) -> re.Match | None:
        match = self.pattern.fullmatch(name)
        if match is not None:
            self.current = name
        return match

    @property
    def folder(self) -> str:
        return self.current.rsplit("/", 1)[0]


def _id_of(value: str | None) -> str | None:
    """An id as records hold it: ``None`` for empty, NULL, 0 or negative."""
    return value if value and value.isdigit() and value != "0" else None


class Closure:
    """What the survey learnt, and the ids that stay once the kept folders are known."""

    def __init__(self) -> None:
        #: task folder (``activities/quiz_2``, ``activities/quiz_2/blocks/html_5``,
        #: ``sections/section_3``, ``course``) -> inforef kind -> ids
        self.refs: dict[str, dict[str, set[str]]] = {}
        #: kind -> id -> the record's context (users and question categories) or None
        self.defined: dict[str, dict[str, str | None]] = {}
        #: section folder -> its number (section.xml)
        self.section_numbers: dict[str, str] = {}
        #: activity folder -> [(scaleid, outcomeid)] of its grade items
        self.grade_items: dict[str, list[tuple[str | None, str | None]]] = {}
        #: activity folder (or "" for gradebook.xml) -> grade_grade ids
        self.grade_grades: dict[str, set[str]] = {}
        #: activity folder -> grade history ids
        self.histories: dict[str, set[str]] = {}
        self.outcome_scales: dict[str, str] = {}
        self.grouping_groups: dict[str, set[str]] = {}
        self._grouping = ""

    # the survey's handlers: ``folder`` gives the folder of the member being read
    def reference(self, member: _Tracked, kind: str):
        def note(record: dict) -> None:
            if record.get("id"):
                self.refs.setdefault(member.folder, {}).setdefault(kind, set()).add(record["id"])
        return note

    def definition(self, kind: str):
        defined = self.defined.setdefault(kind, {})

        def note(record: dict) -> None:
            if record.get("id") is not None:
                defined[record["id"]] = record.get("contextid")
        return note

    def section(self, member: _Tracked):
        def note(record: dict) -> None:
            self.section_numbers[member.folder] = (record.get("number") or "").strip()
        return note

    def grade_item(self, folder: Callable[[], str]):
        def note(record: dict) -> None:
            self.grade_items.setdefault(folder(), []).append(
                (_id_of(record.get("scaleid")), _id_of(record.get("outcomeid"))))
        return note

    @staticmethod
    def ids(into: dict[str, set[str]], folder: Callable[[], str]):
        def note(record: dict) -> None:
            if record.get("id"):
                into.setdefault(folder(), set()).add(record["id"])
        return note

    def outcome(self, record: dict) -> None:
        scale = _id_of(record.get("scaleid"))
        if record.get("id") and scale:
            self.outcome_scales[record["id"]] = scale

    def grouping(self, record: dict) -> None:
        self._grouping = record.get("id") or ""

    def grouping_group(self, record: dict) -> None:
        if record.get("groupid"):
            self.grouping_groups.setdefault(self._grouping, set()).add(record["groupid"])

    def kept(self, folders: list[str], gradebook: bool
             ) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        """For the kept task folders: kind -> the ids that stay, and the owners
        (:data:`OWNED_FILES`) whose files stay."""
        kept: dict[str, set[str]] = {kind: set() for kind in KNOWN_REFS}
        for folder, refs in self.refs.items():
            if any(folder == top or folder.startswith(top + "/") for top in folders):
                for kind, ids in refs.items():
                    kept.setdefault(kind, set()).update(ids)
        item_folders = [*folders, ""] if gradebook else folders
        for folder in item_folders:
            for scale, outcome in self.grade_items.get(folder, ()):
                if scale:
                    kept["scale"].add(scale)
                if outcome:
                    kept["outcome"].add(outcome)
        kept["scale"].update(self.outcome_scales[outcome] for outcome in kept["outcome"]
                             if outcome in self.outcome_scales)
        for grouping in kept["grouping"]:
            kept["group"].update(self.grouping_groups.get(grouping, ()))
        owners = {
            "user_context": {self.defined.get("user", {}).get(user) for user in kept["user"]},
            "question_context": {self.defined.get("question_category", {}).get(category)
                                 for category in kept["question_category"]},
            "grade_grade": set().union(*(self.grade_grades.get(f, ()) for f in item_folders)),
            "grade_history": set().union(*(self.histories.get(f, ()) for f in folders)),
            **{kind: kept[kind] for kind in ("group", "grouping", "scale", "outcome")},
        }
        return kept, {key: values - {None} for key, values in owners.items()}


def file_owner_rule(component: str, filearea: str) -> tuple[str, str] | None:
    """The :data:`OWNED_FILES` rule of a file restore loads without a ``fileref``, or
    ``None`` when restore loads it only through one."""
    if component.startswith(QUESTION_TYPE_PREFIX):
        component = QUESTION_TYPE_PREFIX
    elif component not in structure.ALWAYS_LOADED_COMPONENTS:
        return None
    return OWNED_FILES.get((component, filearea)) or OWNED_FILES.get((component, None))


class Extract(Transform):
    """Keeps one activity (``activity``: its course module id) or one section
    (``section``: its number); see the module docstring."""

    name = "extract"

    def __init__(self, *, activity: int | None = None, section: int | None = None) -> None:
        if (activity is None) == (section is None):
            raise SelectionError("give an activity (its course module id) or a section "
                                 "(its number), not both and not neither")
        for what, value in (("activity", activity), ("section", section)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < 0):
                raise SelectionError(f"{what} must be a whole number >= 0, not {value!r}")
        self.activity = activity
        self.section = section
        self.closure = Closure()
        self.folders: list[str] = []        # kept activity and section folders
        self.kept: dict[str, set[str]] = {}
        self.owners: dict[str, set[str]] = {}
        self.gradebook = False
        self.removed: dict[str, int] = {}

    @property
    def backup_type(self) -> str:
        return "activity" if self.activity is not None else "section"

    # -- pass 1 ------------------------------------------------------------------------
    def survey(self, facts: Facts):
        closure = self.closure
        inforef = _Tracked(r".+/inforef\.xml")
        for kind in KNOWN_REFS:
            yield inforef, f"/inforef/{kind}ref/{kind}", closure.reference(inforef, kind)
        for member, paths in DEFINITIONS.items():
            if member not in NOT_SURVEYED:
                for path, kind in paths:
                    yield member, path, closure.definition(kind)
        sections = _Tracked(SECTION_XML.pattern)
        yield sections, "/section", closure.section(sections)
        grades = _Tracked(r"activities/[^/]+/grades\.xml")
        yield grades, GRADE_ITEM, closure.grade_item(lambda: grades.folder)
        yield grades, f"{GRADE_ITEM}/grade_grades/grade_grade", closure.ids(
            closure.grade_grades, lambda: grades.folder)
        history = _Tracked(r"activities/[^/]+/grade_history\.xml")
        yield history, HISTORY_GRADE, closure.ids(closure.histories, lambda: history.folder)
        course = lambda: ""  # noqa: E731 (gradebook.xml's records, the course's)
        yield GRADEBOOK, GRADEBOOK_ITEM, closure.grade_item(course)
        yield GRADEBOOK, f"{GRADEBOOK_ITEM}/grade_grades/grade_grade", closure.ids(
            closure.grade_grades, course)
        yield "outcomes.xml", OUTCOME, closure.outcome
        yield GROUPS, GROUPING, closure.grouping
        yield GROUPS, GROUPING_GROUP, closure.grouping_group

    # -- the choice --------------------------------------------------------------------
    def prepare(self, facts: Facts) -> None:
        info = facts.information
        present = {info_.name for info_ in facts.members}
        listed = [entry for entry in info.activities if entry.directory]
        if self.activity is not None:
            chosen = [entry for entry in listed if entry.moduleid == str(self.activity)]
            if not chosen:
                raise SelectionError(f"the backup has no activity with course module id "
                                     f"{self.activity} (it lists {_listing(listed)})",
                                     source=facts.source)
            folder = chosen[0].directory.strip("/")
            if folder not in present and not any(name.startswith(folder + "/") for name in present):
                raise SelectionError(f"activity {self.activity} is listed but its folder "
                                     f"{folder!r} is not in the backup (it was left out of it)",
                                     source=facts.source)
            self.folders = [folder]
        else:
            self.folders = self._section_folders(facts, listed)
        graded = {folder for folder, items in self.closure.grade_items.items() if folder and items}
        self.gradebook = graded <= set(self.folders)
        self.kept, self.owners = self.closure.kept(self.folders, self.gradebook)
        self._remove(facts)

    def _section_folders(self, facts: Facts, listed: list) -> list[str]:
        info = facts.information
        numbers = self.closure.section_numbers
        wanted = str(self.section)
        entries = [entry for entry in info.sections if entry.directory
                   and numbers.get(entry.directory.strip("/")) == wanted]
        if not entries:
            known = sorted({n for n in numbers.values() if n.isdigit()}, key=int)
            raise SelectionError(f"the backup has no section number {self.section} (it has "
                                 f"{', '.join(known) or 'none'})", source=facts.source)
        folders: list[str] = []
        pending = [entries[0]]
        while pending:  # a section, then the subsections its activities own (4.5)
            entry = pending.pop(0)
            folders.append(entry.directory.strip("/"))
            members = [activity for activity in listed if activity.sectionid == entry.sectionid]
            folders += [activity.directory.strip("/") for activity in members]
            owners = {activity.moduleid for activity in members}
            pending += [section for section in info.sections if section.directory
                        and section.parentcmid and section.parentcmid in owners
                        and section.directory.strip("/") not in folders]
        return folders

    def _remove(self, facts: Facts) -> None:
        kept, owners = self.kept, self.owners
        for kind, defined in self.closure.defined.items():
            gone = set(defined) - kept.get(kind, set())
            if gone:
                facts.remove(kind, gone)
            self.removed[kind] = len(gone)
        fileref = kept.get("file", set())
        gone_files = []
        for file_id, (_, contextid, component, filearea, itemid, _) in facts.files.records.items():
            if file_id in fileref:
                continue
            rule = file_owner_rule(component, filearea)
            if rule is not None:
                field, owner = rule
                if (contextid if field == "contextid" else itemid) in owners[owner]:
                    continue
            gone_files.append(file_id)
        facts.remove("file", gone_files)
        self.removed["file"] = len(gone_files)

    # -- pass 2 ------------------------------------------------------------------------
    def drops(self, name: str, facts: Facts) -> bool:
        if name in NOT_IN_PART_BACKUPS:
            return True
        if name in GRADEBOOK_MEMBERS:
            return not self.gradebook
        top, _, below = name.partition("/")
        if top == "course":
            return True
        if top in ("activities", "sections") and below:
            return "/".join(name.split("/", 2)[:2]) not in self.folders
        return False

    def rewrites(self, name: str, facts: Facts):
        if name == MOODLE_BACKUP:
            kept = {folder.rsplit("/", 1)[-1] for folder in self.folders}
            yield f"{INFORMATION}/details/detail", self._detail
            yield f"{INFORMATION}/contents/activities/activity", self._listed(kept)
            yield f"{INFORMATION}/contents/sections/section", self._listed(kept)
            yield f"{INFORMATION}/contents/course", lambda element: element.drop()
            yield f"{INFORMATION}/settings/setting", self._setting(kept)

    def _detail(self, element) -> None:
        if "type" in element.spans:
            element.replace("type", self.backup_type)

    @staticmethod
    def _listed(kept: set[str]):
        def keep_or_drop(element) -> None:
            directory = (element.get("directory") or "").strip("/")
            if directory.rsplit("/", 1)[-1] not in kept:
                element.drop()
        return keep_or_drop

    @staticmethod
    def _setting(kept: set[str]):
        def keep_or_drop(element) -> None:
            level, name = element.get("level"), element.get("name")
            if level in ("activity", "section"):
                if element.get(level) not in kept:
                    element.drop()
            elif level in (None, "root"):
                if name in CONVERTER_SETTINGS:
                    element.drop()
                elif name in COURSE_ONLY_SETTINGS and element.get("value") != "0" \
                        and "value" in element.spans:
                    element.replace("value", "0")
        return keep_or_drop

    def report(self) -> dict[str, Any]:
        return {"type": self.backup_type, "folders": list(self.folders),
                "gradebook": self.gradebook,
                "removed": {kind: count for kind, count in self.removed.items() if count}}


def _listing(entries: list) -> str:
    shown = ", ".join(f"{entry.moduleid} ({entry.modulename})" for entry in entries[:12])
    return (shown + ", ..." if len(entries) > 12 else shown) or "none"


def extract(source: str | os.PathLike, output: str | os.PathLike, *, activity: int | None = None,
            section: int | None = None, format: str = "tgz", progress=None):
    """Writes ``output``: the activity with course module id ``activity``, or the
    section numbered ``section``, of ``source`` as an activity or section backup."""
    return run(source, output, [Extract(activity=activity, section=section)], format=format,
               progress=progress)
