"""atheris harness for the folder reader (``mbx.archive.folder_reader``), through ``open_backup``.

The input describes a small tree (``archive_inputs.write_tree``): entries
separated by NUL bytes, each one a kind byte (``d`` a directory, ``l`` a
symbolic link whose target is the content, ``p`` a FIFO, anything else a
file), a name, a newline, then the content. The tree is written into a fresh
folder, then opened as a backup folder and walked as a consumer would
(``archive_inputs.walk``). Names the OS refuses and ``..`` components are
skipped by the harness, not findings.

Findings: any exception that is not an ``mbx.errors.MbxError``, a walk that
hangs (a FIFO opened for reading), a stream whose length is not its member's
size, a listing that differs from the streaming pass, an admitted name that
is unsafe or not normalised.

    python fuzz/fuzz_folder.py -atheris_runs=20000 fuzz/corpus/folder
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import mbx.archive.folder_reader
    from archive_inputs import walk, write_tree


def TestOneInput(data: bytes) -> None:
    walk(write_tree(data))


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
