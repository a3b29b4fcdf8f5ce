"""The job table: every job mbx was asked to run, what became of it, and its log.

mbx owns this record; the queue engine (:mod:`mbx.jobs.transport`) only carries
"run job N" messages. The table is SQLite by default (``sqlite:PATH``, created
when absent) or PostgreSQL (``postgresql://…``, through psycopg 3): the same
SQL, with the placeholders and the key column written for each.

Every change of state is one conditional ``UPDATE`` (``… WHERE state = 'queued'``),
so two workers that get the same message, or a worker and a ``cancel``, can
never both win: whoever updates the row owns the transition.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from mbx.errors import MbxError

__all__ = ["ACTIVE", "FINAL", "STATES", "Job", "JobError", "JobTable", "LogLine", "Schedule"]

#: The states of a job, in the order a job goes through them.
STATES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE = ("queued", "running")
FINAL = ("succeeded", "failed", "cancelled")

#: Settings never shown whole (``show``, ``ls``, the status page): the anonymise key.
SECRET_SETTINGS = frozenset({"key"})


class JobError(MbxError):
    """A job request that cannot be taken (unknown job, kind or state)."""

    code = "job-refused"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code, source="jobs")


class Job(msgspec.Struct, kw_only=True):
    """One row of the job table, as the API returns it."""

    id: int
    kind: str
    args: dict[str, Any]
    state: str
    priority: int = 0
    attempts: int = 0
    max_attempts: int = 1
    submitted_by: str = ""
    submitted_host: str = ""
    after: int | None = None
    run_at: float | None = None
    held: str | None = None
    progress: dict[str, Any] | None = None
    message: str | None = None
    created: float = 0.0
    started: float | None = None
    ended: float | None = None
    heartbeat: float | None = None
    worker_host: str | None = None
    worker_pid: int | None = None
    result: Any = None
    error: dict[str, Any] | None = None
    cancel_requested: bool = False
    notify: dict[str, Any] | None = None
    schedule_id: int | None = None
    key: str = ""

    def to_dict(self, *, reveal: bool = False) -> dict[str, Any]:
        """The job as JSON holds it; secret settings masked unless ``reveal``."""
        data = msgspec.to_builtins(self)
        if not reveal:
            data["args"] = masked(data["args"])
        return data


def masked(value: Any) -> Any:
    """``value`` with every secret setting (at any depth) replaced by ``"***"``."""
    if isinstance(value, dict):
        return {name: "***" if name in SECRET_SETTINGS and item else masked(item)
                for name, item in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


class LogLine(msgspec.Struct, frozen=True):
    at: float
    level: str
    text: str


class Schedule(msgspec.Struct, kw_only=True):
    """A periodic job: ``kind`` with ``args`` whenever ``cron`` says."""

    id: int
    cron: str
    kind: str
    args: dict[str, Any]
    priority: int = 0
    notify: dict[str, Any] | None = None
    next_due: float | None = None
    last_fired: float | None = None
    last_job: int | None = None
    created: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = msgspec.to_builtins(self)
        data["args"] = masked(data["args"])
        return data


#: column -> (SQLite type, PostgreSQL type); JSON columns are TEXT holding JSON.
_JOB_COLUMNS = {
    "kind": "TEXT NOT NULL", "args": "TEXT NOT NULL", "key": "TEXT NOT NULL",
    "state": "TEXT NOT NULL", "priority": "INTEGER NOT NULL DEFAULT 0",
    "attempts": "INTEGER NOT NULL DEFAULT 0", "max_attempts": "INTEGER NOT NULL DEFAULT 1",
    "submitted_by": "TEXT NOT NULL DEFAULT ''", "submitted_host": "TEXT NOT NULL DEFAULT ''",
    "after": "BIGINT", "run_at": "DOUBLE PRECISION", "held": "TEXT", "progress": "TEXT",
    "message": "TEXT", "created": "DOUBLE PRECISION NOT NULL", "started": "DOUBLE PRECISION",
    "ended": "DOUBLE PRECISION", "heartbeat": "DOUBLE PRECISION", "worker_host": "TEXT",
    "worker_pid": "INTEGER", "result": "TEXT", "error": "TEXT",
    "cancel_requested": "INTEGER NOT NULL DEFAULT 0", "notify": "TEXT",
    "schedule_id": "BIGINT",
}
_JSON_COLUMNS = {"args", "progress", "result", "error", "notify"}
_SCHEDULE_COLUMNS = {
    "cron": "TEXT NOT NULL", "kind": "TEXT NOT NULL", "args": "TEXT NOT NULL",
    "priority": "INTEGER NOT NULL DEFAULT 0", "notify": "TEXT",
    "next_due": "DOUBLE PRECISION", "last_fired": "DOUBLE PRECISION", "last_job": "BIGINT",
    "created": "DOUBLE PRECISION NOT NULL",
}


def _ddl(prefix: str, key: str) -> list[str]:
    def table(name: str, columns: dict[str, str]) -> str:
        body = ", ".join(f'"{column}" {kind}' for column, kind in columns.items())
        return f"CREATE TABLE IF NOT EXISTS {prefix}{name} (id {key}, {body})"

    return [
        table("jobs", _JOB_COLUMNS),
        f"CREATE INDEX IF NOT EXISTS {prefix}jobs_state ON {prefix}jobs (state, key)",
        f'CREATE INDEX IF NOT EXISTS {prefix}jobs_after ON {prefix}jobs ("after")',
        table("job_log", {"job": "BIGINT NOT NULL", "at": "DOUBLE PRECISION NOT NULL",
                          "level": "TEXT NOT NULL", "text": "TEXT NOT NULL"}),
        f"CREATE INDEX IF NOT EXISTS {prefix}job_log_job ON {prefix}job_log (job, id)",
        table("schedules", _SCHEDULE_COLUMNS),
        f"CREATE TABLE IF NOT EXISTS {prefix}queue_state (name TEXT PRIMARY KEY, value TEXT)",
    ]


#: The PostgreSQL advisory lock (two-key form: "mbx", 1) held while the tables are
#: created: two workers starting on a new database at once would otherwise both create
#: them, and one fail (``CREATE TABLE IF NOT EXISTS`` is not safe against a concurrent one).
SCHEMA_LOCK = (0x6D6278, 1)


class JobTable:
    """The job table at ``url``: ``sqlite:PATH`` or ``postgresql://…``.

    One connection per thread (the worker's supervisors each write their own
    job); every method is one short transaction.
    """

    def __init__(self, url: str, *, prefix: str = "mbx_") -> None:
        self.url = url
        self.prefix = prefix
        self._local = threading.local()
        if url.startswith("sqlite:"):
            self.dialect = "sqlite"
            path = url.removeprefix("sqlite:")
            if not path:
                raise JobError("the job table wants sqlite:PATH", code="job-bad-table")
            self.path = os.path.abspath(os.path.expanduser(path))
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            key = "INTEGER PRIMARY KEY AUTOINCREMENT"
        elif url.startswith(("postgresql://", "postgres://")):
            self.dialect = "postgresql"
            key = "BIGSERIAL PRIMARY KEY"
        else:
            raise JobError(f"the job table is sqlite:PATH or postgresql://…, not {url!r}",
                           code="job-bad-table")
        with self._transaction() as db:
            if self.dialect == "postgresql":  # CREATE … IF NOT EXISTS races on PostgreSQL
                db.execute("SELECT pg_advisory_xact_lock(?, ?)", SCHEMA_LOCK)
            for statement in _ddl(prefix, key):
                db.execute(statement)

    # -- connections ------------------------------------------------------------------

    def _connection(self):
        db = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():
            if self.dialect == "sqlite":
                db = sqlite3.connect(self.path, timeout=60, isolation_level=None,
                                     check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            else:
                import psycopg

                try:
                    db = psycopg.connect(self.url, autocommit=True)
                except psycopg.Error as error:
                    raise JobError(f"cannot reach the job table: {str(error).strip()}",
                                   code="job-table-unreachable") from error
            self._local.db, self._local.pid = db, os.getpid()
        return db

    @contextlib.contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[_Cursor]:
        """One transaction. On SQLite a write takes the lock at once (BEGIN IMMEDIATE,
        so two writers never deadlock upgrading); a read does not, and so never waits
        for a writer (WAL)."""
        db = self._connection()
        if self.dialect == "sqlite":
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield _Cursor(db.cursor(), self.dialect)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        else:
            with db.transaction():
                yield _Cursor(db.cursor(), self.dialect)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None and self._local.pid == os.getpid():
            db.close()
        self._local.db = None

    def t(self, name: str) -> str:
        return self.prefix + name

    # -- jobs ---------------------------------------------------------------------------

    def insert_unless_active(self, key: str, fields: dict[str, Any]) -> tuple[int, bool]:
        """Inserts a job with ``key`` unless one with that key is queued or running:
        (its id, whether it was already there). One transaction, so two submitters
        of the same job at once get one job."""
        fields = {"created": time.time(), **fields, "key": key}
        columns = list(fields)
        names = ", ".join(f'"{column}"' for column in columns)
        with self._transaction() as db:
            if self.dialect == "postgresql":  # SQLite's BEGIN IMMEDIATE already serialises
                db.execute("SELECT pg_advisory_xact_lock(?)", (int(key[:15], 16),))
            db.execute(f"SELECT id FROM {self.t('jobs')} WHERE key = ? AND state IN "
                       "('queued', 'running') ORDER BY id LIMIT 1", (key,))
            row = db.fetchone()
            if row is not None:
                return row[0], True
            db.execute(f"INSERT INTO {self.t('jobs')} ({names}) VALUES "
                       f"({', '.join('?' for _ in columns)}) RETURNING id",
                       [_encode(column, fields[column]) for column in columns])
            return db.fetchone()[0], False

    def get(self, job_id: int) -> Job:
        rows = self.select("id = ?", (job_id,))
        if not rows:
            raise JobError(f"no job {job_id}", code="job-unknown")
        return rows[0]

    def select(self, where: str = "1 = 1", params: Iterable[Any] = (), *,
               order: str = "id", limit: int | None = None) -> list[Job]:
        sql = f"SELECT * FROM {self.t('jobs')} WHERE {where} ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._transaction(write=False) as db:
            db.execute(sql, tuple(params))
            names = [column[0] for column in db.description]
            rows = db.fetchall()
        return [_job(dict(zip(names, row))) for row in rows]

    def update(self, job_id: int, *, where: str = "1 = 1", params: Iterable[Any] = (),
               **fields: Any) -> bool:
        """Sets ``fields`` on job ``job_id`` if ``where`` holds; True if it did."""
        settings = ", ".join(f'"{column}" = ?' for column in fields)
        values = [_encode(column, value) for column, value in fields.items()]
        with self._transaction() as db:
            db.execute(f"UPDATE {self.t('jobs')} SET {settings} WHERE id = ? AND ({where})",
                       (*values, job_id, *params))
            return db.rowcount > 0

    def delete(self, job_id: int) -> None:
        with self._transaction() as db:
            db.execute(f"DELETE FROM {self.t('job_log')} WHERE job = ?", (job_id,))
            db.execute(f"DELETE FROM {self.t('jobs')} WHERE id = ?", (job_id,))

    # -- the log ------------------------------------------------------------------------

    def log(self, job_id: int, text: str, level: str = "info") -> None:
        with self._transaction() as db:
            db.execute(f"INSERT INTO {self.t('job_log')} (job, at, level, text) "
                       "VALUES (?, ?, ?, ?)", (job_id, time.time(), level, text))

    def log_of(self, job_id: int) -> list[LogLine]:
        with self._transaction(write=False) as db:
            db.execute(f"SELECT at, level, text FROM {self.t('job_log')} WHERE job = ? "
                       "ORDER BY id", (job_id,))
            return [LogLine(*row) for row in db.fetchall()]

    # -- schedules ----------------------------------------------------------------------

    def add_schedule(self, **fields: Any) -> int:
        fields.setdefault("created", time.time())
        columns = list(fields)
        names = ", ".join(f'"{column}"' for column in columns)
        with self._transaction() as db:
            db.execute(f"INSERT INTO {self.t('schedules')} ({names}) VALUES "
                       f"({', '.join('?' for _ in columns)}) RETURNING id",
                       [_encode(column, fields[column]) for column in columns])
            return db.fetchone()[0]

    def schedules(self, where: str = "1 = 1", params: Iterable[Any] = ()) -> list[Schedule]:
        with self._transaction(write=False) as db:
            db.execute(f"SELECT * FROM {self.t('schedules')} WHERE {where} "
                       "ORDER BY next_due, id", tuple(params))
            names = [column[0] for column in db.description]
            rows = [dict(zip(names, row)) for row in db.fetchall()]
        return [Schedule(**_decoded(row)) for row in rows]

    def update_schedule(self, schedule_id: int, *, where: str = "1 = 1",
                        params: Iterable[Any] = (), **fields: Any) -> bool:
        settings = ", ".join(f'"{column}" = ?' for column in fields)
        values = [_encode(column, value) for column, value in fields.items()]
        with self._transaction() as db:
            db.execute(f"UPDATE {self.t('schedules')} SET {settings} WHERE id = ? "
                       f"AND ({where})", (*values, schedule_id, *params))
            return db.rowcount > 0

    def remove_schedule(self, schedule_id: int) -> bool:
        with self._transaction() as db:
            db.execute(f"DELETE FROM {self.t('schedules')} WHERE id = ?", (schedule_id,))
            return db.rowcount > 0

    # -- the queue's own state (paused, window) ---------------------------------------------

    def setting(self, name: str) -> str | None:
        with self._transaction(write=False) as db:
            db.execute(f"SELECT value FROM {self.t('queue_state')} WHERE name = ?", (name,))
            row = db.fetchone()
        return row[0] if row else None

    def set_setting(self, name: str, value: str | None) -> None:
        with self._transaction() as db:
            db.execute(f"DELETE FROM {self.t('queue_state')} WHERE name = ?", (name,))
            if value is not None:
                db.execute(f"INSERT INTO {self.t('queue_state')} (name, value) VALUES (?, ?)",
                           (name, value))


class _Cursor:
    """A DB-API cursor that takes ``?`` placeholders on both dialects."""

    def __init__(self, cursor, dialect: str) -> None:
        self._cursor = cursor
        self._postgres = dialect == "postgresql"

    def execute(self, sql: str, params: Iterable[Any] = ()) -> None:
        if self._postgres:
            sql = sql.replace("?", "%s")
        self._cursor.execute(sql, tuple(params))

    def __getattr__(self, name: str):
        return getattr(self._cursor, name)


def _encode(column: str, value: Any) -> Any:
    if column in _JSON_COLUMNS:
        return None if value is None else json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return int(value)
    return value


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    for column in _JSON_COLUMNS & row.keys():
        if row[column] is not None:
            row[column] = json.loads(row[column])
    return row


def _job(row: dict[str, Any]) -> Job:
    row = _decoded(row)
    row["cancel_requested"] = bool(row["cancel_requested"])
    return Job(**row)
