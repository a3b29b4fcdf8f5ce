"""Registered paths compiled into the flat table both parser engines walk.

The table is built once per parse, in Python, and handed to whichever engine is
running (compiled or pure). Node 0 is the virtual document node; every other
node is one element name below its parent. A node that is neither registered
nor the ancestor of a registered path does not exist: the engines treat such
subtrees as "scan only".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from mbx._recordspec import GROUPED, IN_GROUP, REGISTERED, SELECTED_PARENT, SKIP
from mbx.errors import MbxError
from mbx.limits import Bounds

__all__ = ["GROUPED", "IN_GROUP", "REGISTERED", "SELECTED_PARENT", "SKIP", "Limits", "PathNode",
           "RegistrationError", "check_paths", "compile_paths", "split_path"]


class RegistrationError(MbxError, ValueError):
    """A path registration is malformed or conflicts with another."""

    code = "xml-registration"


class Limits(Bounds, frozen=True):
    """Bounds applied while parsing; each has its own error when hit.

    Sizes are in bytes of UTF-8 text. Raise a limit by passing a new value:
    ``Limits(max_text=1 << 30)``.
    """

    max_depth: int = 256
    max_name_length: int = 1024
    max_attributes: int = 256
    max_text: int = 64 << 20
    max_record: int = 256 << 20


@dataclass(frozen=True, slots=True)
class PathNode:
    """One element name in the registration trie."""

    name: str
    parent: int
    flags: int
    handler: Callable | None
    #: For IN_GROUP nodes: the index of the grouped ancestor, else -1.
    group_root: int
    #: For IN_GROUP nodes: element names from the group root down to this node.
    group_path: tuple[str, ...]


def split_path(path: str) -> tuple[str, ...]:
    """``"/a/b"`` -> ``("a", "b")``, refusing anything that is not absolute."""
    if not isinstance(path, str) or not path.startswith("/") or path == "/":
        raise RegistrationError(f"path must be absolute like '/activity/forum', got {path!r}")
    names = tuple(path[1:].split("/"))
    for name in names:
        if not name or not name.isascii() or any(c in name for c in " <>&\"'=\t\r\n"):
            raise RegistrationError(f"invalid element name {name!r} in path {path!r}")
    return names


def check_paths(registrations: dict[tuple[str, ...], tuple[Callable | None, bool]]) -> None:
    """Refuses what :func:`compile_paths` would refuse, without building the table (a
    parser checks every registration as it is made, and builds once)."""
    grouped = _grouped(registrations)
    for names, (handler, _) in registrations.items():
        outers = [outer for outer in grouped if len(names) > len(outer) and names[:len(outer)] == outer]
        if outers and handler is not None:
            raise RegistrationError(
                f"{_join(names)} lies inside grouped path {_join(outers[0])}: its records "
                "arrive inside the group's record, so it takes no handler of its own")
        if not outers and handler is None:
            raise RegistrationError(f"{_join(names)} needs a handler")


def _grouped(registrations: dict[tuple[str, ...], tuple[Callable | None, bool]]
             ) -> list[tuple[str, ...]]:
    grouped = [names for names, (_, is_grouped) in registrations.items() if is_grouped]
    for outer in grouped:
        for inner in grouped:
            if inner != outer and inner[:len(outer)] == outer:
                raise RegistrationError(
                    f"grouped path {_join(inner)} lies inside grouped path {_join(outer)}")
    return grouped


def compile_paths(registrations: dict[tuple[str, ...], tuple[Callable | None, bool]]
                  ) -> list[PathNode]:
    """Builds the node table from ``{names: (handler, grouped)}`` (refusing what
    :func:`check_paths` refuses)."""
    check_paths(registrations)
    grouped = [names for names, (_, is_grouped) in registrations.items() if is_grouped]

    index: dict[tuple[str, ...], int] = {(): 0}
    rows: list[list] = [["", -1, 0, None]]
    for names in sorted(registrations):
        for depth in range(1, len(names) + 1):
            prefix = names[:depth]
            if prefix not in index:
                index[prefix] = len(rows)
                rows.append([prefix[-1], index[prefix[:-1]], 0, None])
    for names, (handler, is_grouped) in registrations.items():
        row = rows[index[names]]
        row[2] |= REGISTERED | (GROUPED if is_grouped else 0)
        row[3] = handler
        rows[index[names[:-1]]][2] |= SELECTED_PARENT

    nodes: list[PathNode] = []
    for names, at in sorted(index.items(), key=lambda item: item[1]):
        name, parent, flags, handler = rows[at]
        group_root, group_path = -1, ()
        for outer in grouped:
            if len(names) > len(outer) and names[:len(outer)] == outer:
                group_root, group_path = index[outer], names[len(outer):]
                flags |= IN_GROUP
        nodes.append(PathNode(name, parent, flags, handler, group_root, group_path))
    return nodes


def _join(names: tuple[str, ...]) -> str:
    return "/" + "/".join(names)
