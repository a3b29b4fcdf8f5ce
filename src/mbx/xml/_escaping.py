"""Seam for the writer's escaping: compiled or pure twin.

:mod:`mbx._impl` decides which; type checkers see the pure twin's signatures.
"""

from typing import TYPE_CHECKING

from mbx import _impl

if TYPE_CHECKING:
    from mbx.xml._escape_py import escape_attribute, escape_text
else:
    _twin = _impl.load("_escape")
    escape_text = _twin.escape_text
    escape_attribute = _twin.escape_attribute
