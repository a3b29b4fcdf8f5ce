"""The tar member format Moodle reads: plain POSIX ustar headers.

Never pax or GNU records, which Moodle's reader would extract as junk files;
names over 100 bytes are split into ``prefix``/``name`` at a ``/`` or refused;
sizes must fit 11 octal digits.
"""

from __future__ import annotations

from mbx.archive.base import refuse

__all__ = ["BLOCK", "LATEST_MTIME", "padding", "split_ustar_name", "ustar_header"]

BLOCK = 512
_MAX_SIZE = 8 ** 11 - 1  # 11 octal digits: Moodle refuses anything larger
#: The latest time a header holds (11 octal digits, plain, unsigned: the year 2242).
LATEST_MTIME = 8 ** 11 - 1


def _octal(value: int, width: int) -> bytes:
    """``width - 1`` zero-padded octal digits and a NUL."""
    return b"%0*o\0" % (width - 1, value)


def split_ustar_name(name: str, source: str | None = None) -> tuple[bytes, bytes]:
    """``(prefix, name)`` for a ustar header, cutting at the first ``/`` that makes
    the rest fit in 100 bytes (as Moodle's ``tgz_packer`` does); refuses otherwise."""
    raw = name.encode("utf-8")
    if len(raw) <= 100:
        return b"", raw
    parts = raw.split(b"/")
    for cut in range(1, len(parts)):
        prefix, rest = b"/".join(parts[:cut]), b"/".join(parts[cut:])
        if len(rest) <= 100 and rest:
            if len(prefix) > 155:
                break
            return prefix, rest
    raise refuse("archive-name-too-long",
                 f"{name!r} does not fit a plain ustar header (name 100, prefix 155 bytes)",
                 source)


def ustar_header(name: str, size: int, mtime: int, is_dir: bool,
                 source: str | None = None) -> bytes:
    """One 512-byte POSIX ustar header, exactly as Moodle's packer writes it."""
    if size > _MAX_SIZE:
        raise refuse("archive-member-too-large",
                     f"{name!r} is {size} bytes, more than a ustar size field holds", source)
    if not 0 <= mtime <= LATEST_MTIME:
        raise refuse("archive-bad-mtime",
                     f"{name!r} has the time {mtime}, which a ustar header cannot hold", source)
    prefix, short = split_ustar_name(name + ("/" if is_dir else ""), source)
    header = b"".join([
        short.ljust(100, b"\0"),
        b"0000755\0" if is_dir else b"0000644\0",
        b"0000000\0", b"0000000\0",
        _octal(0 if is_dir else size, 12),
        _octal(mtime, 12),
        b" " * 8,
        b"5" if is_dir else b"0",
        b"\0" * 100,
        b"ustar\0", b"00",
        b"\0" * 32, b"\0" * 32, b"\0" * 8, b"\0" * 8,
        prefix.ljust(155, b"\0"),
        b"\0" * 12,
    ])
    checksum = b"%06o\0 " % sum(header)
    return header[:148] + checksum + header[156:]


def padding(size: int) -> bytes:
    """The NULs that round a member of ``size`` bytes up to whole blocks."""
    return b"\0" * (-size % BLOCK)
