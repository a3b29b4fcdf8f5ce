"""The one shape of every set of limits mbx applies to hostile input.

The XML parser (:class:`mbx.xml.Limits`) and the archive readers
(:class:`mbx.archive.ArchiveLimits`) each bound what one input may make mbx do:
depth, sizes, counts, ratios. Both are immutable structs of positive numbers
with generous defaults, raised by passing a new value, and checked the same
way when made: that check lives here, once.
"""

from __future__ import annotations

import msgspec

__all__ = ["Bounds"]


class Bounds(msgspec.Struct, frozen=True):
    """Base of a set of limits: every field must be a positive int (or a positive
    number, for fields declared ``float``); anything else is a ``ValueError``
    naming the field."""

    def __post_init__(self) -> None:
        for name, is_float in _kinds(type(self)):
            value = getattr(self, name)
            allowed = (int, float) if is_float else int
            if isinstance(value, bool) or not isinstance(value, allowed) or value < 1:
                raise ValueError(f"{type(self).__name__}.{name} must be a positive "
                                 f"{'number' if is_float else 'int'}, got {value!r}")


#: class -> ((field name, declared float), ...): resolving annotations is slow, and
#: limits are made for every parser
_FIELD_KINDS: dict[type, tuple[tuple[str, bool], ...]] = {}


def _kinds(cls: type) -> tuple[tuple[str, bool], ...]:
    kinds = _FIELD_KINDS.get(cls)
    if kinds is None:
        kinds = _FIELD_KINDS[cls] = tuple((field.name, field.type is float)
                                          for field in msgspec.structs.fields(cls))
    return kinds
