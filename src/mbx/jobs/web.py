"""``mbx jobs serve``: the queue's status page, and the small JSON API it polls.

One self-contained page (``page.html``, no frameworks, nothing fetched from
elsewhere) shows the queue, the running jobs with their progress, the
schedules and the history, with cancel and retry buttons. Everything it shows
comes from :class:`~mbx.jobs.JobQueue`; the page only reads ``GET /api/state``
and asks ``POST /api/jobs/ID/cancel`` and ``/retry``.

It is read-write for the local user alone by default:

- it binds to 127.0.0.1; a request whose ``Host`` names anything but the bound
  host or localhost is refused, so a web page whose name was rebound to
  127.0.0.1 (DNS rebinding) reads nothing;
- every change (POST) wants the token in the ``X-Mbx-Token`` header, which a
  cross-site form cannot set; the token is made once and kept in
  ``HOME/web-token``, readable by its owner alone, unless one is given;
- bound to anything but a loopback address, every request wants the token
  (the page's own URL carries it as ``?token=``, the page then sends the header).
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from mbx.jobs import calendar
from mbx.jobs.queue import JobQueue
from mbx.jobs.table import FINAL, JobError

__all__ = ["HISTORY", "TOKEN_HEADER", "StatusServer", "serve", "stored_token"]

#: the header every change carries the token in
TOKEN_HEADER = "X-Mbx-Token"
#: how many ended jobs the page shows, newest first
HISTORY = 50
#: the file in the settings' home that keeps the token
TOKEN_FILE = "web-token"

_ACTION = re.compile(r"/api/jobs/([0-9]{1,18})/(cancel|retry)")
_WILDCARDS = {"0.0.0.0", "::", ""}


def stored_token(home: str) -> str:
    """The token kept in ``home/web-token``, made (mode 0600) when there is none.

    A token file that others could read, or an empty one, is replaced: what
    others may have read guards nothing.
    """
    path = os.path.join(home, TOKEN_FILE)
    try:
        mode = os.stat(path).st_mode
        if not mode & 0o077:
            with open(path, encoding="ascii") as kept:
                token = kept.read().strip()
            if token:
                return token
    except FileNotFoundError:
        pass
    os.makedirs(home, mode=0o700, exist_ok=True)
    token = secrets.token_urlsafe(32)
    temporary = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as new:
            new.write(token + "\n")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return token


class StatusServer(ThreadingHTTPServer):
    """The status page of ``queue`` on ``host:port`` (port 0: any free one).

    From a test: ``server = StatusServer(queue, port=0); server.start()``, then
    ``server.url`` (with the token), and ``server.stop()``.
    """

    daemon_threads = True

    def __init__(self, queue: JobQueue, host: str = "127.0.0.1", port: int = 8765, *,
                 token: str | None = None) -> None:
        self.queue = queue
        self.token = token or stored_token(queue.settings.home)
        self.host = host.strip("[]")
        if ":" in self.host:
            self.address_family = socket.AF_INET6
        self.changes = threading.Lock()  # one cancel or retry at a time
        self._thread: threading.Thread | None = None
        super().__init__((self.host, port), _Handler)
        self.port = self.server_address[1]
        self.loopback = _is_loopback(self.server_address[0])
        self.names = _names_of(self.host, self.server_address[0])

    @property
    def url(self) -> str:
        """The page's address, token included: what ``serve`` prints."""
        host = self.host
        if host in _WILDCARDS:
            host = socket.getfqdn()
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/?token={urllib.parse.quote(self.token)}"

    def start(self) -> StatusServer:
        """Serves in a background thread (for tests and embedding)."""
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,),
                                        name="mbx-status-page", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()

    # -- what the page shows --------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """``GET /api/state``: the queue, its jobs and its schedules, as JSON holds them."""
        queue, now = self.queue, time.time()
        queued = sorted(queue.ls(states=("queued",)), key=lambda job: (-job.priority, job.id))
        window = queue.window
        return {
            "now": now,
            "queue": {"paused": queue.paused, "window": window,
                      "window_opens": calendar.window_opening(window, now)},
            "queued": [_shown(job) for job in queued],
            "running": [_shown(job) for job in reversed(queue.ls(states=("running",)))],
            "history": [_shown(job) for job in queue.ls(states=FINAL, limit=HISTORY)],
            "schedules": [schedule.to_dict() for schedule in queue.schedules()],
        }

    def change(self, job_id: int, action: str) -> dict[str, Any]:
        with self.changes:
            job = self.queue.cancel(job_id) if action == "cancel" else self.queue.retry(job_id)
        return _shown(job)


def _shown(job) -> dict[str, Any]:
    """A job as the page gets it: secret settings masked, and of its notifications only
    how (a webhook's address or a command can carry secrets of their own)."""
    data = job.to_dict()
    data.pop("key", None)
    data["notify"] = sorted(name for name in (job.notify or {}) if name != "on")
    return data


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _names_of(host: str, address: str) -> frozenset[str]:
    """The names a request's ``Host`` may give: the bound host and localhost, and for a
    server bound to every address, this machine's names."""
    names = {host.lower(), address.lower(), "localhost", "127.0.0.1", "::1"}
    if host in _WILDCARDS:
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    return frozenset(names - {""})


def _host_name(header: str) -> str:
    """``example.org`` of ``example.org:8765``, ``::1`` of ``[::1]:8765``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    if header.count(":") > 1:  # a bare IPv6 address
        return header
    return header.partition(":")[0].rstrip(".")


class _Refused(Exception):
    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class _Handler(BaseHTTPRequestHandler):
    server: StatusServer
    def version_string(self) -> str:
        return "mbx-jobs"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._answer(self._get)

    def do_POST(self) -> None:  # noqa: N802
        self._answer(self._post)

    def _answer(self, handler) -> None:
        try:
            self._check_host()
            handler()
        except _Refused as refusal:
            self.log_message("refused %s %s: %s", self.command,
                             urllib.parse.urlsplit(self.path).path, refusal)
            self._json({"error": str(refusal), "code": "refused"}, refusal.status)
        except Exception as error:  # noqa: BLE001 - say what went wrong, keep serving
            self.log_message("%s %s failed: %r", self.command,
                             urllib.parse.urlsplit(self.path).path, error)
            self._json({"error": str(error), "code": getattr(error, "code", "internal")},
                       HTTPStatus.INTERNAL_SERVER_ERROR)
        finally:
            self.server.queue.table.close()  # one connection per request's thread

    # -- the checks -----------------------------------------------------------------------

    def _check_host(self) -> None:
        name = _host_name(self.headers.get("Host", ""))
        if name not in self.server.names and not (self.server.host in _WILDCARDS
                                                  and _is_address(name)):
            raise _Refused(HTTPStatus.FORBIDDEN, f"Host {name or '(none)'} is not this server")

    def _check_token(self, *, allow_query: bool) -> None:
        given = self.headers.get(TOKEN_HEADER)
        if given is None and allow_query:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            given = (query.get("token") or [None])[0]
        if given is None:
            raise _Refused(HTTPStatus.FORBIDDEN, "no token")
        if not hmac.compare_digest(given.encode(), self.server.token.encode()):
            raise _Refused(HTTPStatus.FORBIDDEN, "wrong token")

    def _check_origin(self) -> None:
        origin = self.headers.get("Origin")
        if origin is None:
            return
        name = (urllib.parse.urlsplit(origin).hostname or "").lower()
        if name not in self.server.names and not (self.server.host in _WILDCARDS
                                                  and _is_address(name)):
            raise _Refused(HTTPStatus.FORBIDDEN, f"Origin {origin} is not this server")

    # -- the routes -----------------------------------------------------------------------

    def _get(self) -> None:
        if not self.server.loopback:
            self._check_token(allow_query=True)
        path = urllib.parse.urlsplit(self.path).path
        if path in ("/", "/index.html"):
            self._page()
        elif path == "/api/state":
            self._json(self.server.state())
        else:
            self._json({"error": f"no page {path}", "code": "not-found"}, HTTPStatus.NOT_FOUND)

    def _post(self) -> None:
        self._check_token(allow_query=False)  # the header alone: no form can send it
        self._check_origin()
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 65536))
        found = _ACTION.fullmatch(urllib.parse.urlsplit(self.path).path)
        if found is None:
            self._json({"error": f"no action {self.path}", "code": "not-found"},
                       HTTPStatus.NOT_FOUND)
            return
        try:
            self._json(self.server.change(int(found[1]), found[2]))
        except JobError as error:
            status = HTTPStatus.NOT_FOUND if error.code == "job-unknown" else HTTPStatus.CONFLICT
            self._json({"error": str(error), "code": error.code}, status)

    # -- the answers ----------------------------------------------------------------------

    def _page(self) -> None:
        nonce = secrets.token_urlsafe(16)
        body = _page_text().replace("{{nonce}}", nonce).encode()
        self._send(body, "text/html; charset=utf-8", HTTPStatus.OK, policy=(
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'"))

    def _json(self, data: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        body = json.dumps(data, ensure_ascii=False, allow_nan=False,
                          default=str).encode()
        self._send(body, "application/json; charset=utf-8", status,
                   policy="default-src 'none'; frame-ancestors 'none'")

    def _send(self, body: bytes, kind: str, status: HTTPStatus, *, policy: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy", policy)
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code="-", size="-") -> None:
        pass  # the page polls every second; refusals are logged, not each poll

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's name
        sys.stderr.write(f"mbx jobs serve: {self.address_string()}: {format % args}\n")


_PAGE: list[str] = []


def _page_text() -> str:
    if not _PAGE:
        _PAGE.append(resources.files("mbx.jobs").joinpath("page.html").read_text("utf-8"))
    return _PAGE[0]


def serve(queue: JobQueue, host: str = "127.0.0.1", port: int = 8765, *,
          token: str | None = None) -> None:
    """Serves the status page of ``queue`` until Ctrl-C; prints its URL on stderr."""
    server = StatusServer(queue, host, port, token=token)
    where = "" if server.loopback else " (not loopback: every request wants the token)"
    sys.stderr.write(f"mbx jobs serve: {server.url}{where}\n")
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
