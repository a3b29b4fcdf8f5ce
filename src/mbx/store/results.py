"""What the store's operations return: typed, frozen, JSON-ready (``msgspec.to_builtins``)."""

from __future__ import annotations

import msgspec

__all__ = ["AddResult", "CheckoutResult", "CourseListing", "Damage", "DiffResult", "GcResult",
           "GetResult", "ItemChange", "MemberChange", "RmResult", "StoreListing",
           "VerifyResult", "VersionInfo"]


class _Result(msgspec.Struct, frozen=True, kw_only=True):
    def to_dict(self) -> dict:
        return msgspec.to_builtins(self)


class AddResult(_Result):
    """One ``add``: the version made (or, when ``duplicate_of`` is set, the version
    already holding exactly this archive, and nothing was added)."""

    course: str
    version: int
    tags: list[str]
    members: int
    bytes: int                   #: member bytes of the archive
    added_bytes: int             #: bytes of content files this version was first to list
    new_chunks: int
    new_blobs: int
    duplicate_of: int | None = None
    seconds: float = 0.0


class VersionInfo(_Result):
    """One version, as ``ls`` lists it."""

    course: str
    version: int
    tags: list[str]
    added_at: float              #: Unix seconds
    backup_date: int | None      #: when Moodle wrote the backup
    title: str | None
    source: str
    container: str
    format: str
    members: int
    bytes: int
    archive_size: int | None
    added_bytes: int


class CourseListing(_Result):
    name: str
    versions: list[VersionInfo]


class StoreListing(_Result):
    """``ls``: the courses (or the one asked for) with their versions, oldest first,
    and the bytes of content files the store holds."""

    store: str
    courses: list[CourseListing]
    stored_bytes: int


class GetResult(_Result):
    course: str
    version: int
    output: str
    format: str                  #: tgz | zip
    members: int
    bytes: int
    bytes_out: int


class CheckoutResult(_Result):
    course: str
    version: int
    folder: str
    members: int
    linked: int                  #: blobs hard-linked into the store
    copied: int                  #: blobs copied (``copy=True``, or another file system)


class ItemChange(_Result):
    """An activity or a section added, removed or changed between two versions."""

    kind: str                    #: activity | section
    change: str                  #: added | removed | changed
    id: str | None               #: moduleid or sectionid
    title: str | None
    directory: str | None
    modulename: str | None = None


class MemberChange(_Result):
    name: str
    change: str                  #: added | removed | changed
    size_a: int | None
    size_b: int | None


class DiffResult(_Result):
    a: str
    b: str
    activities: list[ItemChange]
    sections: list[ItemChange]
    files_added: list[MemberChange]
    files_removed: list[MemberChange]
    members: list[MemberChange]  #: every other member added, removed or changed


class RmResult(_Result):
    removed: list[str]           #: course@number of each version dropped
    courses_removed: list[str]


class GcResult(_Result):
    chunks_freed: int
    blobs_freed: int
    bytes_freed: int
    temporaries_removed: int


class Damage(_Result):
    """A content file that is missing or does not match its hash, and who needs it."""

    kind: str                    #: chunk | blob
    id: str
    problem: str                 #: missing | unreadable | hash-mismatch | size-mismatch
    versions: list[str]


class VerifyResult(_Result):
    chunks: int
    blobs: int
    bytes: int
    damage: list[Damage]
    damaged_versions: list[str]
    unlisted_files: int          #: content files no version lists (gc removes them)

    @property
    def ok(self) -> bool:
        return not self.damage
