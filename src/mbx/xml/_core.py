"""Switch point for the parser engine: compiled tokenizer or expat-based twin."""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from typing import Iterator

from mbx._impl import pick

Engine = pick("mbx._speedups._parser", "mbx.xml._parser_py").Engine


@contextmanager
def engine_in_use(engine: type | str) -> Iterator[None]:
    """Makes every :class:`mbx.xml.Parser` created or fed in the block use ``engine``
    (an Engine class, or the name of its module), for comparing the two engines in
    tests, benchmarks and fuzzing."""
    global Engine
    if isinstance(engine, str):
        engine = importlib.import_module(engine).Engine
    saved, Engine = Engine, engine
    try:
        yield
    finally:
        Engine = saved
