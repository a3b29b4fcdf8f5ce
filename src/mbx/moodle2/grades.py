"""Declarations of the final task's gradebook and course completion members.

``gradebook.xml`` (the course's categories, its course, category and manual
items, their grades, letters and settings), ``grade_history.xml`` (at the
top and in each activity) and the top ``completion.xml``. Grade categories and items have no table of their own here: whether
a record becomes a new row or updates the course's own category and item is
decided by the hook.
"""

from __future__ import annotations

from mbx.moodle2.declare import COURSE, COURSE_CONTEXT, Element, Missing, Step, ref

GRADEBOOK = Step("gradebook.xml", "/gradebook", (
    Element("attributes", None, hook="gradebook_attributes"),
    Element("grade_categories/grade_category", None, hook="gradebook_category"),
    Element("grade_items/grade_item", None, hook="gradebook_item"),
    Element("grade_items/grade_item/grade_grades/grade_grade", "grade_grades", kind="grade_grades",
            userdata=True, parents={"itemid": "grade_item"},
            refs={"userid": ref("user", Missing.SKIP), "usermodified": ref("user", Missing.NULL),
                  "rawscaleid": ref("scale", Missing.NULL)},
            dates=("locktime",), required=("itemid",), unique=("itemid", "userid")),
    Element("grade_letters/grade_letter", "grade_letters", fixed={"contextid": COURSE_CONTEXT},
            unique=("contextid", "lowerboundary", "letter")),
    Element("grade_settings/grade_setting", "grade_settings", fixed={"courseid": COURSE},
            hook="gradebook_setting"),
))

#: The columns of a gradebook item or category record that are rolled.
GRADEBOOK_DATES = ("locktime",)


def _history(files: tuple[str, ...] = ()) -> Step:
    return Step("grade_history.xml", "/grade_history", (
        Element("grade_grades/grade_grade", "grade_grades_history", kind="grade_grades_history",
                userdata=True,
                refs={"userid": ref("user", Missing.SKIP), "itemid": ref("grade_item", Missing.SKIP),
                      "oldid": "grade_grades", "usermodified": "user", "loggeduser": "user",
                      "rawscaleid": "scale"},
                files=files, files_by="grade_grades_history" if files else None,
                hook="activity_grade"),
    ), setting="grade_histories")


#: The top ``grade_history.xml``: grades of course, category and manual items.
GRADE_HISTORY = _history()
#: An activity's ``grade_history.xml``, with its history feedback files.
ACTIVITY_GRADE_HISTORY = _history(("grade/historyfeedback",))

COURSE_COMPLETION = Step("completion.xml", "/course_completion", (
    Element("course_completion_criteria", "course_completion_criteria",
            kind="course_completion_criteria", fixed={"course": COURSE}, dates=("timeend",),
            hook="completion_criterion"),
    Element("course_completion_criteria/course_completion_crit_completions/course_completion_crit_compl",
            "course_completion_crit_compl", userdata=True,
            parents={"criteriaid": "course_completion_criteria"},
            refs={"userid": ref("user", Missing.SKIP)}, fixed={"course": COURSE},
            required=("criteriaid",), unique=("criteriaid", "userid")),
    Element("course_completions", "course_completions", userdata=True,
            refs={"userid": ref("user", Missing.SKIP)}, fixed={"course": COURSE},
            hook="course_completion"),
    Element("course_completion_aggr_methd", "course_completion_aggr_methd", fixed={"course": COURSE},
            unique=("course", "criteriatype")),
))

__all__ = ["ACTIVITY_GRADE_HISTORY", "COURSE_COMPLETION", "GRADEBOOK", "GRADEBOOK_DATES", "GRADE_HISTORY"]
