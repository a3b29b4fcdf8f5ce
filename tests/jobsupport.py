"""What the job-queue tests share: a queue of its own per test on each backend, workers
as real ``python -m mbx worker`` processes, and waits that poll with a deadline.

The backends (``jobs`` fixture, parametrised indirectly with :data:`BACKENDS`):

- ``sqlite``: the job table and Huey's queue in SQLite files of the test's folder;
- ``redis``: the job table in SQLite, the queue on a real Redis (``redis_url``);
- ``postgresql``: the job table and the queue in one fresh PostgreSQL database
  (``postgres_url``).

Everything runs fast: heartbeats every 0.2 s, a worker lost after 2 s, a 1 s grace
period, retries after 0.2 s (Huey's scheduler looks once a second).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import mbx
from mbx.jobs import FINAL, Job, JobQueue, JobSettings
from mbx.jobs.settings import ENVIRONMENT

#: Where the real-backup corpus is (``conftest.FIXTURES``).
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real"
#: A small real backup (124 members, 260 KB): Moodle's own output.
SMALL = FIXTURES / "noisyjerm__moodle-gradereport_calcsetup" / "example.mbz"

BACKENDS = ("sqlite", "redis", "postgresql")

#: Settings that keep the tests fast.
FAST = {"heartbeat": 0.2, "lost_after": 2.0, "grace": 1.0, "max_attempts": 3,
        "retry_delay": 0.2}

#: Where the mbx this process runs lives (the installed, compiled one in CI), for workers.
SRC = str(Path(mbx.__file__).resolve().parents[1])

#: Polling interval of the waits.
POLL = 0.05


def wait_until(condition: Callable[[], object], *, timeout: float, what: str,
               explain: Callable[[], str] = lambda: "") -> object:
    """Polls ``condition`` every 50 ms until it returns something true; fails after
    ``timeout`` seconds saying ``what`` did not happen (and ``explain()``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:g} s. {explain()}", pytrace=False)
        time.sleep(POLL)


def close(queue: JobQueue) -> None:
    """Closes this thread's connections of ``queue`` (a PostgreSQL database with none
    open is dropped at once)."""
    queue.table.close()
    if queue._transport is not None:
        queue._transport.huey.storage.close()


def final(job: Job) -> bool:
    return job.state in FINAL


class WorkerProcess:
    """One ``python -m mbx worker`` of a test, in a process group of its own (so that its
    fork server and job processes are stopped with it)."""

    def __init__(self, environment: dict[str, str], log: Path, concurrency: int) -> None:
        self.log = log
        self._log_file = open(log, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mbx", "worker", "--concurrency", str(concurrency)],
            env=environment, stdin=subprocess.DEVNULL, stdout=self._log_file,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.process.pid

    def ready(self, timeout: float = 30) -> WorkerProcess:
        """Waits until it has imported mbx and started building its consumer."""
        wait_until(lambda: b"mbx worker:" in self.log.read_bytes() or
                   self.process.poll() is not None, timeout=timeout,
                   what=f"worker {self.pid} starting")
        if self.process.poll() is not None:
            pytest.fail(f"worker {self.pid} ended at once ({self.process.returncode}): "
                        f"{self.output()}", pytrace=False)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def kill(self) -> None:
        """SIGKILL, the worker alone: its job processes are left to notice."""
        self.process.kill()
        self.process.wait(10)

    def interrupt(self) -> None:
        """SIGINT: it starts no more jobs and ends when those it runs have."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def stop(self) -> None:
        """SIGINT, SIGKILL if it has not ended 5 s later; then whatever is left of its
        process group."""
        self.interrupt()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log_file.close()


class Jobs:
    """A queue of one test's own: its settings, a :class:`JobQueue` on them, and the
    workers started on it (stopped at the end of the test)."""

    def __init__(self, folder: Path, backend: str, table: str, queue: str) -> None:
        self.folder = folder
        self.backend = backend
        self.settings = JobSettings(home=str(folder / "home"), table=table, queue=queue,
                                    **FAST)
        self.queue = JobQueue(self.settings)
        self.workers: list[WorkerProcess] = []

    def environment(self, **overrides) -> dict[str, str]:
        """What a worker or ``mbx jobs`` needs to see this queue with these settings."""
        environment = {name: value for name, value in os.environ.items()
                       if not name.startswith("MBX_") or name in ("MBX_NO_EXTENSIONS",
                                                                  "MBX_REQUIRE_EXTENSIONS")}
        settings = {field: getattr(self.settings, field) for field in ENVIRONMENT}
        settings.update(overrides)
        for field, value in settings.items():
            environment[ENVIRONMENT[field][0]] = str(value)
        environment["PYTHONPATH"] = SRC
        environment["PYTHONUNBUFFERED"] = "1"
        return environment

    def start_worker(self, concurrency: int = 1, **overrides) -> WorkerProcess:
        worker = WorkerProcess(self.environment(**overrides),
                               self.folder / f"worker-{len(self.workers) + 1}.log", concurrency)
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        for worker in self.workers:  # all at once: each takes a second or so to stop
            worker.interrupt()
        for worker in self.workers:
            worker.stop()
        close(self.queue)

    def explain(self, job_id: int) -> str:
        job = self.queue.get(job_id)
        log = "; ".join(line.text for line in self.queue.log(job_id))
        workers = " | ".join(f"worker {w.pid}: {w.output()[-600:]}" for w in self.workers)
        return (f"job {job_id} is {job.state} (held {job.held}, attempts {job.attempts}, "
                f"progress {job.progress}, message {job.message!r}); log: {log}. {workers}")

    def wait(self, job_id: int, until: Callable[[Job], bool] = final, *, timeout: float = 30,
             what: str = "the job ending") -> Job:
        """Job ``job_id`` once ``until(job)`` holds."""
        def reached():
            job = self.queue.get(job_id)
            return job if until(job) else None
        return wait_until(reached, timeout=timeout, what=f"job {job_id}: {what}",
                          explain=lambda: self.explain(job_id))

    def running(self, job_id: int, *, phase: str | None = None, members: int = 0,
                timeout: float = 30) -> Job:
        """Job ``job_id`` once it is running and has reported progress (in ``phase``,
        with at least ``members`` items done)."""
        def moving(job: Job) -> bool:
            progress = job.progress or {}
            return (job.state == "running" and bool(progress)
                    and (phase is None or progress.get("phase") == phase)
                    and progress.get("done_members", 0) >= members)
        return self.wait(job_id, moving, timeout=timeout,
                         what=f"running with progress ({phase or 'any phase'}, {members}+ done)")

    def started_lines(self, job_id: int) -> list[str]:
        return [line.text for line in self.queue.log(job_id)
                if line.text.startswith("attempt ") and " started on " in line.text]


@pytest.fixture
def jobs(request, tmp_path):
    """A queue of the test's own on the backend of ``request.param`` (default sqlite)."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        table, queue = f"sqlite:{tmp_path / 'jobs.db'}", f"sqlite:{tmp_path / 'queue.db'}"
    elif backend == "redis":
        table, queue = f"sqlite:{tmp_path / 'jobs.db'}", request.getfixturevalue("redis_url")
    elif backend == "postgresql":
        table = queue = request.getfixturevalue("postgres_url")
    else:
        raise ValueError(backend)
    setup = Jobs(tmp_path, backend, table, queue)
    try:
        yield setup
    finally:
        setup.stop()
