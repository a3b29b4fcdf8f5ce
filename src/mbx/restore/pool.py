"""The file pool: blobs named by their SHA-1, laid out like Moodle's ``filedir``.

``ab/cd/abcd…`` under the pool folder. A blob is written under a temporary
name in a folder of the pool's own ``.incoming`` (same file system, so the
rename is atomic), hashed as it is written, and renamed to its name only when
the hash matches. The pool therefore never holds a partial or wrong blob: a
restore killed while writing leaves at most its ``.incoming`` folder, which the
next restore removes (each restore holds a lock on its own folder, so a live
one is never touched), and complete blobs, which are what their names say and
are reused.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import queue
import re
import shutil
import threading
import time
import uuid
from typing import BinaryIO

from mbx.errors import TargetError

__all__ = ["FilePool", "EMPTY_SHA1"]

EMPTY_SHA1 = hashlib.sha1(b"").hexdigest()
SHA1 = re.compile(r"[0-9a-f]{40}\Z")
CHUNK = 1 << 20
#: Seconds after which a lock file that never got its name is abandoned.
UNNAMED_LOCK_AGE = 60


class FilePool:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        spool = os.path.join(self.root, ".incoming")
        self.incoming = os.path.join(spool, uuid.uuid4().hex)
        self._lock = None
        self._touched: set[str] = set()     # folders that got a blob: synced before the commit
        try:
            os.makedirs(spool, exist_ok=True)
            # The lock is taken before it gets its name, so another restore clearing
            # abandoned folders never sees it free, and before the folder exists, so a
            # folder always has a lock while it lives.
            pending = os.path.join(spool, f".{uuid.uuid4().hex}.new")
            self._lock = open(pending, "w")
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.replace(pending, self.incoming + ".lock")
            os.mkdir(self.incoming)
        except OSError as error:
            if self._lock is not None:
                self._lock.close()
            raise _pool_error(self.root, error, "cannot create the file pool") from None
        _clear_abandoned(spool, keep=self.incoming)
        self.written = 0
        self._folders: set[str] = set()
        self._pending: set[str] = set()     # handed to the finisher, maybe not renamed yet
        self._finisher = _Finisher()
        self._serial = 0
        self.reused = 0
        self.bytes_written = 0

    def path(self, contenthash: str) -> str:
        return os.path.join(self.root, contenthash[:2], contenthash[2:4], contenthash)

    def has(self, contenthash: str) -> bool:
        return contenthash in self._pending or os.path.isfile(self.path(contenthash))

    def add(self, contenthash: str, stream: BinaryIO, *, check=None) -> bool:
        """Stores ``stream`` as ``contenthash``; ``False`` when its bytes hash otherwise
        (nothing is stored then). A blob already in the pool is not written again."""
        if not SHA1.match(contenthash):
            return False
        if self.has(contenthash):
            self.reused += 1
            return True
        digest = hashlib.sha1()
        size = 0
        temporary = fd = None
        try:
            self._serial += 1  # the folder is this restore's own: a counter names uniquely
            temporary = os.path.join(self.incoming, f"blob-{self._serial}")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                _write_all(fd, chunk)
                size += len(chunk)
                if check is not None:
                    check()
            if digest.hexdigest() != contenthash:
                os.close(fd)
                fd = None
                os.unlink(temporary)
                return False
            final = self.path(contenthash)
            folder = os.path.dirname(final)
            if folder not in self._folders:  # at most 65536 of them
                _make_folder(folder)
                self._folders.add(folder)
            self._finisher.put(fd, temporary, final)  # fsynced, closed and renamed there
            fd = None
            self._pending.add(contenthash)
            self._touched.add(folder)
        except OSError as error:
            _close(fd)
            _unlink(temporary)
            raise _pool_error(self.root, error, "cannot write to the file pool") from None
        except BaseException:
            _close(fd)
            _unlink(temporary)
            raise
        self.written += 1
        self.bytes_written += size
        return True

    def add_empty(self) -> None:
        """The empty blob every directory record points at (Moodle adds it once)."""
        if not self.has(EMPTY_SHA1):
            import io
            self.add(EMPTY_SHA1, io.BytesIO(b""))
            self.written -= 1  # bookkeeping, not one of the backup's files

    def sync(self) -> None:
        """Makes the renames of the blobs written so far durable (the folders' fsync),
        so that rows committed after this never point at a blob a power cut lost."""
        try:
            self._finisher.wait()
        except OSError as error:
            raise _pool_error(self.root, error, "cannot write to the file pool") from None
        touched = self._touched | {os.path.dirname(folder) for folder in self._touched}
        try:
            for folder in sorted(touched, reverse=True):
                descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    os.fsync(descriptor)
                finally:
                    os.close(descriptor)
        except OSError as error:
            raise _pool_error(self.root, error, "cannot sync the file pool") from None
        self._touched.clear()

    def close(self) -> None:
        self._finisher.stop()
        shutil.rmtree(self.incoming, ignore_errors=True)
        _unlink(self.incoming + ".lock")
        self._lock.close()


class _Finisher:
    """Makes written blobs durable and gives them their names, in a thread of its own.

    A blob's bytes are fsynced before it is renamed, so a name in the pool always
    holds whole bytes; fsync waits on the disk, which the restore's own thread need
    not do (it was 8 % of a 100 MB restore's time, per py-spy). At most ``DEPTH``
    blobs wait, each with its file still open. :meth:`wait` returns once every blob
    handed over has its name, and raises the first error met.
    """

    DEPTH = 128

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue(self.DEPTH)
        self._thread: threading.Thread | None = None
        self._error: OSError | None = None

    def put(self, fd: int, temporary: str, final: str) -> None:
        if self._error is not None:
            raise self._error
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="mbx-pool", daemon=True)
            self._thread.start()
        self._queue.put((fd, temporary, final))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            fd, temporary, final = item
            try:
                if self._error is None:
                    os.fsync(fd)
                    os.close(fd)
                    fd = None
                    os.replace(temporary, final)
            except OSError as error:
                self._error = self._error or error
            finally:
                _close(fd)
                self._queue.task_done()
        self._queue.task_done()

    def wait(self) -> None:
        self._queue.join()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        """Waits for what was handed over (errors are the restore's to report) and ends."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _close(fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


def _pool_error(root: str, error: OSError, doing: str) -> TargetError:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return TargetError(f"{root}: no space left for the file pool", code="target-full")
    return TargetError(f"{root}: {doing}: {error.strerror}", code="target-pool")


def _make_folder(folder: str) -> None:
    """``ab/cd`` in the pool (plain mkdirs: cheaper than os.makedirs' checks)."""
    try:
        os.mkdir(folder)
    except FileExistsError:
        pass
    except FileNotFoundError:
        try:
            os.mkdir(os.path.dirname(folder))
        except FileExistsError:
            pass
        _make_folder(folder)


def _clear_abandoned(spool: str, keep: str) -> None:
    """The ``.incoming`` folders of restores that died: their lock is free."""
    for name in os.listdir(spool):
        if name.startswith(".") and name.endswith(".new"):
            _clear_unnamed_lock(os.path.join(spool, name))
            continue
        if not name.endswith(".lock") or os.path.join(spool, name[:-5]) == keep:
            continue
        lock_path = os.path.join(spool, name)
        try:
            with open(lock_path, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(lock_path[:-5], ignore_errors=True)
                _unlink(lock_path)
        except OSError:
            continue  # held: that restore is alive


def _clear_unnamed_lock(path: str) -> None:
    """A lock whose restore died before naming it. One being named right now is
    young, and may not be locked yet: only old ones are removed."""
    try:
        if time.time() - os.stat(path).st_mtime > UNNAMED_LOCK_AGE:
            os.unlink(path)
    except OSError:
        pass


def _unlink(path: str | None) -> None:
    if path is None:
        return
    try:
        os.unlink(path)
    except OSError:
        pass
