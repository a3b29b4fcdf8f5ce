"""The ``mbx`` command line: a thin layer over the library's public functions.

Each command calls one public function (``mbx.inspect.summarize``,
``mbx.verification.verify``, ...) and hands its result to the one output layer,
:mod:`mbx.output`. Results go to stdout, diagnostics to stderr.

Exit codes: 0 success; 1 the input was refused (an :class:`~mbx.errors.MbxError`:
one line, or JSON with ``--json``) or ``verify`` found errors; 2 usage errors;
3 an unexpected failure (traceback with ``--debug``); 4 ``verify --strict``
found warnings but no errors; 5 the backup's format is recognised but the
command does not support it yet (a Moodle 1.9 backup given to ``verify``);
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import textwrap
import time
import sys
from typing import Sequence

import mbx
from mbx.errors import Cancelled, MbxError
from mbx.output import Output, add_output_flags, error_dict
from mbx.units import format_size, parse_size

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_BUG, EXIT_WARNINGS, EXIT_UNSUPPORTED = 0, 1, 2, 3, 4, 5
EXIT_INTERRUPTED = 130

DESCRIPTION = """\
Read, inspect, verify and synthesise Moodle course backups (.mbz: tar.gz or
zip, or an extracted backup folder), streaming, in constant memory."""

EPILOG = """\
exit codes: 0 success, 1 input refused or verify found errors, 2 usage,
3 internal error, 4 verify --strict found warnings only, 5 format not
supported by this command yet, 130 interrupted"""


class _VersionAction(argparse.Action):
    """``--version``, naming the implementation only when asked (deciding it loads
    the compiled modules)."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"mbx {mbx.__version__} ({mbx.implementation})")
        parser.exit()


def _positive(convert, what: str):
    """An argparse type: ``convert(text)``, refused unless it is a positive number."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or value <= 0:
            raise argparse.ArgumentTypeError(f"{what} must be a positive number, got {text!r}")
        return value
    return parse


#: ``--flag``s of the limits parent parser: ArchiveLimits field -> (type, metavar, help).
_LIMIT_FLAGS = {
    "max_ratio": (_positive(float, "ratio"), "N",
                  "refuse a tar.gz (or zip member) that inflates more than N times its "
                  "compressed size, the decompression-bomb check (default 200)"),
    "max_member_size": (_positive(parse_size, "size"), "SIZE",
                        "refuse a member larger than SIZE, e.g. 32G (default 16G)"),
    "max_total_size": (_positive(parse_size, "size"), "SIZE",
                       "refuse a backup whose members add up to more than SIZE (default 64G)"),
    "max_members": (_positive(int, "count"), "N",
                    "refuse a backup of more than N members (default 1000000)"),
}


def _limits_parent() -> argparse.ArgumentParser:
    """The archive-limit flags every command that reads a backup takes."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("archive limits (raise one to read a backup refused by it)")
    for field, (kind, metavar, text) in _LIMIT_FLAGS.items():
        group.add_argument("--" + field.replace("_", "-"), dest=field, type=kind,
                           metavar=metavar, help=text)
    return parent


def _archive_limits(args):
    """The :class:`~mbx.archive.ArchiveLimits` the command line asks for (defaults elsewhere)."""
    from mbx.archive import ArchiveLimits

    return ArchiveLimits(**{field: getattr(args, field) for field in _LIMIT_FLAGS
                            if getattr(args, field, None) is not None})


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # accepted before or after the subcommand; SUPPRESS keeps a later default from
    # overwriting what was given before it
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress line on stderr")
    parser = argparse.ArgumentParser(prog="mbx", description=DESCRIPTION, parents=[common],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=EPILOG)
    parser.add_argument("--version", action=_VersionAction, nargs=0,
                        help="show the version and which implementation runs, then exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    limits = _limits_parent()

    def command(name: str, help: str, *, reads_backup: bool = False,
                **kwargs) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, description=help,
                                   parents=[common, limits] if reads_backup else [common],
                                   **kwargs)

    ls = command("ls", "what a backup holds: course, sections, activities, counts",
                 reads_backup=True)
    ls.add_argument("backup", help=".mbz file (tar.gz or zip) or extracted backup folder")
    ls.add_argument("-l", dest="long", action="store_true",
                    help="list every member with size and time, like tar tv")
    add_output_flags(ls, stream=True)
    ls.add_argument("--envelope", action="store_true",
                    help="with -l --json: one object {source, warnings, members} instead of "
                         "the list of members")

    info = command("info", "all settings and the full information block", reads_backup=True)
    info.add_argument("backup", help=".mbz file (tar.gz or zip) or extracted backup folder")
    add_output_flags(info)

    cat = command("cat", "stream one member of a backup to stdout", reads_backup=True)
    cat.add_argument("backup", help=".mbz file or extracted backup folder")
    cat.add_argument("member", help="member name, e.g. moodle_backup.xml")

    records = command(
        "records", "stream the records of one element path of an XML file or backup member",
        reads_backup=True,
        usage="mbx records [-h] [--grouped] [--below RELPATH] [--json | --nl] "
              "(FILE | BACKUP MEMBER) PATH")
    records.add_argument("source", nargs="+", metavar="ARG",
                         help="FILE PATH: an XML file (- for stdin) and an element path; "
                              "BACKUP MEMBER PATH: a member of a backup and an element path")
    records.add_argument("--grouped", action="store_true",
                         help="deliver the element with registered descendants nested")
    records.add_argument("--below", action="append", default=[], metavar="RELPATH",
                         help="with --grouped: a descendant to collect (repeatable)")
    add_output_flags(records, stream=True)

    verify = command("verify", "check a backup is sound: XML, blobs, references, folders, index",
                     reads_backup=True)
    verify.add_argument("backup", help=".mbz file (tar.gz or zip) or extracted backup folder")
    verify.add_argument("--strict", action="store_true",
                        help=f"warnings fail too (exit {EXIT_WARNINGS} when there are no errors)")
    verify.add_argument("--max-problems", type=_count, default=20, metavar="N",
                        help="show the detail of at most N problems, errors first "
                             "(default 20; the summary counts them all)")
    add_output_flags(verify)

    synth = command("synth", "write a synthetic course backup of a given size, for benchmarks")
    synth.add_argument("output_path", metavar="output", help="archive to write, e.g. big.mbz")
    synth.add_argument("--size", default="100M",
                       help="compressed size of the archive: 2M, 100M, 1G ... (default 100M)")
    synth.add_argument("--seed", type=int, default=1, help="same seed, same bytes (default 1)")
    synth.add_argument("--users", type=int, help="users, teacher included (default: by size)")
    synth.add_argument("--sections", type=int,
                       help="sections, section 0 included (default: by size)")
    synth.add_argument("--activities", metavar="MOD:N,...",
                       help="activities per module, e.g. forum:30,page:20,assign:5 "
                            "(forum page label url resource folder assign quiz; default: by size)")
    synth.add_argument("--no-users", action="store_true", help="no users and no user data")
    synth.add_argument("--no-files", action="store_true", help="no file blobs")
    synth.add_argument("--format", choices=["tgz", "zip"], default="tgz",
                       help="container (default tgz, as Moodle writes)")
    add_output_flags(synth)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one ``mbx`` command; returns its exit code (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag in ("debug", "quiet"):  # SUPPRESS leaves them unset when not given
        setattr(args, flag, getattr(args, flag, False))
    if getattr(args, "backup", None) == "":
        parser.error("the backup path is empty")
    args.json = getattr(args, "output", "text") != "text"
    output = Output(getattr(args, "output", "text"))
    try:
        return _COMMANDS[args.command](args)
    except BrokenPipeError:
        # the reader went away (``mbx records ... | head``): not an error
        sys.stdout = open(os.devnull, "w")
        return EXIT_OK
    except (KeyboardInterrupt, Cancelled):
        _clear_progress_line()
        output.note("interrupted")
        return EXIT_INTERRUPTED
    except MbxError as exc:
        if args.debug:
            raise
        output.error(exc.to_dict(), str(exc))
        return EXIT_UNSUPPORTED if exc.code == "format-unsupported" else EXIT_REFUSED
    except OSError as exc:
        if args.debug:
            raise
        message = _os_error_message(exc)
        output.error(error_dict("os-error", message, source=exc.filename), message)
        return EXIT_REFUSED
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if args.debug:
            raise
        message = f"internal error: {exc!r} (run with --debug for a traceback)"
        output.error(error_dict("internal-error", message), message)
        return EXIT_BUG


def _os_error_message(exc: OSError) -> str:
    """``cannot open 'x.mbz': No such file or directory``: no ``[Errno 2]``."""
    reason = exc.strerror or str(exc)
    if exc.filename is None:
        return reason
    return f"{os.fsdecode(exc.filename)!r}: {reason}"


def _count(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"want a whole number, 0 or more, not {text!r}")
    return value


_LIVE_PROGRESS: list = []


def _clear_progress_line() -> None:
    for line in _LIVE_PROGRESS:
        line.clear()


@contextlib.contextmanager
def _progress(args, phase: str):
    """A :class:`~mbx.progress.Monitor` for one long pass, drawing its line on a
    terminal unless ``-q``; the line is cleared when the pass ends, however it ends."""
    from mbx.progress import Monitor, TerminalProgress

    line = TerminalProgress(enabled=False if args.quiet else None)
    monitor = Monitor(line)
    monitor.phase_name = phase
    _LIVE_PROGRESS.append(line)
    try:
        yield monitor
    finally:
        _LIVE_PROGRESS.remove(line)
        line.clear()


def _ls(args) -> int:
    if args.long:  # from the index alone: no XML machinery to load
        from mbx.archive import list_members

        listing = list_members(args.backup, limits=_archive_limits(args))
        return _ls_members(listing, args.json, envelope=args.envelope)
    from mbx.inspect import summarize

    with _progress(args, "reading") as progress:
        result = summarize(args.backup, progress=progress, limits=_archive_limits(args))
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return EXIT_OK
    for line in summary_lines(result, width=shutil.get_terminal_size().columns):
        print(line)
    return EXIT_OK


#: Summary settings in the order ``mbx ls`` names them, with their words.
_SETTING_WORDS = {"users": "users", "role_assignments": "role assignments",
                  "activities": "activities", "blocks": "blocks", "files": "files",
                  "filters": "filters", "comments": "comments", "badges": "badges",
                  "calendarevents": "calendar events", "userscompletion": "user completion",
                  "logs": "logs", "grade_histories": "grade histories",
                  "questionbank": "question bank", "groups": "groups",
                  "competencies": "competencies", "customfield": "custom fields",
                  "contentbankcontent": "content bank", "legacyfiles": "legacy files"}
#: ``file_bytes`` owners with their words.
_OWNER_WORDS = {"activities": "activities", "course": "course", "sections": "sections",
                "question_bank": "question bank", "users": "users", "other": "other"}
#: Narrowest width the listing is cut to, whatever the terminal says.
_MIN_WIDTH = 60


def _plural(count: int | None, word: str, plural: str | None = None) -> str:
    """``1 activity``, ``3 activities``, ``? files`` when a backup cannot say."""
    if count is None:
        return f"? {plural or word + 's'}"
    return f"{count} {word if count == 1 else plural or word + 's'}"


def _date(value: int | None) -> str | None:
    return None if value is None else time.strftime("%Y-%m-%d", time.gmtime(value))


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, an ellipsis marking the cut."""
    return text if len(text) <= width else text[:max(width - 1, 0)] + "\u2026"


def _wrap(lead: str, items: list[str], width: int) -> list[str]:
    """``lead`` and a comma-separated list, wrapped to ``width`` (items are never cut)."""
    return textwrap.wrap(", ".join(items), width, initial_indent=lead,
                         subsequent_indent=" " * 4, break_long_words=False,
                         break_on_hyphens=False)


def _section_title(section: dict) -> str:
    """What Moodle shows: the section's name, else "General" for section 0 and
    "Section N" (an untitled section's title in moodle_backup.xml is its number)."""
    if section["name"]:
        return section["name"]
    if section["title"] and section["title"] != str(section["number"]):
        return section["title"]
    return "General" if section["number"] == 0 else f"Section {section['number']}"


def summary_lines(result: dict, width: int = 100) -> list[str]:
    """The text of ``mbx ls``: the summary dict of :func:`mbx.inspect.summarize`,
    as lines no wider than ``width`` (titles are cut with an ellipsis)."""
    width = max(width, _MIN_WIDTH)
    course, counts, sizes = result["course"], result["counts"], result["sizes"]
    lines = [_fit(f"{course['fullname']} ({course['shortname']})", width)]
    when = f" on {_date(result['backup_date'])}" if result["backup_date"] is not None else ""
    lines.extend(_wrap("  ", [f"{result['type']} backup written by Moodle "
                              f"{result['moodle_release']}{when}"], width))
    if result["source_site"]:
        lines.append(_fit(f"  from {result['source_site']}", width))
    dates = [f"format {course['format'] or '?'}"]
    if course["startdate"]:
        dates.append(f"starts {_date(course['startdate'])}")
    if course["enddate"] is not None:
        dates.append(f"ends {_date(course['enddate'])}" if course["enddate"] else "no end date")
    lines.append("  course " + ", ".join(dates))
    settings = result["settings"]
    anonymised = {True: "yes", False: "no", None: "?"}[settings["anonymize"]]
    included = [word for name, word in _SETTING_WORDS.items() if settings.get(name) is True]
    left_out = [word for name, word in _SETTING_WORDS.items() if settings.get(name) is False]
    lines.append(f"  anonymised: {anonymised}")
    if included:
        lines.extend(_wrap("  includes: ", included, width))
    if left_out:
        lines.extend(_wrap("  left out: ", left_out, width))

    module_width = max([10] + [len(a["modulename"] or "") for a in result["activities"]])

    def activity_line(activity: dict) -> str:
        sizes_note = ("" if activity["xml_bytes"] is None else
                      f"  ({format_size(activity['xml_bytes'])} XML, "
                      f"{format_size(activity['file_bytes'])} files)")
        head = f"         {activity['modulename'] or '?':<{module_width}} "
        room = width - len(head) - len(sizes_note)
        return head + _fit(activity["title"] or "(untitled)", max(room, 10)) + sizes_note

    for section in result["sections"]:
        note = f"  ({format_size(section['file_bytes'])} files)" if section["file_bytes"] else ""
        head = f"  {section['number']:>3}  "
        lines.append(head + _fit(_section_title(section), width - len(head) - len(note)) + note)
        lines.extend(activity_line(activity) for activity in section["activities"])
    listed = {section["sectionid"] for section in result["sections"]}
    outside = [a for a in result["activities"] if a["sectionid"] not in listed]
    if outside:
        lines.append("  not in a listed section:" if result["sections"] else "  activities:")
        lines.extend(activity_line(activity) for activity in outside)
    lines.extend(_wrap("  ", [
        _plural(counts["activities"], "activity", "activities"),
        _plural(counts["sections"], "section"), _plural(counts["users"], "user"),
        _plural(counts["files"], "file"), _plural(counts["groups"], "group"),
        _plural(counts["groupings"], "grouping"),
        _plural(counts["question_categories"], "question category", "question categories"),
        _plural(counts["questions"], "question")], width))
    owners = result["file_bytes"]
    placed = [f"{format_size(owners[name])} {word}" for name, word in _OWNER_WORDS.items()
              if owners.get(name)]
    if placed:
        lines.extend(_wrap("  file bytes: ", placed, width))
    lines.append(f"  user data: {'yes' if result['has_users'] else 'no'}; "
                 f"files: {'yes' if result['has_files'] else 'no'}")
    parts = [f"{format_size(sizes['xml'])} XML"]
    if sizes["blobs"] is not None:
        parts.append(f"{format_size(sizes['blobs'])} blobs")
    parts.append(f"{format_size(sizes['other'])} other")
    lines.extend(_wrap("  ", [f"{_plural(sizes['members'], 'file member')} and "
                              f"{_plural(sizes['directories'], 'directory', 'directories')}, "
                              f"{format_size(sizes['total'])} ({', '.join(parts)})"], width))
    if result["largest_activities"]:
        lines.extend(_wrap("  largest: ", [
            f"{a['modulename']} '{_fit(a['title'] or '(untitled)', 40)}' "
            f"{format_size(a['xml_bytes'] + a['file_bytes'])}"
            for a in result["largest_activities"]], width))
    return lines


#: What ``mbx ls -l`` says on stderr about where its listing comes from.
_LISTING_SOURCES = {
    "index": "listing from .ARCHIVE_INDEX (its length agrees with the gzip trailer)",
    "scan": "listing from a scan of the archive's entries, each one checked",
}


def _ls_members(members, as_json: bool, *, envelope: bool = False) -> int:
    """``mbx ls -l``: one line (or JSON object) per member, written as it comes.

    ``members`` is a :class:`~mbx.archive.Listing` (or any iterable of
    MemberInfo): its ``source`` and ``warnings`` go to stderr, or with
    ``envelope`` into the JSON object ``{"source", "warnings", "members"}``.
    """
    source = getattr(members, "source", None)
    warnings = getattr(members, "warnings", ())
    envelope = envelope and as_json
    if not envelope:
        if source is not None:
            print(f"mbx: {_LISTING_SOURCES[source]}", file=sys.stderr)
        for warning in warnings:
            print(f"mbx: warning: {warning.message} ({warning.code})", file=sys.stderr)
    if as_json:  # the same text as json.dumps of the whole list, written as it comes
        count = 0

        def items():
            nonlocal count
            for m in members:
                yield ("[" if count == 0 else ", ") + json.dumps(
                    {"name": m.name, "size": m.size, "mtime": m.mtime, "is_dir": m.is_dir})
                count += 1

        if envelope:
            found = [{"code": w.code, "message": w.message, "member": w.member} for w in warnings]
            sys.stdout.write(f'{{"source": {json.dumps(source)}, '
                             f'"warnings": {json.dumps(found)}, "members": ')
        _write_batched(items())
        sys.stdout.write("]" if count else "[]")
        sys.stdout.write("}\n" if envelope else "\n")
        return EXIT_OK
    dates: dict[int | None, str] = {None: "?" * 16}  # backups share a handful of mtimes

    def lines():
        for member in members:
            when = dates.get(member.mtime)
            if when is None:
                when = dates[member.mtime] = time.strftime("%Y-%m-%d %H:%M",
                                                           time.gmtime(member.mtime))
            slash = "/" if member.is_dir else ""
            yield f"{'d' if member.is_dir else '-'} {member.size:>12} {when} {member.name}{slash}\n"

    _write_batched(lines())
    return EXIT_OK


def _write_batched(pieces, batch_size: int = 4096) -> None:
    """Writes text pieces to stdout a few thousand at a time: fast, and a listing
    of a million members still takes constant memory."""
    batch: list[str] = []
    for piece in pieces:
        batch.append(piece)
        if len(batch) == batch_size:
            sys.stdout.write("".join(batch))
            batch.clear()
    sys.stdout.write("".join(batch))


def _info(args) -> int:
    from mbx.inspect import describe

    data = describe(args.backup, limits=_archive_limits(args))
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return EXIT_OK
    for key, value in data.items():
        if not isinstance(value, (list, dict)):
            print(f"{key:<46} {value if value is not None else '-'}")
    for detail in data.get("details", []):
        print(f"detail {detail['backup_id']}: type={detail['type']} format={detail['format']} "
              f"mode={detail['mode']} execution={detail['execution']}")
    if data["format"] == "moodle2":
        print(f"{len(data['activities'])} activities, {len(data['sections'])} sections")
        print("settings:")
        for setting in data["settings"]:
            scope = setting["section"] or setting["activity"] or ""
            print(f"  {setting['level'] or '-':<9} {scope:<22} {setting['name']} = {setting['value']}")
    else:
        for mod in data["moodle1"]["INFO"]["DETAILS"].get("MOD", []):
            print(f"  module {mod.get('NAME')}: included={mod.get('INCLUDED')} "
                  f"userinfo={mod.get('USERINFO')}")
    return EXIT_OK


def _cat(args) -> int:
    from mbx.inspect import copy_member

    copy_member(args.backup, args.member, sys.stdout.buffer, limits=_archive_limits(args))
    sys.stdout.buffer.flush()
    return EXIT_OK


def _records(args) -> int:
    from mbx.xml import Parser

    if len(args.source) not in (2, 3):
        print("mbx records: give FILE PATH, or BACKUP MEMBER PATH", file=sys.stderr)
        return EXIT_USAGE
    *where, path = args.source
    output = Output(args.output)
    matched = 0

    def records(stream, source: str):
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

    def to_text(record: dict) -> str:
        return json.dumps(record, ensure_ascii=False)

    if len(where) == 2:
        from mbx.archive import open_backup

        with open_backup(where[0], limits=_archive_limits(args)) as backup:
            backup.check()  # the whole archive's verdict before a record is written
            with backup.open(where[1]) as stream:
                output.stream(records(stream, where[1]), to_dict=dict, to_text=to_text)
        source = f"{where[1]} of {where[0]}"
    elif where[0] == "-":
        output.stream(records(sys.stdin.buffer, "<stdin>"), to_dict=dict, to_text=to_text)
        source = "stdin"
    else:
        with open(where[0], "rb") as stream:
            output.stream(records(stream, where[0]), to_dict=dict, to_text=to_text)
        source = where[0]
    if not matched:
        output.note(f"no element matched {path} in {source}")
    return EXIT_OK


def _verify(args) -> int:
    from mbx.verification import verify

    with _progress(args, "verifying") as progress:
        report = verify(args.backup, progress=progress, limits=_archive_limits(args))
    status = (EXIT_REFUSED if report.errors else
              EXIT_WARNINGS if args.strict and report.warnings else EXIT_OK)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return status
    checked = report.checked
    print(f"checked {args.backup}: {checked['xml_members']} XML members, "
          f"{checked['blobs']} blobs, {checked['files_records']} files.xml records, "
          f"{checked['references']} references, {checked['activities']} activities, "
          f"{checked['sections']} sections, {checked['index_entries']} index entries")
    if report.unknown_ref_kinds:
        print(f"  not checked: reference kinds {', '.join(report.unknown_ref_kinds)}")
    shown = (report.errors + report.warnings)[:args.max_problems]
    for problem in shown:
        print(f"  {problem}")
    if len(shown) < len(report.problems):
        print(f"  ... {len(report.problems) - len(shown)} more not shown "
              f"(--max-problems N shows more)")
    if not report.problems:
        print("sound")
        return status
    errors, warnings = len(report.errors), len(report.warnings)
    verdict = (f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}" if errors else
               f"sound, with {_plural(warnings, 'warning')}"
               + (" (failing: --strict)" if args.strict else ""))
    print(f"{verdict}: " + ", ".join(f"{item['count']} × {item['code']} ({item['severity']})"
                                     for item in report.summary()))
    return status


def _synth(args) -> int:
    from mbx.synth import synthesize

    activities = None
    if args.activities:
        try:
            activities = {name.strip(): int(count) for name, count in
                          (re.split("[:=]", part, maxsplit=1)
                           for part in args.activities.split(",") if part)}
        except ValueError:
            print(f"mbx: --activities wants MOD:N,...; got {args.activities!r}", file=sys.stderr)
            return EXIT_USAGE
    try:
        with _progress(args, "packing") as progress:
            result = synthesize(args.output_path, size=args.size, seed=args.seed, users=args.users,
                                sections=args.sections, activities=activities,
                                include_users=not args.no_users,
                                include_files=not args.no_files, format=args.format,
                                progress=progress)
    except ValueError as exc:
        print(f"mbx: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"wrote {result['path']}: {result['size']} bytes "
          f"(target {result['target']}, {result['size_error']:+.2%}), "
          f"{result['members']} members")
    print(f"  {sum(result['activities'].values())} activities, {result['sections']} sections, "
          f"{result['users']} users, {result['discussions']} discussions, "
          f"{result['posts']} posts, {result['files']} files")
    print(f"  {result['seconds']:.1f} s, {result['mb_per_s']} MB/s")
    if not result["size_ok"]:
        print("  note: the requested course cannot reach that size (no forum posts and no "
              "files to grow)", file=sys.stderr)
    return EXIT_OK


_COMMANDS = {"ls": _ls, "info": _info, "cat": _cat, "records": _records, "verify": _verify,
             "synth": _synth}


def entry_point() -> None:
    """Console-script entry: ``mbx``."""
    sys.exit(main())
