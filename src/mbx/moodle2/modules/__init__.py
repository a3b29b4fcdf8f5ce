"""One declaration per activity module: what its ``<mod>.xml`` restores into.

Each submodule defines ``MODULE``, a :class:`~mbx.moodle2.declare.Module`.
Adding a module is adding its file here and its name to :data:`NAMES`; the
restore engine, the transforms and the writers need no change.
"""

from __future__ import annotations

import functools
import importlib

from mbx.moodle2.declare import Module

__all__ = ["NAMES", "declaration", "facts"]

#: The modules mbx knows; an activity of any other module is kept raw.
NAMES = ("assign", "book", "folder", "forum", "label", "page", "quiz", "resource", "url")


@functools.cache
def declaration(name: str) -> Module | None:
    """The module's declaration, or ``None`` for a module mbx does not know."""
    if name not in NAMES:
        return None
    return importlib.import_module(f"{__name__}.{name}").MODULE


def facts(name: str) -> Module | None:
    """What mbx knows of the module, restored or not (the transforms read this)."""
    return declaration(name)
