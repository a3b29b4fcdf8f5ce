"""What every container reader shares: member records, limits and the safety checks.

Place in the data flow: each reader (``tar_reader``, ``zip_reader``,
``folder_reader``) turns its own framing into raw entries (a name as stored, a
kind, a size, a time) and hands every one of them to an :class:`EntryChecker`.
Only what the checker admits reaches ``mbx.archive.Backup`` and, through it,
the XML layer and the consumers. So one place decides, for all three
containers, which names are unsafe, which entries are refused (links, devices,
FIFOs, duplicates), which are macOS litter to ignore, and when an archive is
too big.

Nothing here extracts: the archive layer never writes a file.
"""

from __future__ import annotations

import enum
import re
from typing import BinaryIO

import msgspec

from mbx.errors import ArchiveError
from mbx.limits import Bounds

__all__ = ["ARCHIVE_INDEX_NAME", "ArchiveLimits", "ArchiveWarning", "EntryChecker", "EntryKind",
           "IgnoredMember", "MOODLE_UNKNOWN_MTIME", "MemberInfo", "ignore_reason", "limit_hint",
           "normalize_member_name", "open_archive_file", "refuse"]

#: Name of the listing Moodle writes as the first entry of a tar.gz (see ``index``).
ARCHIVE_INDEX_NAME = ".ARCHIVE_INDEX"
#: The time Moodle's packer writes into a tar header when it knows none (2013-01-01
#: 00:00 UTC): directories, the index, content made in memory.
MOODLE_UNKNOWN_MTIME = 1356998400

_KIB, _MIB, _GIB = 1 << 10, 1 << 20, 1 << 30


class MemberInfo(msgspec.Struct, frozen=True):
    """One member of a backup: a file or a directory.

    ``name`` is relative and ``/``-separated, without ``./`` prefix or trailing
    ``/`` (``is_dir`` says what it is). ``mtime`` is in Unix seconds, or None
    when unknown (``?`` in ``.ARCHIVE_INDEX``). Zip times carry no time zone
    and are read as UTC.
    """

    name: str
    size: int
    mtime: int | None
    is_dir: bool


class IgnoredMember(msgspec.Struct, frozen=True):
    """An entry that is present but deliberately left out of the listing.

    ``reason`` is ``"appledouble"`` (a macOS ``._name`` companion),
    ``"macos-metadata"`` (anything under ``__MACOSX/``) or
    ``"hardlink-to-itself"`` (a tar hard link naming the very file it repeats,
    which GNU tar writes when a file is given twice).
    """

    name: str
    reason: str


class ArchiveWarning(msgspec.Struct, frozen=True):
    """Something odd about a container that is harmless to read it.

    ``code`` is stable (``archive-name-collision``: two member paths differ
    only in case or Unicode normalisation, so extracted on macOS or Windows
    one would overwrite the other); ``member`` names the member concerned.
    """

    code: str
    message: str
    member: str


class ArchiveLimits(Bounds, frozen=True):
    """Bounds applied while reading a container; each has its own error code when hit.

    ``max_member_size`` is checked against each member's declared size, before
    its data is read. ``max_total_size`` bounds the sum of member sizes and,
    for a tar.gz, the inflated stream too (tar headers and padding included).
    ``max_ratio`` bounds inflated bytes per compressed byte read, for the whole
    gzip stream of a tar.gz and for each zip member, once the output passes
    ``ratio_applies_after`` bytes. ``max_name_length`` is in bytes of UTF-8.
    Defaults are generous; raise one by passing a new value:
    ``ArchiveLimits(max_total_size=256 << 30)`` (on the command line,
    ``--max-total-size 256G``; every field but the last two has its flag).

    Codes: ``archive-member-too-large``, ``archive-too-large``,
    ``archive-too-many-members``, ``archive-ratio-exceeded``,
    ``archive-name-too-long``.
    """

    max_member_size: int = 16 * _GIB
    max_total_size: int = 64 * _GIB
    max_members: int = 1_000_000
    max_ratio: float = 200.0
    ratio_applies_after: int = 1 * _MIB
    max_name_length: int = 4096


class EntryKind(enum.Enum):
    """What a raw container entry is, before the checker decides about it."""

    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    DEVICE = "device"
    FIFO = "fifo"
    SOCKET = "socket"


#: Entry kinds that are always refused, with their error code and wording.
_REFUSED_KINDS = {
    EntryKind.SYMLINK: ("archive-symlink", "symbolic link"),
    EntryKind.HARDLINK: ("archive-hardlink", "hard link"),
    EntryKind.DEVICE: ("archive-device", "device file"),
    EntryKind.FIFO: ("archive-fifo", "FIFO (named pipe)"),
    EntryKind.SOCKET: ("archive-socket", "socket"),
}

_DRIVE_PREFIX = re.compile(r"[A-Za-z]:")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
#: Names every check passes at once: ASCII components that start with a letter,
#: digit, ``_`` or ``-`` (so never ``.`` or ``..``), joined by single slashes.
_PLAIN_NAME = re.compile(r"[\w\-][\w.\-]*(?:/[\w\-][\w.\-]*)*/?", re.ASCII)


def limit_hint(field: str) -> str:
    """How to raise the limit ``field`` of :class:`ArchiveLimits`, for refusal messages:
    the command-line flag and the library's field."""
    return f"raise it with --{field.replace('_', '-')} or ArchiveLimits.{field} to read it"


def refuse(code: str, message: str, source: str | None, *, line: int | None = None
           ) -> ArchiveError:
    """An :class:`ArchiveError` with a stable ``code``, ready to raise."""
    return ArchiveError(message, code=code, source=source, line=line)


def open_archive_file(path: str) -> BinaryIO:
    """Opens a container file unbuffered: the readers make their own large block reads.

    Every reader opens archive files through this one function (tests wrap it
    to count reads).
    """
    return open(path, "rb", buffering=0)


def normalize_member_name(raw: str, *, source: str | None, max_length: int = 4096
                          ) -> tuple[str, bool]:
    """``(name, ends_with_slash)`` for a stored name, or an ArchiveError if it is unsafe.

    Refused: NUL and other control characters, backslashes, absolute names
    (``/x``, ``C:x``), ``..`` components and names longer than ``max_length``
    bytes. ``.`` and empty components are dropped, so ``./a//b/`` becomes
    ``a/b``; the root itself becomes ``""``.
    """
    if len(raw) <= max_length and _PLAIN_NAME.fullmatch(raw):
        return raw.rstrip("/"), raw.endswith("/")
    return _normalize_checked(raw, source=source, max_length=max_length)


def _normalize_checked(raw: str, *, source: str | None, max_length: int) -> tuple[str, bool]:
    """:func:`normalize_member_name` without the fast path, one check at a time."""
    length = len(raw.encode("utf-8", "surrogatepass"))
    if length > max_length:
        raise refuse("archive-name-too-long", f"member name of {length} bytes is longer than "
                     f"the limit of {max_length}: {raw[:80]!r}...", source)
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise refuse("archive-name-not-utf8", f"member name is not valid UTF-8: {raw!r}",
                     source) from None
    if "\x00" in raw:
        raise refuse("archive-nul-in-name", f"member name contains a NUL byte: {raw!r}", source)
    if _CONTROL_CHARACTERS.search(raw):
        raise refuse("archive-control-character-in-name",
                     f"member name contains a control character: {raw!r}", source)
    if "\\" in raw:
        raise refuse("archive-backslash-in-name",
                     f"member name contains a backslash: {raw!r}", source)
    if raw.startswith("/") or _DRIVE_PREFIX.match(raw):
        raise refuse("archive-absolute-name", f"member name is absolute: {raw!r}", source)
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise refuse("archive-parent-reference",
                     f"member name climbs out of the archive with '..': {raw!r}", source)
    return "/".join(parts), raw.endswith("/")


def ignore_reason(name: str) -> str | None:
    """Why a normalised name is macOS litter to leave out, or None to keep it."""
    if name.startswith("__MACOSX") and (len(name) == 8 or name[8] == "/"):
        return "macos-metadata"
    if "._" in name and name.rpartition("/")[2].startswith("._"):
        return "appledouble"
    return None


class EntryChecker:
    """Admits the entries of one pass over a container, or refuses the container.

    Feed it every raw entry in archive order. It returns the :class:`MemberInfo`
    to publish, or None for the root entry (``.``) and for ignored entries
    (collected in :attr:`ignored`). It raises an :class:`ArchiveError` for
    unsafe names, links, devices, FIFOs and sockets, duplicate names, a file
    where a directory is (or the reverse), and entries past the limits.

    Files whose paths differ only in case or Unicode normalisation would
    overwrite each other only when extracted on macOS or Windows: reading them
    is safe, so by default the collision is recorded in :attr:`warnings`.
    ``refuse_collisions=True`` raises instead, for code whose output gets
    extracted (the archive writer).
    """

    def __init__(self, limits: ArchiveLimits, source: str | None, *,
                 refuse_collisions: bool = False) -> None:
        self.limits = limits
        self.source = source
        self.refuse_collisions = refuse_collisions
        self.ignored: list[IgnoredMember] = []
        self.warnings: list[ArchiveWarning] = []
        self.entry_count = 0
        self.total_size = 0
        self._files: set[str] = set()
        self._directories: set[str] = set()
        #: parents of admitted members, named or not
        self._implied_directories: set[str] = set()
        self._last_parent = ""
        #: folded paths of the files whose names are not already in folded form
        #: (Moodle writes lowercase ASCII: this stays empty and costs nothing)
        self._folded_others: set[str] = set()

    def admit(self, raw_name: str, kind: EntryKind, size: int, mtime: int | None, *,
              link_target: str | None = None) -> MemberInfo | None:
        """Checks one raw entry; see the class docstring."""
        self._count()
        name, ends_with_slash = normalize_member_name(raw_name, source=self.source,
                                                      max_length=self.limits.max_name_length)
        if kind is EntryKind.FILE and ends_with_slash:
            kind = EntryKind.DIRECTORY
        if not name:
            if kind is EntryKind.DIRECTORY:
                return None  # the archive's root, "." or "./"
            raise refuse("archive-empty-name",
                         f"a {kind.value} entry has an empty name: {raw_name!r}", self.source)
        if kind in _REFUSED_KINDS:
            if kind is EntryKind.HARDLINK and self._is_link_to_itself(name, link_target):
                self.ignored.append(IgnoredMember(name, "hardlink-to-itself"))
                return None
            code, what = _REFUSED_KINDS[kind]
            target = f" -> {link_target!r}" if link_target else ""
            raise refuse(code, f"member {raw_name!r}{target} is a {what}; backups hold only "
                         "files and directories", self.source)
        is_dir = kind is EntryKind.DIRECTORY
        if not self._keep(name, is_dir, size, raw_name):
            return None
        return MemberInfo(name, 0 if is_dir else size, mtime, is_dir)

    def admit_listed(self, members: list[MemberInfo]) -> list[MemberInfo]:
        """Checks members whose names are already normal (the lines of ``.ARCHIVE_INDEX``):
        the ones to publish, in order; raises as :meth:`admit` does."""
        self._count(len(members))
        if self._admit_all_at_once(members):
            return members
        keep = self._keep
        return [member for member in members
                if keep(member.name, member.is_dir, member.size, member.name)]

    def _admit_all_at_once(self, members: list[MemberInfo]) -> bool:
        """The checks of :meth:`_keep` made with set operations over the whole list,
        for a fresh checker and ASCII names: True when every member passes (the
        checker is then in the state the one-by-one checks leave). False means
        something needs a closer look (litter, a limit, a clash) and nothing was
        recorded: the one-by-one checks then say exactly what."""
        if self._files or self._directories or self.total_size:
            return False
        names = [member.name for member in members]
        joined = "\n".join(names)
        if not joined.isascii() or "._" in joined or "__MACOSX" in joined:
            return False  # non-ASCII names fold differently; possible macOS litter
        sizes = [member.size for member in members]
        total = sum(sizes)
        if (sizes and max(sizes) > self.limits.max_member_size) or \
                total > self.limits.max_total_size:
            return False
        files = {member.name for member in members if not member.is_dir}
        directories = {member.name for member in members if member.is_dir}
        if len(files) + len(directories) != len(names) or not files.isdisjoint(directories):
            return False  # a duplicate
        implied: set[str] = set()
        level = {name.rpartition("/")[0] for name in names if "/" in name}
        while level:
            level -= implied
            implied |= level
            level = {name.rpartition("/")[0] for name in level if "/" in name}
        if not files.isdisjoint(implied):
            return False  # a file where other members have their folder
        lowered = {name: name.lower() for name in files}
        if len(set(lowered.values())) != len(files):
            return False  # names that differ only in case
        self.total_size = total
        self._files, self._directories, self._implied_directories = files, directories, implied
        self._folded_others = {low for name, low in lowered.items() if low != name}
        return True

    def _count(self, entries: int = 1) -> None:
        self.entry_count += entries
        if self.entry_count > self.limits.max_members:
            raise refuse("archive-too-many-members",
                         f"more than {self.limits.max_members} entries "
                         f"({limit_hint('max_members')})", self.source)

    def _keep(self, name: str, is_dir: bool, size: int, raw_name: str) -> bool:
        """The checks after the name and kind: limits, litter, duplicates, collisions."""
        limits = self.limits
        if size > limits.max_member_size:
            raise refuse("archive-member-too-large",
                         f"member {name!r} is {size} bytes, over the limit of "
                         f"{limits.max_member_size} ({limit_hint('max_member_size')})",
                         self.source)
        self.total_size += size
        if self.total_size > limits.max_total_size:
            raise refuse("archive-too-large",
                         f"members add up to more than {limits.max_total_size} bytes "
                         f"({limit_hint('max_total_size')})", self.source)
        reason = ignore_reason(name)
        if reason is not None:
            self.ignored.append(IgnoredMember(name, reason))
            return False
        self._record(name, is_dir, raw_name)
        return True

    def _is_link_to_itself(self, name: str, link_target: str | None) -> bool:
        if not link_target or name not in self._files:
            return False
        try:
            target, _ = normalize_member_name(link_target, source=self.source,
                                              max_length=self.limits.max_name_length)
        except ArchiveError:
            return False
        return target == name

    def _record(self, name: str, is_dir: bool, raw_name: str) -> None:
        if name in self._files or name in self._directories:
            raise refuse("archive-duplicate-name",
                         f"member {name!r} appears more than once (as {raw_name!r})",
                         self.source)
        if not is_dir and name in self._implied_directories:
            raise refuse("archive-name-conflict",
                         f"member {name!r} is a file but other members are inside it",
                         self.source)
        cut = name.rfind("/")
        if cut > 0 and name[:cut] != self._last_parent:
            # siblings come together: the parents of the last one are known to be fine
            # (a file named like one of them is refused when it comes)
            self._last_parent = parent = name[:cut]
            while True:
                if parent in self._files:
                    raise refuse("archive-name-conflict",
                                 f"member {name!r} is inside {parent!r}, which is a file",
                                 self.source)
                if parent in self._implied_directories:
                    break  # its own parents were recorded with it
                self._implied_directories.add(parent)
                cut = parent.rfind("/")
                if cut <= 0:
                    break
                parent = parent[:cut]
        if not is_dir:
            folded = _fold(name)
            if folded is name:  # already as a case-insensitive file system keeps it
                clash = name in self._folded_others
            else:
                clash = folded in self._files or folded in self._folded_others
                self._folded_others.add(folded)
            if clash:
                message = (f"member {name!r} differs from another only in case or Unicode "
                           "normalisation: extracted on macOS or Windows, one would "
                           "overwrite the other")
                if self.refuse_collisions:
                    raise refuse("archive-name-collision", message, self.source)
                self.warnings.append(ArchiveWarning("archive-name-collision", message, name))
        (self._directories if is_dir else self._files).add(name)


def _fold(name: str) -> str:
    """``name`` as case-insensitive, normalising file systems (APFS, NTFS) compare
    names: composed, and lowered by simple case mapping (no ``ß`` -> ``ss``).
    Returns ``name`` itself when it is already in that form."""
    if name.isascii():
        folded = name.lower()
    else:
        import unicodedata  # a few MiB of tables, for the rare non-ASCII name

        folded = unicodedata.normalize("NFC", name).lower()
    return name if folded == name else folded
