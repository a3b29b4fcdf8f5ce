"""Time: cron expressions of schedules, and the daily window in which jobs may start.

Both read the local time of the machine that asks (a worker, for a window).
Every function takes ``now`` (Unix seconds), so tests drive the clock.
"""

from __future__ import annotations

import datetime
import re

from mbx.jobs.table import JobError

__all__ = ["check_cron", "next_due", "parse_window", "window_opening"]


def check_cron(cron: str) -> str:
    """``cron`` if it is a five-field cron expression (``0 22 * * 1-5``), else JobError."""
    from croniter import croniter

    if len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise JobError(f"not a cron expression (minute hour day month weekday): {cron!r}",
                       code="job-bad-cron")
    return cron


def next_due(cron: str, now: float) -> float:
    """The first time after ``now`` that ``cron`` names."""
    from croniter import croniter

    start = datetime.datetime.fromtimestamp(now)
    return croniter(cron, start).get_next(datetime.datetime).timestamp()


_WINDOW = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)-([01]?\d|2[0-3]):([0-5]\d)$")


def parse_window(text: str) -> tuple[int, int]:
    """``22:00-06:00`` -> (start, end) in minutes after midnight; may wrap midnight."""
    match = _WINDOW.match(text.strip())
    if not match or match.group(1, 2) == match.group(3, 4):
        raise JobError(f"a window is HH:MM-HH:MM, two different times, not {text!r}",
                       code="job-bad-window")
    start_hour, start_minute, end_hour, end_minute = map(int, match.groups())
    return start_hour * 60 + start_minute, end_hour * 60 + end_minute


def window_opening(window: str | None, now: float) -> float | None:
    """None if jobs may start at ``now`` under ``window``, else when the window next opens."""
    if not window:
        return None
    start, end = parse_window(window)
    moment = datetime.datetime.fromtimestamp(now)
    minute = moment.hour * 60 + moment.minute
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if inside:
        return None
    opening = moment.replace(hour=start // 60, minute=start % 60, second=0, microsecond=0)
    if opening <= moment:
        opening += datetime.timedelta(days=1)
    return opening.timestamp()
