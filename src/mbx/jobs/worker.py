"""A worker: takes "run job N" messages from the transport, runs each job in a child
process, and keeps the job table true about it.

For each message, :meth:`Worker.run`:

1. drops it unless the job is still queued (cancelled, or run already);
2. holds the job back if the queue is paused or outside its time window (the
   window's opening is a delayed message, ``resume`` re-dispatches paused ones);
3. claims it with one conditional update (queued -> running), so a job runs once
   even if two workers get the same message;
4. starts the job's process (:mod:`mbx.jobs.child`, from a fork server that has
   mbx imported), then until it ends: writes its progress and a heartbeat every
   ``heartbeat`` seconds, passes a cancel on, and kills it if it is still
   running ``grace`` seconds after;
5. records the outcome, retries where the kind allows, releases dependents and
   sends notifications.

Lost workers: a thread of every worker marks running jobs whose heartbeat is
older than ``lost_after`` (their worker was killed, or its machine lost) and
retries them where that is safe. A worker that was only stalled and comes back finds
the job no longer its attempt's (every write of its supervisor names the attempt):
it stops the job's process and records nothing. Huey's periodic ``tick`` fires
schedules.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import threading
import time

from mbx.jobs import calendar, child
from mbx.jobs.kinds import KINDS, kind_of
from mbx.jobs.queue import JobQueue
from mbx.jobs.settings import JobSettings

__all__ = ["Worker"]


def _fork_server() -> multiprocessing.context.BaseContext:
    """A fork server with the job machinery imported: a job's process starts in
    milliseconds, and forks no threads of the worker."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["mbx.jobs.child"]
                                   + sorted({kind.operation.partition(":")[0]
                                             for kind in KINDS.values()}))
    return context


class Worker:
    """Runs the jobs of the queue of ``settings``, ``concurrency`` at a time."""

    def __init__(self, settings: JobSettings | None = None, *, concurrency: int = 1) -> None:
        self.queue = JobQueue(settings)
        self.settings = self.queue.settings
        self.concurrency = concurrency
        self.host = socket.gethostname()
        self._processes = _fork_server()
        self._stopping = threading.Event()

    def serve(self) -> None:
        """Runs until SIGINT or SIGTERM: Huey's consumer, and the lost-job watch."""
        watch = threading.Thread(target=self._watch, name="mbx-lost-jobs", daemon=True)
        watch.start()
        # the fork server imports the operations while the consumer starts, not when the
        # first job comes (half a second, on the first job of every worker otherwise)
        from multiprocessing import forkserver

        forkserver.ensure_running()
        try:
            self.queue.transport.serve(concurrency=self.concurrency, run=self.run,
                                       tick=self.tick)
        finally:
            self._stopping.set()

    def tick(self) -> None:
        """Every minute: the schedules that are due (lost jobs are the watch's)."""
        self.queue.fire_due()

    def _watch(self) -> None:
        interval = max(min(self.settings.lost_after / 3, 10.0), 0.2)
        while not self._stopping.wait(interval):
            try:
                self.queue.reap()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the watch
                time.sleep(interval)

    # -- one job ------------------------------------------------------------------------

    def run(self, job_id: int) -> None:
        table = self.queue.table
        job = table.get(job_id)
        now = time.time()
        if job.state == "queued" and job.held == "window" and (job.run_at or 0) <= now + 1:
            table.update(job_id, where="held = 'window'", held=None, run_at=None)
            job = table.get(job_id)  # the window's opening: it looks again below
        if job.state != "queued" or job.held is not None:
            return
        if job.run_at and job.run_at > now + 1:  # early (a retry's message from before)
            self.queue.dispatch(job)
            return
        if self._held_back(job, now):
            return
        pid = os.getpid()
        if not table.update(job_id, where="state = 'queued' AND held IS NULL", state="running",
                            attempts=job.attempts + 1, started=now, heartbeat=now,
                            worker_host=self.host, worker_pid=pid, ended=None, result=None,
                            progress=None, cancel_requested=False):
            return
        table.log(job_id, f"attempt {job.attempts + 1} started on {self.host} (worker {pid})")
        self._supervise(table.get(job_id))

    def _held_back(self, job, now: float) -> bool:
        table, job_id = self.queue.table, job.id
        if self.queue.paused:
            if table.update(job_id, where="state = 'queued' AND held IS NULL", held="paused"):
                table.log(job_id, "held: the queue is paused")
                if not self.queue.paused:  # resumed meanwhile: do not stay held
                    self.queue.release_held("paused")
            return True
        window = self.queue.window
        opening = calendar.window_opening(window, now)
        if opening is None:
            return False
        if table.update(job_id, where="state = 'queued' AND held IS NULL", held="window",
                        run_at=opening):
            table.log(job_id, f"held: outside the window {window}, until "
                              f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(opening))}")
            self.queue.transport.enqueue(job_id, delay=opening - now, priority=job.priority)
        return True

    def _supervise(self, job) -> None:
        settings, table = self.settings, self.queue.table
        control_out, control_in = self._processes.Pipe(duplex=False)
        events_out, events_in = self._processes.Pipe(duplex=False)
        process = self._processes.Process(
            target=child.main, name=f"mbx-job-{job.id}",
            args=(job.kind, job.args, control_out, events_in, settings.grace))
        process.start()
        control_out.close()
        events_in.close()
        outcome, progress = None, None
        beat = cancel_sent = None
        mine = _this_attempt(job)
        try:
            while True:
                try:
                    if events_out.poll(0.05):
                        message = events_out.recv()
                        if message[0] == "progress":
                            progress = message[1]
                        else:
                            outcome = message
                except (EOFError, OSError):
                    break  # the process ended (or was killed)
                now = time.monotonic()
                if beat is None or now - beat >= settings.heartbeat:
                    beat = now
                    fields = {"heartbeat": time.time()}
                    if progress is not None:
                        fields["progress"] = progress
                    ours = table.update(job.id, **mine, **fields)
                    if cancel_sent is None and not ours:
                        # taken for lost (this worker stalled) and settled or retried
                        # elsewhere: this attempt stops, and rolls back what it did
                        cancel_sent = now
                        table.log(job.id, f"attempt {job.attempts} on {self.host} (worker "
                                          f"{os.getpid()}) was given up for lost: stopped",
                                  "warning")
                        _tell(control_in, "cancel")
                    elif cancel_sent is None and table.get(job.id).cancel_requested:
                        cancel_sent = now
                        table.log(job.id, "cancel passed on to the job")
                        _tell(control_in, "cancel")
                if cancel_sent is not None and now - cancel_sent > settings.grace \
                        and process.is_alive():
                    table.log(job.id, f"killed: still running {settings.grace:g} s after "
                                      "the cancel", "warning")
                    process.kill()
        finally:
            process.join()
            control_in.close()
            events_out.close()
        self._settle(job, outcome, progress, process.exitcode, cancelled=cancel_sent is not None)

    def _settle(self, job, outcome, progress, exitcode, *, cancelled: bool) -> None:
        """Records how attempt ``job.attempts`` of ``job`` (as claimed) ended, unless the
        job has moved on meanwhile (this worker was taken for lost and the job retried
        elsewhere, say): then it is no longer this attempt's to record."""
        queue, table, now = self.queue, self.queue.table, time.time()
        mine = _this_attempt(job)
        if outcome is not None and outcome[0] == "done":
            if not table.update(job.id, **mine, state="succeeded", ended=now,
                                result=outcome[1], error=None, message="succeeded",
                                progress=_finished(progress)):
                return
            table.log(job.id, "succeeded")
        elif cancelled or (outcome is not None and outcome[0] == "cancelled"):
            where = outcome[1] if outcome is not None else progress
            if not table.update(job.id, **mine, state="cancelled", ended=now,
                                progress=where, message="cancelled" + _stood(where)):
                return
            table.log(job.id, "cancelled" + _stood(where) + ("" if outcome else
                                                           ", killed after the grace period"))
        else:
            if outcome is not None:  # the operation failed and rolled back
                error, retryable = outcome[1], outcome[2]
            else:
                error = {"code": "job-died",
                         "message": f"the job's process ended with exit code {exitcode}"}
                retryable = kind_of(job.kind).retry == "safe"
            if progress is not None:
                table.update(job.id, **mine, progress=progress)
            retryable = retryable and kind_of(job.kind).retry != "never"
            queue.settle_failure(job, error, retryable=retryable, **mine)
            return
        queue.ended(job.id)


def _this_attempt(job) -> dict:
    """The condition of every write a supervisor makes: the job is still running the
    attempt it claimed."""
    return {"where": "state = 'running' AND attempts = ?", "params": (job.attempts,)}


def _tell(control, message: str) -> None:
    """Sends ``message`` to a job's process, unless it has just ended (its end closed)."""
    try:
        control.send(message)
    except (BrokenPipeError, ConnectionResetError):
        pass


def _finished(progress):
    return {**progress, "finished": True, "fraction": 1.0, "eta": 0.0} if progress else None


def _stood(progress) -> str:
    """``, at 37% (verifying)``: where a job stood when it stopped."""
    if not progress:
        return ""
    fraction = progress.get("fraction")
    at = f"{fraction:.0%}" if fraction is not None else f"{progress.get('done_members', 0)} items"
    return f", at {at} ({progress.get('phase')})"
