"""Streaming transforms, archive to archive: each a small set of record rules over the rewriter.

:func:`transform` runs any combination in one pass (two inflates, one
deflate; see :mod:`.pipeline`), and each transform has its own function:
:func:`~.dates.roll_dates`, :func:`~.strip.strip_users`,
:func:`~.users.rewrite_users`. The output is a backup Moodle restores,
written under a temporary name and renamed when complete; with nothing
selected, every member is copied byte for byte.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from mbx.archive.base import ArchiveLimits
from mbx.progress import Monitor
from mbx.transform.anonymise import Anonymise, anonymise
from mbx.transform.base import Facts, Transform
from mbx.transform.dates import RollDates, list_dates, read_overrides, roll_dates
from mbx.transform.extract import Extract, extract
from mbx.transform.pipeline import run
from mbx.transform.questions import PruneQuestions, prune_questions
from mbx.transform.report import TransformReport
from mbx.transform.strip import StripUsers, strip_users
from mbx.transform.users import RewriteUsers, read_user_table, rewrite_users

__all__ = ["Facts", "Transform", "TransformReport", "anonymise", "extract", "list_dates", "prune_questions",
           "rewrite_users", "roll_dates", "run", "strip_users", "transform"]


def _roll_dates(options: Mapping[str, Any]) -> Transform:
    options = dict(options)
    if isinstance(options.get("overrides"), (str, os.PathLike)):
        options["overrides"] = read_overrides(options["overrides"])
    return RollDates(**options)


def _rewrite_users(table) -> Transform:
    rows = read_user_table(table) if isinstance(table, (str, os.PathLike)) else table
    return RewriteUsers(rows)


#: keyword of :func:`transform` -> what builds its transform from the keyword's value, in
#: the order they run (where two change the same value, the earlier one's change stands).
TRANSFORMS: dict[str, Callable[[Any], Transform]] = {
    "extract": lambda selection: Extract(**selection),
    "strip_users": lambda _: StripUsers(),
    "prune_questions": lambda _: PruneQuestions(),
    "rewrite_users": _rewrite_users,
    "anonymise": lambda options: Anonymise(**options),
    "roll_dates": _roll_dates,
}


def transform(source: str | os.PathLike, output: str | os.PathLike, *,
              extract: Mapping[str, int] | None = None, strip_users: bool = False,
              prune_questions: bool = False, rewrite_users: Any = None,
              anonymise: Mapping[str, Any] | None = None,
              roll_dates: Mapping[str, Any] | None = None, format: str = "tgz",
              compressor: str | None = None, limits: ArchiveLimits | None = None,
              progress: Monitor | None = None) -> TransformReport:
    """Writes ``output``: ``source`` with the selected transforms applied in one pass.

    ``extract`` is ``{"activity": CMID}`` or ``{"section": N}``; ``anonymise`` takes
    :class:`~.anonymise.Anonymise`'s keywords (``key``, ``keep_roles``, ``locale``); ``roll_dates`` takes
    :class:`~.dates.RollDates`'s keywords (``offset``, ``start``, ``activities``,
    ``overrides``, ``user_data``); ``rewrite_users`` a CSV path or rows.
    """
    chosen = {"extract": extract, "strip_users": strip_users or None,
              "prune_questions": prune_questions or None, "rewrite_users": rewrite_users,
              "anonymise": anonymise, "roll_dates": roll_dates}
    transforms = [build(chosen[name]) for name, build in TRANSFORMS.items()
                  if chosen[name] is not None]
    return run(source, output, transforms, format=format, compressor=compressor,
               limits=limits, progress=progress)
