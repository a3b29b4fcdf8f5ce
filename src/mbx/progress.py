"""Progress on a terminal for long passes over a backup.

Library functions that walk a backup take an optional ``progress`` callback,
called once per member; :class:`Progress` is the one the CLI passes. It draws
one line on stderr, only when stderr is a terminal and only once the work has
taken more than a second, and stays silent when output is piped or ``--quiet``.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from mbx.archive import MemberInfo


class Progress:
    """Counts members and bytes as they pass, redrawing at most ten times a second."""

    def __init__(self, label: str, *, stream: TextIO | None = None, delay: float = 1.0,
                 enabled: bool | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.delay = delay
        self.started = time.monotonic()
        self.members = 0
        self.bytes = 0
        self._drawn_at = 0.0
        self._drawn = False

    def __call__(self, member: MemberInfo) -> None:
        self.members += 1
        self.bytes += member.size
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.started >= self.delay and now - self._drawn_at >= 0.1:
            self._draw(now, member.name)

    def _draw(self, now: float, name: str) -> None:
        rate = self.bytes / max(now - self.started, 1e-9) / 1e6
        line = f"{self.label}: {self.members} members, {self.bytes / 1e6:.1f} MB ({rate:.0f} MB/s) {name}"
        self.stream.write("\r" + line[:119].ljust(119))
        self.stream.flush()
        self._drawn_at = now
        self._drawn = True

    def close(self) -> None:
        """Clears the line, if one was drawn."""
        if self._drawn:
            self.stream.write("\r" + " " * 119 + "\r")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
