"""The ``mbx`` command line: a thin layer over the library's public functions.

Results go to stdout, diagnostics to stderr. Exit codes: 0 success (``verify``:
no errors, warnings allowed), 1 the input was refused (an
:class:`~mbx.errors.MbxError`, one line, or JSON with ``--json``) or ``verify``
found errors, 2 usage errors, 3 an unexpected failure (traceback with
``--debug``), 4 ``verify --strict`` found warnings but no errors, 5 the format is
recognised but the command does not support it yet (``format-unsupported``),
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
import sys
from typing import Sequence

import mbx
from mbx.errors import MbxError
from mbx.units import format_size

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 3
EXIT_WARNINGS, EXIT_UNSUPPORTED, EXIT_INTERRUPTED = 4, 5, 130


class _VersionAction(argparse.Action):
    """``--version``, naming the implementation only when asked (deciding it loads
    the compiled modules)."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"mbx {mbx.__version__} ({mbx.implementation})")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mbx", description=mbx.__doc__)
    parser.add_argument("--version", action=_VersionAction, nargs=0,
                        help="show the version and which implementation runs, then exit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress line on stderr")
    commands = parser.add_subparsers(dest="command", required=True)

    ls = commands.add_parser("ls", help="what a backup holds: course, sections, activities, counts")
    ls.add_argument("backup", help=".mbz file (tar.gz or zip) or extracted backup folder")
    ls.add_argument("-l", dest="long", action="store_true",
                    help="list every member with size and time, like tar tv")
    ls.add_argument("--json", action="store_true", help="print JSON")

    info = commands.add_parser("info", help="all settings and the full information block")
    info.add_argument("backup", help=".mbz file (tar.gz or zip) or extracted backup folder")
    info.add_argument("--json", action="store_true", help="print JSON")

    cat = commands.add_parser("cat", help="stream one member of a backup to stdout")
    cat.add_argument("backup", help=".mbz file or extracted backup folder")
    cat.add_argument("member", help="member name, e.g. moodle_backup.xml")

    records = commands.add_parser("records", help="stream the records of one path of an XML file")
    records.add_argument("file", help="XML file, or - for stdin")
    records.add_argument("path", help="element path, e.g. /activity/forum/discussions/discussion")
    records.add_argument("--grouped", action="store_true",
                         help="deliver the element with registered descendants nested")
    records.add_argument("--below", action="append", default=[], metavar="RELPATH",
                         help="with --grouped: a descendant to collect (repeatable)")
    verify = commands.add_parser(
        "verify", help="check a backup is sound: XML, blobs, references, folders, index")
    verify.add_argument("backup", help=".mbz file (tar.gz or zip) or extracted backup folder")
    verify.add_argument("--json", action="store_true",
                        help="print JSON: a summary by code and every problem")
    verify.add_argument("--strict", action="store_true",
                        help=f"warnings fail too (exit {EXIT_WARNINGS} when there are no errors)")
    verify.add_argument("--max-problems", type=_count, default=20, metavar="N",
                        help="show the detail of at most N problems, errors first "
                             "(default 20; the summary counts them all)")

    synth = commands.add_parser(
        "synth", help="write a synthetic course backup of a given size, for benchmarks")
    synth.add_argument("output", help="archive to write, e.g. big.mbz")
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
    synth.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except MbxError as exc:
        if args.debug:
            raise
        if getattr(args, "json", False):
            print(json.dumps({"error": exc.to_dict()}), file=sys.stderr)
        else:
            print(f"mbx: {exc}", file=sys.stderr)
        return EXIT_UNSUPPORTED if exc.code == "format-unsupported" else EXIT_REFUSED
    except BrokenPipeError:
        # the reader went away (``mbx records ... | head``): not an error
        sys.stdout = open(os.devnull, "w")
        return EXIT_OK
    except OSError as exc:
        if args.debug:
            raise
        print(f"mbx: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if args.debug:
            raise
        print(f"mbx: internal error: {exc!r} (run with --debug for a traceback)", file=sys.stderr)
        return EXIT_BUG


def _count(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"want a whole number, 0 or more, not {text!r}")
    return value


def _progress(args, label: str):
    from mbx.progress import Progress

    return Progress(label, enabled=False if args.quiet else None)


def _ls(args) -> int:
    if args.long:  # from the index alone: no XML machinery to load
        from mbx.archive import list_members

        return _ls_members(list_members(args.backup), args.json)
    from mbx.inspect import summarize

    with _progress(args, "reading") as progress:
        result = summarize(args.backup, progress=progress)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return EXIT_OK
    course = result["course"]
    print(f"{course['fullname']} ({course['shortname']})")
    date = result.get("backup_date") or ""
    when = (" on " + time.strftime("%Y-%m-%d", time.gmtime(int(date)))) if date.isdigit() else ""
    print(f"  {result['type']} backup written by Moodle {result['moodle_release']}{when}")
    for section in result["sections"]:
        print(f"  {section['number']:>3}  {section['title']}")
        for activity in section["activities"]:
            sizes = ("" if activity["xml_bytes"] is None else
                     f"  ({format_size(activity['xml_bytes'])} XML, {format_size(activity['file_bytes'])} files)")
            print(f"         {activity['modulename']:<10} {activity['title']}{sizes}")
    counts, sizes = result["counts"], result["sizes"]
    print(f"  {counts['activities']} activities, {counts['users']} users, "
          f"{counts['files']} files, {counts['questions']} questions")
    print(f"  user data: {'yes' if result['has_users'] else 'no'}; "
          f"files: {'yes' if result['has_files'] else 'no'}")
    print(f"  {sizes['members']} members, {format_size(sizes['total'])} "
          f"({format_size(sizes['xml'])} XML, {format_size(sizes['files'])} files)")
    if result.get("largest_activities"):
        print("  largest: " + ", ".join(
            f"{a['modulename']} '{a['title']}' {format_size(a['xml_bytes'] + a['file_bytes'])}"
            for a in result["largest_activities"]))
    return EXIT_OK


def _ls_members(members, as_json: bool) -> int:
    if as_json:  # the same text as json.dumps of the whole list, written as it comes
        count = 0

        def items():
            nonlocal count
            for m in members:
                yield ("[" if count == 0 else ", ") + json.dumps(
                    {"name": m.name, "size": m.size, "mtime": m.mtime, "is_dir": m.is_dir})
                count += 1

        _write_batched(items())
        sys.stdout.write("]\n" if count else "[]\n")
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

    data = describe(args.backup)
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
        for mod in (data.get("DETAILS") or {}).get("MOD", []):
            print(f"  module {mod.get('NAME')}: included={mod.get('INCLUDED')} "
                  f"userinfo={mod.get('USERINFO')}")
    return EXIT_OK


def _cat(args) -> int:
    from mbx.inspect import copy_member

    copy_member(args.backup, args.member, sys.stdout.buffer)
    sys.stdout.buffer.flush()
    return EXIT_OK


def _records(args) -> int:
    from mbx.xml import Parser

    out = sys.stdout

    def emit(record: dict) -> None:
        out.write(json.dumps(record, ensure_ascii=False))
        out.write("\n")

    parser = Parser(source=args.file)
    parser.add_path(args.path, emit, grouped=args.grouped)
    for below in args.below:
        parser.add_path(f"{args.path.rstrip('/')}/{below.strip('/')}")
    parser.parse(sys.stdin.buffer if args.file == "-" else args.file)
    return EXIT_OK


def _verify(args) -> int:
    from mbx.verify import verify

    with _progress(args, "verifying") as progress:
        report = verify(args.backup, progress=progress)
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


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


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
            result = synthesize(args.output, size=args.size, seed=args.seed, users=args.users,
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
