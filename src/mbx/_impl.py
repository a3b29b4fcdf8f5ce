"""Decides once, at import time, whether the compiled speedups or their pure twins run.

``MBX_NO_EXTENSIONS=1`` forces the pure-Python path. ``MBX_REQUIRE_EXTENSIONS=1``
turns a missing or broken compiled module into an ImportError instead of a
silent fallback (CI sets it). Each compiled concern has one switch module
(``mbx.xml._core`` for the parser, ``mbx.xml._escaping`` for the writer) that
asks :func:`pick` for its implementation.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

SPEEDUPS = ("mbx._speedups._parser", "mbx._speedups._escape")


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def _choose() -> str:
    if _flag("MBX_NO_EXTENSIONS"):
        return "python"
    try:
        for name in SPEEDUPS:
            importlib.import_module(name)
    except ImportError as exc:
        if _flag("MBX_REQUIRE_EXTENSIONS"):
            raise ImportError(f"MBX_REQUIRE_EXTENSIONS is set but {exc.name or exc} "
                              "could not be imported: the Cython build failed") from exc
        return "python"
    return "cython"


#: ``"cython"`` or ``"python"``: which path this process runs.
implementation = _choose()


def pick(compiled: str, pure: str) -> ModuleType:
    """Returns the compiled module, or its pure twin on the pure path."""
    return importlib.import_module(compiled if implementation == "cython" else pure)
