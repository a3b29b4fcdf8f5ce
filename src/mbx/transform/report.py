"""The typed result of a transform run."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["TransformReport"]


class TransformReport(msgspec.Struct, kw_only=True):
    """What one run read, wrote and changed."""

    source: str
    output: str
    transforms: list[str]
    members_written: int
    members_copied: int          # byte for byte
    members_rewritten: int       # through the rewriter (changed or not)
    members_changed: int         # ... of which some byte changed
    members_dropped: int
    bytes_in: int                # member bytes read in the rewrite pass
    bytes_out: int               # archive bytes written
    seconds: dict[str, float]
    #: per transform: what it did (pseudonyms made, dates moved, ...)
    details: dict[str, Any] = {}

    def to_dict(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)
