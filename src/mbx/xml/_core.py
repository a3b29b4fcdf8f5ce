"""Seam for the parser engine: the compiled tokenizer or its expat-based twin.

:mod:`mbx._impl` decides which; type checkers see the pure twin's signatures.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Iterator

from mbx import _impl

if TYPE_CHECKING:
    from mbx.xml._parser_py import Engine
else:
    Engine = _impl.load("_parser").Engine

#: The engine modules this process can run, pure first (both on the compiled path).
ENGINES = _impl.variants("_parser")


@contextmanager
def engine_in_use(engine: type | ModuleType | str) -> Iterator[ModuleType]:
    """Makes every :class:`mbx.xml.Parser` created or fed in the block use ``engine``
    (an Engine class, its module, or the module's name), and yields that module:
    the one way tests, benchmarks and fuzz harnesses run on a chosen engine."""
    global Engine
    if isinstance(engine, str):
        engine = importlib.import_module(engine)
    module = engine if isinstance(engine, ModuleType) else importlib.import_module(engine.__module__)
    saved, Engine = Engine, module.Engine
    try:
        yield module
    finally:
        Engine = saved
