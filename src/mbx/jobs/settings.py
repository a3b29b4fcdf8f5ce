"""Where the job table and the queue are, and how workers pace themselves.

Every setting has a default, an environment variable, and a flag on ``mbx jobs``
and ``mbx worker`` (``--table``, ``--queue``): the submitters and the workers of
one queue must agree on the first two, nothing else.
"""

from __future__ import annotations

import os
import socket

import msgspec

__all__ = ["ENVIRONMENT", "JobSettings", "default_home"]


def default_home() -> str:
    """``$MBX_HOME``, else ``$XDG_DATA_HOME/mbx``, else ``~/.local/share/mbx``."""
    if os.environ.get("MBX_HOME"):
        return os.path.abspath(os.environ["MBX_HOME"])
    data = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(data, "mbx")


class JobSettings(msgspec.Struct, kw_only=True):
    #: the folder of the embedded defaults (the job table, the queue, the page's token)
    home: str = ""
    #: the job table: ``sqlite:PATH`` (default ``sqlite:HOME/jobs.db``) or ``postgresql://…``
    table: str = ""
    #: the queue: ``sqlite:PATH`` (default ``sqlite:HOME/queue.db``, Huey's SqliteHuey),
    #: ``redis://…`` (RedisHuey) or ``postgresql://…`` (PostgresHuey)
    queue: str = ""
    #: seconds between a running job's heartbeats (and progress writes)
    heartbeat: float = 1.0
    #: a running job whose heartbeat is older than this has lost its worker
    lost_after: float = 30.0
    #: seconds a cancelled job has to stop before its process is killed
    grace: float = 10.0
    #: attempts of a job whose kind may be retried
    max_attempts: int = 3
    #: the first retry's delay in seconds; each later one doubles it
    retry_delay: float = 10.0
    #: the SMTP server notifications go through, ``host:port``
    smtp: str = "localhost:25"
    #: the sender of notifications
    mail_from: str = ""

    def __post_init__(self) -> None:
        self.home = self.home or default_home()
        self.table = self.table or "sqlite:" + os.path.join(self.home, "jobs.db")
        self.queue = self.queue or "sqlite:" + os.path.join(self.home, "queue.db")
        self.mail_from = self.mail_from or f"mbx@{socket.gethostname()}"

    @classmethod
    def from_environment(cls, **given) -> JobSettings:
        """Settings from the environment (:data:`ENVIRONMENT`), overridden by ``given``
        (None values ignored)."""
        values = {}
        for field, (variable, convert) in ENVIRONMENT.items():
            if os.environ.get(variable):
                values[field] = convert(os.environ[variable])
        values.update({name: value for name, value in given.items() if value is not None})
        return cls(**values)


#: setting -> (environment variable, conversion)
ENVIRONMENT = {
    "home": ("MBX_HOME", str),
    "table": ("MBX_JOBS_TABLE", str),
    "queue": ("MBX_QUEUE", str),
    "heartbeat": ("MBX_JOBS_HEARTBEAT", float),
    "lost_after": ("MBX_JOBS_LOST_AFTER", float),
    "grace": ("MBX_JOBS_GRACE", float),
    "max_attempts": ("MBX_JOBS_MAX_ATTEMPTS", int),
    "retry_delay": ("MBX_JOBS_RETRY_DELAY", float),
    "smtp": ("MBX_SMTP", str),
    "mail_from": ("MBX_MAIL_FROM", str),
}
