"""Moodle's member order, shared by both archive flavours.

Top-level names in byte order, ``moodle_backup.log`` last, each directory
entry before its children; children are sorted by name here (Moodle takes
them in file-system order), so the output never depends on a file system.
Moodle's own zip backups follow the same shape (see :mod:`.pack`).
"""

from __future__ import annotations

from typing import Iterable

__all__ = ["LOG_NAME", "member_order"]

LOG_NAME = "moodle_backup.log"


def member_order(names: Iterable[str]) -> list[tuple[str, bool]]:
    """``(name, is_dir)`` for the files ``names`` and every folder above them, in
    Moodle's entry order, children sorted by name."""
    children: dict[str, set[str]] = {"": set()}
    for name in names:
        parent = ""
        for part in name.split("/")[:-1]:
            path = f"{parent}{part}/"
            children.setdefault(parent, set()).add(path)
            children.setdefault(path, set())
            parent = path
        children.setdefault(parent, set()).add(name)

    def key(path: str) -> bytes:
        return path.rstrip("/").rsplit("/", 1)[-1].encode("utf-8")

    order: list[tuple[str, bool]] = []
    top = sorted(children[""], key=key)
    log = [path for path in top if path == LOG_NAME]
    stack = [path for path in reversed([path for path in top if path != LOG_NAME] + log)]
    while stack:
        path = stack.pop()
        if path.endswith("/"):
            order.append((path[:-1], True))
            stack.extend(reversed(sorted(children[path], key=key)))
        else:
            order.append((path, False))
    return order
