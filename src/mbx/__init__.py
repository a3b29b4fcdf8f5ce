"""mbx: Moodle course backups (.mbz), read, inspected, verified and synthesised, streaming.

A backup is a tar.gz or zip archive (or an extracted folder) of XML files and
file blobs. mbx reads it in one pass, in constant memory, whatever its size,
and treats every byte as hostile until proven otherwise.

The front door::

    import mbx

    summary = mbx.summarize("course.mbz")          # course, sections, activities, counts
    report = mbx.verify("course.mbz")              # errors and warnings, by code
    with mbx.open_backup("course.mbz") as backup:  # members as binary streams
        for member, stream in backup.iter_members():
            ...
    parser = mbx.Parser()                          # records from any XML path
    parser.add_path("/activity/forum/discussions/discussion", print)

Where things live, in the order data flows:

- :mod:`mbx.archive`: containers (tar.gz with its own ustar framing, zip,
  folders), the ``.ARCHIVE_INDEX``, the safety checks, the archive writer;
- :mod:`mbx.xml`: the streaming parser (compiled, with a pure twin) and the writer;
- :mod:`mbx.inspect` (``summarize``, ``describe``), :mod:`mbx.verification` (``verify``),
  :mod:`mbx.synth` (``synthesize``): the consumers;
- :mod:`mbx.progress`: the progress-and-cancel protocol of long operations
  (:class:`~mbx.progress.Monitor`, :class:`~mbx.progress.CancelToken`);
- :mod:`mbx.errors`: :class:`MbxError`, the root of everything mbx refuses,
  each with a stable ``code``;
- :mod:`mbx.cli`: the ``mbx`` command, with its one output layer (:mod:`mbx.cli.output`).

``mbx.implementation`` is ``"cython"`` or ``"python"``: which parser engine runs.
"""

from mbx.errors import Cancelled, MbxError

__version__ = "0.1.0"
__all__ = ["CancelToken", "Cancelled", "MbxError", "Monitor", "Parser", "__version__",
           "describe", "implementation", "open_backup", "summarize", "synthesize", "verify"]

#: name -> (module, attribute), imported on first use: commands that parse no XML
#: (``mbx ls -l``) start faster without the XML machinery and the compiled modules
_LAZY = {
    "implementation": ("mbx._impl", "implementation"),
    "open_backup": ("mbx.archive", "open_backup"),
    "Parser": ("mbx.xml", "Parser"),
    "summarize": ("mbx.inspect", "summarize"),
    "describe": ("mbx.inspect", "describe"),
    "verify": ("mbx.verification", "verify"),
    "synthesize": ("mbx.synth", "synthesize"),
    "Monitor": ("mbx.progress", "Monitor"),
    "CancelToken": ("mbx.progress", "CancelToken"),
}


def __getattr__(name: str):
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'mbx' has no attribute {name!r}") from None
    import importlib

    return getattr(importlib.import_module(module), attribute)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
