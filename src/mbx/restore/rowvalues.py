"""Seam for the restore's per-row work (:mod:`mbx.restore._rows_py`): compiled or pure twin.

:mod:`mbx._impl` decides which; type checkers see the pure twin's signatures.
"""

from typing import TYPE_CHECKING

from mbx import _impl

__all__ = ["count_text", "row_values", "word_text"]

if TYPE_CHECKING:
    from mbx.restore._rows_py import count_text, row_values, word_text
else:
    _twin = _impl.load("_rows")
    row_values = _twin.row_values
    count_text = _twin.count_text
    word_text = _twin.word_text
