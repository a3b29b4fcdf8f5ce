"""atheris harness for the transforms: a hostile backup rewritten archive to archive.

Inputs are built as ``fuzz_verify.py`` builds them (``archive_inputs.write_backup``),
so the fuzzer reaches the survey, the rewriter and the streaming writer behind any
container. The run composes roll-dates and strip-users.

Findings: any exception that is not an ``mbx.errors.MbxError``; a failed run that
leaves its output or any temporary file behind; an output that mbx cannot read back.

    python fuzz/fuzz_transform.py -atheris_runs=2000 fuzz/corpus/verify
"""

from __future__ import annotations

import os
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    from archive_inputs import write_backup
    from mbx.archive import open_backup
    from mbx.errors import MbxError
    from mbx.transform.dates import RollDates
    from mbx.transform.pipeline import run
    from mbx.transform.strip import StripUsers

OUT = tempfile.mkdtemp(prefix="mbx-fuzz-transform-")


def TestOneInput(data: bytes) -> None:
    path = write_backup(data)
    output = os.path.join(OUT, "out.mbz")
    try:
        run(path, output, [StripUsers(), RollDates(offset=86400)])
    except MbxError:
        left = os.listdir(OUT)
        if left:
            raise AssertionError(f"a failed transform left {left}")
        return
    with open_backup(output) as backup:
        for _ in backup.iter_members():
            pass
    os.unlink(output)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
