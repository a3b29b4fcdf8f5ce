"""atheris harness for the tar.gz reader (``mbx.archive.tar_reader``), through ``open_backup``.

The input is a gzip file when it starts with the gzip magic (``1f 8b``), and is
written as it stands; anything else is taken as raw tar bytes and gzipped
first, so that the fuzzer reaches the ustar framing (headers, GNU long names,
pax records, padding, the end marker) and not only the gzip header and CRC.
The file is then walked as a consumer would (``archive_inputs.walk``): kind,
format, ``members()``, every stream of ``iter_members()`` read to its end,
``ignored``, ``read_index()``, ``open()`` of a few members.

Findings: any exception that is not an ``mbx.errors.MbxError``, a stream
whose length is not its member's size, a listing that differs from the
streaming pass, an admitted name that is unsafe or not normalised.

    python fuzz/fuzz_tar.py -atheris_runs=20000 fuzz/corpus/tar
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import mbx.archive.inflate
    import mbx.archive.tar_reader
    from archive_inputs import as_tar_gz, walk, write_input


def TestOneInput(data: bytes) -> None:
    walk(write_input("input.mbz", as_tar_gz(data)))


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
