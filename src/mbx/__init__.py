"""mbx: stream, inspect, verify, transform and restore Moodle course backups (.mbz)."""

from mbx._impl import implementation
from mbx.errors import MbxError

__version__ = "0.1.0"
__all__ = ["MbxError", "__version__", "implementation"]
