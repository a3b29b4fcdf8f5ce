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
        """Every student's submission, its text, mark and feedback drawn together, so
        that in a history (where a submission is there from the time it was made)
        one not yet made moves no other's draws."""
        rng = course.rng
        a.grade_item = course.ids.next("grade_item", 61)
        if a.appears:  # added during a history's term: due a few weeks later
            duedate = a.appears + rng.randint(14, 28) * 86400
        else:
            duedate = course.start + rng.randint(20, course.span // 86400) * 86400
        cutoff = course.cutoff
        files: list[int] = []
        used: set[int] = set()
        #: (submission id, user, status, time, files, online text, (grade id, mark, comment))
        submissions = []
        if course.include_users:
            for user in course.students:
                status = rng.choices(["submitted", "new", "draft"], weights=[7, 2, 1])[0]
                sub_id = course.ids.next("submission", 1)
                when = duedate - rng.randint(0, 10 * 86400)
                count = 0
                if status == "submitted" and course.include_files and rng.random() < 0.5:
                    count = rng.randint(1, MAX_FILES)
                    for _ in range(count):
                        refs = course.files.add_refs(
                            a.contextid, "assignsubmission_file", "submission_files", sub_id,
                            user.id, appears=when if cutoff is not None else 0)
                        files.extend(refs)
                text = course.text.html(1, 6) if status != "new" else ""
                grade = None
                if status == "submitted":
                    grade = (course.ids.next("assign_grade", 1), rng.randint(40, 100),
                             course.text.html(1, 2))
                if cutoff is not None and when > cutoff:
                    continue
                used.add(user.id)
                submissions.append((sub_id, user, status, when, count, text, grade))
        teacher = course.teacher_id
        if submissions:
            used.add(teacher)
        graded = [(sub[:4], sub[6]) for sub in submissions if sub[6] is not None]
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
                for sub_id, user, status, when, count, text, _ in submissions:
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
                                         {"onlinetext": text,
                                          "onlineformat": 1, "submission": sub_id})
            with w.element("grades"):
                for (sub_id, user, _, when), (grade_id, mark, comment) in graded:
                    with w.element("grade", {"id": grade_id}):
                        for leaf, value in [("userid", user.id), ("timecreated", when + 3600),
                                            ("timemodified", when + 7200), ("grader", teacher),
                                            ("grade", f"{mark}.00000"), ("attemptnumber", 0)]:
                            w.leaf(leaf, value)
                        with w.element("subplugin_assignfeedback_comments_grade"):
                            w.record("feedback_comments",
                                     {"commenttext": comment,
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
        completions = [(sub[1].id, sub[3]) for sub in submissions if sub[2] == "submitted"]
        views = [(sub[1].id, sub[3] - 600) for sub in submissions if sub[2] != "new"]
        grades = [(user.id, f"{mark}.00000", teacher, when + 3600, when + 7200)
                  for (_, user, _, when), (_, mark, _) in graded]
        self.write_common(course, a, files=files, users=used, grades=grades,
                          completions=completions, views=views)
