"""The command line's one output layer: text, JSON and newline-delimited JSON.

Every command hands its result to an :class:`Output` made from the shared
flags, instead of formatting inline:

- a *document* (``mbx ls``, ``info``, ``verify``, ``synth``) is one result:
  text lines by default, one JSON object with ``--json``;
- a *stream* (``mbx ls -l``, ``records``) is a sequence of items written as
  they come, a few thousand at a time, so a million items take constant
  memory: text lines, one JSON array with ``--json``, one JSON object per line
  with ``--nl``.

Results go to stdout and diagnostics to stderr. Errors have one shape in every
command: one line ``mbx: <message>`` on stderr, or with ``--json``/``--nl``
the object ``{"error": {"code", "message", "source", "line", "column", "path"}}``
(``source`` is the file or member, ``path`` the XML element path). Dates in
JSON are integers (Unix seconds) or null, never strings.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

__all__ = ["Output", "add_output_flags", "error_dict"]

#: How many text pieces are joined per write when streaming.
BATCH = 4096


def add_output_flags(parser: argparse.ArgumentParser, *, stream: bool = False) -> None:
    """``--json`` (and ``--nl`` for streams) on a subcommand, the same everywhere."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--json", dest="output", action="store_const", const="json",
                       help="print the result as JSON")
    if stream:
        group.add_argument("--nl", dest="output", action="store_const", const="nl",
                           help="print one JSON object per line, as the items come")
    parser.set_defaults(output="text")


def error_dict(code: str, message: str, *, source: str | None = None, line: int | None = None,
               column: int | None = None, path: str | None = None) -> dict[str, Any]:
    """The one error shape of ``--json`` output."""
    return {"code": code, "message": message, "source": source, "line": line,
            "column": column, "path": path}


class Output:
    """Writes one command's result in the format its flags chose."""

    def __init__(self, format: str = "text", *, stdout: TextIO | None = None,
                 stderr: TextIO | None = None) -> None:
        if format not in ("text", "json", "nl"):
            raise ValueError(f"unknown output format {format!r}")
        self.format = format
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    @property
    def is_json(self) -> bool:
        """True for ``--json`` and ``--nl``: machine-readable output and errors."""
        return self.format != "text"

    def document(self, result: Any, text: Callable[[Any], Iterable[str]], *,
                 to_json: Callable[[Any], Any] | None = None) -> None:
        """One result: ``text(result)`` gives its lines; JSON prints it whole
        (``to_json(result)`` first, for results that are not plain data)."""
        if self.is_json:
            data = result if to_json is None else to_json(result)
            self.stdout.write(_json().dumps(data, ensure_ascii=False, indent=2) + "\n")
        else:
            self._write_batched(line + "\n" for line in text(result))

    def stream(self, items: Iterable[Any], *, to_dict: Callable[[Any], dict],
               to_text: Callable[[Any], str]) -> int:
        """Items as they come: text lines, a JSON array (``--json``, the same text
        ``json.dumps`` of the whole list gives) or one object per line (``--nl``).
        Returns how many items were written."""
        count = 0

        def pieces() -> Iterator[str]:
            nonlocal count
            if self.format == "text":
                for item in items:
                    count += 1
                    yield to_text(item) + "\n"
            elif self.format == "nl":
                for item in items:
                    count += 1
                    yield _json().dumps(to_dict(item), ensure_ascii=False) + "\n"
            else:
                for item in items:
                    yield ("[" if count == 0 else ", ") + _json().dumps(to_dict(item),
                                                                     ensure_ascii=False)
                    count += 1
                yield "]\n" if count else "[]\n"

        self._write_batched(pieces())
        return count

    def error(self, error: dict[str, Any], text: str) -> None:
        """An error, in the one shape: ``mbx: text`` or ``{"error": {...}}`` on stderr."""
        if self.is_json:
            self.stderr.write(_json().dumps({"error": error}, ensure_ascii=False) + "\n")
        else:
            self.stderr.write(f"mbx: {text}\n")

    def note(self, text: str) -> None:
        """A diagnostic for people (stderr), whatever the output format."""
        self.stderr.write(f"mbx: {text}\n")

    def _write_batched(self, pieces: Iterable[str]) -> None:
        batch: list[str] = []
        for piece in pieces:
            batch.append(piece)
            if len(batch) == BATCH:
                self.stdout.write("".join(batch))
                batch.clear()
        self.stdout.write("".join(batch))


def _json():
    """The json module, imported on first use: a text listing starts without it."""
    import json

    return json
