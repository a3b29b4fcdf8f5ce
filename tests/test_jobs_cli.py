"""``mbx jobs …`` and ``mbx worker`` as a person runs them: real processes, their exit
codes, their JSON read with ``json``, their one-line errors."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys

import pytest

from jobsupport import SMALL


def mbx(jobs, *args: str, **overrides) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mbx", *args],
                          env=jobs.environment(**overrides), capture_output=True, text=True,
                          timeout=120)


def mbx_json(jobs, *args: str, **overrides):
    done = mbx(jobs, *args, "--json", **overrides)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_submit_ls_show_and_watch(jobs):
    verify = mbx_json(jobs, "jobs", "submit", "verify", str(SMALL))
    assert (verify["kind"], verify["state"], verify["joined"]) == ("verify", "queued", False)
    assert verify["args"]["path"] == str(SMALL)
    noop = mbx_json(jobs, "jobs", "submit", "noop", "--seconds", "0.2", "--priority", "5")
    assert noop["id"] != verify["id"] and noop["priority"] == 5
    assert mbx_json(jobs, "jobs", "submit", "noop", "--seconds", "0.2")["joined"]

    listed = mbx_json(jobs, "jobs", "ls")
    assert [(job["id"], job["state"]) for job in listed] == [(noop["id"], "queued"),
                                                              (verify["id"], "queued")]
    assert [job["id"] for job in mbx_json(jobs, "jobs", "ls", "--kind", "verify")] == \
        [verify["id"]]
    text = mbx(jobs, "jobs", "ls")
    assert text.returncode == 0 and len(text.stdout.splitlines()) == 3  # a header, two jobs

    jobs.start_worker()
    watched = mbx(jobs, "jobs", "watch", str(verify["id"]))
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout.startswith(f"job {verify['id']} (verify) succeeded")
    shown = mbx_json(jobs, "jobs", "show", str(verify["id"]))
    assert shown["state"] == "succeeded" and shown["attempts"] == 1
    assert [line["text"] for line in shown["log"]][-1] == "succeeded"
    # the job ran what the command runs
    command = subprocess.run([sys.executable, "-m", "mbx", "verify", str(SMALL), "--json"],
                             env=jobs.environment(), capture_output=True, text=True, timeout=60)
    assert shown["result"] == json.loads(command.stdout)
    text = mbx(jobs, "jobs", "show", str(verify["id"])).stdout
    assert "state:     succeeded" in text and "report:" in text and "attempt 1 started" in text


def test_submit_takes_the_arguments_of_the_command_of_that_name(jobs, tmp_path):
    store = tmp_path / "store"
    added = mbx_json(jobs, "jobs", "submit", "store", "add", str(store), str(SMALL),
                     "--tag", "term1")
    assert (added["kind"], added["args"]["store"], added["args"]["archive"],
            added["args"]["tags"]) == ("store-add", str(store), str(SMALL), ["term1"])
    assert mbx_json(jobs, "jobs", "submit", "store", "gc", str(store))["kind"] == "store-gc"
    anonymised = mbx_json(jobs, "jobs", "submit", "anonymise", str(SMALL),
                          str(tmp_path / "anon.mbz"), "--key", "secret")
    assert anonymised["kind"] == "transform"
    assert anonymised["args"]["anonymise"]["key"] == "***"  # shown masked, kept whole
    assert jobs.queue.get(anonymised["id"]).args["anonymise"]["key"] == "secret"
    assert "secret" not in mbx(jobs, "jobs", "show", str(anonymised["id"])).stdout


def test_watch_says_how_a_job_ended_and_cancel_and_retry_change_it(jobs):
    one_try = {"max_attempts": 1}
    jobs.start_worker(concurrency=2)
    ok = mbx_json(jobs, "jobs", "submit", "noop", "--seconds", "0.1")["id"]
    bad = mbx_json(jobs, "jobs", "submit", "noop", "--fail", "boom", **one_try)["id"]
    long = mbx_json(jobs, "jobs", "submit", "noop", "--seconds", "60")["id"]
    jobs.running(long)
    cancelled = mbx(jobs, "jobs", "cancel", str(long))
    assert cancelled.returncode == 0 and "cancel requested" in cancelled.stdout
    watches = {job: subprocess.Popen([sys.executable, "-m", "mbx", "jobs", "watch", str(job)],
                                     env=jobs.environment(), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
               for job in (ok, bad, long)}
    ended = {job: (watch.wait(60), watch.stdout.read()) for job, watch in watches.items()}
    for watch in watches.values():
        watch.stdout.close()
        watch.stderr.close()
    assert ended[ok][0] == 0
    assert ended[bad][0] == 1 and "failed" in ended[bad][1] and "boom" in ended[bad][1]
    assert ended[long][0] == 130 and "cancelled" in ended[long][1]

    retried = mbx(jobs, "jobs", "retry", str(bad))
    assert retried.returncode == 0 and "attempt 2 of 2" in retried.stdout
    assert mbx(jobs, "jobs", "watch", str(bad)).returncode == 1
    assert jobs.queue.get(bad).attempts == 2
    for action, job, message in (("retry", ok, "only a failed or cancelled job is retried"),
                                 ("cancel", ok, f"job {ok} already succeeded")):
        refused = mbx(jobs, "jobs", action, str(job))
        assert refused.returncode == 1 and message in refused.stderr
        assert len(refused.stderr.splitlines()) == 1


def test_cancel_before_it_starts(jobs, tmp_path):
    told = tmp_path / "told"
    submitted = mbx_json(jobs, "jobs", "submit", "noop", "--seconds", "0.3", "--at",
                         "2031-06-12T02:00", "--notify-email", "ops@example.org",
                         "--on-done", f'echo "$MBX_JOB_STATE" > {told}', "--notify-on",
                         "failure")
    job = submitted["id"]
    assert submitted["run_at"] == datetime.datetime(2031, 6, 12, 2, 0).timestamp()
    assert submitted["notify"] == {"email": ["ops@example.org"], "on": "failure",
                                   "command": f'echo "$MBX_JOB_STATE" > {told}'}
    # (the e-mail goes nowhere: no server listens on port 9 of the loopback)
    assert mbx_json(jobs, "jobs", "cancel", str(job), smtp="127.0.0.1:9")["state"] == \
        "cancelled"
    assert told.read_text() == "cancelled\n"  # the cancel told, as the job asked
    jobs.start_worker()
    later = mbx_json(jobs, "jobs", "submit", "noop", "--seconds", "0.1")["id"]
    assert jobs.wait(later).state == "succeeded"  # the worker has seen the first message
    first = jobs.queue.get(job)
    assert first.state == "cancelled" and first.started is None and first.attempts == 0
    assert mbx(jobs, "jobs", "watch", str(job)).returncode == 130


def test_pause_resume_and_the_window(jobs):
    assert mbx_json(jobs, "jobs", "pause") == {"paused": True, "window": None}
    jobs.start_worker()
    job = mbx_json(jobs, "jobs", "submit", "noop", "--seconds", "0.1")["id"]
    dropped = mbx_json(jobs, "jobs", "submit", "noop", "--seconds", "0.2")["id"]
    for held in (job, dropped):
        assert jobs.wait(held, lambda job: job.held == "paused", what="held by the pause")
    assert mbx_json(jobs, "jobs", "cancel", str(dropped))["held"] is None
    assert "cancelled " in mbx(jobs, "jobs", "ls", "--state", "cancelled").stdout  # no '*'
    now = datetime.datetime.now()
    opening = (now + datetime.timedelta(hours=3)).replace(second=0, microsecond=0)
    window = f"{opening:%H:%M}-{opening + datetime.timedelta(minutes=30):%H:%M}"
    assert mbx_json(jobs, "jobs", "resume", "--window", window) == \
        {"paused": False, "window": window}
    held = jobs.wait(job, lambda job: job.held == "window", what="held by the window")
    assert held.run_at == opening.timestamp()
    assert mbx(jobs, "jobs", "window").stdout.strip() == f"running, jobs start only in {window}"
    assert mbx_json(jobs, "jobs", "window", "off") == {"paused": False, "window": None}
    assert jobs.wait(job).state == "succeeded"


def test_schedule_add_ls_rm(jobs):
    added = mbx_json(jobs, "jobs", "schedule", "add", "0 2 * * *", "verify", str(SMALL))
    now = datetime.datetime.now()
    two = now.replace(hour=2, minute=0, second=0, microsecond=0)
    if two <= now:
        two += datetime.timedelta(days=1)
    assert added["cron"] == "0 2 * * *" and added["kind"] == "verify"
    assert added["next_due"] == two.timestamp()
    listed = mbx_json(jobs, "jobs", "schedule", "ls")
    assert [(schedule["id"], schedule["args"]["path"]) for schedule in listed] == \
        [(added["id"], str(SMALL))]
    assert f"at '0 2 * * *', next {two:%Y-%m-%d %H:%M:%S}" in \
        mbx(jobs, "jobs", "schedule", "ls").stdout
    removed = mbx(jobs, "jobs", "schedule", "rm", str(added["id"]))
    assert removed.returncode == 0 and f"schedule {added['id']} removed" in removed.stdout
    assert mbx(jobs, "jobs", "schedule", "ls").stdout.strip() == "no schedules"
    again = mbx(jobs, "jobs", "schedule", "rm", str(added["id"]))
    assert again.returncode == 1 and f"no schedule {added['id']}" in again.stderr


@pytest.mark.parametrize(("args", "code", "says"), [
    (["jobs", "show", "999"], 1, "no job 999"),
    (["jobs", "watch", "999"], 1, "no job 999"),
    (["jobs", "cancel", "999"], 1, "no job 999"),
    (["jobs", "submit", "frobnicate", "x.mbz"], 2, "no job kind 'frobnicate'"),
    (["jobs", "submit", "noop", "--after", "999"], 1, "no job 999"),
    (["jobs", "submit", "noop", "--at", "soon"], 2, "--at wants YYYY-MM-DDTHH:MM"),
    (["jobs", "submit", "noop", "--seconds", "a while"], 2, "noop takes --seconds"),
    (["jobs", "submit", "verify"], 2, "the arguments of verify are not right"),
    (["jobs", "schedule", "add", "61 * * * *", "noop"], 1, "not a cron expression"),
    (["jobs", "schedule", "add", "0 2 * *", "noop"], 1, "not a cron expression"),
    (["jobs", "resume", "--window", "25:00-26:00"], 1, "a window is HH:MM-HH:MM"),
    (["jobs", "window", "9-5"], 1, "a window is HH:MM-HH:MM"),
    (["worker", "--concurrency", "0"], 2, "--concurrency wants 1 or more"),
])
def test_bad_input_gives_one_clear_line(jobs, args, code, says):
    done = mbx(jobs, *args)
    assert done.returncode == code, done.stderr
    assert done.stdout == ""
    line, *more = done.stderr.splitlines()
    assert more == [] and line.startswith("mbx: ") and says in line
    assert jobs.queue.ls() == [] and jobs.queue.schedules() == []
