"""The size meter: what the archive's XML will cost, compressed, as it is written."""

from __future__ import annotations

from mbx.archive.writer import deflate_engine
from mbx.archive.writer.pack import sync_flush_flag

__all__ = ["Collect", "Meter", "MeteredStream"]


class Meter:
    """A second deflate stream that counts what the archive's XML will cost.

    Engines buffer a lot of input before they emit anything (isal: megabytes), so
    the meter syncs every ``SYNC`` raw bytes: it then knows its output to within
    one sync interval, at the price of a slight overestimate (a block boundary
    per interval), which the blobs absorb.
    """

    SYNC = 1 << 15

    def __init__(self, compressor: str, level: int | None) -> None:
        self._engine = (compressor, level)
        self._compressor, _ = deflate_engine(compressor, level)
        self._sync_flag = sync_flush_flag(compressor)
        self.raw = 0
        self.out = 0
        self._since_sync = 0
        self._ratio = 0.3

    def feed(self, data: bytes) -> None:
        self.raw += len(data)
        self.out += len(self._compressor.compress(data))
        self._since_sync += len(data)
        if self._since_sync >= self.SYNC:
            self.out += len(self._compressor.flush(self._sync_flag))
            self._since_sync = 0
            self._ratio = self.out / self.raw

    def estimate(self) -> float:
        """Compressed bytes so far (what is not yet synced counted at the ratio so far)."""
        return self.out + self._since_sync * self._ratio

    def finish(self) -> int:
        """Exact compressed bytes of everything fed; the meter goes on counting after."""
        self.out += len(self._compressor.flush())
        self._compressor, _ = deflate_engine(*self._engine)
        self._since_sync = 0
        return self.out


class MeteredStream:
    """A member's spool stream that feeds the meter with what it writes."""

    def __init__(self, target, meter: Meter) -> None:
        self._target = target
        self._meter = meter
        self.size = 0

    def write(self, data: bytes) -> int:
        self._target.write(data)
        self._meter.feed(data)
        self.size += len(data)
        return len(data)


class Collect:
    """A stream that keeps what is written, in pieces."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(data)
        return len(data)
