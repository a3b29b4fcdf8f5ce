"""``open_backup``: one object over a backup, whatever its container.

Place in the data flow: the front door of the archive layer. It sniffs the
container (``detect``), hands the path to the matching reader (``tar_reader``,
``zip_reader``, ``folder_reader``) and offers the same listing and streaming
methods over all three, plus format detection and the ``.ARCHIVE_INDEX``.
The XML layer and the consumers (inspect, verify, transform, restore) start
here::

    with open_backup("course.mbz") as backup:
        for info, stream in backup.iter_members():    # one sequential pass
            ...

Nothing is extracted and nothing is written, ever.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from typing import Literal, Protocol

import msgspec

from mbx.archive.base import (ARCHIVE_INDEX_NAME, MOODLE_UNKNOWN_MTIME, ArchiveLimits,
                              ArchiveWarning, IgnoredMember, MemberInfo)
from mbx.archive.detect import detect_format, sniff_container
from mbx.archive.index import parse_archive_index
from mbx.archive.tar_reader import TarGzContainer
from mbx.errors import ArchiveError

__all__ = ["Backup", "Listing", "as_backup", "list_members", "open_backup"]


class _Container(Protocol):
    kind: str
    ignored: tuple[IgnoredMember, ...] | None
    warnings: tuple[ArchiveWarning, ...] | None

    def members(self) -> Iterator[MemberInfo]: ...
    def check(self) -> None: ...
    def iter_members(self, *, read_ahead: bool = False
                     ) -> Iterator[tuple[MemberInfo, io.BufferedReader]]: ...
    def open(self, name: str) -> io.BufferedReader: ...
    def close(self) -> None: ...


def _container_class(kind: str) -> type:
    """The reader for a sniffed container kind; zip and folder readers load on first use."""
    if kind == "zip":
        from mbx.archive.zip_reader import ZipContainer
        return ZipContainer
    if kind == "folder":
        from mbx.archive.folder_reader import FolderContainer
        return FolderContainer
    return TarGzContainer


class Listing(msgspec.Struct, frozen=True):
    """Every member of a backup with size and time, as :func:`list_members` gives it.

    Iterating gives the :class:`MemberInfo` records in archive order.
    ``source`` says where they come from: ``"index"`` (a tar.gz's
    ``.ARCHIVE_INDEX``, whose length was checked against the gzip trailer) or
    ``"scan"`` (a full pass over the container, or a zip's directory or a
    folder's walk, checked whole). ``ignored`` and ``warnings`` are those of
    :class:`Backup`.
    """

    members: list[MemberInfo]
    source: Literal["index", "scan"]
    ignored: tuple[IgnoredMember, ...] = ()
    warnings: tuple[ArchiveWarning, ...] = ()

    def __iter__(self) -> Iterator[MemberInfo]:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)


def list_members(path: str | os.PathLike[str], *, limits: ArchiveLimits = ArchiveLimits()
                 ) -> Listing:
    """Every member with size and time, like ``tar tv``, or an ArchiveError as a scan gives.

    A tar.gz whose ``.ARCHIVE_INDEX`` passes the check of
    :meth:`TarGzContainer.index_listing <mbx.archive.tar_reader.TarGzContainer.index_listing>`
    is listed from it (a few kilobytes read, whatever the size), anything else
    by a full pass with data skipped, which also finds truncation and every
    refusal. Directories whose time is unknown (``?`` in the index, Moodle's
    placeholder time in a tar header) get the newest time of what they hold.
    """
    with open_backup(path, limits=limits) as backup:
        return backup.listing()


def _with_directory_times(members: list[MemberInfo]) -> list[MemberInfo]:
    """``members``, each directory of unknown time given the newest known time below it.

    Moodle knows no time for directories: it writes ``?`` in the index and
    2013-01-01 00:00 (:data:`~mbx.archive.base.MOODLE_UNKNOWN_MTIME`) in
    their tar headers; the files below them carry real times.
    """
    unknown = (None, MOODLE_UNKNOWN_MTIME)
    # the newest time in each folder first (thousands of blobs share a few folders),
    # then up the tree, one folder at a time
    in_folder: dict[str, int] = {}
    for member in members:
        mtime = member.mtime
        if mtime not in unknown and "/" in member.name:
            parent = member.name.rpartition("/")[0]
            if in_folder.get(parent, -1) < mtime:
                in_folder[parent] = mtime
    newest: dict[str, int] = {}
    for folder, mtime in in_folder.items():
        while folder and newest.get(folder, -1) < mtime:
            newest[folder] = mtime
            folder = folder.rpartition("/")[0]
    if not newest:
        return members
    return [msgspec.structs.replace(member, mtime=newest[member.name])
            if member.is_dir and member.mtime in unknown and member.name in newest else member
            for member in members]


@contextlib.contextmanager
def as_backup(source: Backup | str | os.PathLike[str], limits: ArchiveLimits | None = None
              ) -> Iterator[Backup]:
    """The backup an operation reads: opened here from a path (with ``limits``)
    and closed after, or the caller's own opened :class:`Backup`, left open.

    Every library function that reads a backup takes either, through this.
    """
    if isinstance(source, Backup):
        if limits is not None:
            raise TypeError("limits apply when mbx opens the backup: pass them to "
                            "open_backup(), or pass a path")
        yield source
        return
    with open_backup(source, limits=ArchiveLimits() if limits is None else limits) as backup:
        yield backup


def open_backup(path: str | os.PathLike[str], *, limits: ArchiveLimits = ArchiveLimits()
                ) -> Backup:
    """Opens a ``.mbz`` (tar.gz or zip, zip64 included) or an extracted backup folder.

    Anything else raises :class:`~mbx.errors.ArchiveError` with code
    ``archive-unknown-container`` (or ``archive-not-found``). zip and folder
    backups are checked whole here; a tar.gz is checked as it is read.
    """
    path = os.fspath(path)
    kind = sniff_container(path)
    return Backup(path, _container_class(kind)(path, limits), limits)


class Backup:
    """A backup opened by :func:`open_backup`: list it, detect its format, stream its members.

    Every refusal (unsafe names, links, devices, duplicates, truncated or
    corrupt data, bombs, limits) is an :class:`~mbx.errors.ArchiveError` with
    a stable ``code``. For a tar.gz, each listing or streaming walk is one
    sequential pass over the file, and the checks that need the whole file
    are made when a full walk (:meth:`members`, :meth:`iter_members`) ends.
    """

    def __init__(self, path: str, container: _Container, limits: ArchiveLimits) -> None:
        self.path = path
        self.limits = limits
        self._container = container
        self._format: str | None = None

    @property
    def kind(self) -> str:
        """The container: ``"tar.gz"``, ``"zip"`` or ``"folder"``."""
        return self._container.kind

    @property
    def format(self) -> str:
        """``"moodle2"``, ``"moodle1"``, ``"imscc"`` or ``"unknown"``, from the top-level names.

        A tar.gz whose first member is ``.ARCHIVE_INDEX`` is judged from the
        index alone; otherwise its entries are read until ``moodle_backup.xml``
        turns up (to the end if it never does).
        """
        if self._format is None:
            self._format = self._detect_format()
        return self._format

    def _detect_format(self) -> str:
        if isinstance(self._container, TarGzContainer):
            index_stream = self._container.index_if_first()
            if index_stream is not None:
                with index_stream:
                    try:
                        return detect_format(parse_archive_index(
                            index_stream, limits=self.limits, source=self.path))
                    except ArchiveError as error:
                        if error.code != "archive-bad-index":
                            raise
        with contextlib.closing(self._container.members()) as members:
            return detect_format(members)

    def listing(self) -> Listing:
        """Every member with size and time, and where they come from: see :func:`list_members`."""
        container = self._container
        if isinstance(container, TarGzContainer):
            indexed = container.index_listing()
            if indexed is not None:
                return Listing(_with_directory_times(indexed.members), "index",
                               indexed.ignored, indexed.warnings)
        members = list(container.members())
        return Listing(_with_directory_times(members), "scan", self.ignored, self.warnings)

    def check(self) -> None:
        """Raises the ArchiveError a full read would raise, before anything is trusted.

        zip and folder backups are checked whole when they open. A tar.gz is
        checked as it is read, so a command that reads only the start of it
        (one member, the format) calls this first: one full pass with data
        skipped (unsafe names, links, duplicates, bombs, truncation, data after
        the end), made once per backup and not at all if a full walk has
        already finished.
        """
        self._container.check()

    @property
    def ignored(self) -> tuple[IgnoredMember, ...]:
        """Entries left out on purpose (see :class:`IgnoredMember` for the reasons).

        macOS ``._*`` and ``__MACOSX/`` litter, and tar hard links that repeat
        the file they name. For a tar.gz this needs the full pass of :meth:`check`.
        """
        self.check()
        return self._container.ignored or ()

    @property
    def warnings(self) -> tuple[ArchiveWarning, ...]:
        """What is odd about the container but harmless to read (:class:`ArchiveWarning`):
        today, member paths that differ only in case or Unicode normalisation.
        For a tar.gz this needs the full pass of :meth:`check`."""
        self.check()
        return self._container.warnings or ()

    def members(self) -> Iterator[MemberInfo]:
        """Every member (files and directories) in archive order, ignored ones left out."""
        return self._container.members()

    def iter_members(self, *, read_ahead: bool = False
                     ) -> Iterator[tuple[MemberInfo, io.BufferedReader]]:
        """``(info, stream)`` for every member, in archive order, in one sequential pass.

        Each stream is valid until the next item is taken: the pass then skips
        what was not read and closes it. A directory comes with an empty stream.
        ``read_ahead`` lets a tar.gz inflate in a second thread, for a caller with much
        work of its own per chunk (:class:`~mbx.archive.inflate.ReadAhead`).
        """
        return self._container.iter_members(read_ahead=read_ahead)

    def open(self, name: str, mode: str = "rb") -> io.BufferedReader:
        """A binary file object streaming one member (``name`` as :meth:`members` gives it).

        ``mode`` is ``"rb"`` (or ``"r"``, as ``ZipFile.open`` takes it). For a
        tar.gz the archive is inflated up to that member.
        """
        if mode not in ("r", "rb"):
            raise ValueError(f"archive members open for reading only ('rb'), not {mode!r}")
        return self._container.open(_lookup_name(name))

    def expected_totals(self) -> tuple[int | None, int | None]:
        """``(bytes, members)`` a full pass will meet, when known without one, for
        progress and its ETA; ``(None, None)`` otherwise.

        zip and folder backups know their listing at open. A tar.gz knows it
        when ``.ARCHIVE_INDEX`` is its first member (a few kilobytes to read);
        the index may be stale, so these are estimates, never checks.
        """
        if self.kind == "tar.gz":
            try:
                index = self.read_index(only_if_first=True)
            except ArchiveError:
                index = None
            if index is None:
                return None, None
            members = index
        else:
            members = list(self._container.members())
        return sum(member.size for member in members), len(members)

    def read_index(self, *, only_if_first: bool = False) -> list[MemberInfo] | None:
        """The entries of ``.ARCHIVE_INDEX``, or None when the backup has none.

        Instant for a tar.gz whose first member is the index, as Moodle writes
        them: only the first entries are inflated. Elsewhere in a tar.gz the
        index costs a pass up to it; ``only_if_first=True`` returns None then,
        for callers that would rather walk the members once. The index is what
        the archive claims; :meth:`members` is what it holds.
        """
        if only_if_first and hasattr(self._container, "index_if_first"):
            first = self._container.index_if_first()
            if first is None:
                return None
            with first:
                return parse_archive_index(first, limits=self.limits, source=self.path)
        try:
            stream = self._container.open(ARCHIVE_INDEX_NAME)
        except ArchiveError as error:
            if error.code in ("archive-member-not-found", "archive-member-is-directory"):
                return None
            raise
        with stream:
            return parse_archive_index(stream, limits=self.limits, source=self.path)

    def close(self) -> None:
        """Releases the backup's own file handle.

        Close zip member streams first: they read through it. tar.gz and folder
        streams own their files.
        """
        self._container.close()

    def __enter__(self) -> Backup:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Backup {self.kind} {self.path!r}>"


def _lookup_name(name: str) -> str:
    """``./a/b/`` and ``a/b`` name the same member."""
    if not isinstance(name, str):
        raise TypeError(f"member name must be a str, not {type(name).__name__}")
    return "/".join(part for part in name.split("/") if part not in ("", "."))
