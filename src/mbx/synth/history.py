"""A term of one course: successive weekly backups, for the store's tests and benchmarks.

``synthesize_history(folder, versions=30, size="1G")`` writes ``week-01.mbz`` ...
``week-30.mbz``, each the course a week later than the one before: the same
users, sections, activities and files (same ids, same bytes), plus what a week
adds: discussions and replies in the forums, ratings, assignment submissions
with their files and grades, quiz attempts, a page edited, folder files added
and removed, and every ``ADDED_EVERY`` weeks an activity. Dates move a week.

How: every version is the same course planned over the whole term, written as
of its date. Each activity draws from random streams and ids of its own
(:meth:`~mbx.synth.course.CourseSynthesizer.isolated`), and what it holds is
drawn whole and kept only when dated before the version's backup, so a
submission not yet made moves no other's draws. Forum discussions follow one
another over the term, so a week's are the last ones (and the next ids).
Blob content is a function of the file alone. The last version is written
first: it meets ``size`` and decides what the others must repeat (how many
discussions, how far apart; blob sizes), kept in a
:class:`~mbx.synth.plan.History`. Memory is synth's, plus a size per file.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from mbx.archive.base import MemberInfo
from mbx.progress import Monitor
from mbx.synth.course import CourseSynthesizer, course_shape
from mbx.synth.plan import History
from mbx.units import parse_size

__all__ = ["synthesize_history", "version_name"]


def version_name(number: int) -> str:
    """The file name of version ``number`` (1 first)."""
    return f"week-{number:02d}.mbz"


def synthesize_history(folder: str | os.PathLike, *, versions: int = 30,
                       size: int | str = "100M", seed: int = 1, users: int | None = None,
                       sections: int | None = None, activities: dict[str, int] | None = None,
                       progress: Monitor | Callable[[MemberInfo], None] | None = None,
                       compressor: str | None = None, level: int | None = None,
                       xml_share: float = 0.15) -> dict[str, Any]:
    """Writes ``versions`` weekly backups of one synthetic course into ``folder``
    (created if absent), ``week-01.mbz`` first; the last is about ``size`` bytes
    (within 10 %: the files removed during the term were sized in its budget),
    the earlier ones smaller by what the weeks after them add. Same arguments,
    same bytes. Returns each version's :func:`~mbx.synth.synthesize` result, oldest
    first, under ``versions``, and the total ``seconds``."""
    if versions < 1:
        raise ValueError("versions must be at least 1")
    target = parse_size(size)
    if target < 64 * 1024:
        raise ValueError("size must be at least 64K")
    users, sections, activities = course_shape(target, users, sections, activities)
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    history = History(versions)
    results: dict[int, dict[str, Any]] = {}
    # the last first: it draws what the others repeat
    for week in [versions - 1, *range(versions - 1)]:
        history.week = week
        results[week] = CourseSynthesizer(
            os.path.join(folder, version_name(week + 1)), target=target, seed=seed,
            users=users, sections=sections, activities=dict(activities), include_users=True,
            include_files=True, format="tgz", progress=progress, compressor=compressor,
            level=level, xml_share=xml_share, history=history).run()
        results[week]["version"] = week + 1
    ordered = [results[week] for week in range(versions)]
    return {"folder": folder, "seed": seed, "target": target, "versions": ordered,
            "size": sum(result["size"] for result in ordered),
            "seconds": round(sum(result["seconds"] for result in ordered), 3)}
