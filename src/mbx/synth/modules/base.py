"""What every module writer shares: the registry, ``module.xml``, ``<mod>.xml``'s
root, and the files every activity has (roles, filters, grades, inforef ...)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, ClassVar, Iterator

from mbx.synth.plan import NULL, Activity

if TYPE_CHECKING:
    from mbx.synth.course import CourseSynthesizer
    from mbx.xml import XmlWriter

__all__ = ["MODULES", "MODULE_VERSION", "ModuleWriter", "register"]

MODULE_VERSION = "2024100700"  # every core module of Moodle 4.5.0
#: module name -> its writer, in planning order
MODULES: dict[str, ModuleWriter] = {}


def register(writer: type[ModuleWriter]) -> type[ModuleWriter]:
    """Class decorator: makes ``writer`` the writer of module ``writer.name``."""
    if writer.name in MODULES:
        raise ValueError(f"two synth writers for module {writer.name!r}")
    MODULES[writer.name] = writer()
    return writer


class ModuleWriter:
    """Writes the activities of one module (``name``) into ``activities/<mod>_<cmid>/``.

    Subclasses set the class attributes and implement :meth:`write`; modules
    that make up the size (``fills_xml``) implement :meth:`fill` instead.
    """

    name: ClassVar[str]
    version: ClassVar[str] = MODULE_VERSION
    #: ``module.xml``'s ``completion``: 0 none, 1 manual, 2 automatic
    completion: ClassVar[int] = 0
    #: the module's advanced grading areas (``grading.xml``), None when it has none
    grading: ClassVar[tuple[str, ...] | None] = None
    #: activities that take the files no other module needs (folders)
    takes_spare_files: ClassVar[bool] = False
    #: activities written last, sharing what is left of the XML share (forums)
    fills_xml: ClassVar[bool] = False

    def expected_files(self, course: CourseSynthesizer, count: int) -> int:
        """How many files ``count`` activities of this module will have in any case."""
        return 0

    def write(self, course: CourseSynthesizer, a: Activity) -> None:
        """Writes activity ``a`` (its module.xml, <mod>.xml and common files)."""
        raise NotImplementedError

    def fill(self, course: CourseSynthesizer, activities: list[Activity], budget: float,
             spare_files: int) -> None:
        """Writes ``activities`` (``fills_xml`` modules) so that together they cost about
        ``budget`` compressed bytes, with about ``spare_files`` files among them."""
        raise NotImplementedError

    # -- helpers for the writers -------------------------------------------------------

    def write_module(self, course: CourseSynthesizer, a: Activity) -> None:
        with course.xml(f"{a.directory}/module.xml") as w, \
                w.element("module", {"id": a.cmid, "version": self.version}):
            for leaf, value in [
                    ("modulename", a.modname), ("sectionid", a.sectionid),
                    ("sectionnumber", a.sectionnumber), ("idnumber", ""),
                    ("added", course.start + a.cmid), ("score", 0), ("indent", 0),
                    ("visible", 1), ("visibleoncoursepage", 1), ("visibleold", 1),
                    ("groupmode", 0), ("groupingid", 0), ("completion", self.completion),
                    ("completiongradeitemnumber", NULL), ("completionpassgrade", 0),
                    ("completionview", 0), ("completionexpected", 0), ("availability", NULL),
                    ("showdescription", 0), ("downloadcontent", 1), ("lang", "")]:
                w.leaf(leaf, value)
            course.empty(w, "tags")

    @contextmanager
    def activity_xml(self, course: CourseSynthesizer, a: Activity) -> Iterator[XmlWriter]:
        """``<mod>.xml`` opened at its ``activity`` root."""
        with course.xml(f"{a.directory}/{a.modname}.xml") as w, \
                w.element("activity", {"id": a.instance, "moduleid": a.cmid,
                                       "modulename": a.modname, "contextid": a.contextid}):
            yield w

    @staticmethod
    def intro(course: CourseSynthesizer) -> str:
        return course.text.html(1, 3) if course.rng.random() < 0.7 else ""

    def write_common(self, course: CourseSynthesizer, a: Activity, *, files=(), users=(),
                     grades=(), question_categories=(), completions=(), views=()) -> None:
        """The files every activity has besides module.xml and <mod>.xml; ``grades``
        are the grade_grade rows of the activity's grade item, if it has one,
        ``completions`` (userid, time completed) and ``views`` (userid, time) its
        completion data."""
        folder = a.directory
        course.write_context_roles(f"{folder}/roles.xml")
        course.write_empty_common(f"{folder}/filters.xml", "filters")
        course.write_empty_common(f"{folder}/comments.xml", "comments")
        if course.include_users:
            self.write_completion(course, a, completions, views)
        course.write_empty_common(f"{folder}/calendar.xml", "calendar")
        self.write_grades(course, a, grades)
        if self.grading is not None:
            with course.xml(f"{folder}/grading.xml") as w, w.element("areas"):
                for area in self.grading:  # no method chosen: simple direct grading
                    with w.element("area", {"id": course.ids.next("grading_area", 1)}):
                        w.leaf("areaname", area)
                        w.leaf("activemethod", NULL)
                        course.empty(w, "definitions")
        course.write_empty_common(f"{folder}/grade_history.xml", "grade_history")
        course.write_empty_common(f"{folder}/competencies.xml", "module_competencies")
        course.inforef(f"{folder}/inforef.xml", users=users, files=files,
                       grade_items=() if a.grade_item is None else (a.grade_item,),
                       question_categories=question_categories)

    @staticmethod
    def write_completion(course: CourseSynthesizer, a: Activity, completions, views) -> None:
        """completion.xml in the 4.3+ form: completion states without the old
        per-row ``viewed``, views in their own ``completionviews`` list."""
        with course.xml(f"{a.directory}/completion.xml") as w, w.element("completions"):
            for userid, when in completions:
                w.record("completion", {"userid": userid, "completionstate": 1,
                                        "timemodified": when},
                         attrs={"id": course.ids.next("completion", 1)})
            with w.element("completionviews"):
                for userid, when in views:
                    w.record("completionview", {"userid": userid, "timecreated": when},
                             attrs={"id": course.ids.next("completion_view", 1)})

    @staticmethod
    def write_grades(course: CourseSynthesizer, a: Activity, grades) -> None:
        """grades.xml: the activity's grade item (if any) with one grade_grade per
        (userid, grade, usermodified, timecreated, timemodified) in ``grades``."""
        a.grades = list(grades)
        with course.xml(f"{a.directory}/grades.xml") as w, w.element("activity_gradebook"):
            if a.grade_item is None:
                course.empty(w, "grade_items")
            else:
                with w.element("grade_items"), w.element("grade_item", {"id": a.grade_item}):
                    course.grade_item_leaves(w, a, "mod", a.instance, 50, a.grade_item - 59)
                    with w.element("grade_grades"):
                        for row in a.grades:
                            course.grade_grade(w, row)
            course.empty(w, "grade_letters")
