"""A throwaway PostgreSQL server for the tests: initdb into a folder, start it on a
free port, stop it, remove the folder.

Standard library only, so that CI can run it before any test dependency is
installed; ``tests/postgres.py`` builds the pytest fixtures on it. As a command:

    python3 tests/pgserver.py bindir        # where initdb and pg_ctl are; exit 1 if nowhere
    python3 tests/pgserver.py start DIR     # a server in DIR (new or empty); prints its URL
    python3 tests/pgserver.py stop DIR      # stops it and removes DIR

The server trusts every local connection and syncs nothing to disk: it is for
tests only. initdb refuses to run as root, so as root the server runs as the
``postgres`` user (which Debian's ``postgresql`` package creates).
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

#: The superuser initdb creates, and the user in the server's URL.
SUPERUSER = "postgres"
#: The OS user the server runs as when we are root.
SERVICE_USER = "postgres"
#: Written into DIR by ``start``; ``stop`` removes only folders that hold it.
MARKER = ".mbx-test-postgres"

INSTALL_HINT = ("install the PostgreSQL server (Debian/Ubuntu: apt-get install postgresql), "
                "or point MBX_TEST_POSTGRES at a server: "
                "MBX_TEST_POSTGRES=postgresql://user@host:port/postgres")

#: Settings for a fast, small, disposable server (data loss on a crash is fine).
SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "16MB",
    "max_connections": "50",
    "max_parallel_workers_per_gather": "0",  # no dynamic shared memory in small containers
    "listen_addresses": "'127.0.0.1'",
    "logging_collector": "off",
    "log_min_messages": "warning",
}


class ServerError(RuntimeError):
    """The server could not be found, started or stopped; the message says why."""


#: Where the server binaries live when PATH does not have them, newest version first.
BINDIR_PATTERNS = ("/usr/lib/postgresql/*/bin",  # Debian and Ubuntu
                   "/usr/local/pgsql/bin")       # a build from source


def find_bindir(search_path: str | None = None,
                patterns: tuple[str, ...] | None = None) -> Path | None:
    """The folder holding initdb, pg_ctl and postgres: the one on ``search_path``
    (default PATH), then ``pg_config --bindir``, then ``patterns`` (default
    ``BINDIR_PATTERNS``)."""
    candidates = []
    initdb = shutil.which("initdb", path=search_path)
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    pg_config = shutil.which("pg_config", path=search_path)
    if pg_config:
        try:
            found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                   timeout=10, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            found = ""
        if found:
            candidates.append(Path(found))
    for pattern in BINDIR_PATTERNS if patterns is None else patterns:
        found = sorted(glob.glob(pattern), key=_version_key, reverse=True)
        candidates += [Path(folder) for folder in found]
    for folder in candidates:
        if all(os.access(folder / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def _version_key(folder: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", folder))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """One throwaway server whose files all live in ``folder``."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder).resolve()
        self.data = self.folder / "data"
        self.sockets = self.folder / "sockets"
        self.log = self.folder / "server.log"
        self.port_file = self.folder / "port"

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port_file.read_text().strip()}/postgres"

    # -- running the server's commands, as root through the service user

    def _run(self, program: Path | str, *args: str,
             timeout: float = 120) -> subprocess.CompletedProcess:
        identity = {}
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam(SERVICE_USER)
            except KeyError:
                raise ServerError(
                    f"running as root, and initdb refuses root, but there is no "
                    f"{SERVICE_USER!r} user to run the server as: create one "
                    f"(useradd --system {SERVICE_USER}) or {INSTALL_HINT}") from None
            identity = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        environment = {key: value for key, value in os.environ.items()
                       if not key.startswith("PG")}  # PGDATA, PGPORT... are not ours to obey
        return subprocess.run([str(program), *args], cwd=self.folder,
                              env=environment, capture_output=True, text=True,
                              timeout=timeout, **identity)

    def _give_to_service_user(self, path: Path) -> None:
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVICE_USER)
            os.chown(path, account.pw_uid, account.pw_gid)

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    # -- the life cycle

    def start(self) -> str:
        """initdb and start; returns the server's URL."""
        bindir = find_bindir()
        if bindir is None:
            places = ", ".join(("PATH", "pg_config --bindir", *BINDIR_PATTERNS))
            raise ServerError(f"no PostgreSQL server binaries (initdb, pg_ctl, postgres) in "
                              f"{places}: {INSTALL_HINT}")
        self.folder.mkdir(parents=True, exist_ok=True)
        if any(self.folder.iterdir()):
            raise ServerError(f"{self.folder} is not empty")
        (self.folder / MARKER).write_text("a throwaway PostgreSQL server for mbx's tests\n")
        self.sockets.mkdir()
        for path in (self.folder, self.sockets):
            self._give_to_service_user(path)
        if os.geteuid() == 0 and self._run(shutil.which("test") or "/usr/bin/test",
                                           "-w", str(self.sockets)).returncode != 0:
            raise ServerError(f"the {SERVICE_USER!r} user cannot write in {self.folder}: "
                              f"is a folder above it private? Choose another (TMPDIR)")
        made = self._run(bindir / "initdb", "--pgdata", str(self.data), "--username", SUPERUSER,
                         "--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync")
        if made.returncode != 0:
            raise ServerError(f"initdb failed in {self.data}:\n{made.stdout}{made.stderr}")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# mbx tests: throwaway server\n")
            conf.write(f"unix_socket_directories = '{self.sockets}'\n")
            conf.writelines(f"{name} = {value}\n" for name, value in SETTINGS.items())
        for attempt in range(5):  # a free port can be taken before the server binds it
            port = _free_port()
            started = self._run(bindir / "pg_ctl", "start", "--wait", "--timeout", "60",
                                "--pgdata", str(self.data), "--log", str(self.log),
                                "--options", f"-p {port}")
            if started.returncode == 0:
                self.port_file.write_text(f"{port}\n")
                return self.url
            if "could not bind" not in self._log_tail(50) or attempt == 4:
                raise ServerError(f"pg_ctl start failed:\n{started.stdout}{started.stderr}"
                                  f"\nserver log:\n{self._log_tail()}")
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the server if it runs (immediately: nothing in it is kept), then remove
        the folder, but only one that ``start`` made."""
        if not (self.folder / MARKER).is_file():
            if self.folder.is_dir() and not any(self.folder.iterdir()):
                self.folder.rmdir()  # start gave up before writing anything
            elif self.folder.exists():
                raise ServerError(f"{self.folder} was not made by pgserver start: not removed")
            return
        if (self.data / "postmaster.pid").exists():
            bindir = find_bindir()
            if bindir is None:
                raise ServerError(f"a server may run in {self.data} but pg_ctl is gone: "
                                  f"stop it by hand")
            stopped = self._run(bindir / "pg_ctl", "stop", "--wait", "--timeout", "60",
                                "--mode", "immediate", "--pgdata", str(self.data))
            # pg_ctl status exits 3 when no server runs (a stale postmaster.pid included)
            if stopped.returncode != 0 and self._run(
                    bindir / "pg_ctl", "status", "--pgdata", str(self.data)).returncode != 3:
                raise ServerError(f"pg_ctl stop failed:\n{stopped.stdout}{stopped.stderr}")
        shutil.rmtree(self.folder, ignore_errors=True)


def main(argv: list[str]) -> int:
    usage = "usage: pgserver.py bindir | start DIR | stop DIR"
    if argv == ["bindir"]:
        bindir = find_bindir()
        if bindir is None:
            print(f"pgserver: no PostgreSQL server binaries: {INSTALL_HINT}", file=sys.stderr)
            return 1
        print(bindir)
        return 0
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print(usage, file=sys.stderr)
        return 2
    server = Server(argv[1])
    try:
        if argv[0] == "start":
            print(server.start())
        else:
            server.stop()
    except ServerError as error:
        print(f"pgserver: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
