"""The store: many versions of many course backups in one deduplicated repository.

A consumer, beside inspect, verify, transform and restore: it reads backups
through ``mbx.archive`` and writes them back with its streaming writer::

    from mbx import store

    store.init("courses")
    store.add("courses", "physics-2024-09.mbz", tags=["term1"])   # physics@1
    store.add("courses", "physics-2025-01.mbz")                   # only what changed
    store.ls("courses")
    store.get("courses", "physics@term1", "back.mbz")             # member for member
    store.checkout("courses", "physics", "physics-folder")        # blobs hard-linked
    store.diff("courses", "physics@1", "physics@2")
    store.rm("courses", ["physics@1"]); store.gc("courses")
    store.verify("courses")

File blobs (``files/ab/<sha1>``) are stored once per content, raw; every
other member is cut into content-defined chunks (FastCDC), named by their
xxh3-128 and compressed with zstd. The index is SQLite. Layout and the safety
rules: :mod:`.layout`; schema: :mod:`.index`.

Modules: :mod:`.chunking` (FastCDC over a stream), :mod:`.objects` (the
content files), :mod:`.index` (the SQLite index, references), :mod:`.add`,
:mod:`.read` (get, checkout), :mod:`.diff`, :mod:`.care` (ls, rm, gc, verify),
:mod:`.results` (what each returns).
"""

from __future__ import annotations

import os

from mbx.store import index as _index
from mbx.store.add import add
from mbx.store.care import gc, ls, rm, verify
from mbx.store.diff import diff
from mbx.store.layout import Layout, StoreError
from mbx.store.read import checkout, get
from mbx.store.results import (AddResult, CheckoutResult, CourseListing, Damage, DiffResult,
                               GcResult, GetResult, ItemChange, MemberChange, RmResult,
                               StoreListing, VerifyResult, VersionInfo)

__all__ = ["AddResult", "CheckoutResult", "CourseListing", "Damage", "DiffResult", "GcResult",
           "GetResult", "ItemChange", "MemberChange", "RmResult", "StoreError", "StoreListing",
           "VerifyResult", "VersionInfo", "add", "checkout", "diff", "gc", "get", "init", "ls",
           "rm", "verify"]


def init(store: str | os.PathLike) -> str:
    """Creates an empty store in folder ``store`` (new, or empty); returns its path."""
    layout = Layout(store)
    if os.path.exists(layout.index):
        raise StoreError(f"{layout.root!r} is already a store", code="store-exists",
                         source=layout.root)
    if os.path.isdir(layout.root) and os.listdir(layout.root):
        raise StoreError(f"{layout.root!r} is not empty: a store needs a folder of its own",
                         code="store-exists", source=layout.root)
    if os.path.lexists(layout.root) and not os.path.isdir(layout.root):
        raise StoreError(f"{layout.root!r} exists and is not a folder", code="store-exists",
                         source=layout.root)
    os.makedirs(layout.root, exist_ok=True)
    for folder in (layout.blobs, layout.chunks, layout.tmp):
        os.mkdir(folder)
    # the index last, under a temporary name: a folder with store.sqlite is a whole store
    temporary = Layout(os.path.join(layout.root, "tmp"))
    temporary.index = os.path.join(layout.tmp, "new-index.sqlite")
    _index.create(temporary)
    os.replace(temporary.index, layout.index)
    return layout.root
