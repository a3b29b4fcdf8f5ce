"""What a restore did: the typed report ``mbx.restore()`` returns and ``--json`` prints."""

from __future__ import annotations

import msgspec

__all__ = ["KeptRaw", "RestoreReport", "RestoreWarning", "UserDecision"]


class RestoreWarning(msgspec.Struct, frozen=True):
    """Something restored differently from the backup, or not at all, in Moodle's words
    where Moodle has them (``code`` is Moodle's string name where there is one)."""

    code: str
    message: str
    member: str | None = None


class KeptRaw(msgspec.Struct, frozen=True):
    """A part of the backup mbx has no declaration for, kept byte for byte in
    ``mbx_raw_members`` (and, for an activity, given its course module and context)."""

    member: str
    reason: str
    bytes: int
    contextid: int | None = None


class UserDecision(msgspec.Struct, frozen=True):
    """How one backup user was matched against the target (Moodle's precheck rules)."""

    old_id: int
    username: str
    action: str            # map | create | conflict
    rule: str              # the rule that decided, as named in the restore reference (2A1...)
    target_id: int | None = None


class RestoreReport(msgspec.Struct, kw_only=True):
    archive: str
    target: str
    files_dir: str | None
    course_id: int | None = None
    course_context_id: int | None = None
    fullname: str | None = None
    shortname: str | None = None
    rows: dict[str, int] = {}
    files_written: int = 0
    files_reused: int = 0
    file_bytes_written: int = 0
    files_not_restored: int = 0      # files.xml records of areas no restored part asked for
    kept_raw: list[KeptRaw] = []
    users: list[UserDecision] = []
    warnings: list[RestoreWarning] = []
    phases: dict[str, float] = {}
    seconds: float = 0.0

    def warn(self, code: str, message: str, member: str | None = None) -> None:
        self.warnings.append(RestoreWarning(code, message, member))

    def to_dict(self) -> dict:
        return msgspec.to_builtins(self)
