"""``mbx restore`` of a generated course into SQLite and PostgreSQL, next to ``gzip -dc``.

The archive (``--size``, compressed) is the synthetic course ``mbx.synth``
writes with seed 1 (``synth_samples.course_archive``), cached in the temp dir.
Measured in one run, on the same file:

* ``gzip -dc FILE > /dev/null``, the baseline;
* ``python -m mbx restore FILE --into sqlite:NEW`` in a fresh process (a new
  database each time), with its peak RSS (``VmHWM``, polled);
* the same into a fresh PostgreSQL database, when a server is at hand:
  ``MBX_TEST_POSTGRES``, or one started here from the Debian binaries the tests
  use (``tests/pgserver.py``); ``--no-postgres`` leaves it out.

Figures are ratios against ``gzip -dc`` of the same run. Run::

    python benchmarks/bench_restore.py --size 100M
    python benchmarks/bench_restore.py --compare 100M,1G --json

or under pytest-benchmark (``pytest benchmarks/bench_restore.py``; size from
``MBX_BENCH_RESTORE_SIZE``, default 20M; asserts correctness only).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_archive import run_timed
from mbx.units import parse_size
from synth_samples import course_archive
from tables import print_runs

ROOT = Path(__file__).resolve().parents[1]


def gzip_seconds(path: Path) -> float:
    with open(path, "rb") as source:
        started = time.perf_counter()
        subprocess.run(["gzip", "-dc"], stdin=source, stdout=subprocess.DEVNULL, check=True)
        return time.perf_counter() - started


def restore_once(path: Path, target: str, files: Path) -> dict:
    result = run_timed([sys.executable, "-m", "mbx", "-q", "restore", str(path), "--into", target,
                        "--files", str(files), "--json"], poll_rss=True)
    if result["returncode"] != 0:
        raise AssertionError(f"mbx restore failed: {result['stderr'].decode(errors='replace')[-2000:]}")
    report = json.loads(result["stdout"])
    return {"seconds": result["seconds"], "peak_kib": result["peak_kib"], "report": report}


@contextlib.contextmanager
def postgres_server():
    """A server URL: MBX_TEST_POSTGRES, or a throwaway one (None when there is none)."""
    if os.environ.get("MBX_TEST_POSTGRES"):
        yield os.environ["MBX_TEST_POSTGRES"]
        return
    folder = Path(tempfile.mkdtemp(prefix="mbx-bench-pg-"))
    folder.chmod(0o755)  # the server may run as the postgres user
    script = ROOT / "tests" / "pgserver.py"
    started = subprocess.run([sys.executable, str(script), "start", str(folder / "server")],
                             capture_output=True, text=True)
    if started.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        yield None
        return
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([sys.executable, str(script), "stop", str(folder / "server")],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _fresh_pg_database(server: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server.rpartition("/")
    return f"{base}/{name}"


def measure(path: Path, repeats: int = 1, postgres: bool = True) -> dict:
    best: dict[str, float] = {}
    peak = 0
    rows = 0
    work = Path(tempfile.mkdtemp(prefix="mbx-bench-restore-"))

    def keep(key: str, seconds: float) -> None:
        best[key] = min(best.get(key, float("inf")), seconds)

    try:
        with postgres_server() if postgres else contextlib.nullcontext(None) as server:
            for attempt in range(repeats):
                keep("gzip_dc", gzip_seconds(path))
                database = work / f"t{attempt}.db"
                result = restore_once(path, f"sqlite:{database}", work / f"pool{attempt}")
                keep("sqlite", result["seconds"])
                peak = max(peak, result["peak_kib"])
                rows = sum(result["report"]["rows"].values())
                phases = result["report"]["phases"]
                database.unlink()
                shutil.rmtree(work / f"pool{attempt}", ignore_errors=True)
                if server:
                    url = _fresh_pg_database(server, f"mbx_bench_{attempt}")
                    result = restore_once(path, url, work / f"pgpool{attempt}")
                    keep("postgresql", result["seconds"])
                    shutil.rmtree(work / f"pgpool{attempt}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    gzip = best["gzip_dc"]
    out = {"compressed_bytes": path.stat().st_size, "path": str(path), "rows": rows,
           "gzip_dc_s": round(gzip, 3), "restore_sqlite_s": round(best["sqlite"], 3),
           "sqlite_over_gzip_dc": round(best["sqlite"] / gzip, 2),
           "restore_peak_rss_mib": round(peak / 1024, 1), "sqlite_phases_s": phases}
    if "postgresql" in best:
        out["restore_postgresql_s"] = round(best["postgresql"], 3)
        out["postgresql_over_gzip_dc"] = round(best["postgresql"] / gzip, 2)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100M", help="compressed size, e.g. 100M or 1G")
    parser.add_argument("--compare", metavar="A,B", help="two sizes, e.g. 100M,1G: adds RSS growth")
    parser.add_argument("--repeats", type=int, default=1, help="best of N for each timing")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    labels = args.compare.split(",") if args.compare else [args.size]
    runs = [{"size": label, **measure(course_archive(parse_size(label)), args.repeats,
                                      not args.no_postgres)} for label in labels]
    compare = None
    if len(runs) == 2:
        compare = {"from": runs[0]["size"], "to": runs[1]["size"],
                   "restore_peak_rss_growth_mib": round(runs[1]["restore_peak_rss_mib"]
                                                        - runs[0]["restore_peak_rss_mib"], 1)}
    if args.json:
        print(json.dumps({"runs": runs, "compare": compare} if compare else runs[0]))
        return 0
    keys = [("compressed MB", lambda r: f"{r['compressed_bytes'] / 1e6:.1f}"),
            ("rows restored", lambda r: str(r["rows"])),
            ("gzip -dc s", lambda r: str(r["gzip_dc_s"])),
            ("restore SQLite s", lambda r: str(r["restore_sqlite_s"])),
            ("SQLite / gzip -dc", lambda r: str(r["sqlite_over_gzip_dc"])),
            ("restore PostgreSQL s", lambda r: str(r.get("restore_postgresql_s"))),
            ("PostgreSQL / gzip -dc", lambda r: str(r.get("postgresql_over_gzip_dc"))),
            ("peak RSS MiB (SQLite)", lambda r: str(r["restore_peak_rss_mib"]))]
    print_runs(runs, keys, compare=compare, growth="restore_peak_rss_growth_mib")
    return 0


def test_restore_benchmark(benchmark):
    """A restore of a small synthetic course runs and writes rows; no timing asserts."""
    path = course_archive(parse_size(os.environ.get("MBX_BENCH_RESTORE_SIZE", "20M")))
    result = benchmark.pedantic(measure, args=(path,), kwargs={"postgres": False},
                                rounds=1, iterations=1)
    assert result["rows"] > 1000
    assert result["restore_peak_rss_mib"] > 0


if __name__ == "__main__":
    sys.exit(main())
