"""A transform pass (by default anonymise plus roll-dates) next to the limit for any rewrite.

The archive (``--size``, compressed) is the synthetic course ``mbx.synth``
writes with seed 1 (``synth_samples.course_archive``), cached in the temp dir.
Measured in one run, on the same file, each in a fresh process:

* the baseline: inflating the archive and deflating the same bytes again with
  the compressor and level mbx writes with (isal, level 2), which is the least
  any rewrite of the archive costs;
* ``python -m mbx transform FILE OUT <flags>``, with its peak RSS (``VmHWM``,
  polled).

Figures are ratios against the baseline of the same run (target: at most 1.5);
``--compare 100M,1G`` adds the peak RSS growth (target: under 16 MiB, and under
128 MiB at every size). Run::

    python benchmarks/bench_transform.py --size 100M
    python benchmarks/bench_transform.py --compare 100M,1G --repeats 3 --json

or under pytest-benchmark (``pytest benchmarks/bench_transform.py``; size from
``MBX_BENCH_TRANSFORM_SIZE``, default 20M; asserts correctness only).

Measured (2 cores shared with other work, so noisy; best of 3, default flags,
``python benchmarks/bench_transform.py --compare 100M,1G --repeats 3``):

====================  ===========  ===========
size                  100M         1G
====================  ===========  ===========
inflate + deflate s   0.73         6.13
transform s           1.61         11.08
transform / baseline  2.22         1.81
peak RSS MiB          67.0         81.7 (+14.7)
====================  ===========  ===========

Before the name search ran without the GIL in a worker thread, rewritten members
were streamed into the deflater unspooled and small members' segment ends were
batched, the same run gave about 3.1 and 2.6-2.8 (2.62 on a quieter machine:
17.74 s against 6.77 s). Where the rest goes at 1 GB: the inflate (one core's
worth of the stream phase), the name search of anonymise (about 4.5 s of one
core, in ``mbx-scrub``, after ``users.xml`` is known, so only in the finish
phase), the spool of the XML members written and read back, and at close the
copy of the body after the index and the fsync. The 1.5 target is not reached.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench_archive import run_timed
from mbx.units import parse_size
from synth_samples import course_archive
from tables import print_runs

#: What the issue measures: anonymise and roll-dates in one pass.
DEFAULT_FLAGS = ["--anonymise", "--key", "bench-key", "--roll-dates", "+26w"]

BASELINE = """
import sys
from isal import isal_zlib
from mbx.archive.writer.pack import deflate_engine
inflate = isal_zlib.decompressobj(31)
engine, crc32 = deflate_engine("isal", None)
crc = 0
with open(sys.argv[1], "rb") as source, open(sys.argv[2], "wb") as target:
    while chunk := source.read(1 << 20):
        data = inflate.decompress(chunk)
        crc = crc32(data, crc)
        target.write(engine.compress(data))
    target.write(engine.flush())
"""


def measure(path: Path, flags: list[str], repeats: int = 1) -> dict:
    work = Path(tempfile.mkdtemp(prefix="mbx-bench-transform-", dir=path.parent))
    best: dict[str, float] = {}
    peak = 0
    try:
        for _ in range(repeats):
            result = run_timed([sys.executable, "-c", BASELINE, str(path), str(work / "base.gz")])
            assert result["returncode"] == 0, result["stderr"].decode(errors="replace")
            best["baseline"] = min(best.get("baseline", float("inf")), result["seconds"])
            (work / "base.gz").unlink()
            result = run_timed([sys.executable, "-m", "mbx", "-q", "transform", str(path),
                                str(work / "out.mbz"), *flags, "--json"], poll_rss=True)
            if result["returncode"] != 0:
                raise AssertionError(result["stderr"].decode(errors="replace")[-2000:])
            best["transform"] = min(best.get("transform", float("inf")), result["seconds"])
            peak = max(peak, result["peak_kib"])
            report = json.loads(result["stdout"])
            (work / "out.mbz").unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"compressed_bytes": path.stat().st_size, "path": str(path), "flags": flags,
            "baseline_s": round(best["baseline"], 3), "transform_s": round(best["transform"], 3),
            "transform_over_baseline": round(best["transform"] / best["baseline"], 2),
            "peak_rss_mib": round(peak / 1024, 1), "phases_s": report["seconds"],
            "members_changed": report["members_changed"], "details": report["details"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100M", help="compressed size, e.g. 100M or 1G")
    parser.add_argument("--compare", metavar="A,B", help="two sizes, e.g. 100M,1G: adds RSS growth")
    parser.add_argument("--repeats", type=int, default=1, help="best of N for each timing")
    parser.add_argument("--flags", help="the transform flags, as one string (default: "
                        + " ".join(DEFAULT_FLAGS) + ")")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    flags = args.flags.split() if args.flags else DEFAULT_FLAGS
    labels = args.compare.split(",") if args.compare else [args.size]
    runs = [{"size": label, **measure(course_archive(parse_size(label)), flags, args.repeats)}
            for label in labels]
    compare = None
    if len(runs) == 2:
        compare = {"from": runs[0]["size"], "to": runs[1]["size"],
                   "peak_rss_growth_mib": round(runs[1]["peak_rss_mib"] - runs[0]["peak_rss_mib"], 1)}
    if args.json:
        print(json.dumps({"runs": runs, "compare": compare} if compare else runs[0]))
        return 0
    print(f"mbx transform {' '.join(flags)}")
    rows = [("compressed MB", lambda r: f"{r['compressed_bytes'] / 1e6:.1f}"),
            ("inflate + deflate s", lambda r: str(r["baseline_s"])),
            ("transform s", lambda r: str(r["transform_s"])),
            ("transform / baseline", lambda r: str(r["transform_over_baseline"])),
            ("peak RSS MiB", lambda r: str(r["peak_rss_mib"]))]
    print_runs(runs, rows, compare=compare, growth="peak_rss_growth_mib")
    return 0


def test_transform_benchmark(benchmark):
    """A transform pass over a small synthetic course runs and changes members; no timing
    asserts."""
    path = course_archive(parse_size(os.environ.get("MBX_BENCH_TRANSFORM_SIZE", "20M")))
    result = benchmark.pedantic(measure, args=(path, DEFAULT_FLAGS), rounds=1, iterations=1)
    assert result["members_changed"] > 0
    assert result["peak_rss_mib"] > 0


if __name__ == "__main__":
    sys.exit(main())
