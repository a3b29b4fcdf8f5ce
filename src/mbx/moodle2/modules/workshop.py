"""mod_workshop and its grading strategy (``workshopform``) and evaluation
(``workshopeval``) subplugins.

Example submissions and their reference assessments are course data: Moodle
restores them as written by the user who runs the restore. Real submissions,
the assessments of both kinds made by users, and the aggregations are user data.

Each grading form declares its dimensions under the instance and its dimension
grades under each of the three assessments; all the grades go to
``workshop_grades``, with ``strategy`` the form's name and ``dimensionid``
mapped through the form's dimension. ``gradeoverby`` and ``gradinggradeoverby``
hold user ids that Moodle's restore copies unmapped [quirk]; they are declared
as user references because they are ones.
"""

from mbx.moodle2.declare import COURSE, USER, Element, Module, ref, view_rules

_EXAMPLE = "examplesubmissions/examplesubmission"
_REFERENCE = f"{_EXAMPLE}/referenceassessment"
_EXAMPLE_ASSESSMENT = f"{_EXAMPLE}/exampleassessments/exampleassessment"
_SUBMISSION = "submissions/submission"
_ASSESSMENT = f"{_SUBMISSION}/assessments/assessment"

_SUBMISSION_FILES = ("submission_content", "submission_attachment")
_FEEDBACK_FILES = ("overallfeedback_content", "overallfeedback_attachment")

#: The grading forms, and what each has beside its dimensions: (element, table).
_FORMS = {"accumulative": (), "comments": (),
          "numerrors": (("workshopform_numerrors_map", "workshopform_numerrors_map"),),
          "rubric": (("workshopform_rubric_config", "workshopform_rubric_config"),)}

#: Where each form writes its dimension grades: (assessment path, its element name, the
#: grade element suffix, the assessment kind, user data).
_GRADED = ((_REFERENCE, "referenceassessment", "referencegrade", "workshop_referenceassessment", False),
           (_EXAMPLE_ASSESSMENT, "exampleassessment", "examplegrade", "workshop_exampleassessment", True),
           (_ASSESSMENT, "assessment", "grade", "workshop_assessment", True))


def _form(name: str) -> tuple[Element, ...]:
    wrapper = f"subplugin_workshopform_{name}_workshop"
    dimension = f"workshopform_{name}_dimension"
    elements = [Element(f"{wrapper}/{dimension}", f"workshopform_{name}", kind=dimension,
                        parents={"workshopid": "workshop"},
                        # accumulative: a negative grade is a scale
                        refs={"grade": ref("scale", signed=True)} if name == "accumulative" else {},
                        files=(f"workshopform_{name}/description",), files_by=dimension)]
    elements += [Element(f"{wrapper}/{element}", table, parents={"workshopid": "workshop"})
                 for element, table in _FORMS[name]]
    if name == "rubric":
        elements.append(Element(f"{wrapper}/{dimension}/workshopform_rubric_level",
                                "workshopform_rubric_levels", parents={"dimensionid": dimension}))
    elements += [Element(f"{path}/subplugin_workshopform_{name}_{parent}/workshopform_{name}_{suffix}",
                         "workshop_grades", userdata=userdata, parents={"assessmentid": kind},
                         refs={"dimensionid": dimension}, fixed={"strategy": name})
                 for path, parent, suffix, kind, userdata in _GRADED]
    return tuple(elements)


MODULE = Module(
    "workshop",
    (Element(".", "workshop", kind="workshop", fixed={"course": COURSE},
             files=("intro", "instructauthors", "instructreviewers", "conclusion"),
             dates=("submissionstart", "submissionend", "assessmentstart", "assessmentend")),
     *(element for name in _FORMS for element in _form(name)),
     Element("subplugin_workshopeval_best_workshop/workshopeval_best_settings",
             "workshopeval_best_settings", parents={"workshopid": "workshop"}),
     Element(_EXAMPLE, "workshop_submissions", kind="workshop_examplesubmission",
             parents={"workshopid": "workshop"}, fixed={"example": 1, "authorid": USER},
             files=_SUBMISSION_FILES, files_by="workshop_examplesubmission"),
     Element(_REFERENCE, "workshop_assessments", kind="workshop_referenceassessment",
             parents={"submissionid": "workshop_examplesubmission"}, fixed={"reviewerid": USER},
             files=_FEEDBACK_FILES, files_by="workshop_referenceassessment"),
     Element(_EXAMPLE_ASSESSMENT, "workshop_assessments", kind="workshop_exampleassessment",
             userdata=True, parents={"submissionid": "workshop_examplesubmission"},
             refs={"reviewerid": "user", "gradinggradeoverby": "user"},
             files=_FEEDBACK_FILES, files_by="workshop_exampleassessment"),
     Element(_SUBMISSION, "workshop_submissions", kind="workshop_submission", userdata=True,
             parents={"workshopid": "workshop"}, fixed={"example": 0},
             refs={"authorid": "user", "gradeoverby": "user"},
             files=_SUBMISSION_FILES, files_by="workshop_submission"),
     Element(_ASSESSMENT, "workshop_assessments", kind="workshop_assessment", userdata=True,
             parents={"submissionid": "workshop_submission"},
             refs={"reviewerid": "user", "gradinggradeoverby": "user"},
             files=_FEEDBACK_FILES, files_by="workshop_assessment"),
     Element("aggregations/aggregation", "workshop_aggregations", userdata=True,
             parents={"workshopid": "workshop"}, refs={"userid": "user"})),
    links={"workshop": ("intro", "instructauthors", "instructreviewers", "conclusion"),
           "workshop_submissions": ("content", "feedbackauthor"),
           "workshop_assessments": ("feedbackauthor", "feedbackreviewer")},
    rules=view_rules("workshop"))
