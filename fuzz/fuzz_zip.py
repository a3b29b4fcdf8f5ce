"""atheris harness for the zip reader (``mbx.archive.zip_reader``), through ``open_backup``.

The input is written as it stands as a ``.mbz`` file (zip backups start with
``PK``; anything else is refused by the container sniffing, which is fine) and
walked as a consumer would (``archive_inputs.walk``): kind, format,
``members()``, every stream of ``iter_members()`` read to its end, ``ignored``,
``read_index()``, ``open()`` of a few members.

Findings: any exception that is not an ``mbx.errors.MbxError`` (a
``zipfile`` or ``zlib`` error leaking through, say), a stream whose length
is not its member's size, a listing that differs from the streaming pass, an
admitted name that is unsafe or not normalised.

    python fuzz/fuzz_zip.py -atheris_runs=20000 fuzz/corpus/zip
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import zipfile

    import mbx.archive.zip_reader
    from archive_inputs import walk, write_input


def TestOneInput(data: bytes) -> None:
    walk(write_input("input.mbz", data))


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
