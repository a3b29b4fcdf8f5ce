"""Switch point for the parser engine: compiled tokenizer or expat-based twin."""

from mbx._impl import pick

Engine = pick("mbx._speedups._parser", "mbx.xml._parser_py").Engine
