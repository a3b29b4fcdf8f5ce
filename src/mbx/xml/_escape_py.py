"""Escaping for the XML writer, in pure Python (twin of ``mbx/_speedups/_escape.pyx``).

Both functions return UTF-8 bytes ready to write. Before escaping, CRLF and
lone CR become LF, and characters XML 1.0 cannot carry are removed: the C0
controls other than tab and LF, DEL (as Moodle's writer does), and also lone
surrogates, U+FFFE and U+FFFF (which Moodle would write and no parser reads).
"""

import re

_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _clean(value: str) -> str:
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _ILLEGAL.sub("", value)


def escape_text(value: str) -> bytes:
    """Escapes ``&``, ``<`` and ``>`` for element content."""
    value = _clean(value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode()


def escape_attribute(value: str) -> bytes:
    """Escapes ``&``, ``<``, ``>`` and ``"`` for a double-quoted attribute value."""
    value = _clean(value)
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").encode())
