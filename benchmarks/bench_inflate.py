"""Inflating and reading a generated tar.gz backup, as ratios to zlib in the same run.

The archive (default about 200 MB compressed, written with zlib level 6 like
PHP's gzopen) holds Moodle-like XML and incompressible blobs. Timed, each best
of ``--repeats``, in MB/s of inflated output:

* ``decompressobj-<lib>``: the library alone (zlib, isal, zlib-ng when
  installed): gzip mode, 256 KiB in, at most 1 MiB out per call;
* ``GzipInflater-<lib>``: mbx's inflater over that library (own gzip framing
  and CRC-32, limits checked);
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
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from mbx.units import parse_size

from mbx.archive import available_inflaters, inflater, open_backup
from mbx.archive.base import ArchiveLimits
from mbx.archive.inflate import GzipInflater, load_inflater

INPUT_BLOCK = 1 << 18
OUTPUT_CHUNK = 1 << 20
_WORDS = ("the a and to of in is for on that with this it you we be are as have not moodle "
          "course forum reply question answer thanks week module assignment deadline grade "
          "learning students teacher quiz lesson reading chapter example problem").split()




def _text_block(rng: random.Random) -> bytes:
    posts = []
    for number in range(20000):
        words = " ".join(rng.choices(_WORDS, k=rng.randint(5, 120)))
        posts.append(f'<post id="{number}"><subject>Re: {" ".join(rng.choices(_WORDS, k=5))}'
                     f"</subject><message>&lt;p&gt;{words}&lt;/p&gt;</message>"
                     f"<created>{1600000000 + rng.randint(0, 10 ** 8)}</created></post>\n")
    return "".join(posts).encode()


def write_sample(path: Path, compressed_size: int, seed: int = 1) -> None:
    """A tar.gz of XML activities and random blobs, about ``compressed_size`` bytes."""
    rng = random.Random(seed)
    text = _text_block(rng)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6,
                                                mtime=0) as compressed, \
            tarfile.open(fileobj=compressed, mode="w|", format=tarfile.USTAR_FORMAT) as archive:
        number = 0
        while raw.tell() < compressed_size:
            number += 1
            if rng.random() < 0.15:
                content = rng.randbytes(rng.randint(1 << 16, 4 << 20))
                name = hashlib.sha1(content).hexdigest()
                name = f"files/{name[:2]}/{name}"
            else:
                start = rng.randrange(len(text) // 2)
                content = text[start:start + rng.randint(1 << 20, 4 << 20)]
                name = f"activities/forum_{number}/forum.xml"
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(content), 1700000000
            archive.addfile(info, io.BytesIO(content))


def sample(size: int) -> Path:
    """The generated archive, cached on disk between runs."""
    cache = Path(tempfile.gettempdir()) / f"mbx-bench-inflate-{size}.tar.gz"
    if not cache.exists():
        partial = cache.with_suffix(".part")
        write_sample(partial, size)
        partial.replace(cache)
    return cache


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
    path = sample(parse_size(args.size))
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
        return sample(parse_size(os.environ.get("MBX_BENCH_SIZE", "20M")))

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
