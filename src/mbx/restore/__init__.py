"""Restore: a moodle2 backup into a database with Moodle 4.5's schema.

``mbx.restore.restore(archive, into="sqlite:course.db")`` restores one backup
as a new course and returns a :class:`RestoreReport`. Targets are SQLite
(embedded, the default) and PostgreSQL; files go to a content-addressed pool
laid out like Moodle's ``filedir``. See :mod:`mbx.restore.plan` for the order
of the work and :mod:`mbx.restore.engine` for how records become rows.
"""

from mbx.restore.plan import DEFAULT_TARGET, restore
from mbx.restore.report import KeptRaw, RestoreReport, RestoreWarning, UserDecision

__all__ = ["DEFAULT_TARGET", "KeptRaw", "RestoreReport", "RestoreWarning", "UserDecision", "query",
           "restore"]


def query(target: str, sql: str, params: tuple = ()) -> tuple[list[str], list[tuple]]:
    """Runs one read-only query against a restore target; (column names, rows).

    Nothing is committed: the connection is rolled back before it closes."""
    from mbx.restore.targets import open_target

    database = open_target(target, create=False)
    try:
        database.begin_read()
        return database.read(sql, params)
    finally:
        database.rollback()
        database.close()
