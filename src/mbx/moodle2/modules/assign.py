"""mod_assign and its submission and feedback subplugins.

Old ids of submissions and grades are mapped under ``assign_submission`` and
``assign_grade``: Moodle's own names, ``submission`` and ``grade``, are shared
with other modules (forum grades) and last-write-wins across a restore, which
would send one module's files to another's rows when the files are placed in
the final task. The hooks (:mod:`mbx.restore.hooks.assign`) also set the
shared names, for the parts that read them right away (submission comments).
"""

from mbx.moodle2.declare import COURSE, Element, Module, ref

_SUBMISSION = "submissions/submission"
_GRADE = "grades/grade"
_EDITPDF = f"{_GRADE}/subplugin_assignfeedback_editpdf_grade"

MODULE = Module(
    "assign",
    (Element(".", "assign", kind="assign", fixed={"course": COURSE},
             refs={"grade": ref("scale", signed=True), "teamsubmissiongroupingid": "grouping"},
             dates=("allowsubmissionsfromdate", "duedate", "gradingduedate", "cutoffdate"),
             files=("intro", "introattachment", "activityattachment"), hook="assign"),
     Element(_SUBMISSION, "assign_submission", kind="assign_submission", userdata=True,
             parents={"assignment": "assign"}, refs={"userid": "user", "groupid": "group"},
             hook="assign_submission"),
     Element(f"{_SUBMISSION}/subplugin_assignsubmission_file_submission/submission_file",
             "assignsubmission_file", userdata=True,
             parents={"assignment": "assign", "submission": "assign_submission"},
             files=("assignsubmission_file/submission_files",), files_by="assign_submission"),
     Element(f"{_SUBMISSION}/subplugin_assignsubmission_onlinetext_submission/submission_onlinetext",
             "assignsubmission_onlinetext", userdata=True,
             parents={"assignment": "assign", "submission": "assign_submission"},
             files=("assignsubmission_onlinetext/submissions_onlinetext",),
             files_by="assign_submission"),
     Element(_GRADE, "assign_grades", kind="assign_grade", userdata=True,
             parents={"assignment": "assign"}, refs={"userid": "user", "grader": "user"},
             hook="assign_grade"),
     Element(f"{_GRADE}/subplugin_assignfeedback_comments_grade/feedback_comments",
             "assignfeedback_comments", userdata=True,
             parents={"assignment": "assign", "grade": "assign_grade"},
             files=("assignfeedback_comments/feedback",), files_by="assign_grade"),
     Element(f"{_GRADE}/subplugin_assignfeedback_file_grade/feedback_file",
             "assignfeedback_file", userdata=True,
             parents={"assignment": "assign", "grade": "assign_grade"},
             files=("assignfeedback_file/feedback_files",), files_by="assign_grade"),
     Element(f"{_EDITPDF}/feedback_editpdf_files", None, userdata=True,
             files=("assignfeedback_editpdf/download", "assignfeedback_editpdf/readonlypages",
                    "assignfeedback_editpdf/stamps"), files_by="assign_grade"),
     Element(f"{_EDITPDF}/feedback_editpdf_comments/comment", "assignfeedback_editpdf_cmnt",
             userdata=True, parents={"gradeid": "assign_grade"}),
     Element(f"{_EDITPDF}/feedback_editpdf_annotations/annotation", "assignfeedback_editpdf_annot",
             userdata=True, parents={"gradeid": "assign_grade"}),
     Element(f"{_EDITPDF}/feedback_editpdf_rotation/pagerotation", "assignfeedback_editpdf_rot",
             userdata=True, parents={"gradeid": "assign_grade"}),
     Element("userflags/userflag", "assign_user_flags", userdata=True,
             parents={"assignment": "assign"}, refs={"userid": "user", "allocatedmarker": "user"},
             dates=("extensionduedate",)),
     Element("overrides/override", "assign_overrides", kind="assign_override",
             parents={"assignid": "assign"}, refs={"userid": "user", "groupid": "group"},
             dates=("allowsubmissionsfromdate", "duedate", "cutoffdate"), hook="assign_override"),
     Element("plugin_configs/plugin_config", "assign_plugin_config",
             parents={"assignment": "assign"})),
    links={"assign": ("intro",)},
    # ASSIGNINDEX maps its id as a course module, as Moodle's rule does: an index link
    # holds a course id, so it resolves only when an old cmid happens to equal it.
    rules={"ASSIGNVIEWBYID": ("/mod/assign/view.php?id=$1", ("course_module",)),
           "ASSIGNINDEX": ("/mod/assign/index.php?id=$1", ("course_module",))},
    after="assign_after")
