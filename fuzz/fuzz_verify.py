"""atheris harness for ``mbx.verification.verify``: a whole backup checked in one pass.

The input picks its container by how it starts:

* ``TREE`` and a newline: the rest is a tree description
  (``archive_inputs.write_tree``, as ``fuzz_folder.py`` reads it) verified as
  a backup folder. Member contents can then grow and shrink freely, with no
  tar size field or zip CRC to keep in step, so this is the mode that reaches
  the XML and the cross-checks deepest;
* ``PK``: a zip ``.mbz``, as it stands;
* anything else: raw tar bytes (or a gzip file, kept as it is, when it starts
  with the gzip magic) made a tar.gz as ``fuzz_tar.py`` does.

So the fuzzer mutates member names and XML behind the container, and reaches
the listing, ``files.xml``, ``inforef.xml`` and ``.ARCHIVE_INDEX`` cross-checks.

Findings: any exception that is not an ``mbx.errors.MbxError``, and a report
that does not serialise to JSON (``VerifyReport.to_dict``) or whose problems
have no code.

    python fuzz/fuzz_verify.py -atheris_runs=20000 fuzz/corpus/verify
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import msgspec

    import mbx.archive.tar_reader
    import mbx.archive.zip_reader
    import mbx.verification
    from archive_inputs import write_backup
    from mbx.errors import MbxError

def TestOneInput(data: bytes) -> None:
    path = write_backup(data)
    try:
        report = mbx.verification.verify(path)
    except MbxError:
        return
    msgspec.json.encode(report.to_dict())
    for problem in report.problems:
        if not (isinstance(problem.code, str) and problem.code):
            raise AssertionError(f"problem without a code: {problem!r}")
        str(problem)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
