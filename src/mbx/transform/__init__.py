"""Streaming transforms, archive to archive: each a small set of record rules over the rewriter.

``transform(source, output, ...)`` runs any combination in one pass (two
inflates, one deflate; see :mod:`.pipeline`); each transform also has its own
function. The output is a backup Moodle restores, written under a temporary
name and renamed when complete.
"""

from __future__ import annotations

from mbx.transform.base import Facts, Transform
from mbx.transform.pipeline import run
from mbx.transform.report import TransformReport

__all__ = ["Facts", "Transform", "TransformReport", "run"]
