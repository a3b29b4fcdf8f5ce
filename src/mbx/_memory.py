"""Keeping the heap flat over gigabytes of 1 MiB chunks (glibc's allocator, on Linux).

Streaming reads, inflates, rewrites and deflates in chunks of about 1 MiB, each a
fresh ``bytes`` freed a moment later. glibc serves such a block with ``mmap``
and returns it on ``free``, until the first such free raises its "mmap
threshold" (dynamically, up to 32 MiB): from then on the blocks come from the
heap, where long-lived small objects pin the freed space, so the resident
heap grows with the archive instead of staying flat.

Measured with an exact copy (``mbx.transform.run`` with no transform) of the
synthetic 100 MB and 1 GB courses, peak RSS and time:

* as glibc does by default: 44.5 and 64.6 MiB (+20.1 MiB), 1.33 and 11.32 s;
* the threshold fixed at 256 KiB (``mallopt``, no dynamic rise): 34.7 and
  41.4 MiB, but 1.88 and 17.25 s: every chunk is a fresh mapping, faulted in
  page by page, and unmapping it interrupts the other thread's core;
* ``malloc_trim`` every 64 MiB streamed, which hands the free pages inside the
  heap back to the system: 39.0 and 46.3 MiB (+7.3 MiB), 1.49 and 11.76 s.

So the streaming loops tell a :class:`HeapTrimmer` how many bytes went by.
Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

__all__ = ["HeapTrimmer", "TRIM_EVERY"]

#: Bytes streamed between two trims.
TRIM_EVERY = 64 << 20


def _malloc_trim():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


class HeapTrimmer:
    """Returns the heap's free pages to the system every :data:`TRIM_EVERY` bytes."""

    __slots__ = ("_left",)

    def __init__(self) -> None:
        self._left = TRIM_EVERY

    def add(self, nbytes: int) -> None:
        self._left -= nbytes
        if self._left <= 0:
            self._left = TRIM_EVERY
            if _TRIM is not None:
                _TRIM(0)
