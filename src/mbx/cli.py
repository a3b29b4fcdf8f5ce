"""The ``mbx`` command line: a thin layer over the library's public functions.

Results go to stdout, diagnostics to stderr. Exit codes: 0 success, 1 the input
was refused (an :class:`~mbx.errors.MbxError`, one line, or JSON with
``--json``), 2 usage errors, 3 an unexpected failure (traceback with ``--debug``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

import mbx
from mbx.errors import MbxError

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mbx", description=mbx.__doc__)
    parser.add_argument("--version", action="version",
                        version=f"mbx {mbx.__version__} ({mbx.implementation})")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)

    summary = commands.add_parser("summary", help="summarise an extracted moodle2 backup")
    summary.add_argument("backup", help="folder holding moodle_backup.xml")
    summary.add_argument("--json", action="store_true", help="print JSON")

    records = commands.add_parser("records", help="stream the records of one path of an XML file")
    records.add_argument("file", help="XML file, or - for stdin")
    records.add_argument("path", help="element path, e.g. /activity/forum/discussions/discussion")
    records.add_argument("--grouped", action="store_true",
                         help="deliver the element with registered descendants nested")
    records.add_argument("--below", action="append", default=[], metavar="RELPATH",
                         help="with --grouped: a descendant to collect (repeatable)")
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
        return EXIT_REFUSED
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


def _summary(args) -> int:
    from mbx.summary import summarize_backup

    result = summarize_backup(args.backup)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return EXIT_OK
    course = result["course"]
    print(f"{course['fullname']} ({course['shortname']})")
    print(f"  {result['type']} backup written by Moodle {result['moodle_release']}")
    for section in result["sections"]:
        print(f"  [{section['sectionid']}] {section['title']}")
        for activity in section["activities"]:
            print(f"      {activity['modulename']:<10} {activity['title']}")
    counts = result["counts"]
    print(f"  {counts['activities']} activities, {counts['users']} users, "
          f"{counts['files']} files, {counts['questions']} questions; "
          f"{result['xml']['members']} XML files, {result['xml']['bytes']} bytes")
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


_COMMANDS = {"summary": _summary, "records": _records}


def entry_point() -> None:
    """Console-script entry: ``mbx``."""
    sys.exit(main())
