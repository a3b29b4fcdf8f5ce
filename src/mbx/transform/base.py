"""What a transform is, and the facts of the first pass every transform shares.

A transform is a small set of record rules over the rewriter. The pipeline
(:mod:`mbx.transform.pipeline`) runs every selected transform in the same two
passes over the archive:

1. the *survey* inflates the archive once and parses the members transforms ask
   for (:meth:`Transform.survey`: ``users.xml`` for pseudonyms, ``files.xml``
   for the blobs, inforefs for a closure...). The order problem of restore is
   the same here: a tar.gz has the activities before the ``users.xml`` whose
   names must be found in them. Then :meth:`Transform.prepare` decides;
2. the *rewrite* streams every member to the output: dropped when a transform
   says so (:meth:`Transform.drops`), rewritten when one registers rewriter
   handlers for it (:meth:`Transform.rewrites`) or byte filters
   (:meth:`Transform.filters`, for work on the whole text of a member rather
   than on records: anonymise's names in free text), copied byte for byte
   otherwise.

Transforms say what they remove as ids per inforef kind (:attr:`Facts.removed`),
and the pipeline's closure keeps the archive consistent: the records of those
ids leave their defining member and every ``inforef.xml``, and a blob no file
record still names leaves the pool.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Protocol

from mbx.archive.base import MemberInfo
from mbx.moodle2.models import Information
from mbx.xml.rewriter import Element

__all__ = ["ByteFilter", "Facts", "FileFacts", "Member", "RecordRule", "RewriteRule",
           "Transform"]

#: A member name, or a pattern matching whole member names.
Member = str | re.Pattern
#: (member, element path, handler of plain records) read in the survey.
RecordRule = tuple[Member, str, Callable[[dict], Any]]
#: (element path, handler of rewriter elements) for one member.
RewriteRule = tuple[str, Callable[[Element], Any]]


class ByteFilter(Protocol):
    """A member's bytes after the rewriter: ``feed`` returns what may be written so far
    (it may hold bytes back), ``close`` the rest; ``changed`` says whether any byte
    differs from its input."""

    changed: bool

    def feed(self, data: bytes) -> bytes: ...

    def close(self) -> bytes: ...


def matches(member: Member, name: str) -> bool:
    return member == name if isinstance(member, str) else member.fullmatch(name) is not None


class FileFacts:
    """The ``files.xml`` records the pipeline always reads: id -> (contenthash, contextid,
    component, filearea, itemid, userid), and how many records name each blob."""

    __slots__ = ("records", "blob_uses")

    def __init__(self) -> None:
        self.records: dict[str, tuple[str, str, str, str, str, str]] = {}
        self.blob_uses: dict[str, int] = {}

    def add(self, record: dict) -> None:
        file_id = record.get("id")
        if file_id is None:
            return
        contenthash = record.get("contenthash") or ""
        self.records[file_id] = (contenthash, record.get("contextid") or "",
                                 record.get("component") or "", record.get("filearea") or "",
                                 record.get("itemid") or "", record.get("userid") or "")
        if contenthash and record.get("filename") != ".":
            self.blob_uses[contenthash] = self.blob_uses.get(contenthash, 0) + 1

    def where(self, component: str, filearea: str) -> list[str]:
        """Ids of the files of one area."""
        return [file_id for file_id, (_, _, comp, area, _, _) in self.records.items()
                if comp == component and area == filearea]


class Facts:
    """What the survey learnt, shared by every transform of one run."""

    def __init__(self, source: str) -> None:
        self.source = source
        #: Every member, in archive order.
        self.members: list[MemberInfo] = []
        self.information: Information | None = None
        self.files = FileFacts()
        #: inforef kind (``user``, ``file``, ``group``, ``question_category``...) -> the
        #: ids transforms remove: the closure takes them out everywhere.
        self.removed: dict[str, set[str]] = {}

    def remove(self, kind: str, ids: Iterable[str]) -> None:
        self.removed.setdefault(kind, set()).update(ids)

    def is_removed(self, kind: str, item_id: str | None) -> bool:
        removed = self.removed.get(kind)
        return bool(removed) and item_id in removed

    def setting(self, name: str) -> str | None:
        return self.information.setting(name) if self.information else None


class Transform:
    """One transform. Subclasses override what they need; the defaults do nothing."""

    #: The name commands and reports use.
    name: ClassVar[str] = ""

    def survey(self, facts: Facts) -> Iterable[RecordRule]:
        """Records to read in the first pass."""
        return ()

    def prepare(self, facts: Facts) -> None:
        """After the survey: decide, and note removed ids in ``facts.removed``."""

    def drops(self, name: str, facts: Facts) -> bool:
        """Whether member ``name`` leaves the archive."""
        return False

    def rewrites(self, name: str, facts: Facts) -> Iterable[RewriteRule]:
        """Rewriter handlers for member ``name``."""
        return ()

    def filters(self, name: str, facts: Facts) -> Iterable[Callable[[], ByteFilter]]:
        """Makers of byte filters member ``name`` passes through, after the rewriter."""
        return ()

    def report(self) -> dict[str, Any]:
        """What the transform did, for the run's report."""
        return {}
