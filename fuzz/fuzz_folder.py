"""atheris harness for the folder reader (``mbx.archive.folder_reader``), through ``open_backup``.

The input describes a small tree (:func:`decode_tree`): entries separated by
NUL bytes, each one a kind byte, a name (a ``/``-separated path, any bytes the
OS takes), a newline, then the content. Kinds: ``d`` a directory, ``l`` a
symbolic link (the content is its target), ``p`` a FIFO, anything else a
file. The tree is written into a fresh folder, then opened as a backup folder
and walked as a consumer would (``archive_inputs.walk``).

Entries the harness cannot or will not make are skipped, not findings: names
the OS refuses, ``.`` and ``..`` components (they would leave the folder),
paths under an entry that is not a directory. Links and FIFOs are made last,
so nothing is ever written through a link.

Findings: any exception that is not an ``mbx.errors.MbxError``, a walk that
hangs (a FIFO opened for reading), a stream whose length is not its member's
size, a listing that differs from the streaming pass, an admitted name that
is unsafe or not normalised.

    python fuzz/fuzz_folder.py -atheris_runs=20000 fuzz/corpus/folder
"""

from __future__ import annotations

import os
import shutil
import sys

import atheris

with atheris.instrument_imports():
    import mbx.archive.folder_reader
    from archive_inputs import scratch_path, walk

MAX_ENTRIES = 64
MAX_DEPTH = 8


def decode_tree(data: bytes) -> list[tuple[bytes, list[bytes], bytes]]:
    """``(kind, path components, content)`` for each entry the input describes."""
    tree = []
    for entry in data.split(b"\x00")[:MAX_ENTRIES]:
        kind, name, content = entry[:1], *entry[1:].partition(b"\n")[::2]
        parts = [part for part in name.split(b"/") if part]
        if parts and len(parts) <= MAX_DEPTH and not {b".", b".."} & set(parts):
            tree.append((kind, parts, content))
    return tree


def _make(root: bytes, kind: bytes, parts: list[bytes], content: bytes) -> None:
    path = os.path.join(root, *parts)
    ancestors = [os.path.join(root, *parts[:depth]) for depth in range(1, len(parts))]
    if os.path.lexists(path) or any(os.path.islink(folder) for folder in ancestors):
        return  # never make anything through a link
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if kind == b"d":
        os.mkdir(path)
    elif kind == b"l":
        os.symlink(content, path)
    elif kind == b"p":
        os.mkfifo(path)
    else:
        with open(path, "wb") as file:
            file.write(content)


def TestOneInput(data: bytes) -> None:
    root = os.fsencode(scratch_path("tree"))
    shutil.rmtree(root, ignore_errors=True)
    os.mkdir(root)
    tree = decode_tree(data)
    # links and FIFOs last: no later entry can be written through a link
    for kind, parts, content in sorted(tree, key=lambda entry: entry[0] in (b"l", b"p")):
        try:
            _make(root, kind, parts, content)
        except OSError:
            pass  # a name or a layout the OS refuses: not the reader's business
    walk(os.fsdecode(root))


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
