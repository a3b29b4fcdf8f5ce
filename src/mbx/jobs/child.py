"""The process a job runs in: one per attempt, started by the worker that claimed it.

It talks to its worker over two pipes. Events go up: ``progress`` snapshots,
then one outcome (``done`` with the report, ``cancelled`` with where it
stood, or ``failed`` with the error). ``cancel`` comes down, and the
operation's :class:`~mbx.progress.CancelToken` is set, so it stops at its next
check and rolls back. If the worker vanishes (its end of the pipe closes), the
job cancels itself the same way and exits after the grace period whatever it
is doing: a job never outlives its worker for long.
"""

from __future__ import annotations

import os
import threading

from mbx.errors import Cancelled, MbxError
from mbx.jobs import kinds
from mbx.progress import CancelToken, Monitor

__all__ = ["main"]


def main(kind: str, args: dict, control, events, grace: float) -> None:
    token = CancelToken()
    sending = threading.Lock()

    def send(*message) -> None:
        with sending:
            events.send(message)

    def listen() -> None:
        try:
            while True:
                if control.recv() == "cancel":
                    token.cancel("cancelled")
        except (EOFError, OSError):
            token.cancel("abandoned: its worker is gone")
            stop = threading.Timer(grace, os._exit, (3,))
            stop.daemon = True
            stop.start()

    threading.Thread(target=listen, name="mbx-job-control", daemon=True).start()
    monitor = Monitor(lambda snapshot: send("progress", snapshot.to_dict()), cancel=token,
                      interval=0.25)
    try:
        report = kinds.run(kind, args, monitor)
    except Cancelled:
        send("cancelled", monitor.snapshot().to_dict())
    except MbxError as error:  # refused input: retrying will not help
        send("failed", error.to_dict(), False)
    except BaseException as error:  # noqa: BLE001 - reported to the worker, which decides
        send("failed", {"code": "os-error" if isinstance(error, OSError) else "job-crashed",
                        "message": f"{type(error).__name__}: {error}"}, True)
    else:
        monitor.finish()
        send("done", report)
    events.close()
