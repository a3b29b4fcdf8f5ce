"""mbx: stream, inspect, verify, transform and restore Moodle course backups (.mbz)."""

from mbx.errors import MbxError

__version__ = "0.1.0"
__all__ = ["MbxError", "__version__", "implementation"]


def __getattr__(name: str):
    # ``implementation`` loads the compiled modules to decide; commands that parse
    # no XML (``mbx ls -l``) start faster without them
    if name == "implementation":
        from mbx._impl import implementation
        return implementation
    raise AttributeError(f"module 'mbx' has no attribute {name!r}")
