"""The job queue as its users see it: submit, list, show, cancel, retry, pause, schedule.

:class:`JobQueue` joins the job table (what mbx knows of every job) and the
transport (how "run job N" reaches a worker). Everything the CLI's
``mbx jobs`` does is one method here.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import socket
import time
from typing import Any

import msgspec

from mbx.jobs import calendar
from mbx.jobs.kinds import ALIASES, checked_args, kind_of
from mbx.jobs.settings import JobSettings
from mbx.jobs.table import ACTIVE, FINAL, Job, JobError, JobTable, LogLine, Schedule
from mbx.jobs.transport import Transport

__all__ = ["JobQueue", "Submitted"]


class Submitted(msgspec.Struct, frozen=True):
    """What :meth:`JobQueue.submit` did: the job, and whether it joined one already queued."""

    job: Job
    joined: bool

    def to_dict(self) -> dict[str, Any]:
        return {**self.job.to_dict(), "joined": self.joined}


def job_key(kind: str, args: dict[str, Any]) -> str:
    """Two submissions with the same key are the same job."""
    text = json.dumps([kind, args], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class JobQueue:
    """The queue of ``settings`` (default: from the environment)."""

    def __init__(self, settings: JobSettings | None = None, **given) -> None:
        self.settings = settings or JobSettings.from_environment(**given)
        self.table = JobTable(self.settings.table)
        self._transport: Transport | None = None

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = Transport(self.settings.queue)
        return self._transport

    # -- submitting ---------------------------------------------------------------------

    def submit(self, kind: str, args: dict[str, Any] | None = None, *, after: int | None = None,
               at: float | None = None, priority: int = 0, notify: dict[str, Any] | None = None,
               max_attempts: int | None = None, schedule_id: int | None = None) -> Submitted:
        """Queues a job of ``kind`` with ``args`` (its operation's keyword arguments).

        ``after``: run only once that job has succeeded; ``at``: not before this
        Unix time; ``notify``: ``{"email": [...], "webhook": URL, "command": CMD,
        "on": "always" | "failure"}``. An identical job (same kind, same
        arguments) still queued or running is joined instead: the result says so.
        """
        kind = ALIASES.get(kind, kind)
        args = checked_args(kind, args or {})
        retryable = kind_of(kind).retry != "never"
        attempts = max_attempts or (self.settings.max_attempts if retryable else 1)
        if after is not None:
            dependency = self.table.get(after)
            if dependency.state in ("failed", "cancelled"):
                raise JobError(f"job {after} {dependency.state}: nothing can run after it",
                               code="job-bad-after")
        fields = dict(kind=kind, args=args, state="queued", priority=priority,
                      max_attempts=attempts, submitted_by=_user(), submitted_host=socket.gethostname(),
                      after=after, run_at=at, notify=notify, schedule_id=schedule_id,
                      held="after" if after is not None else None)
        job_id, joined = self.table.insert_unless_active(job_key(kind, args), fields)
        job = self.table.get(job_id)
        if joined:
            return Submitted(job, True)
        self.table.log(job_id, f"submitted by {job.submitted_by}@{job.submitted_host}")
        if after is not None:
            # it may have ended since it was looked at above, its dependents settled
            # before this one existed: settle this one as its end says
            state = self.table.get(after).state
            if state in FINAL:
                self.settle_dependents(after, succeeded=state == "succeeded")
        else:
            self.dispatch(job)
        return Submitted(self.table.get(job_id), False)

    def dispatch(self, job: Job) -> None:
        """Hands job ``job`` to the transport, due at its ``run_at``."""
        delay = max((job.run_at or 0.0) - time.time(), 0.0)
        self.transport.enqueue(job.id, priority=job.priority, delay=delay)

    # -- reading ------------------------------------------------------------------------

    def get(self, job_id: int) -> Job:
        return self.table.get(job_id)

    def ls(self, *, states: tuple[str, ...] = (), kind: str | None = None,
           limit: int | None = None) -> list[Job]:
        """Jobs, newest first, of these ``states`` (all when empty) and ``kind``."""
        where, params = ["1 = 1"], []
        if states:
            unknown = set(states) - {*ACTIVE, *FINAL}
            if unknown:
                raise JobError(f"no state {', '.join(sorted(unknown))}", code="job-bad-state")
            where.append(f"state IN ({', '.join('?' for _ in states)})")
            params.extend(states)
        if kind:
            where.append("kind = ?")
            params.append(ALIASES.get(kind, kind))
        return self.table.select(" AND ".join(where), params, order="id DESC", limit=limit)

    def log(self, job_id: int) -> list[LogLine]:
        self.table.get(job_id)
        return self.table.log_of(job_id)

    # -- changing -----------------------------------------------------------------------

    def cancel(self, job_id: int) -> Job:
        """Cancels a queued job at once; asks a running one to stop (its worker
        passes it on, and kills it after the grace period)."""
        job = self.table.get(job_id)
        if job.state in FINAL:
            raise JobError(f"job {job_id} already {job.state}", code="job-ended")
        now = time.time()
        if self.table.update(job_id, where="state = 'queued'", state="cancelled", ended=now,
                             held=None, message="cancelled before it started"):
            self.table.log(job_id, "cancelled before it started")
            self.ended(job_id)
        elif self.table.update(job_id, where="state = 'running'", cancel_requested=True):
            self.table.log(job_id, "cancel requested")
        return self.table.get(job_id)

    def retry(self, job_id: int) -> Job:
        """Queues a failed or cancelled job again, for one more attempt."""
        job = self.table.get(job_id)
        if job.state not in ("failed", "cancelled"):
            raise JobError(f"job {job_id} is {job.state}: only a failed or cancelled job is "
                           "retried", code="job-not-retryable")
        if not self.table.update(job_id, where="state IN ('failed', 'cancelled')",
                                 state="queued", max_attempts=job.attempts + 1, held=None,
                                 cancel_requested=False, ended=None, run_at=None,
                                 message="retried"):
            raise JobError(f"job {job_id} changed meanwhile", code="job-not-retryable")
        self.table.log(job_id, f"retried by {_user()}")
        job = self.table.get(job_id)
        self.dispatch(job)
        return job

    def remove(self, job_id: int) -> None:
        """Deletes an ended job and its log (a queued or running one is cancelled first)."""
        job = self.table.get(job_id)
        if job.state not in FINAL:
            raise JobError(f"job {job_id} is {job.state}: cancel it first", code="job-active")
        self.table.delete(job_id)

    def pause(self) -> None:
        """No job starts until :meth:`resume`; running ones go on."""
        self.table.set_setting("paused", "1")

    def resume(self) -> list[int]:
        """Starts the queue again; returns the jobs the pause held back."""
        self.table.set_setting("paused", None)
        return self.release_held("paused")

    @property
    def paused(self) -> bool:
        return self.table.setting("paused") is not None

    def set_window(self, window: str | None) -> None:
        """Jobs start only inside the daily ``window`` (``22:00-06:00``); None lifts it."""
        if window:
            calendar.parse_window(window)
        self.table.set_setting("window", window or None)
        self.release_held("window")

    @property
    def window(self) -> str | None:
        return self.table.setting("window")

    def release_held(self, reason: str) -> list[int]:
        """Dispatches again the jobs held for ``reason``; they look again when they arrive."""
        released = []
        for job in self.table.select("state = 'queued' AND held = ?", (reason,)):
            if self.table.update(job.id, where="held = ?", params=(reason,), held=None,
                                 run_at=None):
                released.append(job.id)
                self.dispatch(self.table.get(job.id))
        return released

    def settle_dependents(self, job_id: int, *, succeeded: bool) -> None:
        """Job ``job_id`` ended: what waited for it is dispatched, or cancelled."""
        if succeeded:
            self._release_after(job_id)
            return
        for job in self.table.select('"after" = ? AND state = \'queued\'', (job_id,)):
            if self.table.update(job.id, where="state = 'queued'", state="cancelled",
                                 ended=time.time(), held=None,
                                 message=f"job {job_id} did not succeed"):
                self.table.log(job.id, f"cancelled: job {job_id}, which it ran after, did not "
                                       "succeed")
                self.ended(job.id)

    def _release_after(self, job_id: int) -> None:
        if self.table.get(job_id).state != "succeeded":
            return
        for job in self.table.select("\"after\" = ? AND state = 'queued' AND held = 'after'",
                                     (job_id,)):
            if self.table.update(job.id, where="held = 'after'", held=None):
                self.dispatch(self.table.get(job.id))

    # -- schedules ----------------------------------------------------------------------

    def schedule(self, cron: str, kind: str, args: dict[str, Any] | None = None, *,
                 priority: int = 0, notify: dict[str, Any] | None = None,
                 now: float | None = None) -> Schedule:
        """Submits ``kind`` with ``args`` whenever ``cron`` says, from ``now`` on."""
        calendar.check_cron(cron)
        kind = ALIASES.get(kind, kind)
        args = checked_args(kind, args or {})
        now = time.time() if now is None else now
        schedule_id = self.table.add_schedule(cron=cron, kind=kind, args=args,
                                              priority=priority, notify=notify,
                                              next_due=calendar.next_due(cron, now), created=now)
        return self.table.schedules("id = ?", (schedule_id,))[0]

    def schedules(self) -> list[Schedule]:
        """The schedules, soonest due first."""
        return self.table.schedules()

    def unschedule(self, schedule_id: int) -> None:
        if not self.table.remove_schedule(schedule_id):
            raise JobError(f"no schedule {schedule_id}", code="job-unknown-schedule")

    def fire_due(self, now: float | None = None) -> list[Submitted]:
        """Submits every schedule due at ``now``, once, however many workers call this."""
        now = time.time() if now is None else now
        fired = []
        for schedule in self.table.schedules("next_due <= ?", (now,)):
            following = calendar.next_due(schedule.cron, now)
            if not self.table.update_schedule(schedule.id, where="next_due = ?",
                                              params=(schedule.next_due,),
                                              next_due=following, last_fired=now):
                continue  # another worker fired it
            submitted = self.submit(schedule.kind, schedule.args, priority=schedule.priority,
                                    notify=schedule.notify, schedule_id=schedule.id)
            self.table.update_schedule(schedule.id, last_job=submitted.job.id)
            fired.append(submitted)
        return fired

    # -- lost workers -------------------------------------------------------------------

    def reap(self, now: float | None = None) -> list[int]:
        """Running jobs whose worker stopped beating: retried where safe, else failed
        (cancelled, if a cancel was asked of them)."""
        now = time.time() if now is None else now
        cutoff = now - self.settings.lost_after
        found = []
        lost = "state = 'running' AND heartbeat < ?"
        for job in self.table.select(lost, (cutoff,)):
            error = {"code": "worker-lost",
                     "message": f"worker {job.worker_host}:{job.worker_pid} stopped beating "
                                f"{now - (job.heartbeat or now):.0f} s ago"}
            if self.settle_failure(job, error, retryable=kind_of(job.kind).retry == "safe",
                                   where=lost, params=(cutoff,)):
                found.append(job.id)
        return found

    def settle_failure(self, job: Job, error: dict[str, Any], *, retryable: bool,
                       where: str = "state = 'running'", params: tuple = ()) -> bool:
        """A failed attempt: cancelled if a cancel was asked of it (no one may be left
        to pass it on, and a retry must not clear it), else queued again with back-off
        while attempts are left and the kind allows it, else failed for good. False if
        the job had changed meanwhile."""
        now = time.time()
        if self.table.update(job.id, where=f"({where}) AND cancel_requested = 1", params=params,
                             state="cancelled", ended=now, error=error,
                             message=f"cancelled ({error['message']})"):
            self.table.log(job.id, f"cancelled: a cancel was asked, and its attempt ended "
                                   f"({error['message']})", "warning")
            self.ended(job.id)
            return True
        where = f"({where}) AND cancel_requested = 0"
        if retryable and job.attempts < job.max_attempts:
            delay = self.settings.retry_delay * 2 ** max(job.attempts - 1, 0)
            message = (f"attempt {job.attempts} failed ({error['message']}); retry in "
                       f"{delay:g} s")
            if not self.table.update(job.id, where=where, params=params, state="queued",
                                     run_at=now + delay, error=error, message=message):
                return False
            self.table.log(job.id, message, "warning")
            self.dispatch(self.table.get(job.id))
            return True
        if not self.table.update(job.id, where=where, params=params, state="failed", ended=now,
                                 error=error, message=error["message"]):
            return False
        self.table.log(job.id, f"failed: {error['message']}", "error")
        self.ended(job.id)
        return True

    def ended(self, job_id: int) -> None:
        """Job ``job_id`` reached a final state: its dependents and its notifications."""
        from mbx.jobs import notify

        job = self.table.get(job_id)
        self.settle_dependents(job_id, succeeded=job.state == "succeeded")
        for line in notify.send(job, self.settings, self.table.log_of(job_id)):
            self.table.log(job_id, line, "warning" if line.startswith("could not") else "info")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
