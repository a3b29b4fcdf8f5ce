"""atheris harness for inspection: ``mbx.inspect.summarize`` and ``describe``
(``mbx ls`` and ``mbx info``) on a whole backup.

The input picks its container as ``fuzz_verify.py``'s does: ``TREE`` and a
newline for a folder described by the rest (``archive_inputs.write_tree``),
``PK`` for a zip, anything else raw tar bytes made a tar.gz. The tree mode
lets ``moodle_backup.xml``, ``section.xml``, the activity files, ``files.xml``
and ``questions.xml`` grow and shrink freely, which is where inspection reads.

Findings: any exception that is not an ``mbx.errors.MbxError``, and a result
that does not serialise to JSON or whose text rendering (what ``mbx ls`` and
``mbx info`` print) raises.

    python fuzz/fuzz_inspect.py -atheris_runs=20000 fuzz/corpus/verify
"""

from __future__ import annotations

import json
import sys

import atheris

with atheris.instrument_imports():
    import mbx.archive.tar_reader
    import mbx.archive.zip_reader
    import mbx.inspect
    import mbx.moodle2
    from archive_inputs import write_backup
    from mbx.cli import text
    from mbx.errors import MbxError

def TestOneInput(data: bytes) -> None:
    path = write_backup(data)
    for inspect, render in ((mbx.inspect.summarize, text.summary_lines),
                            (mbx.inspect.describe, text.info_lines)):
        try:
            result = inspect(path)
        except MbxError:
            continue
        json.dumps(result, ensure_ascii=False)
        render(result)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
