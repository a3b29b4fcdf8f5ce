"""Telling people a job ended: an e-mail to a real SMTP server (aiosmtpd's, on the
loopback), a webhook to a local HTTP server, a shell command. What arrives is read
with the standard library's e-mail and JSON parsers."""

from __future__ import annotations

import email
import email.policy
import json
import shlex
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobsupport import wait_until


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    """What an SMTP server received: (envelope recipients, parsed message)."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        message = email.message_from_bytes(envelope.original_content,
                                           policy=email.policy.default)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture
def mailbox():
    """An SMTP server on 127.0.0.1: (its host:port, the Mailbox)."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield f"127.0.0.1:{controller.port}", box
    finally:
        controller.stop()


@pytest.fixture
def webhook():
    """An HTTP server on 127.0.0.1: (its URL, the list of (path, JSON body) it was sent)."""
    posted = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            posted.append((self.path, self.headers["Content-Type"], json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", posted
    finally:
        server.shutdown()
        server.server_close()


def test_the_outcome_arrives_by_e_mail_webhook_and_command(jobs, mailbox, webhook, tmp_path):
    smtp, box = mailbox
    url, posted = webhook
    stdin, variables = tmp_path / "stdin.json", tmp_path / "variables"
    command = (f"cat > {shlex.quote(str(stdin))}; "
               f'echo "$MBX_JOB_ID $MBX_JOB_STATE $MBX_JOB_KIND" > {shlex.quote(str(variables))}')
    jobs.start_worker(smtp=smtp, mail_from="queue@example.org")
    job = jobs.queue.submit("noop", {"seconds": 0.2}, notify={
        "email": ["ops@example.org", "dean@example.org"], "webhook": url,
        "command": command}).job
    assert jobs.wait(job.id).state == "succeeded"
    wait_until(lambda: box.received and posted and variables.exists() and
               len([line for line in jobs.queue.log(job.id) if line.text.startswith(
                   ("e-mail sent", "webhook", "command"))]) == 3,
               timeout=20, what="the three notifications", explain=lambda: jobs.explain(job.id))

    (recipients, message), = box.received
    assert sorted(recipients) == ["dean@example.org", "ops@example.org"]
    assert message["From"] == "queue@example.org"
    assert message["Subject"].startswith(f"[mbx] job {job.id} (noop) succeeded")
    body = message.get_content()
    assert "report:" in body and '"slept": 0.2' in body
    assert "info: succeeded" in body  # the job's log

    (path, kind, sent), = posted
    assert path == "/hook" and kind == "application/json"
    assert (sent["id"], sent["state"], sent["result"]) == (job.id, "succeeded", {"slept": 0.2})

    assert json.loads(stdin.read_text())["id"] == job.id
    assert variables.read_text().split() == [str(job.id), "succeeded", "noop"]


def test_on_failure_only_the_failed_job_is_told_and_a_lost_notification_is_logged(
        jobs, mailbox, webhook):
    smtp, box = mailbox
    url, posted = webhook
    jobs.start_worker(smtp=smtp)
    fine = jobs.queue.submit("noop", {"seconds": 0.1}, notify={
        "email": ["ops@example.org"], "webhook": url, "on": "failure"}).job
    assert jobs.wait(fine.id).state == "succeeded"
    broken = jobs.queue.submit("noop", {"fail": "the disk is full"}, max_attempts=1, notify={
        "email": ["ops@example.org"], "webhook": f"http://127.0.0.1:{_free_port()}/nobody",
        "command": "echo no >&2; exit 3", "on": "failure"}).job
    assert jobs.wait(broken.id).state == "failed"
    wait_until(lambda: box.received and any(
        line.text.startswith("could not deliver the command") for line in
        jobs.queue.log(broken.id)), timeout=20, what="the failure's notifications",
        explain=lambda: jobs.explain(broken.id))

    (_, message), = box.received  # the success told no one, on=failure
    assert message["Subject"].startswith(f"[mbx] job {broken.id} (noop) failed")
    assert "the disk is full" in message.get_content()
    assert posted == []
    lines = {line.text: line.level for line in jobs.queue.log(broken.id)}
    undelivered = {text: level for text, level in lines.items() if text.startswith("could not")}
    assert len(undelivered) == 2 and set(undelivered.values()) == {"warning"}
    assert any("the command notification: exit 3: no" in text for text in undelivered)
    assert any("the webhook notification" in text for text in undelivered)
    assert jobs.queue.get(broken.id).state == "failed"  # a notification changes no outcome
    assert not any(line.text.startswith(("e-mail", "webhook", "command", "could not"))
                   for line in jobs.queue.log(fine.id))
