"""``.ARCHIVE_INDEX``: the listing Moodle writes as the first entry of a tar.gz.

Place in the data flow: a side road. Reading the first few kilobytes of an
archive gives every member's name, type, size and time, so ``mbx ls -l`` and
format detection need not inflate gigabytes. The index is advisory: archives
re-packed by hand keep an index that no longer matches their entries (seen in
the real corpus), so ``mbx ls -l`` takes it only when the gzip trailer agrees
with it (``TarGzContainer.index_listing``) and nothing that reads data trusts it.

Format: a first line ``Moodle archive file index. Count: N``, then N lines
``path<TAB>f|d<TAB>size<TAB>mtime`` in the order of the tar entries after the
index, mtime being ``?`` when unknown. Anything else is refused with
``archive-bad-index``.
"""

from __future__ import annotations

import re
from typing import BinaryIO, Iterable

from mbx.archive.base import (ArchiveLimits, MemberInfo, limit_hint, normalize_member_name,
                              refuse)
from mbx.errors import ArchiveError

__all__ = ["INDEX_HEADER", "format_archive_index", "parse_archive_index"]

INDEX_HEADER = b"Moodle archive file index. Count: "
_HEADER_LINE = re.compile(re.escape(INDEX_HEADER) + rb"(\d{1,12})\n?")
_LINE = re.compile(rb"([^\t\n]*)\t([fd])\t(\d{1,20})\t(\d{1,20}|\?)\n?")
#: A line whose path needs no normalising (see ``base._PLAIN_NAME``): the name is
#: the first group as it stands, a trailing slash left outside it.
_PLAIN_LINE = re.compile(rb"([\w\-][\w.\-]*(?:/[\w\-][\w.\-]*)*)/?"
                         rb"\t([fd])\t(\d{1,20})\t(\d{1,20}|\?)\n?", re.ASCII)


#: Every line of a block at once, when all of them are plain (the usual case).
_PLAIN_LINES = re.compile(rb"^" + _PLAIN_LINE.pattern.removesuffix(rb"\n?") + rb"$",
                          re.ASCII | re.MULTILINE)
#: Index text read at a time.
_READ_SIZE = 1 << 20


def parse_archive_index(stream: BinaryIO, *, limits: ArchiveLimits = ArchiveLimits(),
                        source: str | None = None) -> list[MemberInfo]:
    """The entries of an ``.ARCHIVE_INDEX`` read from ``stream``, in their order.

    Names are normalised like member names (no ``./``, no trailing ``/``;
    ``is_dir`` from the type); an unknown time (``?``) gives ``mtime=None``.
    """
    line_limit = limits.max_name_length + 64

    def bad(line_number: int, why: str) -> ArchiveError:
        return refuse("archive-bad-index", f".ARCHIVE_INDEX line {line_number}: {why}", source,
                      line=line_number)

    header = stream.readline(line_limit)
    match = _HEADER_LINE.fullmatch(header)
    if match is None:
        raise bad(1, f"expected {INDEX_HEADER.decode()}<count>, got {header[:60]!r}")
    count = int(match.group(1))
    if count > limits.max_members:
        raise bad(1, f"declares {count} entries, more than the limit of {limits.max_members} "
                     f"({limit_hint('max_members')})")
    entries: list[MemberInfo] = []
    pending = b""
    while True:
        block = stream.read(_READ_SIZE)
        text = pending + block if pending else block
        cut = len(text) if not block else text.rfind(b"\n") + 1  # whole lines only
        lines, pending = text[:cut], text[cut:]
        if len(pending) >= line_limit:
            raise bad(len(entries) + 2, f"line longer than {line_limit} bytes")
        if lines:
            _parse_lines(lines, count, entries, bad, limits, source)
        if not block:
            break
    if len(entries) < count:
        raise bad(len(entries) + 2, f"declares {count} entries but lists {len(entries)}")
    return entries


def _parse_lines(lines: bytes, count: int, entries: list[MemberInfo], bad, limits: ArchiveLimits,
                 source: str | None) -> None:
    """Appends the entries of ``lines`` (whole lines, the last perhaps without its
    ``\n``), all at once when they are all plain, else line by line."""
    found = _PLAIN_LINES.findall(lines)
    line_count = lines.count(b"\n") + (not lines.endswith(b"\n"))
    if len(found) == line_count and len(entries) + line_count <= count and \
            max(map(len, lines.split(b"\n"))) <= limits.max_name_length:
        entries.extend([MemberInfo(raw_path.decode("ascii"), int(size),
                                   None if mtime == b"?" else int(mtime), kind == b"d")
                        for raw_path, kind, size, mtime in found])
        return
    line_limit = limits.max_name_length + 64
    for line in lines.splitlines(keepends=True):
        line_number = len(entries) + 2
        if len(entries) == count:
            raise bad(line_number, f"more lines than the {count} entries declared")
        if len(line.rstrip(b"\n")) >= line_limit:
            raise bad(line_number, f"line longer than {line_limit} bytes")
        entries.append(_parse_line(line, line_number, bad, limits, source))


def _parse_line(line: bytes, line_number: int, bad, limits: ArchiveLimits,
                source: str | None) -> MemberInfo:
    match = _PLAIN_LINE.fullmatch(line)
    if match is not None and len(match.group(1)) <= limits.max_name_length:
        raw_path, kind, size, mtime = match.groups()
        name = raw_path.decode("ascii")
    else:
        match = _LINE.fullmatch(line)
        if match is None:
            raise bad(line_number, f"not 'path<TAB>f|d<TAB>size<TAB>mtime': {line[:80]!r}")
        raw_path, kind, size, mtime = match.groups()
        try:
            name, _ = normalize_member_name(raw_path.decode("utf-8"), source=source,
                                            max_length=limits.max_name_length)
        except (UnicodeDecodeError, ArchiveError) as exc:
            raise bad(line_number, f"unusable path {raw_path[:80]!r} ({exc})") from None
        if not name:
            raise bad(line_number, "empty path")
    return MemberInfo(name, int(size), None if mtime == b"?" else int(mtime), kind == b"d")


# -- the writer's side -----------------------------------------------------------------------

def format_archive_index(entries: Iterable[tuple[str, bool, int, int | None]]) -> bytes:
    """The ``.ARCHIVE_INDEX`` listing ``entries``, ``(name, is_dir, size, mtime)`` in
    archive order, as Moodle's packer writes it: directories with a trailing ``/``,
    size 0 and an unknown time (``?``)."""
    lines = [f"{name}/\td\t0\t?\n" if is_dir
             else f"{name}\tf\t{size}\t{'?' if mtime is None else mtime}\n"
             for name, is_dir, size, mtime in entries]
    return INDEX_HEADER + f"{len(lines)}\n{''.join(lines)}".encode("utf-8")
