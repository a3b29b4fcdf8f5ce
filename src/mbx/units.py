"""Sizes as people write them (``200M``, ``1.5G``) and as the CLI prints them."""

from __future__ import annotations

_BINARY = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str | int) -> int:
    """``"200M"`` -> 209715200 (binary units, an optional trailing ``B``); ints pass through."""
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"size must not be negative: {text}")
        return text
    cleaned = text.strip().upper().removesuffix("B").removesuffix("I")
    try:
        if cleaned and cleaned[-1] in _BINARY:
            value = int(float(cleaned[:-1]) * _BINARY[cleaned[-1]])
        else:
            value = int(cleaned)
    except (ValueError, OverflowError):
        raise ValueError(f"not a size: {text!r} (write it like 200M or 1G)") from None
    if value < 0:
        raise ValueError(f"size must not be negative: {text!r}")
    return value


def format_size(count: int) -> str:
    """``17545`` -> ``17.5 KB`` (decimal units, as file managers show them)."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
