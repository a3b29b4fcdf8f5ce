"""mod_assign: submissions (online text, files), grades with feedback."""

from __future__ import annotations

from mbx.synth.modules.base import ModuleWriter, register
from mbx.synth.plan import NULL

MAX_FILES = 3  # files in one submission
#: expected files per student and assignment: 70 % submit, half of them files (1 to 3)
FILE_SHARE = 0.7


@register
class AssignWriter(ModuleWriter):
    name = "assign"
    completion = 2  # complete when submitted
    grading = ("submissions",)

    def expected_files(self, course, count: int) -> int:
        return int(FILE_SHARE * len(course.students) * count)

    def write(self, course, a) -> None:
        rng = course.rng
        a.grade_item = course.ids.next("grade_item", 61)
        duedate = course.start + rng.randint(20, 100) * 86400
        files: list[int] = []
        used: set[int] = set()
        submissions = []  # (submission id, user, status, time, files)
        if course.include_users:
            for user in course.students:
                status = rng.choices(["submitted", "new", "draft"], weights=[7, 2, 1])[0]
                sub_id = course.ids.next("submission", 1)
                when = duedate - rng.randint(0, 10 * 86400)
                used.add(user.id)
                count = 0
                if status == "submitted" and course.include_files and rng.random() < 0.5:
                    count = rng.randint(1, MAX_FILES)
                    for _ in range(count):
                        files.extend(course.files.add_refs(
                            a.contextid, "assignsubmission_file", "submission_files", sub_id,
                            user.id))
                submissions.append((sub_id, user, status, when, count))
        teacher = course.teacher_id
        if submissions:
            used.add(teacher)
        graded = [(sub[:4], rng.randint(40, 100)) for sub in submissions
                  if sub[2] == "submitted"]
        self.write_module(course, a)
        with self.activity_xml(course, a) as w, w.element("assign", {"id": a.instance}):
            for leaf, value in [
                    ("name", a.title), ("intro", course.text.html(1, 3)), ("introformat", 1),
                    ("alwaysshowdescription", 1), ("submissiondrafts", 0),
                    ("sendnotifications", 0), ("sendlatenotifications", 0),
                    ("sendstudentnotifications", 1), ("duedate", duedate), ("cutoffdate", 0),
                    ("gradingduedate", duedate + 7 * 86400),
                    ("allowsubmissionsfromdate", duedate - 14 * 86400), ("grade", 100),
                    ("timemodified", course.start + a.cmid), ("completionsubmit", 1),
                    ("requiresubmissionstatement", 0), ("teamsubmission", 0),
                    ("requireallteammemberssubmit", 0), ("teamsubmissiongroupingid", 0),
                    ("blindmarking", 0), ("hidegrader", 0), ("revealidentities", 0),
                    ("attemptreopenmethod", "none"), ("maxattempts", -1),
                    ("markingworkflow", 0), ("markingallocation", 0), ("markinganonymous", 0),
                    ("preventsubmissionnotingroup", 0), ("activity", NULL),
                    ("activityformat", 0), ("timelimit", 0), ("submissionattachments", 0)]:
                w.leaf(leaf, value)
            with w.element("userflags"):
                pass
            with w.element("submissions"):
                for sub_id, user, status, when, count in submissions:
                    course.stats["submissions"] += 1
                    with w.element("submission", {"id": sub_id}):
                        for leaf, value in [("userid", user.id), ("timecreated", when - 600),
                                            ("timemodified", when), ("timestarted", NULL),
                                            ("status", status), ("groupid", 0),
                                            ("attemptnumber", 0), ("latest", 1)]:
                            w.leaf(leaf, value)
                        # Moodle restores a submission's files only through this record
                        with w.element("subplugin_assignsubmission_file_submission"):
                            if status != "new":
                                w.record("submission_file",
                                         {"numfiles": count, "submission": sub_id})
                        with w.element("subplugin_assignsubmission_onlinetext_submission"):
                            if status != "new":
                                w.record("submission_onlinetext",
                                         {"onlinetext": course.text.html(1, 6),
                                          "onlineformat": 1, "submission": sub_id})
            with w.element("grades"):
                for (sub_id, user, _, when), mark in graded:
                    grade_id = course.ids.next("assign_grade", 1)
                    with w.element("grade", {"id": grade_id}):
                        for leaf, value in [("userid", user.id), ("timecreated", when + 3600),
                                            ("timemodified", when + 7200), ("grader", teacher),
                                            ("grade", f"{mark}.00000"), ("attemptnumber", 0)]:
                            w.leaf(leaf, value)
                        with w.element("subplugin_assignfeedback_comments_grade"):
                            w.record("feedback_comments",
                                     {"commenttext": course.text.html(1, 2),
                                      "commentformat": 1, "grade": grade_id})
                        with w.element("subplugin_assignfeedback_editpdf_grade"):
                            w.record("feedback_editpdf_files", {"gradeid": grade_id})
                            course.empty(w, "feedback_editpdf_annotations",
                                         "feedback_editpdf_comments",
                                         "feedback_editpdf_rotation")
                        course.empty(w, "subplugin_assignfeedback_file_grade")
            with w.element("plugin_configs"):
                for plugin, subtype, name, value in [
                        ("onlinetext", "assignsubmission", "enabled", 1),
                        ("file", "assignsubmission", "enabled", 1),
                        ("file", "assignsubmission", "maxfilesubmissions", 20),
                        ("file", "assignsubmission", "maxsubmissionsizebytes", 0),
                        ("comments", "assignsubmission", "enabled", 1),
                        ("comments", "assignfeedback", "enabled", 1),
                        ("editpdf", "assignfeedback", "enabled", 1),
                        ("file", "assignfeedback", "enabled", 0)]:
                    w.record("plugin_config", {"plugin": plugin, "subtype": subtype,
                                               "name": name, "value": value},
                             attrs={"id": course.ids.next("plugin_config", 1)})
            course.empty(w, "overrides")

        # complete when submitted; everyone who started a submission viewed the assignment
        completions = [(user.id, when) for _, user, status, when, _ in submissions
                       if status == "submitted"]
        views = [(user.id, when - 600) for _, user, status, when, _ in submissions
                 if status != "new"]
        grades = [(user.id, f"{mark}.00000", teacher, when + 3600, when + 7200)
                  for (_, user, _, when), mark in graded]
        self.write_common(course, a, files=files, users=used, grades=grades,
                          completions=completions, views=views)
