"""Verification: is a backup internally sound, checked in one streaming pass.

A consumer of both lower layers, like :mod:`mbx.inspect`: ``mbx.archive``
hands over the members in archive order, every ``*.xml`` member is parsed by
``mbx.xml.Parser`` as it streams by, every blob under ``files/`` is hashed
with SHA-1 in 1 MiB reads. Members come in archive order (blobs before
``files.xml`` in a tar.gz), so only small sets of strings are collected on
the way (blob names, file and user ids, references, folders) and the
cross-checks are made at the end. Nothing is extracted and no member is held
in memory.

Checks:

- every ``*.xml`` member is well-formed (the XML error's code, line, column);
- every blob ``files/xx/<sha1>`` hashes to its name and ``xx`` is its prefix;
- every ``files.xml`` record that is not a directory (``.``) has its blob;
- every ``inforef.xml`` reference names a record of the member that defines
  its kind: ``fileref`` a ``files.xml`` file, ``userref`` a ``users.xml``
  user, ``roleref`` a ``roles.xml`` role, ``groupref``/``groupingref`` a
  ``groups.xml`` group/grouping, ``scaleref`` and ``outcomeref`` a
  ``scales.xml``/``outcomes.xml`` definition, ``question_categoryref`` a
  ``questions.xml`` category, ``grade_itemref`` a grade item of some
  ``grades.xml`` or ``gradebook.xml``. A kind is checked only when its
  defining member is present and defines at least one record (a backup made
  without users keeps its ``userref`` lists but writes no users); unknown
  kinds are counted and named;
- activities and sections listed in ``moodle_backup.xml`` have their folder,
  and every ``activities/*`` and ``sections/*`` folder is listed;
- ``.ARCHIVE_INDEX``, when present, matches the members (names, file sizes);
- nothing sits at the top level that Moodle does not write (a ``readme.md``
  beside the backup), and the archive layer left nothing out (macOS
  ``._name`` and ``__MACOSX/`` litter) and noticed nothing odd (names that
  differ only in case).

Every problem has a severity, from :data:`SEVERITIES`: an *error* means a
restore would fail or lose data, a *warning* that something is odd but a
restore is unharmed. :attr:`VerifyReport.ok` means no errors.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from typing import Any, BinaryIO, Callable, Literal

import msgspec

from mbx.archive import (ARCHIVE_INDEX_NAME, ArchiveLimits, Backup, MemberInfo, as_backup,
                         parse_archive_index)
from mbx.errors import FormatError, MbxError, format_location
from mbx.progress import Monitor, as_monitor
from mbx.moodle2 import file_has_content, read_information
from mbx.moodle2.inforef import DEFINED_IN, DEFINITIONS, KNOWN_REFS
from mbx.moodle2.members import BLOB, INFOREF, SHA1, TOP_FOLDER, TOP_FOLDERS, TOP_LEVEL_NAMES
from mbx.xml import Parser

__all__ = ["SEVERITIES", "Problem", "Severity", "VerifyReport", "severity_of", "verify"]

READ_SIZE = 1 << 20
_REF_TAG = re.compile(rb"<([A-Za-z_][A-Za-z0-9_.\-]*ref)[\s/>]")


Severity = Literal["error", "warning"]

#: The severity of every problem code, the one place that decides it. An error:
#: a restore would fail or lose data. A warning: odd, but a restore is unharmed.
#: A key ending in ``*`` covers every code with that prefix; a code in neither
#: form is an error (when unsure, say a restore may fail).
SEVERITIES: dict[str, Severity] = {
    # malformed XML: Moodle's restore parses every member it needs and stops
    "xml-*": "error",
    # a blob, a record or a folder that something in the backup needs is not there
    "verify-missing-*": "error",
    # a blob whose name, folder or content disagree: restore looks it up by its hash
    "verify-blob-hash": "error",
    "verify-blob-prefix": "error",
    "verify-bad-blob-name": "error",
    # without moodle_backup.xml and its information block there is nothing to restore
    "verify-no-moodle-backup": "error",
    "format-no-information": "error",
    # an information block whose parts are not what Moodle writes (text in <contents>)
    "format-bad-*": "error",
    # the index cannot be read at all: nothing says what the archive should hold
    "archive-bad-index": "error",
    # Moodle's restore reads only the entry count of .ARCHIVE_INDEX, for its
    # progress bar: a stale one is harmless
    "verify-index-mismatch": "warning",
    # restore reads only the folders moodle_backup.xml lists, and only the names it writes
    "verify-unlisted-folder": "warning",
    "verify-stray-member": "warning",
    # left out by the archive layer: macOS litter, an entry repeating itself
    "verify-appledouble": "warning",
    "verify-macos-metadata": "warning",
    "verify-repeated-member": "warning",
    "verify-ignored-member": "warning",
    # names differing only in case: a problem only when extracted to a file system
    "archive-name-collision": "warning",
}


def severity_of(code: str) -> Severity:
    """The severity :data:`SEVERITIES` gives ``code``: its own entry, else its family's."""
    severity = SEVERITIES.get(code)
    if severity is not None:
        return severity
    for family, severity in SEVERITIES.items():
        if family.endswith("*") and code.startswith(family[:-1]):
            return severity
    return "error"


class Problem(msgspec.Struct, frozen=True):
    """One thing found wrong; ``member`` and the location when known.

    ``severity`` is ``"error"`` or ``"warning"``; :func:`verify` sets it from
    :data:`SEVERITIES`.
    """

    code: str
    message: str
    member: str | None = None
    line: int | None = None
    column: int | None = None
    severity: Severity = "error"

    def location(self) -> str:
        return format_location(self.member or "<backup>", self.line, self.column)

    def __str__(self) -> str:
        return f"{self.location()}: {self.severity}: {self.message} [{self.code}]"


def _counts() -> dict[str, int]:
    return dict.fromkeys(("xml_members", "blobs", "files_records", "references", "activities",
                          "sections", "index_entries"), 0)


class VerifyReport(msgspec.Struct):
    """What :func:`verify` checked (counts) and what it found wrong."""

    path: str
    checked: dict[str, int] = msgspec.field(default_factory=_counts)
    problems: list[Problem] = msgspec.field(default_factory=list)
    #: Reference kinds found in inforef.xml files that mbx does not check.
    unknown_ref_kinds: list[str] = msgspec.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed): a restore would not fail on what was checked."""
        return not self.errors

    @property
    def errors(self) -> list[Problem]:
        """The problems that would make a restore fail or lose data."""
        return [problem for problem in self.problems if problem.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """The problems that are odd but harmless to a restore."""
        return [problem for problem in self.problems if problem.severity == "warning"]

    def codes(self) -> set[str]:
        return {problem.code for problem in self.problems}

    def summary(self) -> list[dict[str, Any]]:
        """``{code, severity, count}`` for each code found: errors first, then the
        most frequent, then by code."""
        counts = Counter((problem.code, problem.severity) for problem in self.problems)
        return [{"code": code, "severity": severity, "count": count}
                for (code, severity), count in sorted(
                    counts.items(), key=lambda item: (item[0][1] != "error", -item[1], item[0][0]))]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description with stable keys; ``problems`` lists every problem."""
        return {"backup": self.path, "ok": self.ok, "errors": len(self.errors),
                "warnings": len(self.warnings), "summary": self.summary(),
                "checked": dict(self.checked), "unknown_ref_kinds": list(self.unknown_ref_kinds),
                "problems": [msgspec.structs.asdict(problem) for problem in self.problems]}


class _State:
    """The small sets collected during the pass."""

    def __init__(self, report: VerifyReport) -> None:
        self.report = report
        self.blobs: set[str] = set()
        #: contenthash -> first files.xml record id needing it
        self.needed_blobs: dict[str, str] = {}
        #: kind -> ids of the records defined for it (kinds whose member was seen)
        self.defined: dict[str, set[str]] = {}
        #: kind -> id -> [first inforef member naming it, how many name it]; the
        #: defining members come after the inforefs in Moodle's order, so
        #: references wait here, one entry per distinct id
        self.referenced: dict[str, dict[str, list]] = {kind: {} for kind in KNOWN_REFS}
        self.unknown_kinds: set[str] = set()
        self.folders: dict[str, set[str]] = {"activities": set(), "sections": set()}
        self.listed: dict[str, list[str]] | None = None
        self.listing_seen = False
        self.index: list | None = None
        #: name -> (size, is_dir) of every member seen
        self.members: dict[str, tuple[int, bool]] = {}
        #: the member being read, which handlers file what they find under
        self.member = ""
        self._parsers: dict[str | None, Parser] = {}

    def parser_for(self, key: str | None) -> Parser:
        """The parser for a kind of member, built once per pass: ``INFOREF``, a
        name in ``DEFINITIONS``, or None for members only checked for well-formedness."""
        parser = self._parsers.get(key)
        if parser is None:
            parser = self._parsers[key] = Parser()
            if key == INFOREF:
                for kind in KNOWN_REFS:
                    parser.add_path(f"/inforef/{kind}ref/{kind}",
                                    self._reference_handler(self.referenced[kind]))
            for path, kind in DEFINITIONS.get(key, ()):
                ids = self.defined.setdefault(kind, set())
                parser.add_path(path, _file_record(self, ids) if kind == "file" else
                                lambda record, ids=ids: ids.add(str(record.get("id") or "")))
        return parser

    def _reference_handler(self, referenced: dict[str, list]) -> Callable[[dict], None]:
        def on_reference(record: dict) -> None:
            self.report.checked["references"] += 1
            ref_id = str(record.get("id") or "")
            seen = referenced.get(ref_id)
            if seen is None:
                referenced[ref_id] = [self.member, 1]
            else:
                seen[1] += 1
        return on_reference

    def problem(self, code: str, message: str, member: str | None = None,
                line: int | None = None, column: int | None = None,
                severity: Severity | None = None) -> None:
        """Files a problem; its severity is the table's unless the finder knows better."""
        self.report.problems.append(Problem(code, message, member, line, column,
                                            severity or severity_of(code)))


def verify(path: str | os.PathLike | Backup,
           progress: Monitor | Callable[[MemberInfo], None] | None = None, *,
           limits: ArchiveLimits | None = None) -> VerifyReport:
    """Checks a moodle2 backup (``.mbz`` tar.gz or zip, or a folder) in one pass.

    ``path`` is a path, opened with ``limits`` (default :class:`ArchiveLimits()`),
    or a :class:`~mbx.archive.Backup` already opened by
    :func:`~mbx.archive.open_backup`, which keeps its own limits and stays open.
    Raises :class:`~mbx.errors.ArchiveError` when the container itself is
    refused and :class:`~mbx.errors.FormatError` for formats other than
    moodle2 (code ``format-unsupported``, or ``format-unknown`` for what is no
    backup at all); everything else found wrong is a
    :class:`Problem` in the report. ``progress`` (a :class:`~mbx.progress.Monitor`,
    or a callable taking each member) follows the pass member by member; once
    its token is cancelled the pass stops with :class:`~mbx.errors.Cancelled`.
    """
    monitor = as_monitor(progress)
    with as_backup(path, limits) as backup:
        report = VerifyReport(path=backup.path)
        state = _State(report)
        if backup.format != "moodle2":
            raise FormatError.unsupported(
                backup.format, f"{backup.format} backups cannot be verified yet (only moodle2)",
                source=backup.path)
        monitor.phase("verifying", totals=backup.expected_totals)
        for member, stream in backup.iter_members():
            monitor(member)
            state.members[member.name] = (member.size, member.is_dir)
            match = TOP_FOLDER.match(member.name)
            if match and (member.is_dir or "/" in member.name[match.end(2):]):
                state.folders[match.group(1)].add(f"{match.group(1)}/{match.group(2)}")
            if member.is_dir:
                continue
            _check_member(state, member.name, stream)
        _check_left_out(state, backup)
        monitor.finish()
    _cross_check(state)
    report.unknown_ref_kinds = sorted(state.unknown_kinds)
    return report


def _check_member(state: _State, name: str, stream: BinaryIO) -> None:
    if name == ARCHIVE_INDEX_NAME:
        try:
            state.index = parse_archive_index(stream, source=name)
        except MbxError as error:
            state.problem(error.code, error.message, name, error.line, error.column)
        return
    if match := BLOB.fullmatch(name):
        _check_blob(state, name, match.group(1), match.group(2), stream)
        return
    if name.startswith("files/"):
        state.problem("verify-bad-blob-name", "not a blob path files/<xx>/<sha1>", name)
        return
    if not name.endswith(".xml"):
        return
    state.report.checked["xml_members"] += 1
    base = name.rsplit("/", 1)[-1]
    state.member = name
    try:
        if name == "moodle_backup.xml":
            state.listing_seen = True
            _read_listing(state, stream, name)
            return
        if base == "inforef.xml":
            _parse_inforef(state, stream)
            return
        # top-level files define most kinds; each activity's grades.xml its grade items
        defines = base in DEFINITIONS and ("/" not in name or base == "grades.xml")
        parser = state.parser_for(base if defines else None)
        parser.source = name
        parser.parse(stream)
    except MbxError as error:
        state.problem(error.code, error.message, name, error.line, error.column)


def _check_blob(state: _State, name: str, prefix: str, digest_name: str,
                stream: BinaryIO) -> None:
    state.report.checked["blobs"] += 1
    digest = hashlib.sha1()
    while chunk := stream.read(READ_SIZE):
        digest.update(chunk)
    actual = digest.hexdigest()
    if not SHA1.fullmatch(digest_name):
        state.problem("verify-bad-blob-name", "blob name is not a lowercase SHA-1", name)
    elif actual != digest_name:
        state.problem("verify-blob-hash", f"content has SHA-1 {actual}, not its name", name)
    if prefix != digest_name[:2]:
        state.problem("verify-blob-prefix",
                      f"folder {prefix!r} is not the first two digits of {digest_name[:2]!r}",
                      name)
    state.blobs.add(digest_name)


def _file_record(state: _State, ids: set[str]) -> Callable[[dict], None]:
    """The handler of ``files.xml`` records: their ids, and the blobs they need."""
    def on_file(record: dict) -> None:
        state.report.checked["files_records"] += 1
        file_id = str(record.get("id") or "")
        ids.add(file_id)
        contenthash = record.get("contenthash") or ""
        if file_has_content(record.get("filename"), contenthash):
            state.needed_blobs.setdefault(contenthash, file_id)
    return on_file


def _parse_inforef(state: _State, stream: BinaryIO) -> None:
    parser = state.parser_for(INFOREF)
    parser.source = state.member
    tail = b""

    def scanned():
        nonlocal tail
        while chunk := stream.read(READ_SIZE):
            for tag in _REF_TAG.findall(tail + chunk):
                group = tag.decode("ascii", "replace")
                if group != "inforef" and group[:-3] not in KNOWN_REFS:
                    state.unknown_kinds.add(group)
            tail = chunk[-128:]
            yield chunk

    parser.parse(scanned())


def _read_listing(state: _State, stream: BinaryIO, name: str) -> None:
    info = read_information(stream, source=name)
    state.listed = {"activities": [a.directory or "" for a in info.activities],
                    "sections": [s.directory or "" for s in info.sections]}


#: Problem codes kept from before every kind was checked.
_MISSING_CODES = {"file": "verify-missing-file-record"}


def _cross_check(state: _State) -> None:
    checked = state.report.checked
    for contenthash, file_id in sorted(state.needed_blobs.items()):
        if contenthash not in state.blobs:
            state.problem("verify-missing-blob",
                          f"files.xml record {file_id} needs blob "
                          f"files/{contenthash[:2]}/{contenthash}, absent", "files.xml")

    for kind, referenced in state.referenced.items():
        defined = state.defined.get(kind)
        if not defined and kind != "file":  # not in this backup, or written empty
            continue
        for ref_id, (member, count) in referenced.items():
            if ref_id not in (defined or ()):
                also = f" (and {count - 1} more references)" if count > 1 else ""
                state.problem(_MISSING_CODES.get(kind, f"verify-missing-{kind.replace('_', '-')}"),
                              f"{kind}ref {ref_id} has no {DEFINED_IN[kind]} record{also}",
                              member)

    if state.listed is None:
        if not state.listing_seen:
                state.problem("verify-no-moodle-backup", "moodle_backup.xml is missing")
    else:
        for kind in ("activities", "sections"):
            listed = state.listed[kind]
            checked[kind] = len(listed)
            present = state.folders[kind]
            for directory in listed:
                folder = directory.strip("/")
                if folder not in present:
                    state.problem("verify-missing-folder",
                                  f"{TOP_FOLDERS[kind]} folder {folder!r} listed in "
                                  "moodle_backup.xml is not in the backup", "moodle_backup.xml")
            listed_set = {directory.strip("/") for directory in listed}
            for folder in sorted(present - listed_set):
                state.problem("verify-unlisted-folder",
                              f"folder {folder!r} is not listed in moodle_backup.xml", folder)

    if state.index is not None:
        _check_index(state)
    _check_top_level(state)


def _check_index(state: _State) -> None:
    checked = state.report.checked
    members = state.members
    indexed = {entry.name for entry in state.index}
    checked["index_entries"] = len(state.index)
    prefixes = {name.rsplit("/", 1)[0] for name in members if "/" in name}
    # every ancestor folder of a member exists even when the container has no entry for it
    for name in list(prefixes):
        while "/" in name:
            name = name.rsplit("/", 1)[0]
            prefixes.add(name)
    for entry in state.index:
        seen = members.get(entry.name)
        if entry.is_dir:
            if entry.name not in prefixes and not (seen and seen[1]):
                state.problem("verify-index-mismatch",
                              f"folder {entry.name!r} is in .ARCHIVE_INDEX but not in the backup",
                              ARCHIVE_INDEX_NAME)
        elif seen is None or seen[1]:
            state.problem("verify-index-mismatch",
                          f"{entry.name!r} is in .ARCHIVE_INDEX but not in the backup",
                          ARCHIVE_INDEX_NAME)
        elif seen[0] != entry.size:
            state.problem("verify-index-mismatch",
                          f"{entry.name!r} is {seen[0]} bytes, .ARCHIVE_INDEX says {entry.size}",
                          ARCHIVE_INDEX_NAME)
    for name, (_, is_dir) in members.items():
        if not is_dir and name != ARCHIVE_INDEX_NAME and name not in indexed:
            state.problem("verify-index-mismatch", f"{name!r} is not in .ARCHIVE_INDEX", name)


def _check_top_level(state: _State) -> None:
    """One warning per top-level name Moodle does not write, counting what is under it."""
    stray: Counter[str] = Counter()
    for name, (_, is_dir) in state.members.items():
        top, slash, _ = name.partition("/")
        top += "/" if slash or is_dir else ""
        if top not in TOP_LEVEL_NAMES:
            stray[top] += not is_dir
    for top, files in sorted(stray.items()):
        what = f"folder {top!r} ({files} files)" if top.endswith("/") else repr(top)
        state.problem("verify-stray-member",
                      f"{what} is not part of a Moodle backup; restore ignores it", top)


#: The archive layer's reasons for leaving an entry out -> (problem code, what it is).
_LEFT_OUT = {
    "appledouble": ("verify-appledouble", "macOS AppleDouble companions (._name)"),
    "macos-metadata": ("verify-macos-metadata", "macOS metadata entries (__MACOSX/)"),
    "hardlink-to-itself": ("verify-repeated-member", "tar entries repeating the file they name"),
}


def _check_left_out(state: _State, backup: Backup) -> None:
    """What the archive layer left out (one warning per reason) or warned about."""
    by_reason: dict[str, list[str]] = {}
    for ignored in backup.ignored:
        by_reason.setdefault(ignored.reason, []).append(ignored.name)
    for reason, names in by_reason.items():
        code, what = _LEFT_OUT.get(reason, ("verify-ignored-member", f"entries ({reason})"))
        state.problem(code, f"{what} left out: {len(names)}, the first {names[0]!r}; "
                            "restore has no use for them", names[0])
    # the archive layer's own warnings (names differing only in case) stay warnings
    for warning in getattr(backup, "warnings", ()):
        state.problem(warning.code, warning.message, warning.member, severity="warning")
