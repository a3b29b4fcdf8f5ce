"""The exit codes of ``mbx`` (see :mod:`mbx.cli`)."""

EXIT_OK = 0
#: the input was refused, or ``verify`` found errors
EXIT_REFUSED = 1
EXIT_USAGE = 2
#: an unexpected failure: a bug (``--debug`` shows the traceback)
EXIT_BUG = 3
#: ``verify --strict`` found warnings and no errors
EXIT_WARNINGS = 4
#: the format is recognised, but the command does not support it yet
EXIT_UNSUPPORTED = 5
#: Ctrl-C (128 + SIGINT), or the operation was cancelled
EXIT_INTERRUPTED = 130
