"""``.ARCHIVE_INDEX``: the listing Moodle writes as the first entry of a tar.gz.

Place in the data flow: a side road. Reading the first few kilobytes of an
archive gives every member's name, type, size and time, so ``mbx ls -l`` and
format detection need not inflate gigabytes. The index is advisory: archives
re-packed by hand keep an index that no longer matches their entries (seen in
the real corpus), so nothing that reads data trusts it.

Format (format doc, §1.3): a first line ``Moodle archive file index. Count: N``,
then N lines ``path<TAB>f|d<TAB>size<TAB>mtime``, mtime being ``?`` when
unknown. Anything else is refused with ``archive-bad-index``.
"""

from __future__ import annotations

import re
from typing import BinaryIO, Iterable

from mbx.archive.base import ArchiveLimits, MemberInfo, normalize_member_name, refuse
from mbx.errors import ArchiveError

__all__ = ["INDEX_HEADER", "parse_archive_index"]

INDEX_HEADER = b"Moodle archive file index. Count: "
_HEADER_LINE = re.compile(re.escape(INDEX_HEADER) + rb"(\d{1,12})\n?")
_LINE = re.compile(rb"([^\t\n]*)\t([fd])\t(\d{1,20})\t(\d{1,20}|\?)\n?")
#: A line whose path needs no normalising (see ``base._PLAIN_NAME``): the name is
#: the first group as it stands, a trailing slash left outside it.
_PLAIN_LINE = re.compile(rb"([\w\-][\w.\-]*(?:/[\w\-][\w.\-]*)*)/?"
                         rb"\t([fd])\t(\d{1,20})\t(\d{1,20}|\?)\n?", re.ASCII)


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
        raise bad(1, f"declares {count} entries, more than ArchiveLimits.max_members")
    entries: list[MemberInfo] = []
    for line_number in range(2, count + 2):
        line = stream.readline(line_limit)
        if not line:
            raise bad(line_number, f"declares {count} entries but lists {len(entries)}")
        if len(line) == line_limit and not line.endswith(b"\n"):
            raise bad(line_number, f"line longer than {line_limit} bytes")
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
        entries.append(MemberInfo(name, int(size), None if mtime == b"?" else int(mtime),
                                  kind == b"d"))
    if stream.read(1):
        raise bad(count + 2, f"more lines than the {count} entries declared")
    return entries


# -- the writer's side -----------------------------------------------------------------------

__all__ += ["format_archive_index"]


def format_archive_index(entries: Iterable[tuple[str, bool, int, int | None]]) -> bytes:
    """The ``.ARCHIVE_INDEX`` listing ``entries``, ``(name, is_dir, size, mtime)`` in
    archive order, as Moodle's packer writes it: directories with a trailing ``/``,
    size 0 and an unknown time (``?``)."""
    lines = [f"{name}/\td\t0\t?\n" if is_dir
             else f"{name}\tf\t{size}\t{'?' if mtime is None else mtime}\n"
             for name, is_dir, size, mtime in entries]
    return INDEX_HEADER + f"{len(lines)}\n{''.join(lines)}".encode("utf-8")
