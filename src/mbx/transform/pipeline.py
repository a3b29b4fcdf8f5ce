"""The two passes every transform run makes: survey, then rewrite (see :mod:`.base`).

Costs, for a tar.gz: two inflates of the input and one deflate of the output.
The survey parses only the members some transform asked for (and ``files.xml``
and ``moodle_backup.xml``, which every run reads), so it costs little more than
inflating; the rewrite copies untouched members straight into the output's
deflater (:class:`~mbx.archive.writer.StreamingArchiveWriter`, one pass, no
spool) and runs only touched XML members through the rewriter.

The output is written under a temporary name beside it and renamed when
complete: a failure, a cancel or a full disk leaves no output and nothing else.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from mbx.archive import Backup, open_backup
from mbx.archive.base import ARCHIVE_INDEX_NAME, ArchiveLimits, MemberInfo
from mbx.archive.writer import StreamingArchiveWriter
from mbx.errors import FormatError, MbxError
from mbx.moodle2.information import read_information
from mbx.moodle2.inforef import DEFINITIONS
from mbx.moodle2.members import BLOB, FILES, MOODLE_BACKUP
from mbx.progress import Monitor, as_monitor
from mbx.transform.base import Facts, Transform, matches
from mbx.transform.report import TransformReport
from mbx.xml import Parser
from mbx.xml.rewriter import Rewriter

__all__ = ["run"]

READ_SIZE = 1 << 20
#: inforef.xml wrappers: ``/inforef/<kind>ref/<kind>``, one record per referenced id.
INFOREF_NAME = "inforef.xml"


class OutputError(MbxError):
    code = "transform-output"


def run(source: str | os.PathLike, output: str | os.PathLike, transforms: Sequence[Transform],
        *, format: str = "tgz", compressor: str | None = None, level: int | None = None,
        limits: ArchiveLimits | None = None,
        progress: Monitor | None = None) -> TransformReport:
    """Writes ``output``: the backup ``source`` with ``transforms`` applied in one pass.

    With no transform, every member is copied byte for byte (the container and
    ``.ARCHIVE_INDEX`` are written anew).
    """
    source, output = os.fspath(source), os.fspath(output)
    monitor = as_monitor(progress)
    _refuse_same_file(source, output)
    started = time.monotonic()
    with open_backup(source, limits=limits or ArchiveLimits()) as backup:
        if backup.format != "moodle2":
            raise FormatError(f"{source}: transforms read moodle2 backups, this is "
                              f"{backup.format}", code="format-unsupported", source=source)
        facts = Facts(source)
        _survey(backup, facts, transforms, monitor)
        for transform in transforms:
            transform.prepare(facts)
        surveyed = time.monotonic()
        counts = _rewrite(backup, output, facts, transforms, monitor, format=format,
                          compressor=compressor, level=level)
    return TransformReport(
        source=source, output=output, transforms=[t.name for t in transforms],
        seconds={"survey": round(surveyed - started, 3),
                 "rewrite": round(time.monotonic() - surveyed, 3)},
        details={t.name: t.report() for t in transforms if t.name}, **counts)


def _refuse_same_file(source: str, output: str) -> None:
    if os.path.exists(output) and os.path.exists(source) and os.path.samefile(source, output):
        raise OutputError(f"{output!r} is the input: write the transformed backup elsewhere",
                          source=output)
    if os.path.isdir(output):
        raise OutputError(f"{output!r}: Is a directory", source=output)


# -- pass 1 --------------------------------------------------------------------------------

def _survey(backup: Backup, facts: Facts, transforms: Sequence[Transform],
            monitor: Monitor) -> None:
    rules = [(MOODLE_BACKUP, None, None), (FILES, "/files/file", facts.files.add)]
    for transform in transforms:
        rules.extend(transform.survey(facts))
    total_bytes, total_members = backup.expected_totals()
    monitor.phase("surveying", total_bytes=total_bytes, total_members=total_members)
    for info, stream in backup.iter_members():
        monitor.check()
        if info.name == ARCHIVE_INDEX_NAME:
            continue
        facts.members.append(info)
        if info.is_dir:
            continue
        if info.name == MOODLE_BACKUP:
            facts.information = read_information(stream, source=f"{backup.path}:{info.name}")
        else:
            wanted = [(path, handler) for member, path, handler in rules
                      if path is not None and matches(member, info.name)]
            if wanted:
                parser = Parser(source=f"{backup.path}:{info.name}")
                for path, handler in _merged(wanted):
                    parser.add_path(path, handler)
                parser.parse(stream)
        monitor.advance(info.size, 1, info.name)
    if facts.information is None:
        raise FormatError(f"{backup.path}: no {MOODLE_BACKUP}", code="format-missing-member",
                          source=backup.path)


def _merged(rules: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """One handler per path, calling every rule's in turn (the parser takes one)."""
    by_path: dict[str, list] = {}
    for path, handler in rules:
        by_path.setdefault(path, []).append(handler)
    merged = []
    for path, handlers in by_path.items():
        if len(handlers) == 1:
            merged.append((path, handlers[0]))
        else:
            merged.append((path, lambda record, handlers=handlers: [h(record) for h in handlers]
                           and None))
    return merged


# -- the closure: what removed ids take with them ----------------------------------------------

def _closure_rules(name: str, facts: Facts) -> list[tuple[str, Any]]:
    """Rewriter rules that take removed ids out of their defining member and inforefs."""
    rules = []
    basename = name.rsplit("/", 1)[-1]
    definitions = DEFINITIONS.get(name) or (DEFINITIONS.get(basename) if basename == "grades.xml"
                                            else None)
    for path, kind in definitions or ():
        if facts.removed.get(kind):
            rules.append((path, _drop_if_removed(facts, kind)))
    if basename == INFOREF_NAME:
        for kind, removed in facts.removed.items():
            if removed:
                rules.append((f"/inforef/{kind}ref/{kind}", _drop_if_removed(facts, kind)))
    return rules


def _drop_if_removed(facts: Facts, kind: str):
    removed = facts.removed[kind]

    def rule(element) -> None:
        if element.get("id") in removed:
            element.drop()
    return rule


def _blob_dropped(name: str, facts: Facts) -> bool:
    """A blob whose every file record is removed leaves the pool with them."""
    match = BLOB.fullmatch(name)
    if match is None or not facts.removed.get("file"):
        return False
    return facts.blob_uses_left.get(match.group(2), 0) == 0


def _blob_uses_left(facts: Facts) -> dict[str, int]:
    removed = facts.removed.get("file", set())
    left = dict(facts.files.blob_uses)
    for file_id in removed:
        record = facts.files.records.get(file_id)
        if record is not None and record[0] in left:
            left[record[0]] -= 1
    return left


# -- pass 2 --------------------------------------------------------------------------------

def _decide(facts: Facts, transforms: Sequence[Transform]) -> dict[str, Any]:
    """Member name -> None (copy), "drop", or (rewriter rules, byte filter makers);
    folders kept when something under them is, or when they were empty and nothing
    dropped them."""
    facts.blob_uses_left = _blob_uses_left(facts)
    decisions: dict[str, Any] = {}
    kept_below: set[str] = set()
    for info in facts.members:
        name = info.name
        if any(transform.drops(name, facts) for transform in transforms):
            decisions[name] = "drop"
            continue
        if info.is_dir:
            continue
        if _blob_dropped(name, facts):
            decisions[name] = "drop"
            continue
        rules = [rule for transform in transforms for rule in transform.rewrites(name, facts)]
        rules.extend(_closure_rules(name, facts))
        filters = [make for transform in transforms for make in transform.filters(name, facts)]
        decisions[name] = (rules, filters) if rules or filters else None
        parts = name.split("/")
        kept_below.update("/".join(parts[:depth]) for depth in range(1, len(parts)))
    children = {"/".join(info.name.split("/")[:-1]) for info in facts.members}
    for info in facts.members:
        if info.is_dir and info.name not in decisions:
            empty = info.name not in children
            decisions[info.name] = None if (info.name in kept_below or empty) else "drop"
    return decisions


def _rewrite(backup: Backup, output: str, facts: Facts, transforms: Sequence[Transform],
             monitor: Monitor, **writer_options) -> dict[str, int]:
    decisions = _decide(facts, transforms)
    counts = {"members_copied": 0, "members_rewritten": 0, "members_dropped": 0,
              "members_changed": 0, "bytes_in": 0}
    kept = [info for info in facts.members if decisions[info.name] != "drop"]
    monitor.phase("rewriting", total_bytes=sum(info.size for info in facts.members),
                  total_members=len(facts.members))
    # the writer sees the cancel token only: progress counts input members, here
    writer_monitor = Monitor(cancel=monitor.cancel_token)
    with StreamingArchiveWriter(output, progress=writer_monitor, **writer_options) as writer:
        for info, stream in backup.iter_members():
            monitor.check()
            if info.name == ARCHIVE_INDEX_NAME:
                continue
            decision = decisions.get(info.name, "drop")
            counts["bytes_in"] += info.size
            if decision == "drop":
                counts["members_dropped"] += 1
            elif info.is_dir:
                writer.add_dir(info.name, info.mtime)
                counts["members_copied"] += 1
            elif decision is None:
                writer.add(info.name, info.size, info.mtime, stream)
                counts["members_copied"] += 1
            else:
                counts["members_rewritten"] += 1
                if _rewrite_member(writer, info, stream, decision, backup.path):
                    counts["members_changed"] += 1
            monitor.advance(info.size, 1, info.name)
        monitor.phase("packing")
    counts["bytes_out"] = writer.bytes_out
    counts["members_written"] = len(kept)
    return counts


def _rewrite_member(writer: StreamingArchiveWriter, info: MemberInfo, stream, decision,
                    archive: str) -> bool:
    rules, makers = decision
    with writer.open(info.name, info.mtime) as target:
        filters = [make() for make in makers]
        write = target.write
        for byte_filter in reversed(filters):
            write = _through(byte_filter, write)
        if rules:
            rewriter = Rewriter(write, source=f"{archive}:{info.name}")
            for path, handler in rules:
                rewriter.add_path(path, handler)
            rewriter.rewrite(stream)
            edits = rewriter.edits
        else:
            while chunk := stream.read(READ_SIZE):
                write(chunk)
            edits = 0
        for index, byte_filter in enumerate(filters):  # each one's rest goes through the next
            rest = byte_filter.close()
            for later in filters[index + 1:]:
                rest = later.feed(rest) if rest else rest
            if rest:
                target.write(rest)
    return edits > 0 or any(byte_filter.changed for byte_filter in filters)


def _through(byte_filter, write):
    def feed(data: bytes) -> None:
        out = byte_filter.feed(bytes(data))
        if out:
            write(out)
    return feed
