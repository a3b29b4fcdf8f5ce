"""Where a store keeps what, the store's error, its lock, and the named crash points.

A store is one folder::

    DIR/
      store.sqlite        the index (SQLite, WAL): courses, versions, members, the
                          chunk lists of members, and which content files exist
      lock                the lock file: add, get, checkout, diff and verify hold it
                          shared, gc exclusive (so gc never sweeps a file an add has
                          just written and not yet listed)
      blobs/ab/<sha1>     file blobs (members ``files/ab/<sha1>``), the member's exact
                          bytes, read-only: a checkout hard-links them
      chunks/ab/<xxh3>    every other member's content-defined chunks, zstd-compressed,
                          named by the xxh3-128 of their bytes
      tmp/                content files being written (renamed into place when whole)

A content file appears under its final name only whole (written under a
temporary name, synced, then linked to its name, which never replaces one
already there), and the index names it only in the transaction that ends an
add. So a kill or a full disk at any moment leaves either nothing or files
that no version lists, which ``gc`` sweeps.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
from collections.abc import Iterator

from mbx.errors import MbxError

__all__ = ["INDEX_NAME", "Layout", "StoreError", "crash_point"]

INDEX_NAME = "store.sqlite"
#: Environment variable naming a crash point (see :func:`crash_point`): tests only.
KILL_AT = "MBX_STORE_KILL_AT"


class StoreError(MbxError):
    """The store refused an operation: not a store, no such version, a damaged chunk.

    Codes: ``store-not-found``, ``store-exists``, ``store-bad-name``,
    ``store-no-version``, ``store-tag-taken``, ``store-damaged`` (a content file
    is missing or its bytes do not match their hash; the message names the
    versions it belongs to), ``store-output``.
    """

    code = "store-error"


class Layout:
    """The paths of one store folder."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = os.fspath(root)
        self.index = os.path.join(self.root, INDEX_NAME)
        self.lock = os.path.join(self.root, "lock")
        self.blobs = os.path.join(self.root, "blobs")
        self.chunks = os.path.join(self.root, "chunks")
        self.tmp = os.path.join(self.root, "tmp")

    def blob(self, sha1: str) -> str:
        return os.path.join(self.blobs, sha1[:2], sha1)

    def chunk(self, chunk_id: str) -> str:
        return os.path.join(self.chunks, chunk_id[:2], chunk_id)

    def check(self) -> None:
        """Refuses a folder that is not a store."""
        if not os.path.isfile(self.index):
            raise StoreError(f"{self.root!r} is not an mbx store (no {INDEX_NAME}; "
                             "create one with `mbx store init`)", code="store-not-found",
                             source=self.root)

    @contextlib.contextmanager
    def locked(self, *, exclusive: bool = False) -> Iterator[None]:
        """Holds the store's lock, shared or exclusive, for the ``with`` block.

        ``flock`` locks go with the process: a killed add or gc leaves no lock behind.
        """
        self.check()
        descriptor = os.open(self.lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(descriptor)  # closing releases the lock


def crash_point(name: str) -> None:
    """Kills this process (SIGKILL, as ``kill -9`` does) when ``MBX_STORE_KILL_AT``
    names ``name``: how the tests stop an add or a gc at a chosen step and check
    that the store is still sound. Without the variable it costs one lookup."""
    if os.environ.get(KILL_AT) == name:
        os.kill(os.getpid(), signal.SIGKILL)
