"""One declaration per activity module: what its ``<mod>.xml`` holds and restores into.

Each submodule defines ``MODULE``, a :class:`~mbx.moodle2.declare.Module`. The
registry has two lists, because knowing a module and restoring it are different
promises:

* :data:`KNOWN`, read through :func:`facts`: every declared module. Its elements
  say which fields are dates, user data, user and group references and file
  areas, which is all the transforms (anonymise, roll dates, strip users,
  extract) and the inspectors need.
* :data:`NAMES`, read through :func:`declaration`: the modules restore writes
  rows for, a subset of :data:`KNOWN`. Restore proves each of them against
  Moodle's own output; :func:`declaration` answers ``None`` for every other
  module, so an activity of a module that is only known is still kept raw.

Adding a module is adding its file here and its name to :data:`KNOWN`;
moving it to :data:`NAMES` is the restore's decision, once its rows match
Moodle's.
"""

from __future__ import annotations

import functools
import importlib

from mbx.moodle2.declare import Module

__all__ = ["KNOWN", "NAMES", "declaration", "facts"]

#: The modules restore restores; an activity of any other module is kept raw.
NAMES = ("assign", "book", "folder", "forum", "label", "page", "quiz", "resource", "url")

#: Every module with a declaration: the restored ones and those only described.
KNOWN = tuple(sorted(NAMES + ("chat", "choice", "data", "feedback", "glossary", "h5pactivity",
                              "imscp", "lesson", "lti", "scorm", "subsection", "survey", "wiki",
                              "workshop")))


@functools.cache
def facts(name: str) -> Module | None:
    """The module's declaration, restored or not, or ``None`` for a module mbx does not know."""
    if name not in KNOWN:
        return None
    return importlib.import_module(f"{__name__}.{name}").MODULE


def declaration(name: str) -> Module | None:
    """The declaration restore follows, or ``None`` for a module restore keeps raw."""
    return facts(name) if name in NAMES else None
