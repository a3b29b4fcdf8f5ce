"""Progress and cancel: the one protocol every long operation speaks.

Long passes over a backup (``verify``, ``summarize``, ``synth``, and later
restore, transform and the store) take one optional ``progress`` argument.
Inside, they turn it into a :class:`Monitor` with :func:`as_monitor` and tell
it three things:

- ``monitor.phase(name, total_bytes=..., total_members=...)`` when a stage
  starts (the totals when they are known, else None);
- ``monitor(member)`` for each member reached (a :class:`~mbx.archive.MemberInfo`),
  or ``monitor.advance(nbytes, members, item)`` for other units of work;
- ``monitor.check()`` between records, where a stage runs long inside one member.

Each of these raises :class:`~mbx.errors.Cancelled` once the monitor's
:class:`CancelToken` is cancelled, so cancelling takes effect between two
members or records, never in the middle of a write. An operation that is
cancelled cleans up what it started (temporary files, open transactions) and
lets ``Cancelled`` propagate: nothing half-written is left behind.

Who watches: a :class:`Monitor` calls its listeners with a
:class:`ProgressSnapshot` (bytes and members done out of the totals, the phase,
the elapsed time and an ETA) at most every ``interval`` seconds, and once more
when it finishes. :class:`TerminalProgress` draws one line on stderr; a job
queue records snapshots; a test collects them. For convenience ``progress`` may
also be a plain callable taking a ``MemberInfo``, which is called once per
member, as before this protocol existed.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

import msgspec

from mbx.errors import Cancelled

if TYPE_CHECKING:
    from mbx.archive import MemberInfo

__all__ = ["CancelToken", "Monitor", "ProgressSnapshot", "TerminalProgress", "as_monitor"]


class CancelToken:
    """A flag one side sets (``cancel()``) and a running operation checks.

    Thread-safe: a signal handler, a watchdog or a job worker can cancel from
    another thread while the operation runs.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = "cancelled"

    def cancel(self, reason: str = "cancelled") -> None:
        """Asks the operation to stop at its next check."""
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raises :class:`~mbx.errors.Cancelled` if :meth:`cancel` was called."""
        if self._event.is_set():
            raise Cancelled(f"operation {self.reason}")


class ProgressSnapshot(msgspec.Struct, frozen=True):
    """Where an operation stands. Totals are None when not known in advance."""

    phase: str
    done_bytes: int
    total_bytes: int | None
    done_members: int
    total_members: int | None
    item: str | None
    elapsed: float
    finished: bool = False

    @property
    def fraction(self) -> float | None:
        """Done out of total, by bytes where known, else by members; None if unknown."""
        if self.total_bytes:
            return min(self.done_bytes / self.total_bytes, 1.0)
        if self.total_members:
            return min(self.done_members / self.total_members, 1.0)
        return None

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far, or None when the total is unknown."""
        fraction = self.fraction
        if fraction is None or fraction <= 0.0 or self.elapsed <= 0.0:
            return None
        return self.elapsed * (1.0 - fraction) / fraction

    def to_dict(self) -> dict:
        return {**msgspec.structs.asdict(self), "fraction": self.fraction, "eta": self.eta}


Listener = Callable[[ProgressSnapshot], None]


class Monitor:
    """Counts the work of one operation, checks its cancel token, tells listeners.

    ``listeners`` get a :class:`ProgressSnapshot` at most every ``interval``
    seconds (0 means on every step) and always when :meth:`finish` is called.
    ``on_member``, when given, is called with every member reached (the plain
    callable of the older protocol). ``phase`` names the work until an
    operation starts a phase of its own.
    """

    def __init__(self, *listeners: Listener, cancel: CancelToken | None = None,
                 interval: float = 0.1, clock: Callable[[], float] = time.monotonic,
                 on_member: Callable[[MemberInfo], None] | None = None,
                 phase: str = "working") -> None:
        self.listeners = list(listeners)
        self.cancel_token = cancel or CancelToken()
        self.interval = interval
        self._clock = clock
        self.started = clock()
        self._told_at = float("-inf")
        self.phase_name = phase
        self.total_bytes: int | None = None
        self.total_members: int | None = None
        self.done_bytes = 0
        self.done_members = 0
        self.item: str | None = None
        self._on_member = on_member

    # -- what operations call -----------------------------------------------------------

    def phase(self, name: str, *, total_bytes: int | None = None,
              total_members: int | None = None,
              totals: Callable[[], tuple[int | None, int | None]] | None = None) -> None:
        """A new stage starts; its counters start from zero.

        ``totals``, instead of the two numbers, is a function giving
        ``(total_bytes, total_members)``, called only when someone listens
        (such as :meth:`mbx.archive.Backup.expected_totals`, which reads).
        """
        self.check()
        self.phase_name = name
        if totals is not None and self.listeners:
            total_bytes, total_members = totals()
        self.total_bytes, self.total_members = total_bytes, total_members
        self.done_bytes = self.done_members = 0
        self._tell(force=True)

    def __call__(self, member: MemberInfo) -> None:
        """One member reached: counts it (files by their size) and checks for cancel."""
        if self._on_member is not None:
            self._on_member(member)
        self.advance(member.size, 1, member.name)

    def advance(self, nbytes: int = 0, members: int = 0, item: str | None = None) -> None:
        """Some work done: bytes, members (or other units), the item being worked on."""
        self.check()
        self.done_bytes += nbytes
        self.done_members += members
        if item is not None:
            self.item = item
        if self.listeners:
            self._tell()

    def check(self) -> None:
        """Raises :class:`~mbx.errors.Cancelled` if the operation was cancelled."""
        self.cancel_token.raise_if_cancelled()

    def finish(self) -> None:
        """The operation ended: listeners get a last snapshot with ``finished=True``."""
        for listener in self.listeners:
            listener(self.snapshot(finished=True))

    # -- what watchers read -------------------------------------------------------------

    def snapshot(self, *, finished: bool = False) -> ProgressSnapshot:
        return ProgressSnapshot(self.phase_name, self.done_bytes, self.total_bytes,
                                self.done_members, self.total_members, self.item,
                                self._clock() - self.started, finished)

    def _tell(self, *, force: bool = False) -> None:
        now = self._clock()
        if force or now - self._told_at >= self.interval:
            self._told_at = now
            snapshot = self.snapshot()
            for listener in self.listeners:
                listener(snapshot)


class _NullMonitor(Monitor):
    """The monitor of an operation nobody watches: counts nothing, never cancels."""

    def advance(self, nbytes: int = 0, members: int = 0, item: str | None = None) -> None:
        pass

    def __call__(self, member: MemberInfo) -> None:
        pass

    def check(self) -> None:
        pass


def as_monitor(progress: Monitor | Callable[[MemberInfo], None] | None) -> Monitor:
    """The :class:`Monitor` behind an operation's ``progress`` argument.

    A Monitor is used as it is; None gives one that does nothing; any other
    callable is called with each member, as the older protocol did.
    """
    if isinstance(progress, Monitor):
        return progress
    if progress is None:
        return _NullMonitor()
    if not callable(progress):
        raise TypeError(f"progress must be a Monitor or a callable, not {type(progress).__name__}")
    return Monitor(on_member=progress)


def _format_seconds(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


class TerminalProgress:
    """A listener that draws one progress line on stderr.

    Only when the stream is a terminal (or ``enabled=True``), only once the
    work has taken ``delay`` seconds, and cleared at the end, so output that is
    piped, or work that is quick, shows nothing.
    """

    WIDTH = 119

    def __init__(self, *, stream: TextIO | None = None, delay: float = 1.0,
                 enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.delay = delay
        self._drawn = False

    def __call__(self, snapshot: ProgressSnapshot) -> None:
        if not self.enabled:
            return
        if snapshot.finished:
            self.clear()
        elif snapshot.elapsed >= self.delay:
            self.stream.write("\r" + self.line(snapshot)[:self.WIDTH].ljust(self.WIDTH))
            self.stream.flush()
            self._drawn = True

    @staticmethod
    def line(snapshot: ProgressSnapshot) -> str:
        """``verifying: 37% 120/310 members, 88.1 MB (52 MB/s), ETA 0:04 activities/...``"""
        rate = snapshot.done_bytes / max(snapshot.elapsed, 1e-9) / 1e6
        fraction, eta = snapshot.fraction, snapshot.eta
        members = (f"{snapshot.done_members}/{snapshot.total_members}"
                   if snapshot.total_members else str(snapshot.done_members))
        parts = [f"{snapshot.phase}:"]
        if fraction is not None:
            parts.append(f"{fraction:.0%}")
        parts.append(f"{members} members, {snapshot.done_bytes / 1e6:.1f} MB ({rate:.0f} MB/s)")
        if eta is not None:
            parts[-1] += f", ETA {_format_seconds(eta)}"
        if snapshot.item:
            parts.append(snapshot.item)
        return " ".join(parts)

    def clear(self) -> None:
        """Wipes the line, if one was drawn."""
        if self._drawn:
            self.stream.write("\r" + " " * self.WIDTH + "\r")
            self.stream.flush()
            self._drawn = False
