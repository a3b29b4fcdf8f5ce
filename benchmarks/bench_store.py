"""``mbx store`` on a term of weekly backups, next to ``gzip -dc``, borg and restic.

The history (``--versions`` weekly backups, the last ``--size`` compressed) is
what ``mbx.synth.synthesize_history`` writes with seed 1, cached in the temp
dir or ``--work DIR`` (``mbx-bench-history-VERSIONS-SIZE``; the repositories are
made beside it, one at a time). Measured in one run, on the same files:

* ``gzip -dc`` of the last version, the baseline for time;
* ``python -m mbx store add`` of every version in turn, each in a fresh process,
  with its peak RSS (``VmHWM``, polled), then ``mbx store get`` of the last;
* the store's size on disk against the sum of the archives and against the last
  version (target: at most 1.15 times one version);
* the same ``.mbz`` files put, as a user would, in a borg repository
  (``borg init --encryption=none``, one ``borg create`` per version) and a restic
  one (``restic init``, one ``restic backup`` per version), with their
  repository sizes and times; left out with a note when the binary is absent.

Times are ratios against ``gzip -dc`` of the same run. Run::

    python benchmarks/bench_store.py --versions 5 --size 20M
    python benchmarks/bench_store.py --versions 30 --size 1G --json

or under pytest-benchmark (``pytest benchmarks/bench_store.py``; from
``MBX_BENCH_STORE_VERSIONS`` and ``MBX_BENCH_STORE_SIZE``, default 5 and 20M;
asserts correctness only).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from bench_archive import _warm, run_timed
from mbx.synth import synthesize_history
from mbx.synth.history import version_name
from mbx.units import parse_size


def history(versions: int, size: int, work: str | os.PathLike | None = None) -> list[Path]:
    """The cached history's archives, oldest first, under ``work`` (default the temp
    dir; the repositories are made beside it)."""
    folder = Path(work or tempfile.gettempdir()) / f"mbx-bench-history-{versions}-{size}"
    if not (folder / "done").exists():
        shutil.rmtree(folder, ignore_errors=True)
        result = synthesize_history(folder, versions=versions, size=size, seed=1)
        (folder / "done").write_text(json.dumps({"seconds": result["seconds"]}))
        print(f"generated {folder}: {result['size']} bytes in {result['seconds']} s",
              file=sys.stderr)
    return [folder / version_name(number) for number in range(1, versions + 1)]


def disk_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (what the repository holds)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def gzip_seconds(path: Path) -> float:
    _warm(path)  # from the page cache, as the adds read a file just written or read
    with open(path, "rb") as source:
        started = time.perf_counter()
        subprocess.run(["gzip", "-dc"], stdin=source, stdout=subprocess.DEVNULL, check=True)
        return time.perf_counter() - started


def _run(command: list[str], env: dict | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env)
    if done.returncode != 0:
        raise AssertionError(f"{command[0]} failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return time.perf_counter() - started


def mbx(*arguments: str, poll_rss: bool = True) -> dict:
    result = run_timed([sys.executable, "-m", "mbx", "-q", *arguments], poll_rss=poll_rss)
    if result["returncode"] != 0:
        raise AssertionError(result["stderr"].decode(errors="replace")[-2000:])
    return result


def member_hashes(path: Path) -> dict[str, str]:
    """Member name -> sha1 of its bytes, read with the stdlib (get gives the members
    back, not the same compressed stream)."""
    hashes = {}
    with tarfile.open(path, "r|gz") as tar:
        for member in tar:
            if member.isfile():
                digest = hashlib.sha1()
                source = tar.extractfile(member)
                while chunk := source.read(1 << 20):
                    digest.update(chunk)
                hashes[member.name] = digest.hexdigest()
    return hashes


def measure_mbx(archives: list[Path], work: Path) -> dict:
    store = work / "store"
    mbx("store", "init", str(store), poll_rss=False)
    add_seconds, add_peaks, added = 0.0, [], []
    for path in archives:
        result = mbx("store", "add", str(store), str(path), "--course", "course", "--json")
        add_seconds += result["seconds"]
        add_peaks.append(result["peak_kib"])
        added.append(json.loads(result["stdout"])["added_bytes"])
    out = work / "back.mbz"
    result = mbx("store", "get", str(store), f"course@{len(archives)}", str(out))
    same = member_hashes(out) == member_hashes(archives[-1])
    out.unlink()
    size = disk_bytes(store)
    shutil.rmtree(store)
    return {"store_bytes": size, "add_s": add_seconds,
            "add_peak_kib": max(add_peaks), "add_peaks_kib": add_peaks, "added_bytes": added,
            "get_s": result["seconds"], "get_peak_kib": result["peak_kib"],
            "get_same_members": same}


def measure_borg(archives: list[Path], work: Path) -> dict | None:
    if shutil.which("borg") is None:
        return None
    repo = work / "borg"
    env = {**os.environ, "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
           "BORG_BASE_DIR": str(work / "borg-home")}
    _run(["borg", "init", "--encryption=none", str(repo)], env)
    # each file by its name, as a user backing up a folder of downloads would
    seconds = sum(_borg_create(repo, number, path, env)
                  for number, path in enumerate(archives, 1))
    size = disk_bytes(repo)
    shutil.rmtree(repo)  # a full run's repositories would not fit on the disk together
    return {"bytes": size, "seconds": seconds}


def _borg_create(repo: Path, number: int, path: Path, env: dict) -> float:
    started = time.perf_counter()
    done = subprocess.run(["borg", "create", f"{repo}::v{number}", path.name],
                          cwd=path.parent, capture_output=True, env=env)
    if done.returncode != 0:
        raise AssertionError(f"borg failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return time.perf_counter() - started


def measure_restic(archives: list[Path], work: Path) -> dict | None:
    if shutil.which("restic") is None:
        return None
    repo = work / "restic"
    env = {**os.environ, "RESTIC_PASSWORD": "x", "RESTIC_REPOSITORY": str(repo),
           "RESTIC_CACHE_DIR": str(work / "restic-cache")}
    _run(["restic", "init"], env)
    seconds = sum(_run(["restic", "backup", "--quiet", str(path)], env) for path in archives)
    size = disk_bytes(repo)
    shutil.rmtree(repo)
    return {"bytes": size, "seconds": seconds}


def measure(archives: list[Path], tools: bool = True) -> dict:
    work = Path(tempfile.mkdtemp(prefix="mbx-bench-store-", dir=archives[0].parent.parent))
    try:
        gzip = gzip_seconds(archives[-1])
        store = measure_mbx(archives, work)
        others = {"borg": measure_borg(archives, work) if tools else None,
                  "restic": measure_restic(archives, work) if tools else None}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total = sum(path.stat().st_size for path in archives)
    last = archives[-1].stat().st_size
    versions = len(archives)
    out = {"versions": versions, "archives_bytes": total, "last_version_bytes": last,
           "first_version_bytes": archives[0].stat().st_size,
           "store_bytes": store["store_bytes"],
           "store_over_archives": round(store["store_bytes"] / total, 3),
           "store_over_one_version": round(store["store_bytes"] / last, 3),
           "gzip_dc_s": round(gzip, 3),
           "add_s_per_version": round(store["add_s"] / versions, 3),
           "add_over_gzip_dc": round(store["add_s"] / versions / gzip, 2),
           "get_s": round(store["get_s"], 3), "get_over_gzip_dc": round(store["get_s"] / gzip, 2),
           "add_peak_rss_mib": round(store["add_peak_kib"] / 1024, 1),
           "add_peak_rss_mib_each": [round(kib / 1024, 1) for kib in store["add_peaks_kib"]],
           "get_peak_rss_mib": round(store["get_peak_kib"] / 1024, 1),
           "get_same_members": store["get_same_members"], "added_bytes": store["added_bytes"],
           "notes": []}
    for name, figures in others.items():
        if figures is None:
            out["notes"].append(f"{name}: not measured (no {name} binary)" if tools
                                else f"{name}: left out (--no-tools)")
            continue
        out[f"{name}_bytes"] = figures["bytes"]
        out[f"{name}_over_one_version"] = round(figures["bytes"] / last, 3)
        out[f"{name}_s_per_version"] = round(figures["seconds"] / versions, 3)
        out[f"{name}_over_gzip_dc"] = round(figures["seconds"] / versions / gzip, 2)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=5, help="weekly versions (default 5)")
    parser.add_argument("--size", default="20M", help="the last version's compressed size")
    parser.add_argument("--no-tools", action="store_true", help="mbx store only: no borg, restic")
    parser.add_argument("--work", metavar="DIR",
                        help="where the history is cached and the repositories made "
                             "(default the temp dir)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--save", metavar="FILE", help="also write that JSON object to FILE")
    args = parser.parse_args(argv)
    archives = history(args.versions, parse_size(args.size), args.work)
    result = {"size": args.size, **measure(archives, not args.no_tools)}
    if args.save:
        Path(args.save).write_text(json.dumps(result) + "\n")
    if args.json:
        print(json.dumps(result))
        return 0
    mb = 1e6
    print(f"{args.versions} weekly versions, the last {result['last_version_bytes'] / mb:.1f} MB, "
          f"all {result['archives_bytes'] / mb:.1f} MB; gzip -dc of the last "
          f"{result['gzip_dc_s']} s")
    print(f"{'':<10}{'repository MB':>15}{'/ one version':>15}{'/ all':>8}"
          f"{'s per version':>15}{'/ gzip -dc':>12}")
    rows = [("mbx store", result["store_bytes"], result["add_s_per_version"],
             result["add_over_gzip_dc"])]
    rows += [(name, result[f"{name}_bytes"], result[f"{name}_s_per_version"],
              result[f"{name}_over_gzip_dc"])
             for name in ("borg", "restic") if f"{name}_bytes" in result]
    for name, size, seconds, over_gzip in rows:
        print(f"{name:<10}{size / mb:>15.1f}{size / result['last_version_bytes']:>15.3f}"
              f"{size / result['archives_bytes']:>8.3f}{seconds:>15}{over_gzip:>12}")
    print(f"mbx store get of the last: {result['get_s']} s ({result['get_over_gzip_dc']} x "
          f"gzip -dc), same members: {result['get_same_members']}; peak RSS add "
          f"{result['add_peak_rss_mib']} MiB (the first version's "
          f"{result['add_peak_rss_mib_each'][0]}), get {result['get_peak_rss_mib']} MiB")
    for note in result["notes"]:
        print(note)
    return 0


def test_store_benchmark(benchmark):
    """A small history goes into the store and comes back member for member; no timing asserts."""
    archives = history(int(os.environ.get("MBX_BENCH_STORE_VERSIONS", "5")),
                       parse_size(os.environ.get("MBX_BENCH_STORE_SIZE", "20M")))
    result = benchmark.pedantic(measure, args=(archives,), kwargs={"tools": False},
                                rounds=1, iterations=1)
    assert result["get_same_members"]
    assert result["store_bytes"] < result["archives_bytes"]
    assert all(added > 0 for added in result["added_bytes"])


if __name__ == "__main__":
    sys.exit(main())
