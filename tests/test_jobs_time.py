"""When jobs may start: a pause, the daily time window, schedules.

Windows are computed here from the local time with datetime arithmetic; schedules
are driven with a clock of the test's own (``now=``), so no test waits for a
schedule's time to come.
"""

from __future__ import annotations

import datetime
import threading
import time

import pytest

from jobsupport import close
from mbx.jobs import JobError, JobQueue


def _local(*fields: int) -> float:
    return datetime.datetime(*fields).timestamp()


# -- pause ------------------------------------------------------------------------------

def test_a_pause_holds_new_jobs_back_and_resume_releases_them(jobs):
    jobs.start_worker(concurrency=2)
    running = jobs.queue.submit("noop", {"seconds": 1.0}).job
    jobs.running(running.id)
    jobs.queue.pause()
    assert jobs.queue.paused
    waiting = jobs.queue.submit("noop", {"seconds": 0.1}).job
    held = jobs.wait(waiting.id, lambda job: job.held is not None, what="held by the pause")
    assert held.state == "queued" and held.held == "paused" and held.started is None
    # the pause lets the running job go on
    assert jobs.wait(running.id).state == "succeeded"
    assert jobs.queue.get(waiting.id).held == "paused"
    resumed = time.time()
    assert jobs.queue.resume() == [waiting.id]
    assert not jobs.queue.paused
    done = jobs.wait(waiting.id)
    assert done.state == "succeeded" and done.started >= resumed and done.attempts == 1


# -- the window -------------------------------------------------------------------------

def test_a_window_holds_jobs_until_it_opens_and_lifting_it_lets_them_run(jobs):
    now = datetime.datetime.now()
    opening = (now + datetime.timedelta(hours=2)).replace(second=0, microsecond=0)
    closing = opening + datetime.timedelta(hours=1)
    window = f"{opening:%H:%M}-{closing:%H:%M}"  # excludes now, may wrap midnight
    jobs.queue.set_window(window)
    assert jobs.queue.window == window
    jobs.start_worker()
    job = jobs.queue.submit("noop", {"seconds": 0.1}).job
    held = jobs.wait(job.id, lambda job: job.held is not None, what="held by the window")
    assert held.state == "queued" and held.held == "window" and held.started is None
    assert held.run_at == opening.timestamp()
    assert any(f"until {opening:%Y-%m-%d %H:%M}" in line.text for line in jobs.queue.log(job.id))

    jobs.queue.set_window(None)
    assert jobs.queue.window is None
    done = jobs.wait(job.id)
    assert done.state == "succeeded" and done.attempts == 1

    # a window around now lets a job start at once
    opened = now - datetime.timedelta(hours=1)
    jobs.queue.set_window(f"{opened:%H:%M}-{now + datetime.timedelta(hours=1):%H:%M}")
    inside = jobs.queue.submit("noop", {"seconds": 0.2}).job
    done = jobs.wait(inside.id)
    assert done.state == "succeeded" and not any(
        line.text.startswith("held") for line in jobs.queue.log(inside.id))


@pytest.mark.parametrize("window", ["25:00-02:00", "10:00-10:00", "10:00", "22:00-6:0"])
def test_a_bad_window_is_refused(jobs, window):
    with pytest.raises(JobError) as refused:
        jobs.queue.set_window(window)
    assert refused.value.code == "job-bad-window"
    assert jobs.queue.window is None


# -- schedules --------------------------------------------------------------------------

def test_a_schedule_fires_once_at_its_time(jobs):
    start = _local(2031, 6, 12, 1, 30)
    schedule = jobs.queue.schedule("0 2 * * *", "noop", {"seconds": 0.1}, now=start)
    due = _local(2031, 6, 12, 2, 0)
    assert schedule.next_due == due and schedule.last_fired is None
    assert jobs.queue.fire_due(now=due - 1) == []
    fired = jobs.queue.fire_due(now=due + 5)
    assert len(fired) == 1 and not fired[0].joined
    job = fired[0].job
    assert (job.kind, job.args, job.schedule_id) == ("noop", {"seconds": 0.1}, schedule.id)
    # a second call, and another queue on the same table, fire nothing more
    assert jobs.queue.fire_due(now=due + 5) == []
    assert JobQueue(jobs.settings).fire_due(now=due + 30) == []
    after, = jobs.queue.schedules()
    assert after.next_due == _local(2031, 6, 13, 2, 0)
    assert (after.last_fired, after.last_job) == (due + 5, job.id)
    # the job it submitted runs like any other
    jobs.start_worker()
    assert jobs.wait(job.id).state == "succeeded"
    jobs.queue.unschedule(schedule.id)
    assert jobs.queue.schedules() == []
    with pytest.raises(JobError) as missing:
        jobs.queue.unschedule(schedule.id)
    assert missing.value.code == "job-unknown-schedule"


def test_next_due_follows_the_cron_expression(jobs):
    monday = datetime.datetime(2031, 6, 2)
    friday = monday + datetime.timedelta(days=(4 - monday.weekday()) % 7)
    cases = [
        # cron, now, the next time it names (datetime arithmetic)
        ("*/15 * * * *", datetime.datetime(2031, 6, 3, 10, 7, 30),
         datetime.datetime(2031, 6, 3, 10, 15)),
        ("*/15 * * * *", datetime.datetime(2031, 6, 3, 10, 45),
         datetime.datetime(2031, 6, 3, 11, 0)),
        ("30 22 * * 1-5", friday.replace(hour=23),
         (friday + datetime.timedelta(days=3)).replace(hour=22, minute=30)),
        ("0 0 1 * *", datetime.datetime(2031, 6, 30, 12), datetime.datetime(2031, 7, 1)),
        ("0 3 * * *", datetime.datetime(2031, 12, 31, 3, 0), datetime.datetime(2032, 1, 1, 3)),
    ]
    for cron, now, expected in cases:
        schedule = jobs.queue.schedule(cron, "noop", now=now.timestamp())
        assert schedule.next_due == expected.timestamp(), (cron, now)


@pytest.mark.parametrize("cron", ["61 * * * *", "* * * *", "0 2 * * * *", "every day"])
def test_a_bad_cron_expression_is_refused(jobs, cron):
    with pytest.raises(JobError) as refused:
        jobs.queue.schedule(cron, "noop")
    assert refused.value.code == "job-bad-cron"
    assert jobs.queue.schedules() == []


@pytest.mark.parametrize("jobs", ["sqlite", "postgresql"], indirect=True)
def test_two_queues_firing_at_once_fire_a_schedule_once(jobs):
    schedule = jobs.queue.schedule("0 2 * * *", "noop", now=_local(2031, 6, 12, 1, 0))
    callers = 4
    barrier = threading.Barrier(callers)
    fired = []

    def fire():
        queue = JobQueue(jobs.settings)
        barrier.wait()
        fired.extend(queue.fire_due(now=schedule.next_due + 1))
        close(queue)

    threads = [threading.Thread(target=fire) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(fired) == 1
    assert [job.id for job in jobs.queue.ls()] == [fired[0].job.id]
