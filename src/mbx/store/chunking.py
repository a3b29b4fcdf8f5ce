"""Content-defined chunks of a stream: FastCDC over a bounded window.

Place in the data flow: the store's first step for every member that is not
a file blob (XML above all). A member's bytes are cut where their content
says (FastCDC, from the ``fastcdc`` package), so an edit in one place of a
2 GB ``questions.xml`` changes the chunks around it and leaves every other
chunk, and its stored copy, as it was.

``fastcdc.fastcdc`` takes a whole buffer. It decides each cut from the
``max_size`` bytes that follow the previous cut and nothing else, so a window
that holds at least ``max_size`` bytes past a chunk's start cuts that chunk as
the whole member would: :class:`StreamChunker` keeps such a window (the bytes
fed and not yet cut, at most :data:`WINDOW` plus one piece) and gives the same
chunks as the library over the whole member, in constant memory.
"""

from __future__ import annotations

import fastcdc

__all__ = ["AVERAGE_SIZE", "MAXIMUM_SIZE", "MINIMUM_SIZE", "StreamChunker", "WINDOW"]

#: FastCDC's sizes: 8 KiB chunks on average, as small as 2 KiB and as large as 64 KiB.
#: Small enough that an edit in a Moodle XML file costs a few KiB, large enough that
#: a 1 GB member is some 130 000 chunks, not millions.
MINIMUM_SIZE = 2 << 10
AVERAGE_SIZE = 8 << 10
MAXIMUM_SIZE = 64 << 10
#: Bytes gathered before the window is cut (the cost of a call is paid per window).
WINDOW = 1 << 20


class StreamChunker:
    """Cuts a stream fed piece by piece into the chunks FastCDC gives the whole of it.

    :meth:`feed` returns the chunks that are final so far, :meth:`finish` the
    rest; each chunk is a new ``bytes``.
    """

    def __init__(self, *, min_size: int = MINIMUM_SIZE, avg_size: int = AVERAGE_SIZE,
                 max_size: int = MAXIMUM_SIZE, window: int = WINDOW) -> None:
        self._sizes = {"min_size": min_size, "avg_size": avg_size, "max_size": max_size}
        self._max = max_size
        self._window = max(window, 2 * max_size)
        self._pending = bytearray()

    def feed(self, data) -> list[bytes]:
        """Takes ``data``; gives the chunks whose end no later byte can move."""
        self._pending += data
        if len(self._pending) < self._window:
            return []
        return self._cut(final=False)

    def finish(self) -> list[bytes]:
        """The chunks of what is left: the stream has ended."""
        return self._cut(final=True) if self._pending else []

    def _cut(self, *, final: bool) -> list[bytes]:
        pending = self._pending
        end = len(pending)
        chunks: list[bytes] = []
        taken = 0
        view = memoryview(pending)
        try:
            found = fastcdc.fastcdc(view, **self._sizes)
            for chunk in found:
                # a cut needs max_size bytes after the chunk's start, unless the stream ended
                if not final and end - chunk.offset < self._max:
                    break
                chunks.append(bytes(view[chunk.offset:chunk.offset + chunk.length]))
                taken = chunk.offset + chunk.length
            found.close()
            del found
        finally:
            view.release()
        del pending[:taken]  # the library's view is gone: the buffer may shrink
        return chunks

