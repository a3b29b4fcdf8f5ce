"""``anonymise`` on a generated course backup, next to re-compressing the same archive.

The archive (``--size``, compressed) is the synthetic course the other
benchmarks share (``synth_samples.course_archive``, seed 1). Measured in one
run, best of ``--repeat``:

* ``inflate+deflate``: the archive inflated and deflated again in memory by
  isal at the writer's level (2), nothing parsed: the floor of any transform;
* ``copy``: :func:`mbx.transform.run` with no transform (survey, then every
  member through the streaming writer);
* ``anonymise``: the transform on the archive as generated (no one is named in
  its posts);
* ``anonymise, names in posts``: on a copy whose forum posts each end with
  two users' full names, a username and an e-mail, so every post is rewritten.

Ratios are against ``inflate+deflate``. Run::

    python benchmarks/bench_anonymise.py --size 100M
    python benchmarks/bench_anonymise.py --size 1G --repeat 1 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from isal import isal_zlib

from mbx.transform import Transform, run
from mbx.transform.anonymise import anonymise
from mbx.units import parse_size
from synth_samples import course_archive

POSTS = "/activity/forum/discussions/discussion/posts/post"
BLOCK = 1 << 20


def inflate_deflate(path: Path) -> None:
    inflater = isal_zlib.decompressobj(31)
    deflater = isal_zlib.compressobj(2, isal_zlib.DEFLATED, 31)
    with open(path, "rb") as stream:
        while block := stream.read(BLOCK):
            deflater.compress(inflater.decompress(block))
    deflater.flush()


class _Mentions(Transform):
    """Ends every forum post with users' names (users.xml read in the survey)."""

    name = "mentions"

    def __init__(self) -> None:
        self.users: list[dict] = []

    def survey(self, facts):
        return [("users.xml", "/users/user", self.users.append)]

    def rewrites(self, name, facts):
        if name.startswith("activities/forum_") and name.endswith("/forum.xml"):
            return [(POSTS, self._mention)]
        return ()

    def _mention(self, post) -> None:
        if "message" not in post.spans or not self.users:
            return
        first = self.users[int(post.get("id") or 0) % len(self.users)]
        second = self.users[(int(post.get("id") or 0) * 7 + 3) % len(self.users)]
        post.replace("message", (post.get("message") or "") + (
            f"<p>{first['firstname']} {first['lastname']} and {second['lastname']}, "
            f"{second['firstname']} ({first['username']}, {second['email']})</p>"))


def best(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(size: int, repeat: int) -> dict:
    source = course_archive(size)
    folder = Path(tempfile.mkdtemp(prefix="mbx-bench-anon-"))
    mentioned = folder / "mentioned.mbz"
    run(source, mentioned, [_Mentions()])
    times = {
        "inflate+deflate": best(lambda: inflate_deflate(source), repeat),
        "copy": best(lambda: run(source, folder / "copy.mbz", []), repeat),
        "anonymise": best(lambda: anonymise(source, folder / "anon.mbz", key="k"), repeat),
        "inflate+deflate, names in posts": best(lambda: inflate_deflate(mentioned), repeat),
        "anonymise, names in posts": best(
            lambda: anonymise(mentioned, folder / "anon2.mbz", key="k"), repeat),
    }
    report = anonymise(mentioned, folder / "anon2.mbz", key="k")
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    return {"archive": str(source), "size": source.stat().st_size,
            "seconds": {name: round(value, 3) for name, value in times.items()},
            "ratios": {"copy": round(times["copy"] / times["inflate+deflate"], 2),
                       "anonymise": round(times["anonymise"] / times["inflate+deflate"], 2),
                       "anonymise, names in posts": round(
                           times["anonymise, names in posts"]
                           / times["inflate+deflate, names in posts"], 2)},
            "replacements": report.details["anonymise"]["text_replacements"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100M")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args(argv)
    result = measure(parse_size(options.size), options.repeat)
    if options.json:
        print(json.dumps(result, indent=2))
    else:
        for name, seconds in result["seconds"].items():
            print(f"{name:34} {seconds:8.3f} s")
        print("ratios to inflate+deflate:", result["ratios"])
        print("replacements in text:", result["replacements"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
