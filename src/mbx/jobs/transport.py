"""The transport: Huey carries "run job N" from submitters to workers.

One setting chooses the engine, and the task code is the same on all three:

- ``sqlite:PATH``: :class:`huey.SqliteHuey`, embedded, one machine;
- ``redis://…``: :class:`huey.PriorityRedisHuey`, workers on many machines;
- ``postgresql://…``: :class:`huey.PostgresHuey`, the same on a PostgreSQL server.

Huey delivers each message to one worker and keeps delayed ones (``--at``,
retry back-off, a time window's opening) until they are due. It also runs the
periodic ``tick`` that fires schedules. The state of a
job is not Huey's business: it lives in the job table, and a message for a job
that is no longer queued is dropped.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from mbx.jobs.table import JobError

__all__ = ["Transport"]

#: the functions the worker runs for the two tasks (set by :class:`~mbx.jobs.worker.Worker`)
_HANDLERS: dict[str, Callable] = {}


def run_job(job_id: int) -> None:
    """Huey task: run job ``job_id`` (the worker's :meth:`Worker.run`)."""
    _HANDLERS["run"](job_id)


def tick() -> None:
    """Huey periodic task, every minute: fire due schedules."""
    _HANDLERS["tick"]()


def _create_tables(url: str, statements: list[str]) -> None:
    """Huey's PostgreSQL tables, created under the job table's schema lock: Huey's own
    ``CREATE TABLE IF NOT EXISTS`` fails when two workers start on a new database at once."""
    import psycopg

    from mbx.jobs.table import SCHEMA_LOCK

    try:
        with psycopg.connect(url, autocommit=True) as db, db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s, %s)", SCHEMA_LOCK)
            for statement in statements:
                db.execute(statement)
    except psycopg.OperationalError as error:
        raise JobError(f"cannot reach the queue: {str(error).strip()}",
                       code="job-queue-unreachable") from error


class Transport:
    """The Huey instance of a queue URL, with mbx's two tasks registered."""

    def __init__(self, url: str, *, name: str = "mbx") -> None:
        import huey

        self.url = url
        if url.startswith("sqlite:"):
            path = os.path.abspath(os.path.expanduser(url.removeprefix("sqlite:")))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self.huey = huey.SqliteHuey(name, filename=path, results=False, timeout=60,
                                        storage_class=_sqlite_storage())
        elif url.startswith(("redis://", "rediss://", "unix://")):
            try:
                import redis  # noqa: F401 - what RedisHuey talks through
            except ImportError:
                raise JobError("a redis:// queue needs the redis package: pip install "
                               "'mbx[redis]'", code="job-bad-queue") from None
            self.huey = huey.PriorityRedisHuey(name, url=url, results=False)
        elif url.startswith(("postgresql://", "postgres://")):
            self.huey = huey.PostgresHuey(name, dsn=url, results=False, create_tables=False)
            _create_tables(url, self.huey.storage.ddl)
        else:
            raise JobError(f"the queue is sqlite:PATH, redis://… or postgresql://…, not {url!r}",
                           code="job-bad-queue")
        self._run = self.huey.task(name="run_job")(run_job)
        self.huey.periodic_task(huey.crontab(), name="tick")(tick)

    def enqueue(self, job_id: int, *, priority: int = 0, delay: float = 0.0) -> None:
        """Asks a worker to run job ``job_id``, after ``delay`` seconds."""
        if delay > 0:
            self._run.schedule((job_id,), delay=delay, priority=priority)
        else:
            self._run(job_id, priority=priority)

    def pending(self) -> int:
        return self.huey.pending_count() + self.huey.scheduled_count()

    def serve(self, *, concurrency: int, run: Callable[[int], None],
              tick: Callable[[], None]) -> None:
        """Runs Huey's consumer in this process until it is stopped (SIGINT, SIGTERM):
        ``concurrency`` threads, each supervising one job at a time."""
        from huey.consumer import Consumer

        _HANDLERS.update(run=run, tick=tick)
        consumer = Consumer(self.huey, workers=concurrency, worker_type="thread",
                            periodic=True, initial_delay=0.05, max_delay=0.5,
                            check_worker_health=True)
        consumer.run()


def _sqlite_storage():
    """SqliteHuey's storage, with commits as durable as the job table's: WAL with
    ``synchronous=NORMAL`` (consistent after any crash; a power cut may lose the last
    commits, as it may the table's) rather than SQLite's default FULL: an fsync for
    every message sent, taken or acknowledged, most of what a submission cost."""
    from huey.storage import SqliteStorage

    class Storage(SqliteStorage):
        def _create_connection(self):
            connection = super()._create_connection()
            connection.execute("PRAGMA synchronous=NORMAL")
            return connection

    return Storage
