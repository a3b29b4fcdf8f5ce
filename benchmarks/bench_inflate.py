"""Inflating and reading a generated tar.gz backup, as ratios to zlib in the same run.

The archive (default about 200 MB compressed) is a course written by ``mbx
synth`` (seed 1, shared with the other benchmarks): Moodle's layout, forum XML
and incompressible blobs. Timed, each best of ``--repeats``, in MB/s of
inflated output:

* ``decompressobj-<lib>``: the library alone (zlib, isal, zlib-ng when
  installed): gzip mode, 256 KiB in, at most 1 MiB out per call;
* ``GzipInflater-<lib>``: mbx's inflater over that library (own gzip framing
  and CRC-32, limits checked);
* ``sha1-inline-<lib>`` and ``sha1-thread-<lib>``: inflating and hashing every
  chunk (what ``verify`` does to blobs), in one thread, or with the inflater
  in a background thread feeding a bounded queue. The thread can only help
  where the library releases the GIL while it inflates;
* ``mbx-pass``: ``open_backup().iter_members()`` reading every member, with the
  inflater mbx picked;
* ``tarfile-pass``: the standard library doing the same (``tarfile`` + ``gzip``);
* ``gzip -dc``: the command line tool, when present.

The baseline (ratio 1.00) is ``decompressobj-zlib``. Run::

    python benchmarks/bench_inflate.py --size 200M --json

or under pytest-benchmark (``pytest benchmarks/bench_inflate.py --benchmark-enable``,
size from ``MBX_BENCH_SIZE``, default 20M).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

from mbx.archive import available_inflaters, inflater, open_backup
from mbx.archive.base import ArchiveLimits
from mbx.archive.inflate import GzipInflater, load_inflater
from mbx.units import parse_size
from synth_samples import course_archive

INPUT_BLOCK = 1 << 18
OUTPUT_CHUNK = 1 << 20
#: inflated chunks a background inflater may run ahead of its reader
QUEUE_DEPTH = 8


# -- the methods: each returns the number of inflated (or member) bytes ----------------------

def _decompressobj(library: str):
    def run(path: Path) -> int:
        module = load_inflater(library)
        decompressor = module.decompressobj(31)
        total = 0
        with open(path, "rb", buffering=0) as file:
            while block := file.read(INPUT_BLOCK):
                while block:
                    total += len(decompressor.decompress(block, OUTPUT_CHUNK))
                    block = decompressor.unconsumed_tail
        return total
    return run


def _gzip_inflater(library: str):
    def run(path: Path) -> int:
        limits = ArchiveLimits(max_ratio=1e9)
        with open(path, "rb", buffering=0) as file:
            reader = GzipInflater(file, limits=limits, backend=load_inflater(library))
            total = 0
            while chunk := reader.read_chunk():
                total += len(chunk)
        return total
    return run


def _inflate_and_hash(library: str, in_thread: bool):
    def run(path: Path) -> int:
        digest = hashlib.sha1()
        with open(path, "rb", buffering=0) as file:
            reader = GzipInflater(file, limits=ArchiveLimits(max_ratio=1e9),
                                  backend=load_inflater(library))
            if not in_thread:
                while chunk := reader.read_chunk():
                    digest.update(chunk)
                return digest.digest_size
            chunks: queue.Queue = queue.Queue(QUEUE_DEPTH)

            def inflate() -> None:
                try:
                    while chunk := reader.read_chunk():
                        chunks.put(chunk)
                finally:
                    chunks.put(b"")

            worker = threading.Thread(target=inflate)
            worker.start()
            while chunk := chunks.get():
                digest.update(chunk)
            worker.join()
        return digest.digest_size
    return run


def run_mbx_pass(path: Path) -> int:
    total = 0
    with open_backup(path) as backup:
        for _info, stream in backup.iter_members():
            while chunk := stream.read(OUTPUT_CHUNK):
                total += len(chunk)
    return total


def run_tarfile_pass(path: Path) -> int:
    total = 0
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            if member.isfile():
                stream = archive.extractfile(member)
                while chunk := stream.read(OUTPUT_CHUNK):
                    total += len(chunk)
    return total


def run_gzip_command(path: Path) -> int:
    with open(path, "rb") as source:
        subprocess.run(["gzip", "-dc"], stdin=source, stdout=subprocess.DEVNULL, check=True)
    return 0


def methods() -> dict:
    found = {f"decompressobj-{name}": _decompressobj(name) for name in available_inflaters()}
    found.update({f"GzipInflater-{name}": _gzip_inflater(name) for name in available_inflaters()})
    for name in available_inflaters():
        found[f"sha1-inline-{name}"] = _inflate_and_hash(name, in_thread=False)
        found[f"sha1-thread-{name}"] = _inflate_and_hash(name, in_thread=True)
    found["mbx-pass"] = run_mbx_pass
    found["tarfile-pass"] = run_tarfile_pass
    if shutil.which("gzip"):
        found["gzip -dc"] = run_gzip_command
    return found


def measure(path: Path, repeats: int) -> dict:
    """Best time of each method; methods interleave within each repeat."""
    inflated = _decompressobj("zlib")(path)
    found = methods()
    best = {name: float("inf") for name in found}
    for _ in range(repeats):
        for name, method in found.items():
            start = time.perf_counter()
            method(path)
            best[name] = min(best[name], time.perf_counter() - start)
    base = best["decompressobj-zlib"]
    return {"inflated_bytes": inflated, "methods": {
        name: {"seconds": round(seconds, 3), "mb_per_s": round(inflated / seconds / 1e6, 1),
               "ratio": round(base / seconds, 2)} for name, seconds in best.items()}}


def peak_rss_of_pass(path: Path) -> float:
    """MiB of peak RSS that a full mbx pass adds above the interpreter, in a fresh process.

    Linux keeps ``ru_maxrss`` across ``exec`` (the child would report this
    process's peak), so the child reads its own high-water mark, ``VmHWM``.
    """
    script = ("import resource, sys\n"
              "def peak():\n"
              "    try:\n"
              "        with open('/proc/self/status') as status:\n"
              "            return next(int(line.split()[1]) for line in status\n"
              "                        if line.startswith('VmHWM:'))\n"
              "    except OSError:\n"
              "        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "from mbx.archive import open_backup\n"
              "before = peak()\n"
              "with open_backup(sys.argv[1]) as backup:\n"
              "    for info, stream in backup.iter_members():\n"
              "        while stream.read(1 << 20):\n"
              "            pass\n"
              "print((peak() - before) / 1024)\n")
    out = subprocess.run([sys.executable, "-c", script, str(path)], check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="200M", help="compressed size, e.g. 20M or 1G")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    path = course_archive(parse_size(args.size))
    report = {"compressed_bytes": path.stat().st_size, "mbx_inflater": inflater,
              **measure(path, args.repeats),
              "mbx_pass_peak_rss_mib_above_interpreter": round(peak_rss_of_pass(path), 1)}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{report['compressed_bytes'] / 1e6:.1f} MB tar.gz -> "
              f"{report['inflated_bytes'] / 1e6:.1f} MB, best of {args.repeats}; "
              f"mbx inflates with {inflater}")
        for name, entry in report["methods"].items():
            print(f"  {name:<22} {entry['mb_per_s']:>8.1f} MB/s  {entry['ratio']:>5.2f}x zlib")
        print(f"  peak RSS of an mbx pass: +{report['mbx_pass_peak_rss_mib_above_interpreter']}"
              " MiB above the interpreter")
    return 0


# -- pytest-benchmark ------------------------------------------------------------------------

try:
    import pytest
except ImportError:  # running as a script without pytest
    pytest = None

if pytest is not None:
    _TIMES: dict[str, float] = {}

    @pytest.fixture(scope="module")
    def archive_path() -> Path:
        return course_archive(parse_size(os.environ.get("MBX_BENCH_SIZE", "20M")))

    @pytest.mark.parametrize("method", list(methods()))
    def test_inflate(benchmark, archive_path, method):
        benchmark.pedantic(methods()[method], args=(archive_path,), rounds=3, iterations=1)
        if benchmark.stats is not None:
            _TIMES[method] = benchmark.stats.stats.min

    def test_report_ratios(archive_path):
        """Prints MB/s and ratios of the methods timed above (same run)."""
        if "decompressobj-zlib" not in _TIMES:
            pytest.skip("benchmarks disabled: run with --benchmark-enable")
        inflated = _decompressobj("zlib")(archive_path)
        base = _TIMES["decompressobj-zlib"]
        lines = [f"{inflated / 1e6:.1f} MB inflated"]
        for name, seconds in _TIMES.items():
            lines.append(f"{name:<22} {inflated / seconds / 1e6:8.1f} MB/s "
                         f"{base / seconds:5.2f}x zlib")
        print("\n" + "\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
