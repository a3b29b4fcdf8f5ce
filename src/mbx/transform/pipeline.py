"""One streaming pass over the archive: survey what is needed, rewrite the rest.

A transform's decisions may hang on members that come late in a tar.gz:
anonymise needs ``users.xml`` (near the end) to rewrite the activities (at the
start), strip-users needs ``files.xml`` (after the blobs) to know which blobs
go. Re-reading the archive would cost a second inflate; holding it in memory
is out of the question. So the pass works like this (see :mod:`.base` for the
transform's side):

* A run whose transforms survey nothing (an identity, roll-dates by an
  offset, rewrite-users) decides every member as it comes: copied byte for
  byte straight into the output's deflater, or rewritten on the way.
* Otherwise, until the end of the archive, every member is given its place
  in the output (:meth:`~mbx.archive.writer.StreamingArchiveWriter.slot`) and
  read once: a blob is deflated into its place at once (it may yet be
  dropped: a dropped place is never copied into the archive); any other
  member is parsed if a transform surveys it and copied raw into a spool file
  beside the output. At the end the transforms prepare, and the spooled
  members are read back in order, rewritten or copied, into their places.

Costs, for a tar.gz: one inflate, one deflate (in a second thread, overlapping
the rest), and for a surveying run the XML written to the spool and read
back, which is much cheaper than inflating the blobs again. Folders are
placed at once and kept when something under them is (or when they were
empty and no transform dropped them).

The output is written under a temporary name beside it and renamed when
complete: a failure, a cancel or a full disk leaves no output and nothing
else (the spool is an anonymous file).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from mbx._memory import HeapTrimmer
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
        run = _Run(backup, output, transforms, monitor)
        # the writer sees the cancel token only: progress counts input members, here
        writer_monitor = Monitor(cancel=monitor.cancel_token)
        with StreamingArchiveWriter(output, format, compressor=compressor, level=level,
                                    progress=writer_monitor) as writer, \
                tempfile.TemporaryFile(dir=os.path.dirname(output) or ".",
                                       prefix=".mbx-spool-") as spool:
            run.stream(writer, spool)
            streamed = time.monotonic()
            run.finish(writer, spool)
            monitor.phase("packing")
    counts = run.counts
    counts["bytes_out"] = writer.bytes_out
    return TransformReport(
        source=source, output=output, transforms=[t.name for t in transforms],
        seconds={"stream": round(streamed - started, 3),
                 "finish": round(time.monotonic() - streamed, 3)},
        details={t.name: t.report() for t in transforms if t.name}, **counts)


def _refuse_same_file(source: str, output: str) -> None:
    if os.path.exists(output) and os.path.exists(source) and os.path.samefile(source, output):
        raise OutputError(f"{output!r} is the input: write the transformed backup elsewhere",
                          source=output)
    if os.path.isdir(output):
        raise OutputError(f"{output!r}: Is a directory", source=output)


class _Run:
    """The state of one pass: the facts, the places given, what waits in the spool."""

    def __init__(self, backup: Backup, output: str, transforms: Sequence[Transform],
                 monitor: Monitor) -> None:
        self.backup = backup
        self.transforms = transforms
        self.monitor = monitor
        self.facts = Facts(backup.path)
        self.rules = [rule for transform in transforms for rule in transform.survey(self.facts)]
        #: Whether decisions wait for the end (some transform surveys something).
        self.waiting = bool(self.rules)
        if self.waiting:
            self.rules += [(MOODLE_BACKUP, None, None), (FILES, "/files/file", self.facts.files.add)]
        else:
            self._prepare()
        self.counts = {"members_written": 0, "members_copied": 0, "members_rewritten": 0,
                       "members_changed": 0, "members_dropped": 0, "bytes_in": 0}
        #: (slot, member, where its bytes are in the spool or None) of the members
        #: decided at the end, in archive order; folders separately.
        self.deferred: list[tuple[Any, MemberInfo, tuple[int, int] | None]] = []
        self.folders: list[tuple[Any, MemberInfo]] = []
        self.kept_below: set[str] = set()
        self.has_children: set[str] = set()
        self.heap = HeapTrimmer()  # flat memory over gigabytes of chunks (mbx._memory)

    def _prepare(self) -> None:
        for transform in self.transforms:
            transform.prepare(self.facts)
        self.facts.blob_uses_left = _blob_uses_left(self.facts)

    # -- the pass -------------------------------------------------------------------------

    def stream(self, writer: StreamingArchiveWriter, spool: BinaryIO) -> None:
        backup, monitor = self.backup, self.monitor
        monitor.phase("transforming", totals=backup.expected_totals)
        for info, stream in backup.iter_members(read_ahead=True):
            monitor.check()
            self.heap.add(info.size)
            if info.name == ARCHIVE_INDEX_NAME:
                continue
            self.facts.members.append(info)
            self.counts["bytes_in"] += info.size
            parent = info.name.rpartition("/")[0]
            if parent:
                self.has_children.add(parent)
            if info.is_dir:
                self.folders.append((writer.slot(info.name, is_dir=True), info))
            elif not self.waiting:
                self._place(writer, info, stream)
            elif BLOB.fullmatch(info.name) and writer.format == "tgz":
                slot = writer.slot(info.name)  # deflated now, perhaps dropped at the end
                slot.add(info.size, info.mtime, stream)
                self.deferred.append((slot, info, None))
            else:
                self.deferred.append((writer.slot(info.name), info,
                                      self._survey_and_spool(info, stream, spool)))
            monitor.advance(info.size, 1, info.name)

    def _survey_and_spool(self, info: MemberInfo, stream, spool: BinaryIO) -> tuple[int, int]:
        """Copies the member into the spool, parsing it on the way if it is surveyed."""
        source = f"{self.backup.path}:{info.name}"
        offset = spool.tell()

        def chunks() -> Iterator[bytes]:
            while chunk := stream.read(READ_SIZE):
                self.monitor.check()
                spool.write(chunk)
                yield chunk

        wanted = [(path, handler) for member, path, handler in self.rules
                  if path is not None and matches(member, info.name)]
        if info.name == MOODLE_BACKUP:
            self.facts.information = read_information(chunks(), source=source)
        elif wanted:
            parser = Parser(source=source)
            for path, handler in _merged(wanted):
                parser.add_path(path, handler)
            parser.parse(chunks())
        for _ in chunks():  # what a parser left unread (nothing, or junk it refused)
            pass
        return offset, spool.tell() - offset

    # -- the end --------------------------------------------------------------------------

    def finish(self, writer: StreamingArchiveWriter, spool: BinaryIO) -> None:
        spool.flush()  # read back with pread, below the buffer
        if self.waiting:
            if self.facts.information is None:
                raise FormatError(f"{self.backup.path}: no {MOODLE_BACKUP}",
                                  code="format-missing-member", source=self.backup.path)
            self._prepare()
            self.monitor.phase("rewriting", total_members=len(self.deferred))
            for slot, info, where in self.deferred:
                self.monitor.check()
                self.heap.add(info.size)
                decision = self._decision(info.name)
                if decision == "drop":
                    slot.drop()
                    self.counts["members_dropped"] += 1
                elif where is None:  # a blob, already in its place
                    self._kept(info.name)
                    self.counts["members_copied"] += 1
                else:
                    self._fill(slot, info, _SpoolReader(spool, *where), decision)
                self.monitor.advance(info.size, 1, info.name)
        for slot, info in self.folders:
            decision = self._decision(info.name)
            empty = info.name not in self.has_children
            if decision != "drop" and (info.name in self.kept_below or empty):
                slot.add_dir(info.mtime)
                self.counts["members_copied"] += 1
                self.counts["members_written"] += 1
            else:
                slot.drop()
                self.counts["members_dropped"] += 1

    def _place(self, writer: StreamingArchiveWriter, info: MemberInfo, stream) -> None:
        """A member decided as it comes, written straight after the one before."""
        decision = self._decision(info.name)
        if decision == "drop":
            self.counts["members_dropped"] += 1
            return
        self._fill(_Here(writer, info.name), info, stream, decision)

    def _fill(self, target, info: MemberInfo, stream, decision) -> None:
        """Writes the member into ``target`` (its slot, or :class:`_Here`): copied, or
        through the rewriter's rules and the byte filters of ``decision``."""
        self._kept(info.name)
        if decision is None:
            target.add(info.size, info.mtime, stream)
            self.counts["members_copied"] += 1
            return
        rules, makers = decision
        with target.open(info.mtime) as out:
            filters = [make() for make in makers]
            write = out.write
            for byte_filter in reversed(filters):
                write = _through(byte_filter, write)
            edits = 0
            if rules:
                rewriter = Rewriter(write, source=f"{self.backup.path}:{info.name}")
                for path, handler, *once in rules:
                    rewriter.add_path(path, handler, once=bool(once and once[0]))
                rewriter.rewrite(stream)
                edits = rewriter.edits
            else:
                while chunk := stream.read(READ_SIZE):
                    write(chunk)
            for index, byte_filter in enumerate(filters):  # each one's rest through the next
                rest = byte_filter.close()
                for later in filters[index + 1:]:
                    rest = later.feed(rest) if rest else rest
                if rest:
                    out.write(rest)
        self.counts["members_rewritten"] += 1
        if edits or any(byte_filter.changed for byte_filter in filters):
            self.counts["members_changed"] += 1

    def _kept(self, name: str) -> None:
        self.counts["members_written"] += 1
        parts = name.split("/")
        self.kept_below.update("/".join(parts[:depth]) for depth in range(1, len(parts)))

    def _decision(self, name: str):
        """"drop", None (copy) or (rewriter rules, byte filter makers) of member ``name``."""
        facts = self.facts
        if any(transform.drops(name, facts) for transform in self.transforms):
            return "drop"
        if _blob_dropped(name, facts):
            return "drop"
        rules = [rule for transform in self.transforms for rule in transform.rewrites(name, facts)]
        rules.extend(_closure_rules(name, facts))
        filters = [make for transform in self.transforms for make in transform.filters(name, facts)]
        return (rules, filters) if rules or filters else None


class _Here:
    """A member written where the writer is now: the slot interface, without a slot."""

    def __init__(self, writer: StreamingArchiveWriter, name: str) -> None:
        self._writer, self._name = writer, name

    def add(self, size: int, mtime: int | None, chunks) -> None:
        self._writer.add(self._name, size, mtime, chunks)

    def open(self, mtime: int | None):
        return self._writer.open(self._name, mtime)


class _SpoolReader:
    """A readable view of ``size`` bytes at ``offset`` of the spool file."""

    def __init__(self, spool: BinaryIO, offset: int, size: int) -> None:
        self._file, self._at, self._left = spool, offset, size

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        count = self._left if size is None or size < 0 else min(size, self._left)
        data = os.pread(self._file.fileno(), count, self._at)
        if not data:
            raise OutputError("the spool came back shorter than written",
                              code="transform-spool-changed")
        self._at += len(data)
        self._left -= len(data)
        return data


def _through(byte_filter, write):
    """``write`` behind ``byte_filter``: what the filter lets through goes on."""
    def feed(data: bytes) -> None:
        out = byte_filter.feed(bytes(data))
        if out:
            write(out)
    return feed


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
