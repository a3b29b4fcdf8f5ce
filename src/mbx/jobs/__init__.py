"""``mbx jobs``: a queue of verify, synth, transform, store and restore jobs.

mbx owns the job table (:mod:`~mbx.jobs.table`: state, settings, progress,
times, report, log); Huey (:mod:`~mbx.jobs.transport`) carries the work to
workers, embedded on SQLite or across machines on Redis or PostgreSQL, with
the same task code. A worker (:mod:`~mbx.jobs.worker`) runs each job in a child
process speaking the progress-and-cancel protocol of :mod:`mbx.progress`.

From Python::

    from mbx.jobs import JobQueue

    queue = JobQueue()                                   # settings from the environment
    verified = queue.submit("verify", {"path": "course.mbz"})
    queue.submit("restore", {"archive": "course.mbz"}, after=verified.job.id)
    queue.get(verified.job.id).state                     # queued, running, succeeded, ...
    Worker(queue.settings, concurrency=2).serve()        # what ``mbx worker`` runs

A script that serves a worker must do so under ``if __name__ == "__main__":``.
Each job's process starts from a fork server and first runs the script's top
level again, as multiprocessing does with every start method but fork:
unguarded, that serves a second worker inside the job's process, which takes
other jobs and strands them as running; guarded, it costs the script's imports
once a job. ``mbx worker`` (a package's ``__main__``) is spared both.

The states: ``queued`` (waiting; ``held`` says why when it is held back:
``after``, ``paused``, ``window``), ``running``, and the final ``succeeded``,
``failed`` and ``cancelled``.
"""

from mbx.jobs.kinds import KINDS, Kind
from mbx.jobs.queue import JobQueue, Submitted
from mbx.jobs.settings import JobSettings
from mbx.jobs.table import FINAL, STATES, Job, JobError, Schedule

__all__ = ["FINAL", "KINDS", "STATES", "Job", "JobError", "JobQueue", "JobSettings", "Kind",
           "Schedule", "Submitted", "Worker"]


def __getattr__(name: str):
    if name == "Worker":  # the worker needs multiprocessing and Huey's consumer
        from mbx.jobs.worker import Worker

        return Worker
    raise AttributeError(f"module 'mbx.jobs' has no attribute {name!r}")
