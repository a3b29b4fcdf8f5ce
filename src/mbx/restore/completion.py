"""Course completion, restored in the final task from the top ``completion.xml``.

Criteria (``course_completion_criteria``), each user's completion of them
(``course_completion_crit_compl``, with ``userscompletion``), course
completions (``course_completions``, likewise) and the aggregation methods
(``course_completion_aggr_methd``). As in Moodle the step runs only when the
course has no criteria yet and no activity was left out (unlike the gradebook,
a module the target lacks does not stop it). Activities mbx keeps raw still
have their course modules, so criteria on them resolve; criteria on an
activity of a module the target lacks are left out, as in Moodle, where such
an activity has no course module.
"""

from __future__ import annotations

from mbx.moodle2.grades import COURSE_COMPLETION
from mbx.restore.engine import Task

__all__ = ["restore_course_completion"]


def restore_course_completion(engine, plan) -> None:
    """Runs the course completion step when Moodle would."""
    if not plan.source.exists(COURSE_COMPLETION.member):
        return
    listed = [activity for activity in plan.info.activities if activity.directory]
    if len(plan.activities) < len(listed):
        engine.report.warn("completion_skipped", "some activities are left out: course completion "
                           "is not restored", COURSE_COMPLETION.member)
        return
    mark = engine.target.mark
    if engine.query(f"SELECT 1 FROM {engine.t('course_completion_criteria')} WHERE course = {mark}",
                    (engine.course_id,)):
        return
    task = Task(kind="final", folder="", context=engine.course_context,
                userinfo=engine.setting_on("userscompletion"))
    engine.run_step(COURSE_COMPLETION, task)
