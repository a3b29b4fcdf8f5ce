"""The commands of ``mbx``: each parses nothing, calls one library function and
hands the result to the output layer.

Everything slow to import (the XML machinery, the compiled modules) is imported
inside the command that needs it, so ``mbx ls -l`` starts with the archive
layer alone.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from collections.abc import Iterator

from mbx.cli import text
from mbx.cli.exits import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_WARNINGS
from mbx.cli.output import Output
from mbx.errors import MbxError
from mbx.units import parse_size


def positive(convert, what: str):
    """An argparse type: ``convert(text)``, refused unless it is a positive number."""
    def parse(value_text: str):
        try:
            value = convert(value_text)
        except ValueError:
            value = None
        if value is None or value <= 0:
            raise argparse.ArgumentTypeError(
                f"{what} must be a positive number, got {value_text!r}")
        return value
    return parse


def count(value_text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    try:
        value = int(value_text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"want a whole number, 0 or more, not {value_text!r}")
    return value


#: The archive-limit flags: ArchiveLimits field -> (type, metavar, help).
LIMIT_FLAGS = {
    "max_ratio": (positive(float, "ratio"), "N",
                  "refuse a tar.gz (or zip member) that inflates more than N times its "
                  "compressed size, the decompression-bomb check (default 200)"),
    "max_member_size": (positive(parse_size, "size"), "SIZE",
                        "refuse a member larger than SIZE, e.g. 32G (default 16G)"),
    "max_total_size": (positive(parse_size, "size"), "SIZE",
                       "refuse a backup whose members add up to more than SIZE (default 64G)"),
    "max_members": (positive(int, "count"), "N",
                    "refuse a backup of more than N members (default 1000000)"),
}


def limit_values(args) -> dict:
    """The archive limits the command line gives, by field (the rest keep their defaults)."""
    return {field: getattr(args, field) for field in LIMIT_FLAGS
            if getattr(args, field, None) is not None}


def archive_limits(args):
    """The :class:`~mbx.archive.ArchiveLimits` the command line asks for (defaults elsewhere)."""
    from mbx.archive import ArchiveLimits

    return ArchiveLimits(**limit_values(args))


def run_operation(kind: str, arguments: dict, args, phase: str):
    """Runs the operation of job kind ``kind`` (:data:`mbx.jobs.kinds.KINDS`) with
    ``arguments`` here and now, with a progress line: the same call a job makes."""
    from mbx.jobs.kinds import call

    with progress(args, phase) as monitor:
        return call(kind, arguments, monitor)


_LIVE_LINES: list = []


def clear_progress_lines() -> None:
    """Wipes any progress line still drawn (before a last message, on Ctrl-C)."""
    for line in _LIVE_LINES:
        line.clear()


@contextlib.contextmanager
def progress(args, phase: str) -> Iterator:
    """A :class:`~mbx.progress.Monitor` for one long pass, drawing its line on a
    terminal unless ``-q``; the line is cleared when the pass ends, however it ends."""
    from mbx.progress import Monitor, TerminalProgress

    line = TerminalProgress(enabled=False if args.quiet else None)
    monitor = Monitor(line, phase=phase)
    _LIVE_LINES.append(line)
    try:
        yield monitor
    finally:
        _LIVE_LINES.remove(line)
        line.clear()


def ls(args) -> int:
    """``mbx ls``: the summary; ``mbx ls -l``: every member."""
    output = Output(args.output)
    if args.long:  # from the index alone: no XML machinery to load
        from mbx.archive import list_members

        return _members(output, list_members(args.backup, limits=archive_limits(args)),
                        envelope=args.envelope)
    from mbx.inspect import summarize

    import shutil

    with progress(args, "reading") as monitor:
        result = summarize(args.backup, progress=monitor, limits=archive_limits(args))
    width = shutil.get_terminal_size().columns
    output.document(result, lambda summary: text.summary_lines(summary, width=width))
    return EXIT_OK


def _members(output: Output, listing, *, envelope: bool = False) -> int:
    """``mbx ls -l``: one line (or JSON object) per member, written as it comes.

    ``listing`` is a :class:`~mbx.archive.Listing` (or any iterable of
    MemberInfo): its ``source`` and ``warnings`` go to stderr, or with
    ``--json --envelope`` into the one object ``{"source", "warnings", "members"}``.
    """
    source = getattr(listing, "source", None)
    warnings = getattr(listing, "warnings", ())
    if envelope and output.format == "json":
        output.document({"source": source,
                         "warnings": [{"code": w.code, "message": w.message, "member": w.member}
                                      for w in warnings],
                         "members": [text.member_dict(member) for member in listing]},
                        lambda _: [])
        return EXIT_OK
    note = text.listing_note(source)
    if note is not None:
        output.note(note)
    for warning in warnings:
        output.note(f"warning: {warning.message} ({warning.code})")
    output.stream(listing, to_dict=text.member_dict, to_text=text.member_line)
    return EXIT_OK


def info(args) -> int:
    """``mbx info``: the whole information block and every setting."""
    from mbx.inspect import describe

    Output(args.output).document(describe(args.backup, limits=archive_limits(args)),
                                 text.info_lines)
    return EXIT_OK


def cat(args) -> int:
    """``mbx cat``: one member's bytes to stdout, once the whole archive is judged safe."""
    from mbx.inspect import copy_member

    copy_member(args.backup, args.member, sys.stdout.buffer, limits=archive_limits(args))
    sys.stdout.buffer.flush()
    return EXIT_OK


def records(args) -> int:
    """``mbx records``: the records of one element path, as they are parsed."""
    import json

    from mbx.xml import Parser

    if len(args.source) not in (2, 3):
        print("mbx records: give FILE PATH, or BACKUP MEMBER PATH", file=sys.stderr)
        return EXIT_USAGE
    *where, path = args.source
    output = Output(args.output)
    matched = 0

    def parsed(stream, source: str):
        nonlocal matched
        queue: list[dict] = []
        parser = Parser(source=source)
        parser.add_path(path, queue.append, grouped=args.grouped)
        for below in args.below:
            parser.add_path(f"{path.rstrip('/')}/{below.strip('/')}")
        for chunk in iter(lambda: stream.read(1 << 16), b""):
            parser.feed(chunk)
            matched += len(queue)
            yield from queue
            queue.clear()
        parser.close()
        matched += len(queue)
        yield from queue

    def one_line(record: dict) -> str:
        return json.dumps(record, ensure_ascii=False)

    if len(where) == 2:
        from mbx.archive import open_backup

        with open_backup(where[0], limits=archive_limits(args)) as backup:
            backup.check()  # the whole archive's verdict before a record is written
            with backup.open(where[1]) as stream:
                output.stream(parsed(stream, where[1]), to_dict=dict, to_text=one_line)
        source = f"{where[1]} of {where[0]}"
    elif where[0] == "-":
        output.stream(parsed(sys.stdin.buffer, "<stdin>"), to_dict=dict, to_text=one_line)
        source = "stdin"
    else:
        with open(where[0], "rb") as stream:
            output.stream(parsed(stream, where[0]), to_dict=dict, to_text=one_line)
        source = where[0]
    if not matched:
        output.note(f"no element matched {path} in {source}")
    return EXIT_OK


def verify(args) -> int:
    """``mbx verify``: errors and warnings, by code; the exit code says which."""
    report = run_operation("verify", verify_arguments(args), args, "verifying")
    Output(args.output).document(
        report, lambda r: text.verify_lines(r, max_problems=args.max_problems,
                                            strict=args.strict),
        to_json=lambda r: r.to_dict())
    if report.errors:
        return EXIT_REFUSED
    return EXIT_WARNINGS if args.strict and report.warnings else EXIT_OK


def verify_arguments(args) -> dict:
    return {"path": args.backup, "limits": limit_values(args)}


def synth(args) -> int:
    """``mbx synth``: a synthetic course of the size asked for."""
    output = Output(args.output)
    try:
        activities = _activities(args)
    except Usage as problem:
        output.note(str(problem))
        return EXIT_USAGE
    if args.versions is not None:
        return _synth_history(args, output, activities)
    try:
        result = run_operation("synth", synth_arguments(args), args, "writing")
    except ValueError as exc:
        if isinstance(exc, MbxError):  # refused input, not usage: main reports it
            raise
        output.note(str(exc))
        return EXIT_USAGE
    output.document(result, text.synth_lines)
    if not result["size_ok"]:
        output.note("note: the requested course cannot reach that size (no forum posts and "
                    "no files to grow)")
    return EXIT_OK


def _activities(args) -> dict[str, int] | None:
    """``--activities forum:30,page:20`` as a dict."""
    if not args.activities:
        return None
    try:
        return {name.strip(): int(number) for name, number in
                (re.split("[:=]", part, maxsplit=1) for part in args.activities.split(",") if part)}
    except ValueError:
        raise Usage(f"--activities wants MOD:N,...; got {args.activities!r}") from None


def synth_arguments(args) -> dict:
    if args.versions is not None:
        raise Usage("a job writes one backup: --versions is for mbx synth alone")
    return {"out_path": args.output_path, "size": args.size, "seed": args.seed,
            "users": args.users, "sections": args.sections, "activities": _activities(args),
            "include_users": not args.no_users, "include_files": not args.no_files,
            "format": args.format}


def _synth_history(args, output: Output, activities) -> int:
    """``mbx synth FOLDER --versions N``: a term of weekly backups of one course."""
    from mbx.synth import synthesize_history

    if args.no_users or args.no_files or args.format != "tgz":
        output.note("--versions writes tgz backups with users and files")
        return EXIT_USAGE
    try:
        with progress(args, "writing") as monitor:
            result = synthesize_history(args.output_path, versions=args.versions,
                                        size=args.size, seed=args.seed, users=args.users,
                                        sections=args.sections, activities=activities,
                                        progress=monitor)
    except ValueError as exc:
        if isinstance(exc, MbxError):
            raise
        output.note(str(exc))
        return EXIT_USAGE
    output.document(result, text.synth_history_lines)
    return EXIT_OK


def restore(args) -> int:
    """``mbx restore``: a backup into a database, as a new course."""
    report = run_operation("restore", restore_arguments(args), args, "restoring")
    Output(args.output).document(report, text.restore_lines, to_json=lambda r: r.to_dict())
    return EXIT_OK


def restore_arguments(args) -> dict:
    return {"archive": args.backup, "into": args.into, "files": args.files,
            "prefix": args.prefix, "users": not args.no_users,
            "include_files": not args.no_files, "activities": args.activities or None,
            "sections": args.sections or None, "user_conflicts": args.user_conflicts,
            "wwwroot": args.wwwroot, "start_date": _unix_date(args.start_date),
            "strict": args.strict, "category": args.category, "limits": limit_values(args)}


def _unix_date(value: str | None) -> int | None:
    """``--start-date``: Unix seconds, or a YYYY-MM-DD day (midnight UTC)."""
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    import datetime

    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        raise MbxError(f"--start-date wants YYYY-MM-DD or Unix seconds, not {value!r}",
                       code="usage-bad-date") from None
    return int(datetime.datetime(day.year, day.month, day.day,
                                 tzinfo=datetime.timezone.utc).timestamp())


def query(args) -> int:
    """``mbx query``: the rows of one query, as a table, JSON or JSON lines."""
    from mbx.restore import query as run_query

    columns, rows = run_query(args.target, args.sql)
    records = [dict(zip(columns, (_plain(value) for value in row))) for row in rows]
    output = Output(args.output)
    if output.format == "text":
        output.document(records, lambda _: text.table_lines(columns, rows))
    else:
        output.stream(records, to_dict=dict, to_text=str)
    return EXIT_OK


def _plain(value):
    """A database value as JSON can hold it (Decimal as its digits, bytes as their length)."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return f"<{len(value)} bytes>"
    return value


class Usage(Exception):
    """A command line that cannot run: said on stderr, exit 2."""


def transform(args) -> int:
    """``mbx transform`` and each transform's own command: one pass, one new backup."""
    output = Output(args.output)
    try:
        arguments = transform_arguments(args)
    except Usage as problem:
        output.note(str(problem))
        return EXIT_USAGE
    report = run_operation("transform", arguments, args, "transforming")
    output.document(report, text.transform_lines, to_json=lambda r: r.to_dict())
    return EXIT_OK


def transform_arguments(args) -> dict:
    if args.command == "rewrite-users" and not args.user_table:
        raise Usage("rewrite-users needs --csv FILE")
    return {"source": args.backup, "output": args.output_path, "format": args.format,
            "limits": limit_values(args), "extract": _extract_option(args),
            "strip_users": getattr(args, "strip_users", False),
            "prune_questions": getattr(args, "prune_questions", False),
            "anonymise": _anonymise_options(args),
            "rewrite_users": getattr(args, "user_table", None),
            "roll_dates": _roll_dates_options(args)}


def _anonymise_options(args) -> dict | None:
    if not getattr(args, "anonymise", False):
        return None
    key = args.key or os.environ.get("MBX_ANONYMISE_KEY")
    if not key:
        raise Usage("anonymise needs --key KEY (or MBX_ANONYMISE_KEY): the secret the "
                     "pseudonyms derive from")
    return {"key": key, "keep_roles": list(args.keep_roles), "locale": args.locale}


def _extract_option(args) -> dict | None:
    activity, section = getattr(args, "extract_activity", None), getattr(args, "extract_section", None)
    if activity is not None and section is not None:
        raise Usage("extract one activity or one section, not both")
    if activity is None and section is None:
        if args.command == "extract":
            raise Usage("extract needs --activity CMID or --section N")
        return None
    return {"activity": activity} if activity is not None else {"section": section}


def _roll_dates_options(args) -> dict | None:
    activities = {}
    for item in getattr(args, "activity_dates", None) or ():
        cmid, _, value = item.partition("=")
        if not cmid.strip().isdigit() or not value:
            raise Usage(f"{item!r}: expected CMID=DATE or CMID=OFFSET (12=2027-03-01, 12=+7d)")
        activities[int(cmid)] = value
    options = {"offset": getattr(args, "offset", None), "start": getattr(args, "start", None),
               "activities": activities, "overrides": getattr(args, "dates_file", None),
               "user_data": getattr(args, "user_data", False)}
    if options["offset"] is None and options["start"] is None and not activities \
            and options["overrides"] is None:
        if args.command == "roll-dates":
            raise Usage("roll-dates needs --offset, --start, --activity or --dates-file")
        return None
    return options


def dates(args) -> int:
    """``mbx dates``: every date of a backup as CSV rows (or JSON), to read or to edit."""
    from mbx.transform import list_dates
    from mbx.transform.dates import write_rows

    rows = list_dates(args.backup, user_data=args.user_data)
    write_rows(rows, sys.stdout, args.dates_format)
    return EXIT_OK


def store(args) -> int:
    """``mbx store ACTION``: one function of :mod:`mbx.store` per action."""
    from mbx import store as repository

    output = Output(args.output)
    where, action = args.store_dir, args.store_command
    if action == "init":
        output.document({"store": repository.init(where)}, text.store_init_lines)
        return EXIT_OK
    if action == "add":
        result = run_operation("store-add", store_add_arguments(args), args, "adding")
    elif action == "ls":
        result = repository.ls(where, args.course)
    elif action == "get":
        with progress(args, "getting") as monitor:
            result = repository.get(where, args.ref, args.output_path, format=args.format,
                                    progress=monitor)
    elif action == "checkout":
        with progress(args, "checking out") as monitor:
            result = repository.checkout(where, args.ref, args.folder, copy=args.copy,
                                         progress=monitor)
    elif action == "diff":
        result = repository.diff(where, args.a, args.b)
    elif action == "rm":
        result = repository.rm(where, args.refs)
    elif action == "gc":
        result = run_operation("store-gc", store_gc_arguments(args), args, "collecting")
    else:
        with progress(args, "verifying") as monitor:
            result = repository.verify(where, progress=monitor)
    output.document(result, text.STORE_LINES[action], to_json=lambda r: r.to_dict())
    if action == "verify" and result.damage:
        return EXIT_REFUSED
    return EXIT_OK


def store_add_arguments(args) -> dict:
    return {"store": args.store_dir, "archive": args.backup, "course": args.course,
            "tags": args.tags, "limits": limit_values(args)}


def store_gc_arguments(args) -> dict:
    return {"store": args.store_dir}


#: job kind -> the arguments of its operation from the command line of the same name
#: (``mbx jobs submit KIND ARGS…`` takes that command's ARGS)
ARGUMENTS = {"verify": verify_arguments, "synth": synth_arguments,
             "transform": transform_arguments, "restore": restore_arguments,
             "store-add": store_add_arguments, "store-gc": store_gc_arguments}
