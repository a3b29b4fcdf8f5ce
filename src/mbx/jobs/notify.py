"""Telling people a job ended: an e-mail, a webhook, a command.

A job's ``notify`` says where: ``{"email": ["a@b"], "webhook": URL,
"command": CMD, "on": "always" | "failure"}`` (``on`` defaults to always). A
notification that cannot be delivered is written to the job's log; it never
changes the job's outcome.
"""

from __future__ import annotations

import json
import smtplib
import subprocess
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage

from mbx.jobs.settings import JobSettings
from mbx.jobs.table import Job, LogLine

__all__ = ["CHANNELS", "send", "summary"]


def summary(job: Job) -> str:
    """``job 12 (transform) succeeded after 2 attempts in 41 s``"""
    took = f" in {job.ended - job.started:.0f} s" if job.ended and job.started else ""
    attempts = f" after {job.attempts} attempts" if job.attempts > 1 else ""
    return f"job {job.id} ({job.kind}) {job.state}{attempts}{took}"


def _email(job: Job, settings: JobSettings, log: list[LogLine], where) -> str:
    message = EmailMessage()
    message["Subject"] = f"[mbx] {summary(job)}"
    message["From"] = settings.mail_from
    message["To"] = ", ".join(where)
    lines = [summary(job), ""]
    if job.message:
        lines += [job.message, ""]
    lines += ["settings: " + json.dumps(job.to_dict()["args"], sort_keys=True), "", "log:"]
    lines += [f"  {line.level}: {line.text}" for line in log]
    if job.result is not None:
        lines += ["", "report:", json.dumps(job.result, indent=2, sort_keys=True)]
    message.set_content("\n".join(lines) + "\n")
    host, _, port = settings.smtp.rpartition(":")
    with smtplib.SMTP(host or settings.smtp, int(port) if port.isdigit() else 25,
                      timeout=15) as smtp:
        smtp.send_message(message)
    return f"e-mail sent to {', '.join(where)}"


def _webhook(job: Job, settings: JobSettings, log: list[LogLine], url) -> str:
    body = json.dumps(job.to_dict()).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=15) as response:
        return f"webhook {url} answered {response.status}"


def _command(job: Job, settings: JobSettings, log: list[LogLine], command) -> str:
    environment = {"MBX_JOB_ID": str(job.id), "MBX_JOB_STATE": job.state,
                   "MBX_JOB_KIND": job.kind}
    import os

    done = subprocess.run(command, shell=True, input=json.dumps(job.to_dict()), text=True,
                          env={**os.environ, **environment}, timeout=60, capture_output=True)
    if done.returncode:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[:200]}")
    return f"command {command!r} ran"


#: notify key -> how it is delivered
CHANNELS: dict[str, Callable[..., str]] = {"email": _email, "webhook": _webhook,
                                           "command": _command}


def send(job: Job, settings: JobSettings, log: list[LogLine]) -> list[str]:
    """Delivers ``job``'s notifications; returns a line for its log per channel."""
    wanted = job.notify or {}
    if wanted.get("on", "always") == "failure" and job.state == "succeeded":
        return []
    lines = []
    for name, deliver in CHANNELS.items():
        where = wanted.get(name)
        if not where:
            continue
        try:
            lines.append(deliver(job, settings, log, where))
        except (OSError, smtplib.SMTPException, RuntimeError, subprocess.SubprocessError) as error:
            lines.append(f"could not deliver the {name} notification: {error}")
    return lines
