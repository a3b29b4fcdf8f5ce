"""``mbx jobs …`` and ``mbx worker``: the job queue on the command line.

Every action is one method of :class:`mbx.jobs.JobQueue`; ``--json`` gives its
result as JSON (a job always with its ``id`` and ``state``). ``submit KIND ARGS…``
takes the ARGS of the command of the same name (``mbx jobs submit transform IN
OUT --anonymise --key K`` runs what ``mbx transform IN OUT --anonymise --key K``
runs), so a job and a command can never mean different things.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import sys
import time

from mbx.cli.exits import EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from mbx.cli.output import Output, add_output_flags

__all__ = ["add_commands", "jobs", "worker"]

#: job kind -> the ``mbx`` command whose arguments it takes
COMMAND_OF = {"verify": ["verify"], "synth": ["synth"], "transform": ["transform"],
              "restore": ["restore"], "store-add": ["store", "add"],
              "store-gc": ["store", "gc"]}


def _queue_flags() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("where the queue is (default: $MBX_HOME, "
                                      "~/.local/share/mbx)")
    group.add_argument("--table", metavar="URL",
                       help="the job table: sqlite:PATH or postgresql://… ($MBX_JOBS_TABLE)")
    group.add_argument("--queue", metavar="URL",
                       help="the transport: sqlite:PATH, redis://… or postgresql://… "
                            "($MBX_QUEUE)")
    return parent


def add_commands(commands, common: argparse.ArgumentParser) -> None:
    """Adds ``jobs`` and ``worker`` to the ``mbx`` parser's subcommands."""
    where = _queue_flags()
    jobs_parser = commands.add_parser(
        "jobs", help="a queue of verify, synth, transform, store and restore jobs",
        description="a queue of jobs run by workers (mbx worker), with progress, cancel, "
                    "retries and schedules", parents=[common])
    actions = jobs_parser.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")

    def action(name: str, help: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help, description=help, parents=[common, where])
        add_output_flags(sub)
        return sub

    submit = action("submit", "queue a job: KIND and the ARGS of the command of that name")
    _job_request(submit)
    submit.add_argument("--after", type=int, metavar="JOB",
                        help="run only once job JOB has succeeded")
    submit.add_argument("--at", metavar="TIME",
                        help="not before TIME (YYYY-MM-DDTHH:MM, local time, or Unix seconds)")
    ls = action("ls", "the jobs, newest first")
    ls.add_argument("--state", dest="states", action="append", default=[],
                    choices=["queued", "running", "succeeded", "failed", "cancelled"],
                    help="only jobs in this state (repeatable)")
    ls.add_argument("--kind", help="only jobs of this kind")
    ls.add_argument("--limit", type=int, default=50, metavar="N",
                    help="at most N jobs (default 50; 0 for all)")
    for name, help in (("show", "a job whole: settings, progress, times, report and log"),
                       ("watch", "a job's progress, live, until it ends (the exit code says "
                                 "how: 0 succeeded, 1 failed, 130 cancelled)"),
                       ("cancel", "cancel a queued job, or stop a running one"),
                       ("retry", "queue a failed or cancelled job again"),
                       ("rm", "delete an ended job and its log")):
        action(name, help).add_argument("job", type=int, metavar="ID")
    action("pause", "start no more jobs until resume (running ones go on)")
    resume = action("resume", "start jobs again")
    resume.add_argument("--window", metavar="HH:MM-HH:MM",
                        help="from now on start jobs only inside this daily window")
    window = action("window", "show or set the daily window jobs start in "
                              "(22:00-06:00; off to lift it)")
    window.add_argument("window", nargs="?", metavar="HH:MM-HH:MM|off")
    schedule = actions.add_parser("schedule", help="periodic jobs", parents=[common])
    schedule_actions = schedule.add_subparsers(dest="schedule_command", required=True,
                                               metavar="ACTION")
    add = schedule_actions.add_parser("add", help="submit KIND ARGS… whenever CRON says",
                                      parents=[common, where])
    add.add_argument("cron", metavar="CRON",
                     help="minute hour day month weekday, e.g. '0 2 * * *' (local time)")
    _job_request(add)
    add_output_flags(add)
    listing = schedule_actions.add_parser("ls", help="the schedules, and when each is due",
                                          parents=[common, where])
    add_output_flags(listing)
    remove = schedule_actions.add_parser("rm", help="drop a schedule", parents=[common, where])
    remove.add_argument("schedule", type=int, metavar="ID")
    add_output_flags(remove)
    serve = actions.add_parser("serve", help="the status page, on a local web server",
                               parents=[common, where])
    serve.add_argument("--bind", default="127.0.0.1:8765", metavar="HOST:PORT",
                       help="where to listen (default 127.0.0.1:8765; anything but "
                            "localhost wants the token for every request)")
    serve.add_argument("--token", help="the token for changes (default: made once and kept "
                                       "in HOME/web-token, readable by you alone)")

    run = commands.add_parser("worker", help="run queued jobs until stopped (Ctrl-C)",
                              description="run queued jobs until stopped: SIGINT waits for "
                                          "running jobs, SIGTERM stops at once",
                              parents=[common, where])
    run.add_argument("--concurrency", type=int, default=1, metavar="N",
                     help="jobs at once (default 1)")


def _job_request(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", metavar="KIND",
                        help="verify, synth, transform (or one transform's command: anonymise, "
                             "roll-dates, …), restore, store add, store gc, noop")
    parser.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                        help="the ARGS of the command of that name")
    parser.add_argument("--priority", type=int, default=0, metavar="N",
                        help="higher runs first (default 0)")
    parser.add_argument("--notify-email", dest="emails", action="append", default=[],
                        metavar="ADDRESS", help="e-mail the outcome here (repeatable)")
    parser.add_argument("--webhook", metavar="URL", help="POST the job as JSON here when it ends")
    parser.add_argument("--on-done", dest="command_hook", metavar="CMD",
                        help="run this shell command when it ends (the job as JSON on stdin)")
    parser.add_argument("--notify-on", choices=["always", "failure"], default="always",
                        help="notify on every outcome (default) or on failure only")


class _UsageError(Exception):
    pass


def _request(args) -> tuple[str, dict, dict | None]:
    """(kind, the operation's arguments, notify) from ``KIND ARGS…``."""
    from mbx.cli import TRANSFORM_COMMANDS, build_parser, commands

    words = args.kind.split() + list(args.args)
    if words[:2] in (["store", "add"], ["store", "gc"]):
        words = ["-".join(words[:2])] + words[2:]
    kind, rest = words[0], _own_flags(args, words[1:])
    if kind == "noop":
        parser = argparse.ArgumentParser(prog="mbx jobs submit noop", add_help=False)
        parser.add_argument("--seconds", type=float, default=0.0)
        parser.add_argument("--fail")
        parser.add_argument("--ignore-cancel", action="store_true")
        arguments = vars(_parse(parser, rest, "noop takes --seconds S, --fail MESSAGE, "
                                              "--ignore-cancel"))
    else:
        if kind in TRANSFORM_COMMANDS:
            command, kind = [kind], "transform"
        elif kind in COMMAND_OF:
            command = COMMAND_OF[kind]
        else:
            raise _UsageError(f"no job kind {kind!r}: verify, synth, transform, restore, "
                              "store add, store gc, noop")
        parsed = _parse(build_parser(), command + rest,
                        f"the arguments of {' '.join(command)} are not right")
        parsed.quiet, parsed.debug = True, False
        try:
            arguments = commands.ARGUMENTS[kind](parsed)
        except commands.Usage as problem:
            raise _UsageError(str(problem)) from None
    notify = {name: value for name, value in (("email", args.emails), ("webhook", args.webhook),
                                              ("command", args.command_hook)) if value}
    if notify:
        notify["on"] = args.notify_on
    return kind, arguments, notify or None


def _parse(parser: argparse.ArgumentParser, words: list[str], problem: str, *,
           known: bool = False):
    """``parser``'s reading of ``words``; else a usage error of one line, ``problem`` and
    argparse's reason (argparse's own usage text, on stderr, would bury it)."""
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            return parser.parse_known_args(words) if known else parser.parse_args(words)
    except SystemExit as stop:
        if not stop.code:  # --help: printed, and done
            raise
        lines = said.getvalue().strip().splitlines()
        reason = lines[-1].partition(": error: ")[2] if lines else ""
        raise _UsageError(problem + (f": {reason}" if reason else "")) from None


def _own_flags(args, words: list[str]) -> list[str]:
    """Takes this command's flags out of ``KIND ARGS…`` (they may come after), sets them
    on ``args``, and returns the rest."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--priority", type=int)
    parser.add_argument("--notify-email", dest="emails", action="append")
    parser.add_argument("--webhook")
    parser.add_argument("--on-done", dest="command_hook")
    parser.add_argument("--notify-on", choices=["always", "failure"])
    parser.add_argument("--after", type=int)
    parser.add_argument("--at")
    parser.add_argument("--json", dest="output", action="store_const", const="json")
    parser.add_argument("--table")
    parser.add_argument("--queue")
    found, rest = _parse(parser, words, "a flag of jobs submit lacks its value", known=True)
    for name, value in vars(found).items():
        if value is None or not hasattr(args, name):
            continue
        setattr(args, name, getattr(args, name) + value if name == "emails" else value)
    return rest


def _at(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise _UsageError(f"--at wants YYYY-MM-DDTHH:MM or Unix seconds, not {text!r}") \
            from None


# -- the commands ------------------------------------------------------------------------

def jobs(args) -> int:
    from mbx.jobs import JobQueue

    output = Output(args.output if hasattr(args, "output") else "text")
    try:
        if args.jobs_command == "submit":
            kind, arguments, notify = _request(args)
            queue = JobQueue(table=args.table, queue=args.queue)
            output = Output(args.output)
            result = queue.submit(kind, arguments, after=args.after, at=_at(args.at),
                                  priority=args.priority, notify=notify)
            output.document(result, _submitted_lines, to_json=lambda r: r.to_dict())
            return EXIT_OK
        if args.jobs_command == "schedule" and args.schedule_command == "add":
            kind, arguments, notify = _request(args)
            queue = JobQueue(table=args.table, queue=args.queue)
            output = Output(args.output)
            schedule = queue.schedule(args.cron, kind, arguments, priority=args.priority,
                                      notify=notify)
            output.document(schedule, _schedule_lines, to_json=lambda s: s.to_dict())
            return EXIT_OK
    except _UsageError as problem:
        output.note(str(problem))
        return EXIT_USAGE
    queue = JobQueue(table=args.table, queue=args.queue)
    return ACTIONS[args.jobs_command](queue, args, output)


def _ls(queue, args, output: Output) -> int:
    found = queue.ls(states=tuple(args.states), kind=args.kind, limit=args.limit or None)
    output.document(found, _job_table, to_json=lambda jobs: [job.to_dict() for job in jobs])
    return EXIT_OK


def _show(queue, args, output: Output) -> int:
    job, log = queue.get(args.job), queue.log(args.job)
    output.document((job, log), lambda pair: _job_lines(*pair),
                    to_json=lambda pair: {**pair[0].to_dict(),
                                          "log": [{"at": line.at, "level": line.level,
                                                   "text": line.text} for line in pair[1]]})
    return EXIT_OK


def _watch(queue, args, output: Output) -> int:
    from mbx.progress import ProgressSnapshot, TerminalProgress

    line = TerminalProgress(enabled=False if args.quiet or output.is_json else None, delay=0)
    shown = None
    try:
        while True:
            job = queue.get(args.job)
            if job.progress and job.progress != shown:
                shown = job.progress
                fields = {name: job.progress.get(name) for name in ProgressSnapshot.__struct_fields__}
                line(ProgressSnapshot(**{**fields, "finished": False}))
                if output.format == "json":
                    output.stdout.write(_dumps({"id": job.id, "state": job.state,
                                                "progress": job.progress}) + "\n")
                    output.stdout.flush()
            if job.state in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.25)
    finally:
        line.clear()
    output.document(job, lambda job: [_summary(job)], to_json=lambda job: job.to_dict())
    return {"succeeded": EXIT_OK, "failed": EXIT_REFUSED}.get(job.state, EXIT_INTERRUPTED)


def _cancel(queue, args, output: Output) -> int:
    job = queue.cancel(args.job)
    output.document(job, lambda job: [f"job {job.id}: " + (
        "cancel requested (it stops at its next check)" if job.state == "running"
        else job.state)], to_json=lambda job: job.to_dict())
    return EXIT_OK


def _retry(queue, args, output: Output) -> int:
    job = queue.retry(args.job)
    output.document(job, lambda job: [f"job {job.id}: queued again (attempt "
                                      f"{job.attempts + 1} of {job.max_attempts})"],
                    to_json=lambda job: job.to_dict())
    return EXIT_OK


def _remove(queue, args, output: Output) -> int:
    queue.remove(args.job)
    output.document({"id": args.job, "removed": True}, lambda r: [f"job {r['id']} removed"])
    return EXIT_OK


def _pause(queue, args, output: Output) -> int:
    queue.pause()
    return _queue_state(queue, output)


def _resume(queue, args, output: Output) -> int:
    if args.window:
        queue.set_window(args.window)
    queue.resume()
    return _queue_state(queue, output)


def _window(queue, args, output: Output) -> int:
    if args.window:
        queue.set_window(None if args.window == "off" else args.window)
    return _queue_state(queue, output)


def _queue_state(queue, output: Output) -> int:
    state = {"paused": queue.paused, "window": queue.window}
    output.document(state, lambda state: [
        ("paused" if state["paused"] else "running")
        + (f", jobs start only in {state['window']}" if state["window"] else "")],
        to_json=lambda state: state)
    return EXIT_OK


def _schedule(queue, args, output: Output) -> int:
    if args.schedule_command == "rm":
        queue.unschedule(args.schedule)
        output.document({"removed": args.schedule}, lambda r: [f"schedule {r['removed']} removed"])
        return EXIT_OK
    found = queue.schedules()
    output.document(found, lambda schedules: [line for schedule in schedules
                                              for line in _schedule_lines(schedule)]
                    or ["no schedules"],
                    to_json=lambda schedules: [schedule.to_dict() for schedule in schedules])
    return EXIT_OK


def _serve(queue, args, output: Output) -> int:
    from mbx.jobs.web import serve

    host, _, port = args.bind.rpartition(":")
    serve(queue, host or "127.0.0.1", int(port), token=args.token)
    return EXIT_OK


ACTIONS = {"ls": _ls, "show": _show, "watch": _watch, "cancel": _cancel, "retry": _retry,
           "rm": _remove,
           "pause": _pause, "resume": _resume, "window": _window, "schedule": _schedule,
           "serve": _serve}


def worker(args) -> int:
    from mbx.jobs import JobSettings, Worker

    settings = JobSettings.from_environment(table=args.table, queue=args.queue)
    if args.concurrency < 1:
        Output().note("--concurrency wants 1 or more")
        return EXIT_USAGE
    sys.stderr.write(f"mbx worker: {args.concurrency} at a time, jobs {settings.table}, "
                     f"queue {settings.queue}\n")
    Worker(settings, concurrency=args.concurrency).serve()
    return EXIT_OK


# -- text ----------------------------------------------------------------------------------

def _dumps(data) -> str:
    import json

    return json.dumps(data, ensure_ascii=False)


def _when(moment: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment)) if moment else "-"


def _summary(job) -> str:
    from mbx.jobs.notify import summary

    return summary(job) + (f": {job.message}" if job.message and job.state != "succeeded"
                           else "")


def _submitted_lines(result) -> list[str]:
    job = result.job
    if result.joined:
        return [f"job {job.id} ({job.kind}) is already {job.state}: joined it"]
    held = f", waiting for job {job.after}" if job.held == "after" else ""
    return [f"job {job.id} ({job.kind}) queued{held}"]


def _progress_text(progress: dict | None) -> str:
    if not progress:
        return ""
    fraction = progress.get("fraction")
    return f"{progress.get('phase')} {fraction:.0%}" if fraction is not None \
        else str(progress.get("phase"))


def _job_table(found) -> list[str]:
    if not found:
        return ["no jobs"]
    lines = [f"{'ID':>5}  {'KIND':<10} {'STATE':<10} {'PROGRESS':<18} {'CREATED':<19}  WHAT"]
    for job in found:
        state = job.state + ("*" if job.held else "")
        what = " ".join(str(value) for value in job.to_dict()["args"].values()
                        if isinstance(value, str))[:60]
        lines.append(f"{job.id:>5}  {job.kind:<10} {state:<10} "
                     f"{_progress_text(job.progress):<18} {_when(job.created):<19}  {what}")
    if any(job.held for job in found):
        lines.append("* held back: waiting for another job, a pause or the time window")
    return lines


def _job_lines(job, log) -> list[str]:
    data = job.to_dict()
    lines = [_summary(job), f"  state:     {job.state}" + (f" (held: {job.held})" if job.held
                                                           else ""),
             f"  attempts:  {job.attempts} of {job.max_attempts}",
             f"  submitted: {_when(job.created)} by {job.submitted_by}@{job.submitted_host}",
             f"  started:   {_when(job.started)}", f"  ended:     {_when(job.ended)}"]
    if job.worker_host:
        lines.append(f"  worker:    {job.worker_host} pid {job.worker_pid}")
    if job.progress:
        eta = job.progress.get("eta")
        lines.append(f"  progress:  {_progress_text(job.progress)}"
                     + (f", ETA {eta:.0f} s" if eta and job.state == "running" else ""))
    lines.append("  settings:  " + _dumps(data["args"]))
    if job.error:
        lines.append(f"  error:     {job.error.get('message')} [{job.error.get('code')}]")
    if job.result is not None:
        lines.append("  report:    " + _dumps(job.result)[:2000])
    lines.append("  log:")
    lines.extend(f"    {_when(line.at)} {line.level}: {line.text}" for line in log)
    return lines


def _schedule_lines(schedule) -> list[str]:
    what = " ".join(str(value) for value in schedule.to_dict()["args"].values()
                    if isinstance(value, str))
    return [f"schedule {schedule.id}: {schedule.kind} {what} at '{schedule.cron}', next "
            f"{_when(schedule.next_due)}"
            + (f", last {_when(schedule.last_fired)} (job {schedule.last_job})"
               if schedule.last_fired else "")]
