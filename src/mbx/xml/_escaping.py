"""Switch point for the writer's escaping: compiled or pure twin."""

from mbx._impl import pick

_module = pick("mbx._speedups._escape", "mbx.xml._escape_py")
escape_text = _module.escape_text
escape_attribute = _module.escape_attribute
