"""The job queue's own overhead: no-op jobs through SQLite and Redis, next to a plain loop.

``--jobs`` no-op jobs (the ``noop`` kind, zero seconds; each with its own
``seconds`` argument, a few nanoseconds apart, so that no submission joins an
identical job still queued) go through the queue as a user's would: submitted
with :meth:`mbx.jobs.JobQueue.submit`, run by ``python -m mbx worker``
processes started for the run and stopped with SIGINT after it. Measured in one
run:

* the baselines: the same operations in a plain loop in this process
  (``mbx.jobs.kinds.run("noop", ...)``), and in a loop that runs each in its own
  process from a fork server, as a worker does (``mbx.jobs.child.main`` over two
  pipes, as many at a time as the worker set-up it is set against runs), without
  the table or the queue, in a ``python -c`` process of its own (see :data:`FORK_LOOP`);
* for each queue (``sqlite``: queue and job table in a temporary ``MBX_HOME``;
  ``redis``: the queue on a throwaway ``redis-server``, the table on SQLite) and
  each worker set-up (one ``mbx worker --concurrency C`` for each ``--concurrency``,
  then ``--processes`` workers of one job at a time):

  - submit: ``--jobs`` submissions with no worker running (jobs/s);
  - drain: a worker started on those queued jobs, from the first job's end to
    the last one's, as the job table records them (jobs/s); the worker's start-up
    is the time from its launch to the first job's end (the interpreter, the fork
    server, which starts with the first job, and that job);
  - end to end: ``--jobs`` more submitted to the warm worker, from the first
    submission to the last job's end (jobs/s);
  - idle latency: one job submitted to a worker left idle for :data:`IDLE_S`, to its
    end (``--idle-samples`` times): what a polling consumer's back-off adds;
  - the overhead per job: (end-to-end time - loop time) / jobs, against both loops
    (the fork loop two at a time shares one fork server, where two workers have one
    each: ``2x1`` may beat it);
  - peak RSS (``VmHWM``) of the worker and of its fork server, the parent of
    every job's process.

The workers run with the default settings (heartbeat 1 s: a no-op job's one
heartbeat is the one at its start). The figures move by a third from run to run on a
shared machine: ``--repeats`` keeps the best. Run::

    python benchmarks/bench_jobs.py                       # 1,000 jobs
    python benchmarks/bench_jobs.py --jobs 100 --idle-samples 1 --json     # CI size
    python benchmarks/bench_jobs.py --queues sqlite --concurrency 1 --processes 0 --repeats 3

or under pytest-benchmark (``pytest benchmarks/bench_jobs.py``; ``--jobs`` from
``MBX_BENCH_JOBS``, default 50; asserts that every job succeeded, no timing asserts).
Redis is left out, with a note, when ``redis-server`` is absent.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import mbx
from mbx.jobs import JobQueue, JobSettings, child, kinds
from mbx.progress import Monitor
from tables import vm_hwm_kib

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import redisserver  # noqa: E402 - the tests' throwaway server, standard library only

#: the folder of the mbx this process imports, for the workers' PYTHONPATH
SRC = Path(mbx.__file__).resolve().parents[1]
#: seconds a worker is left idle before a latency sample: long enough for a polling
#: consumer (SqliteHuey) to have backed off to its longest interval
IDLE_S = 3.5


def job_args(number: int) -> dict:
    """The arguments of no-op job ``number``: distinct, so that none joins another."""
    return {"seconds": number * 1e-9}


# -- the baselines ----------------------------------------------------------------------

def loop_seconds(jobs: int) -> float:
    """The operations alone: ``jobs`` no-ops run in turn in this process."""
    started = time.perf_counter()
    for number in range(jobs):
        kinds.run("noop", job_args(number), Monitor())
    return time.perf_counter() - started


def _fork_server():
    from mbx.jobs.worker import _fork_server as worker_fork_server  # the worker's own preload

    return worker_fork_server()


def _one_process(processes, number: int) -> None:
    """One no-op in its own process, driven as the worker drives a job (without the table)."""
    control_out, control_in = processes.Pipe(duplex=False)
    events_out, events_in = processes.Pipe(duplex=False)
    process = processes.Process(target=child.main, args=("noop", job_args(number), control_out,
                                                         events_in, 10.0))
    process.start()
    control_out.close()
    events_in.close()
    outcome = None
    try:
        while True:
            try:
                message = events_out.recv()
            except EOFError:
                break
            if message[0] != "progress":
                outcome = message
    finally:
        process.join()
        control_in.close()
        events_out.close()
    if outcome is None or outcome[0] != "done":
        raise AssertionError(f"no-op {number} in its process: {outcome!r}, exit "
                             f"{process.exitcode}")


def fork_loop_seconds(jobs: int, concurrency: int) -> tuple[float, float]:
    """(seconds for ``jobs`` no-ops, each in its own process, ``concurrency`` at a time;
    seconds the fork server took to start, before them)."""
    processes = _fork_server()
    started = time.perf_counter()
    _one_process(processes, -1)  # starts the fork server
    server_s = time.perf_counter() - started
    numbers = iter(range(jobs))
    lock = threading.Lock()

    def run() -> None:
        while True:
            with lock:
                number = next(numbers, None)
            if number is None:
                return
            _one_process(processes, number)

    started = time.perf_counter()
    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, server_s


#: The fork loop runs in a fresh ``python -c`` process, whose main module the job
#: processes do not run again: a process started from a script runs the script's top level
#: again in every child (Python before 3.13 never preloads ``__main__`` in the fork server),
#: which ``mbx worker`` (``python -m mbx``, a package's ``__main__``) is spared.
FORK_LOOP = """
import json, sys
sys.path.insert(0, sys.argv[1])
import bench_jobs
print(json.dumps(bench_jobs.fork_loop_seconds(int(sys.argv[2]), int(sys.argv[3]))))
"""


def fork_loop(jobs: int, concurrency: int) -> tuple[float, float]:
    """:func:`fork_loop_seconds` in a process of its own, as a worker's are."""
    done = subprocess.run([sys.executable, "-c", FORK_LOOP, str(Path(__file__).resolve().parent),
                           str(jobs), str(concurrency)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": _pythonpath()})
    if done.returncode != 0:
        raise AssertionError(f"the fork loop failed: {done.stderr[-2000:]}")
    seconds, server_s = json.loads(done.stdout)
    return seconds, server_s


def _pythonpath() -> str:
    return os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])


# -- the queue ----------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    found = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as children:
                found.extend(int(word) for word in children.read().split())
    return found


def _fork_servers(pid: int) -> list[int]:
    """The fork server among the children of worker ``pid``."""
    servers = []
    for child_pid in _children(pid):
        with contextlib.suppress(OSError):
            with open(f"/proc/{child_pid}/cmdline", "rb") as cmdline:
                if b"forkserver" in cmdline.read():
                    servers.append(child_pid)
    return servers


class Workers:
    """``processes`` × ``python -m mbx worker --concurrency C`` on ``settings``."""

    def __init__(self, settings: JobSettings, processes: int, concurrency: int) -> None:
        env = {**os.environ, "MBX_HOME": settings.home, "MBX_JOBS_TABLE": settings.table,
               "MBX_QUEUE": settings.queue,
               "PYTHONPATH": _pythonpath()}
        self.logs = [Path(settings.home) / f"worker-{number}.log" for number in range(processes)]
        self.launched = time.time()
        self.processes = []
        for log in self.logs:
            with open(log, "wb") as stderr:
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-m", "mbx", "worker", "--concurrency", str(concurrency)],
                    env=env, stdout=subprocess.DEVNULL, stderr=stderr))

    def alive(self) -> bool:
        return all(process.poll() is None for process in self.processes)

    def peak_rss_kib(self) -> dict[str, int]:
        """The highest VmHWM of the workers and of their fork servers, while they run."""
        workers = [vm_hwm_kib(process.pid) for process in self.processes]
        servers = [vm_hwm_kib(pid) for process in self.processes
                   for pid in _fork_servers(process.pid)]
        return {"worker": max(workers, default=0), "fork_server": max(servers, default=0)}

    def stop(self) -> None:
        """SIGINT (the worker's own stop), then a kill for any still there after 10 s."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def errors(self) -> str:
        return "\n".join(log.read_text(errors="replace")[-2000:] for log in self.logs)


def _finished(table: Path, first: int, last: int) -> tuple[int, int, float | None, float | None]:
    """(jobs ended, of them succeeded, the earliest end, the latest) of ids first..last."""
    with contextlib.closing(sqlite3.connect(table, timeout=60)) as db:
        return db.execute(
            "SELECT count(*), coalesce(sum(state = 'succeeded'), 0), min(ended), max(ended) "
            "FROM mbx_jobs WHERE id BETWEEN ? AND ? AND state IN "
            "('succeeded', 'failed', 'cancelled')", (first, last)).fetchone()


def _wait(table: Path, first: int, last: int, workers: Workers,
          timeout: float) -> tuple[float, float]:
    """Waits until jobs first..last have all ended; (the earliest end, the latest)."""
    deadline = time.monotonic() + timeout
    jobs = last - first + 1
    while True:
        ended, succeeded, earliest, latest = _finished(table, first, last)
        if ended == jobs:
            if succeeded != jobs:
                raise AssertionError(f"{jobs - succeeded} of {jobs} no-op jobs did not succeed")
            return earliest, latest
        if not workers.alive():
            raise AssertionError(f"a worker stopped:\n{workers.errors()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{ended} of {jobs} jobs ended in {timeout:.0f} s:\n"
                                 f"{workers.errors()}")
        time.sleep(0.02)


def _submit(queue: JobQueue, numbers: range) -> tuple[int, int, float, float]:
    """Submits no-ops ``numbers``: (first id, last id, Unix time of the first, seconds)."""
    at = time.time()
    started = time.perf_counter()
    ids = [queue.submit("noop", job_args(number)).job.id for number in numbers]
    seconds = time.perf_counter() - started
    if len(set(ids)) != len(ids) or ids != sorted(ids):
        raise AssertionError("a no-op submission joined another job")
    return ids[0], ids[-1], at, seconds


def measure_queue(queue_url: str | None, jobs: int, processes: int, concurrency: int,
                  idle_samples: int = 2) -> dict:
    """Submit, drain, end to end and idle latency for one queue and one worker set-up,
    in a fresh home."""
    home = Path(tempfile.mkdtemp(prefix="mbx-bench-jobs-"))
    try:
        settings = JobSettings(home=str(home), queue=queue_url or "")
        queue = JobQueue(settings)
        queue.transport.huey.flush()  # a shared Redis may hold an earlier run's messages
        table = Path(settings.table.removeprefix("sqlite:"))
        first, last, _, submit_s = _submit(queue, range(jobs))
        workers = Workers(settings, processes, concurrency)
        try:
            timeout = 60 + jobs * 1.0
            first_end, ended = _wait(table, first, last, workers, timeout)
            drain_s, startup_s = ended - first_end, first_end - workers.launched
            e2e_first, e2e_last, at, _ = _submit(queue, range(jobs, 2 * jobs))
            _, ended = _wait(table, e2e_first, e2e_last, workers, timeout)
            end_to_end_s = ended - at
            idle = []
            for number in range(2 * jobs, 2 * jobs + idle_samples):
                time.sleep(IDLE_S)
                first, last, at, _ = _submit(queue, range(number, number + 1))
                idle.append(_wait(table, first, last, workers, timeout)[1] - at)
            rss = workers.peak_rss_kib()
        finally:
            workers.stop()
        with contextlib.closing(sqlite3.connect(table)) as db:
            in_job_s = db.execute("SELECT avg(ended - started) FROM mbx_jobs WHERE id "
                                  "BETWEEN ? AND ?", (e2e_first, e2e_last)).fetchone()[0]
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {"queue": "redis" if queue_url else "sqlite", "processes": processes,
            "concurrency": concurrency, "submit_s": round(submit_s, 3),
            "submit_per_s": round(jobs / submit_s, 1),
            "worker_startup_s": round(startup_s, 3), "drain_s": round(drain_s, 3),
            "drain_per_s": round((jobs - 1) / drain_s, 1), "end_to_end_s": round(end_to_end_s, 3),
            "end_to_end_per_s": round(jobs / end_to_end_s, 1),
            "end_to_end_ms_per_job": round(end_to_end_s / jobs * 1000, 2),
            "claim_to_end_ms": round(in_job_s * 1000, 2),
            "idle_latency_ms": [round(seconds * 1000, 1) for seconds in idle],
            "worker_peak_rss_mib": round(rss["worker"] / 1024, 1),
            "fork_server_peak_rss_mib": round(rss["fork_server"] / 1024, 1)}


def measure(jobs: int, concurrency: list[int], processes: int, queues: list[str],
            idle_samples: int = 2, repeats: int = 1) -> dict:
    """Every figure, each the best of ``repeats`` (the queue's runs by their end to end)."""
    loop_s = min(loop_seconds(jobs) for _ in range(repeats))
    parallel = sorted({*concurrency, processes} - {0})
    fork, server_s = {}, 0.0
    for width in parallel:
        fork[width], server_s = min(fork_loop(jobs, width) for _ in range(repeats))
    setups = [(1, width) for width in concurrency] + ([(processes, 1)] if processes > 1 else [])
    out = {"jobs": jobs, "loop_s": round(loop_s, 4),
           "loop_ms_per_job": round(loop_s / jobs * 1000, 3),
           "fork_server_start_s": round(server_s, 3),
           "fork_loop": {str(width): {"s": round(seconds, 3),
                                      "ms_per_job": round(seconds / jobs * 1000, 2)}
                         for width, seconds in fork.items()},
           "runs": [], "notes": []}
    redis_dir, redis_url = None, None
    if "redis" in queues:
        redis_url = os.environ.get("MBX_TEST_REDIS")
        if not redis_url:
            try:
                redis_dir = tempfile.mkdtemp(prefix="mbx-bench-redis-")
                redis_url = redisserver.start(redis_dir)
            except redisserver.ServerError as error:
                out["notes"].append(f"redis: not measured ({error})")
                shutil.rmtree(redis_dir, ignore_errors=True)
                redis_dir = None
    try:
        for name in queues:
            if name == "redis" and not redis_url:
                continue
            for workers, width in setups:
                run = min((measure_queue(redis_url if name == "redis" else None, jobs, workers,
                                         width, idle_samples) for _ in range(repeats)),
                          key=lambda figures: figures["end_to_end_s"])
                # the fork loop of the same width: the cost of a process per job, run as
                # many at a time as this set-up runs
                fork_s = fork[workers * width]
                run["overhead_ms_per_job"] = round((run["end_to_end_s"] - loop_s) / jobs * 1000, 2)
                run["over_fork_loop_ms_per_job"] = round((run["end_to_end_s"] - fork_s) / jobs
                                                         * 1000, 2)
                run["end_to_end_over_fork_loop"] = round(run["end_to_end_s"] / fork_s, 2)
                out["runs"].append(run)
    finally:
        if redis_dir:
            redisserver.stop(redis_dir)
    out["bench_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def _numbers(text: str) -> list[int]:
    return [int(word) for word in text.split(",") if word]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000, help="no-op jobs per phase "
                                                               "(default 1000)")
    parser.add_argument("--concurrency", default="1,2", metavar="C,…",
                        help="one worker of --concurrency C for each (default 1,2)")
    parser.add_argument("--processes", type=int, default=2, metavar="P",
                        help="then P workers of one job at a time (default 2; 1 or 0: none)")
    parser.add_argument("--queues", default="sqlite,redis", metavar="Q,…",
                        help="sqlite, redis or both (default)")
    parser.add_argument("--idle-samples", type=int, default=2, metavar="N",
                        help=f"jobs submitted one at a time to an idle worker ({IDLE_S:g} s "
                             "idle before each), for the latency (default 2)")
    parser.add_argument("--repeats", type=int, default=1, metavar="N",
                        help="best of N for each figure (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    queues = [word for word in args.queues.split(",") if word]
    if set(queues) - {"sqlite", "redis"} or not queues:
        parser.error("--queues takes sqlite, redis or both")
    result = measure(args.jobs, _numbers(args.concurrency), args.processes, queues,
                     args.idle_samples, max(args.repeats, 1))
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
    return 0


def print_table(result: dict) -> None:
    jobs = result["jobs"]
    print(f"{jobs} no-op jobs. In a loop in this process: {result['loop_s']} s "
          f"({result['loop_ms_per_job']} ms a job); in a process each from a fork server "
          f"(started in {result['fork_server_start_s']} s): "
          + ", ".join(f"{figures['ms_per_job']} ms a job {width} at a time"
                      for width, figures in result["fork_loop"].items()))
    columns = [("submit/s", "submit_per_s"), ("start s", "worker_startup_s"),
               ("drain/s", "drain_per_s"), ("e2e/s", "end_to_end_per_s"),
               ("ms/job", "end_to_end_ms_per_job"), ("+ms loop", "overhead_ms_per_job"),
               ("+ms fork", "over_fork_loop_ms_per_job"), ("/ fork", "end_to_end_over_fork_loop"),
               ("in job ms", "claim_to_end_ms"), ("idle ms", "idle_latency_ms"),
               ("RSS MiB", "worker_peak_rss_mib"), ("fs MiB", "fork_server_peak_rss_mib")]
    print(f"{'':<11}" + "".join(f"{label:>10}" for label, _ in columns))
    for run in result["runs"]:
        label = f"{run['queue']} {run['processes']}x{run['concurrency']}"
        cells = [run[key] if key != "idle_latency_ms" else
                 ",".join(f"{value:.0f}" for value in run[key]) or "-" for _, key in columns]
        print(f"{label:<11}" + "".join(f"{cell:>10}" for cell in cells))
    print("PxC: P worker processes of --concurrency C. start: launch to the first job's end; "
          "drain: the queued jobs; e2e: submitted to the warm worker, first submission to last "
          "end; +ms loop, +ms fork: (e2e - that loop) / jobs, the fork loop as wide as PxC; "
          "in job: claimed to ended, mean; idle: one job submitted to a worker idle "
          f"{IDLE_S:g} s, to its end; RSS: peak of the worker, fs: of its fork server")
    for note in result["notes"]:
        print(note)


def test_jobs_benchmark(benchmark):
    """No-op jobs go through both queues and all succeed; no timing asserts."""
    jobs = int(os.environ.get("MBX_BENCH_JOBS", "50"))
    result = benchmark.pedantic(measure, args=(jobs, [1, 2], 2, ["sqlite", "redis"], 1),
                                rounds=1, iterations=1)
    assert {run["queue"] for run in result["runs"]} >= {"sqlite"}
    for run in result["runs"]:  # _wait raised if one had not succeeded
        assert run["end_to_end_s"] > result["loop_s"]
        assert run["worker_peak_rss_mib"] > 0


if __name__ == "__main__":
    sys.exit(main())
