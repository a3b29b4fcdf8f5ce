"""A throwaway Redis server for the tests and benchmarks: Debian's ``redis-server`` on a
free loopback port, in its own folder, with nothing saved to disk.

Standard library only. As a command (what ``.ci/run`` uses):

    python3 tests/redisserver.py start DIR     # a server in DIR; prints its URL
    python3 tests/redisserver.py stop DIR      # stops it and removes DIR

From Python: ``with RedisServer() as url: ...``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INSTALL_HINT = ("install the Redis server (Debian/Ubuntu: apt-get install redis-server), "
                "or point MBX_TEST_REDIS at one: MBX_TEST_REDIS=redis://host:port/0")
MARKER = ".mbx-test-redis"


class ServerError(RuntimeError):
    """redis-server is missing or would not start."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(folder: str | os.PathLike) -> str:
    """Starts a server with its files in ``folder``; returns its URL."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(binary):
        raise ServerError(f"redis-server not found: {INSTALL_HINT}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("")
    port = _free_port()
    subprocess.run([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--daemonize", "yes", "--dir", str(folder),
                    "--pidfile", str(folder / "redis.pid"), "--logfile", str(folder / "log")],
                   check=True, capture_output=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
                connection.sendall(b"PING\r\n")
                if connection.recv(16).startswith(b"+PONG"):
                    return f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    raise ServerError(f"redis-server did not answer on port {port}: see {folder / 'log'}")


def stop(folder: str | os.PathLike) -> None:
    """Stops the server of ``folder`` and removes the folder (only one of ours)."""
    folder = Path(folder)
    if not (folder / MARKER).exists():
        raise ServerError(f"{folder} holds no test server of ours")
    pidfile = folder / "redis.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text().strip() or 0)
        if pid:
            try:
                os.kill(pid, 15)
                for _ in range(100):
                    os.kill(pid, 0)
                    time.sleep(0.05)
            except ProcessLookupError:
                pass
    shutil.rmtree(folder, ignore_errors=True)


class RedisServer:
    """``with RedisServer() as url``: a server for the block's length."""

    def __enter__(self) -> str:
        self.folder = tempfile.mkdtemp(prefix="mbx-redis-")
        return start(self.folder)

    def __exit__(self, *exc) -> None:
        stop(self.folder)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        sys.exit(__doc__)
    try:
        print(start(sys.argv[2])) if sys.argv[1] == "start" else stop(sys.argv[2])
    except (ServerError, subprocess.CalledProcessError) as error:
        sys.exit(f"redisserver: {error}")
