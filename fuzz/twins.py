"""What the XML harnesses share: the cut of an input into two chunks, and the check
that the two engines (compiled and pure) reached the same outcome.

An outcome is ``("ok", output)`` or ``("refused", code)``: the engines must
agree on accepting or refusing, and on the output of what they accept.
"""

from __future__ import annotations


def halves(data: bytes) -> tuple[int, list[bytes]]:
    """The input cut in two where its last two bytes say (the cut is part of the input)."""
    cut = int.from_bytes(data[-2:], "little") % (len(data) + 1) if data else 0
    return cut, [data[:cut], data[cut:]]


def check_twins(compiled: tuple, pure: tuple, data: bytes) -> None:
    """Raises AssertionError when the two engines' outcomes differ."""
    if (pure[0] == "ok") != (compiled[0] == "ok") or (compiled[0] == "ok" and pure != compiled):
        raise AssertionError(f"engines disagree\n compiled: {compiled!r}\n pure:     "
                             f"{pure!r}\ninput: {data!r}")
