"""What the archive harnesses share: turning fuzz bytes into a backup on disk, and the walk.

Imported by ``fuzz_tar.py``, ``fuzz_zip.py``, ``fuzz_folder.py``, ``fuzz_inspect.py`` and
``fuzz_verify.py`` (run from the repository root, so this folder is on
``sys.path``), inside their ``atheris.instrument_imports()`` block.

Every input is written into one scratch folder per process, made once and
reused (each run replaces the previous run's file or tree), so a long run
never fills the disk; the next harness started removes the folders of
finished ones.

A tree description (:func:`write_tree`) is entries separated by NUL bytes,
each one a kind byte, a name (a ``/``-separated path, any bytes the OS takes),
a newline, then the content. Kinds: ``d`` a directory, ``l`` a symbolic link
(the content is its target), ``p`` a FIFO, anything else a file. Entries the
harness cannot or will not make are skipped, not findings: names the OS
refuses, ``.`` and ``..`` components (they would leave the folder), paths
under an entry that is not a directory. Links and FIFOs are made last, so
nothing is ever written through a link.

The walk is what a consumer does with a backup: open it, name its kind and
format, list it, stream every member to its end, read the ignored entries and
the ``.ARCHIVE_INDEX``, open a few members by name. An
:class:`~mbx.errors.MbxError` anywhere is the expected refusal; any other
exception is a finding, and so is a walk that contradicts itself
(:class:`AssertionError`): a stream longer or shorter than its member's size,
or a listing that differs from what the streaming pass gave.
"""

from __future__ import annotations

import glob
import gzip
import os
import re
import shutil
import tempfile

from mbx.archive import ArchiveLimits, open_backup
from mbx.errors import MbxError

__all__ = ["FUZZ_LIMITS", "GZIP_MAGIC", "TREE_MAGIC", "ZIP_MAGIC", "as_tar_gz", "check_name",
           "decode_tree", "scratch_path", "walk", "write_backup", "write_input", "write_tree"]

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK"
TREE_MAGIC = b"TREE\n"
#: Small enough that a mutated size field or a bomb is refused quickly, big enough
#: that the seeds pass.
FUZZ_LIMITS = ArchiveLimits(max_member_size=8 << 20, max_total_size=32 << 20, max_members=4096,
                            ratio_applies_after=256 << 10, max_name_length=1024)
READ_SIZE = 64 << 10
MAX_ENTRIES = 64
MAX_DEPTH = 8

_scratch: str | None = None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def scratch_path(name: str) -> str:
    """``name`` inside this process's scratch folder, ``mbx-fuzz-<pid>`` (made on first use).

    libFuzzer ends the process without running Python's exit handlers, so the
    folders of earlier runs whose process is gone are removed here instead.
    """
    global _scratch
    if _scratch is None:
        for folder in glob.glob(os.path.join(tempfile.gettempdir(), "mbx-fuzz-*")):
            pid = folder.rpartition("-")[2]
            if pid.isdigit() and not _running(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)
        _scratch = os.path.join(tempfile.gettempdir(), f"mbx-fuzz-{os.getpid()}")
        shutil.rmtree(_scratch, ignore_errors=True)
        os.mkdir(_scratch)
    return os.path.join(_scratch, name)


def write_input(name: str, data: bytes) -> str:
    """Writes ``data`` as file ``name`` of the scratch folder; returns its path."""
    path = scratch_path(name)
    with open(path, "wb") as file:
        file.write(data)
    return path


def decode_tree(data: bytes) -> list[tuple[bytes, list[bytes], bytes]]:
    """``(kind, path components, content)`` for each entry a tree description holds."""
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


def write_tree(data: bytes) -> str:
    """Makes the tree ``data`` describes in a fresh folder of the scratch folder; its path."""
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
    return os.fsdecode(root)


def as_tar_gz(data: bytes) -> bytes:
    """``data`` as it stands when it is already gzip, else ``data`` (a raw tar) gzipped.

    Mutating a gzip stream mostly breaks its CRC; gzipping raw tar bytes lets
    the fuzzer reach the ustar framing behind it.
    """
    if data.startswith(GZIP_MAGIC):
        return data
    return gzip.compress(data, compresslevel=1, mtime=0)


def write_backup(data: bytes) -> str:
    """A backup on disk made from fuzz bytes, its container chosen by how they start.

    ``TREE`` and a newline: the rest is a tree description (:func:`write_tree`),
    made a folder, so member contents can grow and shrink freely with no tar
    size field or zip CRC to keep in step; ``PK``: a zip, as it stands;
    anything else: a tar.gz (:func:`as_tar_gz`). Returns its path.
    """
    if data.startswith(TREE_MAGIC):
        return write_tree(data[len(TREE_MAGIC):])
    if data.startswith(ZIP_MAGIC):
        return write_input("input.zip.mbz", data)
    return write_input("input.mbz", as_tar_gz(data))


def _drain(stream) -> int:
    count = 0
    while chunk := stream.read(READ_SIZE):
        count += len(chunk)
    return count


#: What no admitted name may hold (``base.normalize_member_name``): control characters,
#: backslashes, a drive or root at the start.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\\]|^(?:/|[A-Za-z]:)")


def check_name(name: str) -> None:
    """AssertionError unless ``name`` is a safe, normalised member name."""
    if not name or _UNSAFE.search(name) or \
            any(part in ("", ".", "..") for part in name.split("/")):
        raise AssertionError(f"admitted an unsafe or unnormalised name: {name!r}")
    name.encode("utf-8")  # UnicodeEncodeError, a finding, for a lone surrogate


def walk(path: str) -> None:
    """Every read a consumer makes of the backup at ``path``; MbxError is swallowed."""
    try:
        with open_backup(path, limits=FUZZ_LIMITS) as backup:
            assert backup.kind in ("tar.gz", "zip", "folder"), backup.kind
            backup.format
            listed = list(backup.members())
            streamed = []
            for member, stream in backup.iter_members():
                check_name(member.name)
                got = _drain(stream)
                if got != (0 if member.is_dir else member.size):
                    raise AssertionError(f"{member!r}: stream gave {got} bytes")
                streamed.append(member)
            if streamed != listed:
                raise AssertionError(f"members() {listed!r}\nbut iter_members() {streamed!r}")
            backup.ignored
            backup.read_index(only_if_first=True)
            backup.read_index()
            for member in [m for m in listed if not m.is_dir][:3]:
                with backup.open(member.name) as stream:
                    got = _drain(stream)
                if got != member.size:
                    raise AssertionError(f"open({member.name!r}) gave {got} bytes, "
                                         f"not {member.size}")
    except MbxError:
        pass
