"""Where a restore writes: SQLite (embedded, the default) or PostgreSQL."""

from mbx.restore.targets.base import Target, open_target

__all__ = ["Target", "open_target"]
