"""The job queue at work: real workers (``python -m mbx worker`` processes) running real
operations on real backups, on SQLite, on Redis and on PostgreSQL.

What each test expects comes from outside the queue: the operation run directly
(its report, its output's bytes), SQLite's own row counts, the log and times the
job table recorded, the processes' ids. Pause, windows and schedules are in
``test_jobs_time.py``, notifications in ``test_jobs_notify.py``, the CLI in
``test_jobs_cli.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import tarfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from lxml import etree

import mbx.store
from jobsupport import BACKENDS, FAST, SMALL, close, wait_until
from mbx.errors import MbxError
from mbx.jobs import KINDS, JobError, JobQueue, JobSettings
from mbx.restore import restore
from mbx.synth import synthesize
from mbx.transform import transform
from mbx.verification import verify

#: Report fields that are measured times, different on every run.
TIMES = {"seconds", "pack_seconds", "mb_per_s", "phases"}


def _untimed(value):
    if isinstance(value, dict):
        return {name: _untimed(item) for name, item in value.items() if name not in TIMES}
    if isinstance(value, list):
        return [_untimed(item) for item in value]
    return value


def _as_json(value):
    """``value`` as the job table holds a report: through JSON."""
    return json.loads(json.dumps(value))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _row_counts(database: Path) -> dict[str, int]:
    """Every table of a SQLite database and its number of rows, read with sqlite3."""
    with sqlite3.connect(database) as db:
        names = [name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {name: db.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                for name in names}


def _store_files(store: Path) -> set[str]:
    return {str(path.relative_to(store)) for path in store.rglob("*") if path.is_file()}


@pytest.fixture(scope="session")
def big_archive(tmp_path_factory) -> Path:
    """A 30 MB synthetic course, mostly XML: its transform (zlib-packed) and its restore
    take seconds, long enough to be cancelled half-way."""
    path = tmp_path_factory.mktemp("big") / "big.mbz"
    synthesize(path, size="30M", xml_share=0.6)
    return path


# -- every kind ---------------------------------------------------------------------------

def _store_with_a_dropped_version(store: Path) -> None:
    mbx.store.init(store)
    added = mbx.store.add(store, SMALL)
    mbx.store.rm(store, [f"{added.course}@{added.version}"])


@pytest.mark.parametrize("jobs", BACKENDS, indirect=True)
def test_every_kind_runs_and_records_the_report_its_operation_returns(jobs, tmp_path):
    """verify, synth, transform, store add, store gc, restore and noop as jobs, each
    compared with the same operation run here directly."""
    worker = jobs.start_worker(concurrency=2)  # it starts while the direct calls run
    mine, theirs = tmp_path / "direct", tmp_path / "job"
    for folder in (mine, theirs):
        folder.mkdir()
        mbx.store.init(folder / "store")
        _store_with_a_dropped_version(folder / "gc-store")
    direct = {
        "verify": verify(SMALL).to_dict(),
        "synth": synthesize(mine / "synth.mbz", size="300K"),
        "transform": transform(SMALL, mine / "stripped.mbz", strip_users=True).to_dict(),
        "store-add": mbx.store.add(mine / "store", SMALL).to_dict(),
        "store-gc": mbx.store.gc(mine / "gc-store").to_dict(),
        "restore": restore(SMALL, f"sqlite:{mine / 'restored.db'}").to_dict(),
        "noop": {"slept": 0.0},
    }
    gc_before = _store_files(theirs / "gc-store")
    submitted = {
        "verify": {"path": str(SMALL)},
        "synth": {"out_path": str(theirs / "synth.mbz"), "size": "300K"},
        "transform": {"source": str(SMALL), "output": str(theirs / "stripped.mbz"),
                      "strip_users": True},
        "store-add": {"store": str(theirs / "store"), "archive": str(SMALL)},
        "store-gc": {"store": str(theirs / "gc-store")},
        "restore": {"archive": str(SMALL), "into": f"sqlite:{theirs / 'restored.db'}"},
        "noop": {},
    }
    assert set(submitted) == set(KINDS)
    ids = {kind: jobs.queue.submit(kind, args).job.id for kind, args in submitted.items()}
    for kind, job_id in ids.items():
        job = jobs.wait(job_id, timeout=60)
        assert job.state == "succeeded", jobs.explain(job_id)
        assert job.attempts == 1 and job.worker_pid == worker.pid
        assert job.started <= job.ended and job.error is None
        assert job.progress["finished"] and job.progress["fraction"] == 1.0
        recorded = json.loads(json.dumps(job.result).replace(str(theirs), str(mine)))
        assert _untimed(recorded) == _untimed(_as_json(direct[kind])), kind

    # what the jobs left is what the direct calls left
    for name in ("synth.mbz", "stripped.mbz"):
        assert _sha256(theirs / name) == _sha256(mine / name)
    assert direct["store-add"]["version"] == 1 and direct["store-gc"]["chunks_freed"] > 0
    gone = gc_before - _store_files(theirs / "gc-store")
    freed = direct["store-gc"]
    assert len(gone) >= freed["chunks_freed"] + freed["blobs_freed"] > 0
    assert _row_counts(theirs / "restored.db") == _row_counts(mine / "restored.db")
    with tarfile.open(SMALL) as backup:
        course = etree.fromstring(backup.extractfile("course/course.xml").read())
    with sqlite3.connect(theirs / "restored.db") as db:
        fullname, = db.execute("SELECT fullname FROM mdl_course WHERE id = ?",
                               (direct["restore"]["course_id"],)).fetchone()
    assert fullname == course.findtext("fullname")


# -- two workers ----------------------------------------------------------------------------

def _most_at_once(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


@pytest.mark.parametrize("jobs", BACKENDS, indirect=True)
def test_two_workers_share_twenty_jobs_and_run_each_once(jobs):
    workers = [jobs.start_worker(concurrency=2), jobs.start_worker(concurrency=2)]
    for worker in workers:
        worker.ready()
    # different arguments, or they would be one job
    ids = [jobs.queue.submit("noop", {"seconds": 0.4 + index / 1000}).job.id
           for index in range(20)]
    done = [jobs.wait(job_id, timeout=60) for job_id in ids]
    for job in done:
        assert job.state == "succeeded", jobs.explain(job.id)
        assert job.attempts == 1
        assert len(jobs.started_lines(job.id)) == 1, jobs.explain(job.id)
        assert job.result == {"slept": job.args["seconds"]}
    assert {job.worker_pid for job in done} == {worker.pid for worker in workers}
    intervals = {worker.pid: [(job.started, job.ended) for job in done
                              if job.worker_pid == worker.pid] for worker in workers}
    assert all(_most_at_once(mine) <= 2 for mine in intervals.values())
    assert 2 <= _most_at_once([both for mine in intervals.values() for both in mine]) <= 4


# -- cancel ---------------------------------------------------------------------------------

def test_cancel_stops_a_running_transform_and_leaves_no_output(jobs, big_archive, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    jobs.start_worker()
    job = jobs.queue.submit("transform", {"source": str(big_archive),
                                          "output": str(out / "anonymised.mbz"),
                                          "anonymise": {"key": "k"}, "compressor": "zlib"}).job
    seen = jobs.running(job.id)
    asked = jobs.queue.cancel(job.id)
    assert asked.state == "running" and asked.cancel_requested
    ended = jobs.wait(job.id, timeout=30)
    assert ended.state == "cancelled", jobs.explain(job.id)
    assert ended.result is None and ended.attempts == 1
    assert ended.progress["phase"] in ("transforming", "rewriting")
    assert not ended.progress["finished"]
    assert (ended.progress["phase"], ended.progress["done_members"]) >= \
        (seen.progress["phase"], seen.progress["done_members"])
    assert ended.message.startswith("cancelled, at ")
    assert os.listdir(out) == []


def test_cancel_stops_a_running_restore_and_rolls_it_back(jobs, big_archive, tmp_path):
    target = tmp_path / "site.db"
    restore(SMALL, f"sqlite:{target}")  # a site with a course already
    before = _row_counts(target)
    jobs.start_worker()
    job = jobs.queue.submit("restore", {"archive": str(big_archive),
                                        "into": f"sqlite:{target}"}).job
    seen = jobs.running(job.id, phase="restoring", members=1)
    jobs.queue.cancel(job.id)
    ended = jobs.wait(job.id, timeout=30)
    assert ended.state == "cancelled", jobs.explain(job.id)
    assert ended.progress["phase"] in ("restoring", "finishing", "committing")
    assert ended.progress["done_members"] >= seen.progress["done_members"] > 0
    assert ended.result is None
    assert _row_counts(target) == before


def test_a_job_that_ignores_the_cancel_is_killed_after_the_grace_period(jobs):
    jobs.start_worker(concurrency=2)
    stubborn = jobs.queue.submit("noop", {"seconds": 30, "ignore_cancel": True}).job
    willing = jobs.queue.submit("noop", {"seconds": 30}).job
    jobs.running(stubborn.id)
    jobs.running(willing.id)
    asked = {}
    for job in (stubborn, willing):
        asked[job.id] = time.time()
        jobs.queue.cancel(job.id)
    stopped = jobs.wait(stubborn.id, timeout=15)
    cooperated = jobs.wait(willing.id, timeout=15)
    assert stopped.state == cooperated.state == "cancelled"
    grace = FAST["grace"]
    assert grace <= stopped.ended - asked[stubborn.id] < 10
    assert any(line.text.startswith("killed: still running") for line in
               jobs.queue.log(stubborn.id))
    assert not any(line.text.startswith("killed") for line in jobs.queue.log(willing.id))
    assert stopped.progress["phase"] == "waiting"


# -- lost workers -------------------------------------------------------------------------

@pytest.mark.parametrize("jobs", BACKENDS, indirect=True)
def test_a_killed_workers_job_is_found_by_its_heartbeat_and_retried_elsewhere(jobs):
    workers = {worker.pid: worker.ready() for worker in (jobs.start_worker(),
                                                          jobs.start_worker())}
    job = jobs.queue.submit("noop", {"seconds": 1.0}).job
    running = jobs.running(job.id)
    first = workers.pop(running.worker_pid)
    (second_pid, _), = workers.items()
    first.kill()
    last_beat = jobs.queue.get(job.id).heartbeat  # its last: the worker is gone
    ended = jobs.wait(job.id, timeout=30)
    assert ended.state == "succeeded", jobs.explain(job.id)
    assert ended.attempts == 2 and ended.worker_pid == second_pid
    assert len(jobs.started_lines(job.id)) == 2
    lost, = [line for line in jobs.queue.log(job.id) if "stopped beating" in line.text]
    assert f"worker {running.worker_host}:{first.pid} stopped beating" in lost.text
    # found by the heartbeat going stale, not sooner
    assert lost.at > last_beat + FAST["lost_after"]


def test_a_cancel_asked_of_a_job_whose_worker_died_is_kept(jobs):
    """No worker is left to pass the cancel on: the job is found lost and ends cancelled,
    not retried."""
    workers = {worker.pid: worker.ready() for worker in (jobs.start_worker(),
                                                          jobs.start_worker())}
    job = jobs.queue.submit("noop", {"seconds": 3.0}).job
    running = jobs.running(job.id)
    workers[running.worker_pid].kill()
    assert jobs.queue.cancel(job.id).cancel_requested
    ended = jobs.wait(job.id, timeout=30)
    assert ended.state == "cancelled" and ended.attempts == 1, jobs.explain(job.id)
    assert "worker" in ended.message and len(jobs.started_lines(job.id)) == 1


def test_a_worker_given_up_for_lost_that_comes_back_changes_nothing(jobs):
    """Stopped (SIGSTOP) long enough to be taken for lost, then continued while another
    worker runs the job's second attempt: what it still knew of the first attempt is
    no longer the job's."""
    workers = {worker.pid: worker.ready() for worker in (jobs.start_worker(),
                                                          jobs.start_worker())}
    job = jobs.queue.submit("noop", {"seconds": 2.0}).job
    running = jobs.running(job.id)
    stalled = workers.pop(running.worker_pid)
    (other_pid, _), = workers.items()
    os.kill(stalled.pid, signal.SIGSTOP)
    try:
        again = jobs.wait(job.id, lambda job: job.state == "running" and job.attempts == 2,
                          timeout=30, what="its second attempt running")
    finally:
        os.kill(stalled.pid, signal.SIGCONT)
    assert again.worker_pid == other_pid
    ended = jobs.wait(job.id, timeout=30)
    assert ended.state == "succeeded" and ended.attempts == 2
    assert ended.worker_pid == other_pid
    assert ended.ended - again.started >= 2.0  # the second attempt's whole run
    texts = [line.text for line in jobs.queue.log(job.id)]
    assert texts.count("succeeded") == 1, texts
    assert f"attempt 1 on {running.worker_host} (worker {stalled.pid}) was given up for " \
           "lost: stopped" in texts


def test_a_restore_whose_worker_was_killed_is_not_retried(jobs, big_archive, tmp_path):
    assert KINDS["restore"].retry == "after-rollback"
    target = tmp_path / "site.db"
    restore(SMALL, f"sqlite:{target}")
    before = _row_counts(target)
    workers = {worker.pid: worker.ready() for worker in (jobs.start_worker(),
                                                          jobs.start_worker())}
    job = jobs.queue.submit("restore", {"archive": str(big_archive),
                                        "into": f"sqlite:{target}"}).job
    running = jobs.running(job.id, phase="restoring")
    workers[running.worker_pid].kill()
    ended = jobs.wait(job.id, timeout=30)
    assert ended.state == "failed", jobs.explain(job.id)
    assert ended.attempts == 1 and ended.error["code"] == "worker-lost"
    assert len(jobs.started_lines(job.id)) == 1
    # its process saw the worker go and rolled back by itself
    wait_until(lambda: _row_counts(target) == before, timeout=20,
               what="the abandoned restore rolling back")


# -- dependencies ---------------------------------------------------------------------------

def test_a_job_after_another_starts_when_it_has_succeeded(jobs):
    jobs.start_worker(concurrency=2)
    first = jobs.queue.submit("noop", {"seconds": 1.0}).job
    then = jobs.queue.submit("noop", {"seconds": 0.1}, after=first.id).job
    assert then.state == "queued" and then.held == "after" and then.after == first.id
    first, then = jobs.wait(first.id), jobs.wait(then.id)
    assert first.state == then.state == "succeeded"
    assert then.started >= first.ended


def test_jobs_after_a_failed_one_are_cancelled(jobs):
    jobs.start_worker(concurrency=2)
    failing = jobs.queue.submit("noop", {"seconds": 0.3, "fail": "no"}, max_attempts=1).job
    then = jobs.queue.submit("noop", {"seconds": 0.1}, after=failing.id).job
    after_then = jobs.queue.submit("noop", {"seconds": 0.2}, after=then.id).job
    assert jobs.wait(failing.id).state == "failed"
    for job_id, cause in ((then.id, failing.id), (after_then.id, then.id)):
        job = jobs.wait(job_id, timeout=10)
        assert job.state == "cancelled" and job.started is None and job.attempts == 0
        assert job.message == f"job {cause} did not succeed"
    with pytest.raises(JobError) as refused:
        jobs.queue.submit("noop", {"seconds": 0.4}, after=failing.id)
    assert refused.value.code == "job-bad-after"


# -- priority -------------------------------------------------------------------------------

@pytest.mark.parametrize("jobs", BACKENDS, indirect=True)
def test_a_higher_priority_starts_first(jobs):
    ids = {priority: jobs.queue.submit("noop", {"seconds": 0.1 + priority / 100},
                                       priority=priority).job.id for priority in (0, 5, 1, 9)}
    jobs.start_worker()  # one at a time, all four waiting
    done = {priority: jobs.wait(job_id) for priority, job_id in ids.items()}
    by_start = sorted(done, key=lambda priority: done[priority].started)
    assert by_start == [9, 5, 1, 0]


# -- duplicates -----------------------------------------------------------------------------

@pytest.mark.parametrize("jobs", BACKENDS, indirect=True)
def test_a_duplicate_submission_joins_the_queued_or_running_job(jobs):
    submitters = 8
    barrier = threading.Barrier(submitters)

    def submit(_):
        queue = JobQueue(jobs.settings)  # its own connections
        barrier.wait()
        try:
            return queue.submit("noop", {"seconds": 1.0})
        finally:
            close(queue)

    with ThreadPoolExecutor(submitters) as pool:
        results = list(pool.map(submit, range(submitters)))
    assert len({result.job.id for result in results}) == 1
    assert sorted(result.joined for result in results) == [False] + [True] * (submitters - 1)
    job_id = results[0].job.id
    assert [job.id for job in jobs.queue.ls(kind="noop")] == [job_id]
    other = jobs.queue.submit("noop", {"seconds": 1.5})
    assert not other.joined and other.job.id != job_id

    jobs.start_worker(concurrency=2)
    jobs.running(job_id)
    again = jobs.queue.submit("noop", {"seconds": 1.0})
    assert again.joined and again.job.id == job_id and again.job.state == "running"
    assert jobs.wait(job_id).state == "succeeded"
    assert len(jobs.started_lines(job_id)) == 1
    later = jobs.queue.submit("noop", {"seconds": 1.0})
    assert not later.joined and later.job.id not in (job_id, other.job.id)


# -- retries --------------------------------------------------------------------------------

def test_a_failing_job_is_retried_with_back_off_then_fails(jobs, tmp_path):
    not_a_backup = tmp_path / "notes.mbz"
    not_a_backup.write_text("these are notes\n")
    with pytest.raises(MbxError) as direct:
        verify(not_a_backup)
    jobs.start_worker(concurrency=2)
    failing = jobs.queue.submit("noop", {"seconds": 0.05, "fail": "boom"}).job
    refused = jobs.queue.submit("verify", {"path": str(not_a_backup)}).job
    assert failing.max_attempts == refused.max_attempts == FAST["max_attempts"]

    failed = jobs.wait(failing.id, timeout=30)
    assert failed.state == "failed" and failed.attempts == FAST["max_attempts"]
    assert "boom" in failed.error["message"]
    log = jobs.queue.log(failing.id)
    starts = [line.at for line in log if " started on " in line.text]
    retries = [line.at for line in log if "; retry in " in line.text]
    assert len(starts) == 3 and len(retries) == 2
    assert [line.text.rpartition("; ")[2] for line in log if "; retry in " in line.text] == \
        [f"retry in {FAST['retry_delay']:g} s", f"retry in {FAST['retry_delay'] * 2:g} s"]
    for attempt, (gave_up, next_start) in enumerate(zip(retries, starts[1:]), start=1):
        assert next_start - gave_up >= FAST["retry_delay"] * 2 ** (attempt - 1) - 0.01

    refusal = jobs.wait(refused.id, timeout=30)
    assert refusal.state == "failed" and refusal.attempts == 1
    assert refusal.error["code"] == direct.value.code
    assert not any("retry in" in line.text for line in jobs.queue.log(refused.id))



def test_a_cancel_asked_as_an_attempt_fails_ends_the_job_cancelled_not_retried(tmp_path):
    """The cancel reached the table between two of the supervisor's heartbeats, and the
    attempt then failed: the retry must not clear the cancel and run the job again."""
    queue = JobQueue(JobSettings(home=str(tmp_path), **FAST))
    try:
        job = queue.submit("noop", {"seconds": 5}).job
        assert queue.table.update(job.id, state="running", attempts=1)
        queue.cancel(job.id)
        running = queue.get(job.id)
        assert running.state == "running" and running.cancel_requested
        assert queue.settle_failure(running, {"code": "job-died", "message": "exit 1"},
                                    retryable=True)
        ended = queue.get(job.id)
        assert ended.state == "cancelled" and ended.attempts == 1 and ended.ended is not None
        assert not queue.ls(states=("queued",))
    finally:
        close(queue)


def test_a_restore_submitted_without_a_target_names_the_default_in_the_submitters_folder(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    queue = JobQueue(JobSettings(home=str(tmp_path / "home"), **FAST))
    try:
        job = queue.submit("restore", {"archive": "course.mbz"}).job
        assert job.args["into"] == f"sqlite:{tmp_path / 'mbx-restore.db'}"
        assert job.args["archive"] == str(tmp_path / "course.mbz")
    finally:
        close(queue)
