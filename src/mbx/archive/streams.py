"""Member streams: what the archive layer hands to the XML layer and the consumers.

Every member, whatever its container, is read through an ``io.RawIOBase``
subclass under an ``io.BufferedReader``: a real binary file object that reads
in bounded pieces and never holds a whole member. The raw classes live with
their container (``tar_reader``, ``zip_reader``, ``folder_reader``); this
module holds their common base and the buffering.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mbx.archive.base import MemberInfo

__all__ = ["BUFFER_SIZE", "EmptyMemberRaw", "MemberRawIO", "buffered"]

#: Buffer of the ``io.BufferedReader`` over each member; larger reads go straight through.
BUFFER_SIZE = 1 << 16


class MemberRawIO(io.RawIOBase):
    """Base of the raw member readers: readable, not seekable, named after the member."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def readable(self) -> bool:
        return True

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(f"I/O operation on closed archive member {self.name!r}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}{' closed' if self.closed else ''}>"


class EmptyMemberRaw(MemberRawIO):
    """A member with no data: a directory, as ``iter_members()`` yields it."""

    def readinto(self, buffer) -> int:
        self._check_open()
        return 0


def buffered(raw: MemberRawIO) -> io.BufferedReader:
    """The binary file object handed to callers for one member."""
    return io.BufferedReader(raw, BUFFER_SIZE)


def iter_random_access(members: Iterable[MemberInfo], open_member: Callable[[str], io.BufferedReader]
                       ) -> Iterator[tuple[MemberInfo, io.BufferedReader]]:
    """``iter_members`` for containers that can open any member (zip, folder):
    ``(info, stream)`` in listing order, each stream closed when the next comes;
    directories come with an empty stream."""
    for member in members:
        stream = buffered(EmptyMemberRaw(member.name)) if member.is_dir else open_member(member.name)
        try:
            yield member, stream
        finally:
            stream.close()
