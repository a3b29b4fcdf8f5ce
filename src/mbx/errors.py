"""The error hierarchy shared by every layer of mbx.

Everything mbx refuses is an :class:`MbxError`. Each error carries a stable
``code`` (reported by ``--json`` output) and, where it is known, where it
happened: the source (file or archive member), the line, the column and the
element path. Errors about input bytes are also :class:`ValueError`.
"""

from __future__ import annotations


def format_location(source: str, line: int | None, column: int | None) -> str:
    """``source:line:column``, leaving out the parts that are not known."""
    parts = [source]
    if line is not None:
        parts.append(str(line))
        if column is not None:
            parts.append(str(column))
    return ":".join(parts)


class MbxError(Exception):
    """Root of every error mbx raises on purpose."""

    code = "mbx-error"

    def __init__(self, message: str, *, code: str | None = None, source: str | None = None,
                 line: int | None = None, column: int | None = None,
                 path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.source = source
        self.line = line
        self.column = column
        self.path = path

    def location(self) -> str:
        """``source:line:column`` with whatever parts are known."""
        return format_location(self.source or "<input>", self.line, self.column)

    def __str__(self) -> str:
        text = f"{self.location()}: {self.message}"
        if self.path:
            text += f" (in {self.path})"
        return f"{text} [{self.code}]"

    def to_dict(self) -> dict:
        """A JSON-ready description with stable keys."""
        return {"code": self.code, "message": self.message, "source": self.source,
                "line": self.line, "column": self.column, "path": self.path}


class XmlError(MbxError, ValueError):
    """The XML input cannot be accepted."""

    code = "xml-error"


class XmlSyntaxError(XmlError):
    """The input is not well-formed XML (or not the subset mbx reads)."""

    code = "xml-syntax"


class XmlForbiddenError(XmlError):
    """The input uses a construct refused by design (DTDs, entity declarations)."""

    code = "xml-forbidden"


class XmlLimitError(XmlError):
    """The input exceeds a configured limit (depth, name, attributes, text, record)."""

    code = "xml-limit"


class XmlWriterError(MbxError):
    """The XML writer was driven out of order (mismatched or unclosed elements)."""

    code = "xml-writer"


class ArchiveError(MbxError, ValueError):
    """A container (tar.gz, zip, folder) is unreadable or unsafe."""

    code = "archive-error"


class FormatError(MbxError, ValueError):
    """The backup is not in a format mbx can read."""

    code = "format-error"

    @classmethod
    def unsupported(cls, backup_format: str, message: str, source: str | None = None
                    ) -> FormatError:
        """The error for a backup an operation cannot take: code ``format-unsupported``
        when mbx recognises ``backup_format`` (``moodle1``, ``imscc``) and the
        operation does not support it yet, ``format-unknown`` when it is no backup
        format at all (``unknown``)."""
        code = "format-unknown" if backup_format == "unknown" else "format-unsupported"
        return cls(message, code=code, source=source)


class MappingError(MbxError):
    """An id cannot be mapped during restore."""

    code = "mapping-error"


class TargetError(MbxError):
    """A restore target (database, file pool) refused an operation."""

    code = "target-error"


class Cancelled(MbxError):
    """The operation was cancelled through its :class:`~mbx.progress.CancelToken`.

    Raised between two members or records, after the operation has undone what
    it had started: nothing half-written is left behind.
    """

    code = "cancelled"
