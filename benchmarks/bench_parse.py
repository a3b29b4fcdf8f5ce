"""Parser throughput on the forum of a generated course (``mbx synth``), as ratios to pyexpat.

Four methods parse the same in-memory document in one run:

* ``pyexpat``: expat with no handlers at all (the baseline, ratio 1.00);
* ``lxml``: lxml ``iterparse`` building a dict per post, clearing as it goes;
* ``mbx-python``: mbx's pure engine, a dict per post to a Python handler;
* ``mbx-cython``: mbx's compiled engine, a dict per post to a Python handler
  (left out under ``MBX_NO_EXTENSIONS=1``).

Run under pytest-benchmark (``pytest benchmarks/bench_parse.py --benchmark-enable``,
size from ``MBX_BENCH_SIZE``, default 20M) or directly::

    python benchmarks/bench_parse.py --size 200M --json

which prints one JSON object: each method's MB/s and ratio to the baseline, plus
peak RSS of the compiled engine above the interpreter's own.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time

import mbx.xml._core as core
from mbx import _impl
from mbx.units import parse_size
from synth_samples import forum_document
from xml.parsers import expat

POST_PATH = "/activity/forum/discussions/discussion/posts/post"
CHUNK = 1 << 20


def forum_bytes(size: int) -> bytes:
    """The forum document of about ``size`` bytes, read into memory."""
    return forum_document(size).read_bytes()


def _chunks(data: bytes):
    view = memoryview(data)
    for at in range(0, len(data), CHUNK):
        yield view[at:at + CHUNK]


# -- the four methods ---------------------------------------------------------------

def run_pyexpat(data: bytes) -> int:
    parser = expat.ParserCreate()
    for chunk in _chunks(data):
        parser.Parse(bytes(chunk), False)
    parser.Parse(b"", True)
    return 0


def run_lxml(data: bytes) -> int:
    from lxml import etree

    count = 0
    for _, element in etree.iterparse(io.BytesIO(data), events=("end",), tag="post"):
        record = dict(element.attrib)
        for child in element:
            if len(child) == 0:
                record[child.tag] = child.text or ""
        count += 1
        element.clear()
        parent = element.getparent()
        while element.getprevious() is not None:
            del parent[0]
    return count


def _run_mbx(engine_module: str, data: bytes) -> int:
    from mbx.xml import Parser

    with core.engine_in_use(engine_module):
        records = []
        parser = Parser()
        parser.add_path(POST_PATH, records.append)
        count = 0
        for chunk in _chunks(data):
            parser.feed(chunk)
            count += len(records)
            records.clear()
        parser.close()
        return count + len(records)


def _mbx_method(engine_module: str):
    def run_mbx(data: bytes) -> int:
        return _run_mbx(engine_module, data)
    return run_mbx


_COMPILED_ENGINE = _impl.TWINS["_parser"][0]
METHODS = {"pyexpat": run_pyexpat, "lxml": run_lxml,
           **{"mbx-cython" if name == _COMPILED_ENGINE else "mbx-python": _mbx_method(name)
              for name in core.ENGINES}}


def measure(data: bytes, repeats: int) -> dict:
    results = {}
    for name, method in METHODS.items():
        best = min(_timed(method, data) for _ in range(repeats))
        results[name] = {"seconds": round(best, 4), "mb_per_s": round(len(data) / best / 1e6, 1)}
    base = results["pyexpat"]["seconds"]
    for entry in results.values():
        entry["ratio"] = round(base / entry["seconds"], 2)
    return results


def _timed(method, data: bytes) -> float:
    start = time.perf_counter()
    method(data)
    return time.perf_counter() - start


def peak_rss_above_interpreter(size: int) -> dict:
    """Peak RSS (MiB) of parsing a generated file of ``size`` in a fresh process,
    next to the peak of the same process that imports mbx and parses nothing."""
    path = forum_document(size)
    script = (
        "import sys\n"
        "import mbx.xml\n"
        "n = [0]\n"
        "p = mbx.xml.Parser()\n"
        f"p.add_path({POST_PATH!r}, lambda r: n.__setitem__(0, n[0] + 1))\n"
        "if sys.argv[2] == 'parse':\n"
        "    p.parse(sys.argv[1])\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, from this parent
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print(int(hwm.split()[1]) / 1024)\n")
    peaks = {}
    for mode in ("idle", "parse"):
        out = subprocess.run([sys.executable, "-c", script, str(path), mode], check=True,
                             capture_output=True, text=True)
        peaks[mode] = float(out.stdout.strip())
    return {"interpreter_mib": round(peaks["idle"], 1), "parsing_mib": round(peaks["parse"], 1),
            "above_interpreter_mib": round(peaks["parse"] - peaks["idle"], 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="20M", help="document size, e.g. 200M or 1G")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rss-size", default=None,
                        help="also measure peak RSS of the compiled engine on this size")
    args = parser.parse_args(argv)
    size = parse_size(args.size)
    data = forum_bytes(size)
    import mbx

    report = {"size_bytes": len(data), "implementation": mbx.implementation,
              "methods": measure(data, args.repeats)}
    if args.rss_size:
        report["peak_rss"] = {"size": args.rss_size,
                              **peak_rss_above_interpreter(parse_size(args.rss_size))}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{len(data) / 1e6:.1f} MB forum, best of {args.repeats}")
        for name, entry in report["methods"].items():
            print(f"  {name:<11} {entry['mb_per_s']:>8.1f} MB/s  {entry['ratio']:>5.2f}x pyexpat")
        if "peak_rss" in report:
            rss = report["peak_rss"]
            print(f"  peak RSS parsing {rss['size']}: {rss['parsing_mib']} MiB, "
                  f"+{rss['above_interpreter_mib']} MiB above the interpreter's own")
    return 0


# -- pytest-benchmark ------------------------------------------------------------------

try:
    import pytest
except ImportError:  # running as a script without pytest
    pytest = None

if pytest is not None:
    _TIMES: dict[str, float] = {}

    @pytest.fixture(scope="module")
    def forum() -> bytes:
        return forum_bytes(parse_size(os.environ.get("MBX_BENCH_SIZE", "20M")))

    @pytest.mark.parametrize("method", list(METHODS))
    def test_parse(benchmark, forum, method):
        result = benchmark.pedantic(METHODS[method], args=(forum,), rounds=3, iterations=1)
        if method != "pyexpat":
            assert result > 1000  # every post was delivered
        if benchmark.stats is not None:
            _TIMES[method] = benchmark.stats.stats.min

    def test_report_ratios(forum):
        """Prints MB/s and ratios of the methods timed above (same run)."""
        if "pyexpat" not in _TIMES:
            pytest.skip("benchmarks disabled: run with --benchmark-enable")
        base = _TIMES["pyexpat"]
        lines = [f"{len(forum) / 1e6:.1f} MB forum"]
        for name, seconds in _TIMES.items():
            lines.append(f"{name:<11} {len(forum) / seconds / 1e6:8.1f} MB/s "
                         f"{base / seconds:5.2f}x pyexpat")
        print("\n" + "\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
