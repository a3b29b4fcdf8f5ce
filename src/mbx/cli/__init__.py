"""The ``mbx`` command line: a thin layer over the library's public functions.

Each command (:mod:`mbx.cli.commands`) calls one public function
(``mbx.inspect.summarize``, ``mbx.verification.verify``, ...) and hands its
result to the one output layer (:mod:`mbx.cli.output`, with the text of
:mod:`mbx.cli.text`). Results go to stdout, diagnostics to stderr. ``-q`` and
``--debug`` go before or after the command; every command that reads a
backup takes the archive-limit flags.

Exit codes: 0 success; 1 the input was refused (an :class:`~mbx.errors.MbxError`:
one line, or JSON with ``--json``) or ``verify`` found errors; 2 usage errors;
3 an unexpected failure (traceback with ``--debug``); 4 ``verify --strict``
found warnings but no errors; 5 the backup's format is recognised but the
command does not support it yet (``format-unsupported``: a Moodle 1.9 backup
given to ``verify``); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

import mbx
from mbx.cli import commands
from mbx.cli import jobs as job_commands
from mbx.cli.commands import LIMIT_FLAGS, count
from mbx.cli.exits import (EXIT_BUG, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED, EXIT_UNSUPPORTED,
                           EXIT_USAGE, EXIT_WARNINGS)
from mbx.cli.output import Output, add_output_flags, error_dict
from mbx.errors import Cancelled, MbxError

__all__ = ["EXIT_BUG", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_REFUSED", "EXIT_UNSUPPORTED",
           "EXIT_USAGE", "EXIT_WARNINGS", "build_parser", "entry_point", "main"]

DESCRIPTION = """\
Read, inspect, verify and synthesise Moodle course backups (.mbz: tar.gz or
zip, or an extracted backup folder), streaming, in constant memory."""

EPILOG = """\
exit codes: 0 success, 1 input refused or verify found errors, 2 usage,
3 internal error, 4 verify --strict found warnings only, 5 format not
supported by this command yet, 130 interrupted"""

#: command name -> the function that runs it
COMMANDS = {"ls": commands.ls, "info": commands.info, "cat": commands.cat,
            "records": commands.records, "verify": commands.verify, "synth": commands.synth,
            "restore": commands.restore, "query": commands.query,
            "transform": commands.transform, "dates": commands.dates,
            "store": commands.store, "jobs": job_commands.jobs, "worker": job_commands.worker}


class _VersionAction(argparse.Action):
    """``--version``, naming the implementation only when asked (deciding it loads
    the compiled modules)."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"mbx {mbx.__version__} ({mbx.implementation})")
        parser.exit()



def _limits_parent() -> argparse.ArgumentParser:
    """The archive-limit flags every command that reads a backup takes."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("archive limits (raise one to read a backup refused by it)")
    for field, (kind, metavar, text) in LIMIT_FLAGS.items():
        group.add_argument("--" + field.replace("_", "-"), dest=field, type=kind,
                           metavar=metavar, help=text)
    return parent


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
    verify.add_argument("--max-problems", type=count, default=20, metavar="N",
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
    synth.add_argument("--versions", type=int, metavar="N",
                       help="a term instead: N weekly backups of the course in folder OUTPUT "
                            "(week-01.mbz ...), the last of --size")
    add_output_flags(synth)

    restore = command("restore", "restore a backup as a new course into a database with "
                      "Moodle's schema (SQLite by default, or PostgreSQL)", reads_backup=True)
    restore.add_argument("backup", help=".mbz file (tar.gz or zip) or extracted backup folder")
    restore.add_argument("--into", default=DEFAULT_RESTORE_TARGET, metavar="TARGET",
                         help="sqlite:PATH (created if absent) or postgresql://... "
                              f"(default {DEFAULT_RESTORE_TARGET})")
    restore.add_argument("--files", metavar="DIR",
                         help="the file pool, laid out like Moodle's filedir (default: "
                              "PATH.files beside a SQLite target, ./mbx-files for PostgreSQL)")
    restore.add_argument("--prefix", default="mdl_", help="table prefix (default mdl_)")
    restore.add_argument("--activity", dest="activities", type=int, nargs="+", metavar="CMID",
                         help="restore only these activities (their course module ids in the backup)")
    restore.add_argument("--section", dest="sections", type=int, nargs="+", metavar="N",
                         help="restore only these sections (by number) and their activities")
    restore.add_argument("--no-users", action="store_true",
                         help="leave out users and everything they wrote")
    restore.add_argument("--no-files", action="store_true",
                         help="leave out the blobs (files rows whose content the target "
                              "already holds are still written)")
    restore.add_argument("--user-conflicts", choices=["map", "create", "fail"], default="map",
                         help="a backup user whose username the target has for another person: "
                              "map to that user (default), create a new one "
                              "(<username>_<site hash>), or fail as Moodle does")
    restore.add_argument("--wwwroot", metavar="URL",
                         help="the site links are decoded into (default: the backup's own)")
    restore.add_argument("--start-date", metavar="DATE",
                         help="the new course's start date (YYYY-MM-DD or Unix time): "
                              "dates roll by the difference")
    restore.add_argument("--category", type=int, metavar="ID",
                         help="the course category of the new course (default 1)")
    restore.add_argument("--strict", action="store_true",
                         help="a blob that does not match its hash is fatal, not a warning")
    add_output_flags(restore)

    # -- transforms: `mbx transform` takes every transform's flags; each transform also has
    # its own command with its flags unprefixed (TRANSFORM_FLAGS says both)
    transform = command("transform", "rewrite a backup into a new one, any transforms composed "
                        "in one streaming pass (none: an exact copy)", reads_backup=True)
    _transform_io(transform)
    for name, flags in TRANSFORM_FLAGS.items():
        group = transform.add_argument_group(name)
        for combined, own, options in flags:
            group.add_argument(combined, **options)
    add_output_flags(transform)
    for name, (help_text, switch) in TRANSFORM_COMMANDS.items():
        own_command = command(name, help_text, reads_backup=True)
        _transform_io(own_command)
        for _, own, options in TRANSFORM_FLAGS[name]:
            if own is not None:
                own_command.add_argument(own, **options)
        if switch:
            own_command.set_defaults(**{switch: True})
        add_output_flags(own_command)

    dates = command("dates", "list every date of a backup, for reading or for editing and "
                    "giving back to roll-dates --dates-file", reads_backup=True)
    dates.add_argument("backup", help=".mbz file (tar.gz or zip) or extracted backup folder")
    dates.add_argument("--user-data", action="store_true", help="dates in user data too")
    dates_format = dates.add_mutually_exclusive_group()
    dates_format.add_argument("--csv", dest="dates_format", action="store_const", const="csv",
                              default="csv", help="CSV, one row per date (the default)")
    dates_format.add_argument("--json", dest="dates_format", action="store_const",
                              const="json", help="a JSON list")

    query = command("query", "run one SQL query against a restore target and print the rows")
    query.add_argument("target", help="sqlite:PATH or postgresql://...")
    query.add_argument("sql", help="the query, e.g. \"SELECT fullname FROM mdl_course\"")
    add_output_flags(query, stream=True)

    store = command("store", "a deduplicated repository of many versions of many courses")
    _store_commands(store, common, limits)
    job_commands.add_commands(commands, common)
    return parser


def _store_commands(store: argparse.ArgumentParser, common: argparse.ArgumentParser,
                    limits: argparse.ArgumentParser) -> None:
    """``mbx store <init|add|ls|get|checkout|diff|rm|gc|verify>``."""
    actions = store.add_subparsers(dest="store_command", required=True, metavar="ACTION")

    def action(name: str, help: str, *, reads_backup: bool = False) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help, description=help,
                                 parents=[common, limits] if reads_backup else [common])
        sub.add_argument("store_dir", metavar="DIR", help="the store's folder")
        return sub

    ref_help = "COURSE@VERSION: a number, a tag or latest (COURSE alone: the latest)"
    add_output_flags(action("init", "create an empty store"))
    add = action("add", "add an archive as a new version of its course, in one pass",
                 reads_backup=True)
    add.add_argument("backup", help=".mbz file (tar.gz or zip) or extracted backup folder")
    add.add_argument("--course", metavar="NAME",
                     help="the course (default: its short name in moodle_backup.xml)")
    add.add_argument("--tag", dest="tags", action="append", default=[], metavar="T",
                     help="a name for the version (repeatable)")
    add_output_flags(add)
    ls = action("ls", "the courses and versions of a store, with dates and sizes")
    ls.add_argument("course", nargs="?", help="only this course")
    add_output_flags(ls)
    get = action("get", "write a stored version back as an archive")
    get.add_argument("ref", metavar="COURSE@VERSION", help=ref_help)
    get.add_argument("output_path", metavar="OUT.mbz", help="the archive to write")
    get.add_argument("--format", choices=["tgz", "zip"],
                     help="container (default: the one the version came in)")
    add_output_flags(get)
    checkout = action("checkout", "write a stored version as a backup folder, blobs "
                      "hard-linked into the store (treat them as read-only)")
    checkout.add_argument("ref", metavar="COURSE@VERSION", help=ref_help)
    checkout.add_argument("folder", metavar="FOLDER", help="the folder to create")
    checkout.add_argument("--copy", action="store_true",
                          help="copy the blobs instead of linking them")
    add_output_flags(checkout)
    diff = action("diff", "activities, sections, files and members that differ between two "
                  "versions")
    diff.add_argument("a", metavar="A", help=ref_help)
    diff.add_argument("b", metavar="B", help=ref_help)
    add_output_flags(diff)
    rm = action("rm", "drop versions (gc then frees what only they held)")
    rm.add_argument("refs", nargs="+", metavar="COURSE@VERSION", help="the versions to drop")
    add_output_flags(rm)
    add_output_flags(action("gc", "free the content files no version needs any more"))
    add_output_flags(action("verify", "re-hash every chunk and blob; report damage by version"))


DEFAULT_RESTORE_TARGET = "sqlite:mbx-restore.db"

#: The transforms' own commands: name -> (help, the flag the command switches on).
TRANSFORM_COMMANDS = {
    "extract": ("write one activity or one section of a backup as an activity or section "
                "backup", None),
    "anonymise": ("give every user of a backup a consistent pseudonym, in users.xml and in "
                  "every text", "anonymise"),
    "strip-users": ("remove users and all user data from a backup", "strip_users"),
    "prune-questions": ("drop the question bank entries no quiz of a backup uses",
                        "prune_questions"),
    "rewrite-users": ("change usernames, e-mails and idnumbers of a backup's users from a CSV "
                      "table", None),
    "roll-dates": ("move every date of a backup by an offset, or to a new start date", None),
}

#: transform -> its flags: (flag on ``mbx transform``, flag on its own command or None,
#: argparse options). The dest names are what :func:`mbx.cli.commands.transform` reads.
TRANSFORM_FLAGS: dict[str, list[tuple[str, str | None, dict]]] = {
    "extract": [
        ("--extract-activity", "--activity", dict(dest="extract_activity", type=int,
                                                  metavar="CMID",
                                                  help="write an activity backup of this one")),
        ("--extract-section", "--section", dict(dest="extract_section", type=int, metavar="N",
                                                help="write a section backup of this section "
                                                     "(by number)")),
    ],
    "prune-questions": [
        ("--prune-questions", None, dict(action="store_true", dest="prune_questions",
                                         help="drop question categories and questions no quiz "
                                              "uses, with their files")),
    ],
    "strip-users": [
        ("--strip-users", None, dict(action="store_true", dest="strip_users",
                                     help="remove users and all user data, as a backup made "
                                          "without users")),
    ],
    "anonymise": [
        ("--anonymise", None, dict(action="store_true", dest="anonymise",
                                   help="give every user a consistent pseudonym, everywhere "
                                        "their names appear")),
        ("--key", "--key", dict(dest="key", metavar="KEY",
                                help="the secret pseudonyms derive from: the same key, the "
                                     "same pseudonyms (default: $MBX_ANONYMISE_KEY)")),
        ("--keep-role", "--keep-role", dict(dest="keep_roles", action="append", default=[],
                                            metavar="ROLE",
                                            help="keep the real identity of users with this "
                                                 "role (short name; repeatable)")),
        ("--locale", "--locale", dict(dest="locale", default="en_US", metavar="LOCALE",
                                      help="the pseudonyms' language (Faker locale, default "
                                           "en_US)")),
    ],
    "rewrite-users": [
        ("--rewrite-users", "--csv", dict(dest="user_table", metavar="CSV",
                                          help="change usernames, e-mails, idnumbers: CSV rows "
                                               "field,old,new or old,new")),
    ],
    "roll-dates": [
        ("--roll-dates", "--offset", dict(dest="offset", metavar="OFFSET",
                                          help="move every date: +26w, +180d, -3600s")),
        ("--start", "--start", dict(dest="start", metavar="YYYY-MM-DD",
                                    help="move dates so that the course starts on this day")),
        ("--activity-date", "--activity", dict(
            dest="activity_dates", action="append", default=[], metavar="CMID=DATE",
            help="one activity's own move: an offset (+7d) or the day its first date moves "
                 "to (repeatable)")),
        ("--dates-file", "--dates-file", dict(dest="dates_file", metavar="FILE",
                                              help="exact dates: the rows of `mbx dates`, "
                                                   "edited (CSV or JSON)")),
        ("--user-data", "--user-data", dict(dest="user_data", action="store_true",
                                            help="move dates in user data too")),
    ],
}


COMMANDS.update(dict.fromkeys(TRANSFORM_COMMANDS, commands.transform))


def _transform_io(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("backup", help=".mbz file (tar.gz or zip) or extracted backup folder")
    parser.add_argument("output_path", metavar="output",
                        help="the backup to write (written whole, then renamed into place)")
    parser.add_argument("--format", choices=["tgz", "zip"], default="tgz",
                        help="container of the output (default tgz, as Moodle writes)")


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one ``mbx`` command; returns its exit code (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag in ("debug", "quiet"):  # SUPPRESS leaves them unset when not given
        setattr(args, flag, getattr(args, flag, False))
    if getattr(args, "backup", None) == "":
        parser.error("the backup path is empty")
    output = Output(getattr(args, "output", "text"))
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:
        # the reader went away (``mbx records ... | head``): not an error
        sys.stdout = open(os.devnull, "w")
        return EXIT_OK
    except (KeyboardInterrupt, Cancelled):
        commands.clear_progress_lines()
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


def entry_point() -> None:
    """Console-script entry: ``mbx``."""
    sys.exit(main())
