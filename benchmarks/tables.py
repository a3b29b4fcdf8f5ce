"""The one way the benchmarks print their runs: a row per measure, a column per size."""

from __future__ import annotations

from collections.abc import Callable, Sequence

Row = tuple[str, Callable[[dict], str]]


def print_runs(runs: Sequence[dict], rows: Sequence[Row], *, compare: dict | None = None,
               growth: str | None = None, growth_label: str = "peak RSS growth") -> None:
    """``rows`` (label, value of a run) for every run, headed by its ``size``; then the
    peak-RSS growth between the two sizes of a ``--compare`` run, ``compare[growth]``."""
    width = max(len(label) for label, _ in rows) + 2
    print(f"{'':<{width}}" + "".join(f"{run['size']:>12}" for run in runs))
    for label, value in rows:
        print(f"{label:<{width}}" + "".join(f"{value(run):>12}" for run in runs))
    if compare and growth:
        print(f"{growth_label} {compare['from']} -> {compare['to']}: {compare[growth]:+.1f} MiB")


def vm_hwm_kib(pid: int) -> int:
    """The peak resident size of process ``pid`` so far (``VmHWM``), in KiB; 0 if gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
