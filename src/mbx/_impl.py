"""The one place that decides, at import time, whether the compiled speedups or their pure twins run.

Every compiled module ``mbx._speedups.NAME`` has a pure twin ``NAME_py`` (see
:data:`TWINS`) with the same public names and signatures; the compiled module's
``.pyi`` stub states them, and ``tests/test_twins.py`` checks that stub and twin
agree. Each concern has one thin seam that asks :func:`load` for its module and,
under ``TYPE_CHECKING``, imports the pure twin instead, so type checkers see real
signatures: ``mbx.xml._core`` (the parser engine), ``mbx.xml._escaping`` (the
writer's escaping), ``mbx.xml.folding`` (text folded for name search) and
``mbx.restore.rowvalues`` (a restore's per-row work).

``MBX_NO_EXTENSIONS=1`` forces the pure-Python path. ``MBX_REQUIRE_EXTENSIONS=1``
turns a missing or broken compiled module into an ImportError instead of a
silent fallback (CI sets it).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

#: Twin name -> (compiled module, pure module).
TWINS = {
    "_parser": ("mbx._speedups._parser", "mbx.xml._parser_py"),
    "_escape": ("mbx._speedups._escape", "mbx.xml._escape_py"),
    "_fold": ("mbx._speedups._fold", "mbx.xml._fold_py"),
    "_rows": ("mbx._speedups._rows", "mbx.restore._rows_py"),
}


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def _choose() -> str:
    if _flag("MBX_NO_EXTENSIONS"):
        return "python"
    try:
        for compiled, _ in TWINS.values():
            importlib.import_module(compiled)
    except ImportError as exc:
        if _flag("MBX_REQUIRE_EXTENSIONS"):
            raise ImportError(f"MBX_REQUIRE_EXTENSIONS is set but {exc.name or exc} "
                              "could not be imported: the Cython build failed") from exc
        return "python"
    return "cython"


def load(name: str) -> ModuleType:
    """The module that runs for the twin ``name`` (a key of :data:`TWINS`)."""
    compiled, pure = TWINS[name]
    return importlib.import_module(compiled if implementation == "cython" else pure)


def variants(name: str) -> list[str]:
    """Both modules of the twin ``name`` that this process can run, pure first: the
    pure one alone on the pure path. Tests, benchmarks and fuzzing compare them."""
    compiled, pure = TWINS[name]
    return [pure, compiled] if implementation == "cython" else [pure]


#: ``"cython"`` or ``"python"``: which path this process runs. Decided last: a compiled
#: module may import a seam that calls :func:`load` while it is being decided (the fold
#: module imports mbx.xml), and finds the compiled path assumed until then.
implementation = "python" if _flag("MBX_NO_EXTENSIONS") else "cython"
implementation = _choose()
