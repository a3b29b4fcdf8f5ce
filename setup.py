"""Build script: compiles the Cython inner loops in ``src/mbx/_speedups``.

``MBX_NO_EXTENSIONS=1`` skips compiling (pure-Python install).
``MBX_REQUIRE_EXTENSIONS=1`` makes any compile failure fatal; without it a
failed compile falls back to the pure-Python path with a warning.
"""
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SPEEDUPS_DIR = "src/mbx/_speedups"
#: Each compiled module and the files it is built from besides its ``.pyx``: the
#: rebuild notices a change to any of them, and MANIFEST.in ships them.
SPEEDUPS = {
    "_parser": ["_parser.pxd", "_tokenizer.pxi", "_records.pxi", "_scan.h"],
    "_escape": [],
    "_fold": [],
    "_rows": [],
}


def _flag(name):
    return os.environ.get(name, "") not in ("", "0")


class OptionalBuildExt(build_ext):
    """Builds the extensions, falling back to pure Python unless required."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # compiler missing, Cython error, ...
            self._give_up(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._give_up(exc)

    def _give_up(self, exc):
        if _flag("MBX_REQUIRE_EXTENSIONS"):
            raise
        print(f"WARNING: mbx speedups not built ({exc}); using pure Python", file=sys.stderr)


def _extensions():
    if _flag("MBX_NO_EXTENSIONS"):
        return []
    from Cython.Build import cythonize

    modules = [
        Extension(f"mbx._speedups.{name}", [f"{SPEEDUPS_DIR}/{name}.pyx"],
                  depends=[f"{SPEEDUPS_DIR}/{part}" for part in parts],
                  include_dirs=[SPEEDUPS_DIR], extra_compile_args=["-O3"])
        for name, parts in SPEEDUPS.items()
    ]
    return cythonize(modules, language_level=3, compiler_directives={
        "boundscheck": False, "wraparound": False, "cdivision": True,
        "initializedcheck": False,
    })


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
