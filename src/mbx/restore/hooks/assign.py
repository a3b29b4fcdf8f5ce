"""mod_assign's restore hooks."""

from __future__ import annotations

from mbx.moodle2.models import as_int
from mbx.restore.hooks import hook

#: ``state.current`` key: this assignment's submissions are not restored (team
#: submissions in a restore without groups).
NO_SUBMISSIONS = "assign_no_submissions"
#: Grades older backups kept on the grade row, restored as the user's flags.
LEGACY_FLAGS = ("extensionduedate", "mailed", "locked")


@hook
def assign(run, element, record, row, state) -> bool:
    """Blind marking without user data hides identities again; the legacy
    ``preventlatesubmissions`` becomes a cut-off at the due date."""
    if as_int(row.get("blindmarking")) and not state.task.userinfo:
        row["revealidentities"] = 0
    if as_int(record.get("preventlatesubmissions")):
        row["cutoffdate"] = row.get("duedate") or 0
    if as_int(row.get("teamsubmission")) and not run.setting_on("groups"):
        state.current[NO_SUBMISSIONS] = 1
    return True


@hook
def assign_submission(run, element, record, row, state) -> bool:
    if state.current.get(NO_SUBMISSIONS):
        return False
    old_group = as_int(record.get("groupid"))
    if old_group:
        group = run.ids.get("group", old_group)
        if not group:
            return False
        row["groupid"] = group
    row["latest"] = 0  # recomputed once the document is read (assign_after)
    row["id"] = run.target.new_id("assign_submission")
    run.ids.set("submission", record.get("id"), row["id"])  # Moodle's name, read by comments
    return True


@hook
def assign_grade(run, element, record, row, state) -> bool:
    if any(as_int(record.get(name)) for name in LEGACY_FLAGS):
        extension = as_int(record.get("extensionduedate"))
        run.insert("assign_user_flags", {
            "userid": row.get("userid") or 0, "assignment": row.get("assignment") or 0,
            "locked": as_int(record.get("locked")), "mailed": as_int(record.get("mailed")),
            "extensionduedate": extension + run.offset if extension else 0,
            "allocatedmarker": 0})
    grade = row.get("grade")
    try:
        if grade not in (None, "") and float(grade) < 0 and float(grade) != -1:
            row["grade"] = -1
    except ValueError:
        pass
    row["id"] = run.target.new_id("assign_grades")
    run.ids.set("grade", record.get("id"), row["id"])
    run.ids.set("grading_item_submissions", record.get("id"), row["id"])
    return True


@hook
def assign_override(run, element, record, row, state) -> bool:
    """User overrides need user data, group overrides groups; one whose user or
    group is not restored is left out."""
    if record.get("userid") is not None:
        if not state.task.userinfo or not row.get("userid"):
            return False
    if record.get("groupid") is not None:
        if not run.setting_on("groups") or not row.get("groupid"):
            return False
    return True


@hook
def assign_after(run, step, state) -> None:
    """``set_latest_submission_field``: a ``new`` submission for every grade of a
    user without one, then the highest attempt of each user (or group) is the latest."""
    assignment = state.current.get("assign")
    if not assignment:
        return
    mark = run.target.mark
    submission = run.t("assign_submission")
    if state.task.userinfo and not state.current.get(NO_SUBMISSIONS):
        missing = run.query(
            f"SELECT g.userid, g.attemptnumber FROM {run.t('assign_grades')} g "
            f"WHERE g.assignment = {mark} AND NOT EXISTS (SELECT 1 FROM {submission} s "
            f"WHERE s.assignment = g.assignment AND s.userid = g.userid) ORDER BY g.id",
            (assignment,))
        for userid, attempt in missing:
            run.insert("assign_submission", {
                "assignment": assignment, "userid": userid, "timecreated": run.now,
                "timemodified": run.now, "status": "new", "groupid": 0,
                "attemptnumber": attempt, "latest": 0})
    rows = run.query(f"SELECT id, userid, groupid, attemptnumber FROM {submission} "
                     f"WHERE assignment = {mark} ORDER BY id", (assignment,))
    latest: dict[tuple[int, int], tuple[int, int]] = {}
    for row_id, userid, groupid, attempt in rows:
        key = (userid, groupid)
        if key not in latest or attempt > latest[key][0]:
            latest[key] = (attempt, row_id)
    for _, row_id in latest.values():
        run.update("assign_submission", row_id, latest=1)
