"""Per-module writers behind one registry.

Each module synth can write has its own writer here (``forum.py``, ``assign.py``
...), a :class:`~mbx.synth.modules.base.ModuleWriter` that registers itself with
:func:`~mbx.synth.modules.base.register`; the course writer only iterates
:data:`MODULES`. Adding a module means adding its writer and its name to
``_WRITERS`` (whose order is the order modules are planned in, part of what a
seed gives).
"""

from __future__ import annotations

import importlib

from mbx.synth.modules.base import MODULES, ModuleWriter, register

__all__ = ["MODULES", "ModuleWriter", "register"]

_WRITERS = ("forum", "page", "label", "url", "resource", "folder", "assign", "quiz")

for _name in _WRITERS:
    importlib.import_module(f"mbx.synth.modules.{_name}")
