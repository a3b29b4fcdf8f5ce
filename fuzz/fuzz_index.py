"""atheris harness for the ``.ARCHIVE_INDEX`` reader (``mbx.archive.parse_archive_index``).

The input is the index file itself. It is parsed with small limits (names of
at most 256 bytes, 512 entries), so the limit checks are reached too.

Findings: any exception that is not an ``mbx.errors.MbxError``; an accepted
index whose entries break what the reader promises: a name that is unsafe or
not normalised (the member-name rules), a negative size or time, or a count
of entries other than the header's.

    python fuzz/fuzz_index.py -atheris_runs=20000 fuzz/corpus/index
"""

from __future__ import annotations

import io
import re
import sys

import atheris

with atheris.instrument_imports():
    from archive_inputs import check_name
    from mbx.archive import ArchiveLimits, parse_archive_index
    from mbx.errors import MbxError

LIMITS = ArchiveLimits(max_name_length=256, max_members=512)
_COUNT = re.compile(rb"Moodle archive file index\. Count: (\d+)")


def TestOneInput(data: bytes) -> None:
    try:
        entries = parse_archive_index(io.BytesIO(data), limits=LIMITS, source="fuzz")
    except MbxError:
        return
    count = _COUNT.match(data)
    if count is None or int(count.group(1)) != len(entries):
        raise AssertionError(f"{len(entries)} entries accepted from {data[:80]!r}")
    for entry in entries:
        check_name(entry.name)
        if entry.size < 0 or (entry.mtime is not None and entry.mtime < 0):
            raise AssertionError(f"negative size or time: {entry!r}")


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
