"""``mbx verify`` and ``mbx ls -l`` on a generated Moodle-like course backup, next to ``gzip -dc``.

The archive (``--size``, compressed, e.g. 100M or 1G) is a synthetic course
written by ``mbx.synth`` (seed 1): laid out as Moodle writes it, with
``.ARCHIVE_INDEX`` first, real SHA-1 blobs and forums dominating the XML.
Archives are cached in the temp dir, keyed by size.

Measured in one run on the same file:

* ``gzip -dc FILE > /dev/null`` (the floor for any full pass);
* ``python -m mbx verify FILE`` in a fresh process, and its peak RSS
  (``VmHWM`` of the child, polled from ``/proc/<pid>/status``);
* ``python -m mbx ls -l FILE`` in a fresh process, ``list_members`` in this
  process, and ``python -c "import mbx.cli"`` (start-up) to give ls -l net of
  start-up.

Run::

    python benchmarks/bench_archive.py --size 1G
    python benchmarks/bench_archive.py --compare 100M,1G --json

or under pytest-benchmark (``pytest benchmarks/bench_archive.py``, size from
``MBX_BENCH_ARCHIVE_SIZE``, default 50M; asserts correctness only).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

from mbx.archive.index import INDEX_HEADER
from mbx.units import parse_size
from synth_samples import course_archive
from tables import print_runs, vm_hwm_kib

CHUNK = 1 << 20
#: tries of each quick command (ls -l, start-up) per repeat, the best kept
QUICK_REPEATS = 10


def run_timed(command: list[str], *, poll_rss: bool = False) -> dict:
    """Wall seconds, exit code, stdout (and the child's peak VmHWM, polled) of one command."""
    peak = [0]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    poller = None
    if poll_rss:
        def poll() -> None:
            while process.poll() is None:
                value = vm_hwm_kib(process.pid)
                if value:
                    peak[0] = max(peak[0], value)
                time.sleep(0.005)
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
    out, err = process.communicate()
    seconds = time.perf_counter() - started
    if poller:
        poller.join()
    return {"seconds": seconds, "returncode": process.returncode, "stdout": out,
            "stderr": err, "peak_kib": peak[0]}


def _warm(path: Path) -> None:
    with open(path, "rb", buffering=0) as file:
        while file.read(8 * CHUNK):
            pass


def index_count(path: Path) -> int:
    """N from the first line of the archive's ``.ARCHIVE_INDEX`` (read with the stdlib)."""
    with tarfile.open(path, "r|gz") as tar:
        first = tar.next()
        assert first is not None and first.name == ".ARCHIVE_INDEX", first
        line = tar.extractfile(first).readline().decode()
    assert line.startswith(INDEX_HEADER.decode()), line
    return int(line[len(INDEX_HEADER):])


def _cut_in_half(path: Path) -> Path:
    """A copy of ``path`` holding its first half: what a broken download leaves."""
    cut = path.with_name(path.stem + ".cut-in-half.mbz")
    if not cut.exists() or cut.stat().st_size != path.stat().st_size // 2:
        with open(path, "rb") as source, open(cut, "wb") as target:
            remaining = path.stat().st_size // 2
            while remaining:
                chunk = source.read(min(remaining, 1 << 24))
                target.write(chunk)
                remaining -= len(chunk)
    return cut


def measure(path: Path, repeats: int = 1) -> dict:
    """Every timing of one archive; the best of ``repeats`` for each (of
    ``repeats * QUICK_REPEATS`` for the commands that take a tenth of a second)."""
    from mbx.inspect import list_members

    python = sys.executable
    _warm(path)
    best: dict[str, float] = {}
    verify_peak = 0
    verify_out = ""
    ls_lines = 0
    listed = 0

    def keep(key: str, seconds: float) -> None:
        best[key] = min(best.get(key, float("inf")), seconds)

    for _ in range(repeats):
        if shutil.which("gzip"):
            with open(path, "rb") as source:
                started = time.perf_counter()
                subprocess.run(["gzip", "-dc"], stdin=source, stdout=subprocess.DEVNULL,
                               check=True)
                keep("gzip_dc", time.perf_counter() - started)
        result = run_timed([python, "-m", "mbx", "verify", str(path)], poll_rss=True)
        verify_out = result["stdout"].decode(errors="replace")
        if result["returncode"] != 0 or not verify_out.rstrip().endswith("sound"):
            raise AssertionError(f"mbx verify did not find {path} sound:\n{verify_out}"
                                 f"{result['stderr'].decode(errors='replace')}")
        keep("verify", result["seconds"])
        verify_peak = max(verify_peak, result["peak_kib"])
        for _ in range(QUICK_REPEATS):  # a tenth of a second each: noise needs more tries
            result = run_timed([python, "-m", "mbx", "ls", "-l", str(path)])
            assert result["returncode"] == 0, result["stderr"]
            ls_lines = result["stdout"].count(b"\n")
            keep("ls_l_process", result["seconds"])
            result = run_timed([python, "-c", "import mbx.cli"])
            keep("startup", result["seconds"])
            started = time.perf_counter()
            listed = sum(1 for _ in list_members(path))
            keep("ls_l_in_process", time.perf_counter() - started)

        # the same archive cut in half: the trailer no longer agrees, so ls -l scans
        # and must fail as ls and verify do, not print the index's listing
        result = run_timed([python, "-m", "mbx", "ls", "-l", str(_cut_in_half(path))])
        if result["returncode"] != 1 or b"archive-truncated" not in result["stderr"]:
            raise AssertionError(f"mbx ls -l did not refuse the cut archive: "
                                 f"{result['returncode']} {result['stderr'][-300:]!r}")
        keep("ls_l_cut", result["seconds"])

    gzip_seconds = best.get("gzip_dc")
    return {
        "compressed_bytes": path.stat().st_size,
        "path": str(path),
        "index_entries": index_count(path),
        "listed_in_process": listed,
        "listed_process_lines": ls_lines,
        "verify_summary": verify_out.strip().splitlines()[0] if verify_out.strip() else "",
        "gzip_dc_s": round(gzip_seconds, 3) if gzip_seconds else None,
        "verify_s": round(best["verify"], 3),
        "verify_over_gzip_dc": round(best["verify"] / gzip_seconds, 2) if gzip_seconds else None,
        "startup_s": round(best["startup"], 3),
        "ls_l_process_s": round(best["ls_l_process"], 3),
        "ls_l_net_of_startup_s": round(best["ls_l_process"] - best["startup"], 3),
        "ls_l_in_process_s": round(best["ls_l_in_process"], 4),
        "ls_l_cut_in_half_s": round(best["ls_l_cut"], 3),
        "verify_peak_rss_mib": round(verify_peak / 1024, 1),
    }


def _print_table(runs: list[dict], compare: dict | None) -> None:
    rows = [("compressed MB", lambda r: f"{r['compressed_bytes'] / 1e6:.1f}"),
            ("index entries", lambda r: str(r["index_entries"])),
            ("gzip -dc s", lambda r: str(r["gzip_dc_s"])),
            ("mbx verify s", lambda r: str(r["verify_s"])),
            ("verify / gzip -dc", lambda r: str(r["verify_over_gzip_dc"])),
            ("start-up s", lambda r: str(r["startup_s"])),
            ("mbx ls -l s (process)", lambda r: str(r["ls_l_process_s"])),
            ("mbx ls -l s (net of start-up)", lambda r: str(r["ls_l_net_of_startup_s"])),
            ("list_members s (in-process)", lambda r: str(r["ls_l_in_process_s"])),
            ("ls -l of it cut in half s", lambda r: str(r["ls_l_cut_in_half_s"])),
            ("verify peak RSS MiB", lambda r: str(r["verify_peak_rss_mib"]))]
    print_runs(runs, rows, compare=compare, growth="verify_peak_rss_growth_mib", growth_label="verify peak RSS growth")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100M", help="compressed size, e.g. 100M or 1G")
    parser.add_argument("--compare", metavar="A,B",
                        help="measure two sizes and report the verify RSS growth, e.g. 100M,1G")
    parser.add_argument("--repeats", type=int, default=1, help="best of N for each timing")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    labels = args.compare.split(",") if args.compare else [args.size]
    runs = []
    for label in labels:
        size = parse_size(label)
        run = {"size": label, "requested_bytes": size, **measure(course_archive(size), args.repeats)}
        runs.append(run)
    compare = None
    if len(runs) == 2:
        compare = {"from": runs[0]["size"], "to": runs[1]["size"],
                   "verify_peak_rss_growth_mib": round(runs[1]["verify_peak_rss_mib"]
                                                       - runs[0]["verify_peak_rss_mib"], 1)}
    if args.json:
        report = {"runs": runs, "compare": compare} if args.compare else runs[0]
        print(json.dumps(report))
    else:
        _print_table(runs, compare)
    return 0


# -- pytest(-benchmark) --------------------------------------------------------------------------

def test_archive_verify_and_listing(benchmark):
    """Generation, verify and listing are correct at a small size; no timing asserts."""
    from mbx.inspect import list_members
    from mbx.verification import verify

    path = course_archive(parse_size(os.environ.get("MBX_BENCH_ARCHIVE_SIZE", "50M")))
    report = verify(path)
    assert report.ok, [str(problem) for problem in report.problems]
    result = benchmark.pedantic(measure, args=(path,), rounds=1, iterations=1)
    count = result["index_entries"]
    assert report.checked["index_entries"] == count
    # ls -l lists what tar tv lists: the index's entries and the index itself
    assert result["listed_in_process"] == count + 1
    assert result["listed_process_lines"] == count + 1
    listing = list_members(path)
    assert listing.source == "index" and len(listing) == count + 1


if __name__ == "__main__":
    sys.exit(main())
