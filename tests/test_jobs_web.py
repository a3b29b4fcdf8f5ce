"""The status page of ``mbx jobs serve``: its JSON API, its refusals, and the page itself
in a real browser against a real worker.

Everything is real: the job table is SQLite in ``tmp_path``, the server listens on a
free port, the worker is ``python -m mbx worker``, and the browser is Debian's Chromium
driven by Playwright. Expected values come from the job table, the file system and
croniter, never from the server's own code.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import croniter
import pytest

import mbx
from mbx.jobs import JobQueue, JobSettings
from mbx.jobs.web import StatusServer

#: where the mbx this process runs lives, for the worker and the CLI it starts
SRC = Path(mbx.__file__).resolve().parents[1]
#: ``python -m mbx``, with Ctrl-C back to its default even when this run ignores it (as
#: a background job of a shell does, and its children inherit)
MBX = [sys.executable, "-c", "import runpy, signal; signal.signal(signal.SIGINT, "
       "signal.default_int_handler); runpy.run_module('mbx', run_name='__main__', "
       "alter_sys=True)"]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture
def queue(tmp_path) -> JobQueue:
    return JobQueue(JobSettings(home=str(tmp_path)))


@pytest.fixture
def server(queue):
    running = StatusServer(queue, port=0).start()
    yield running
    running.stop()


def call(server: StatusServer, path: str, *, method: str = "GET", token: str | None = None,
         host: str | None = None, headers: dict | None = None,
         address: str = "127.0.0.1") -> tuple[int, dict | str]:
    """(status, JSON or text) of one request, a refusal included."""
    request = urllib.request.Request(f"http://{address}:{server.port}{path}", method=method,
                                     data=b"" if method == "POST" else None)
    if token is not None:
        request.add_header("X-Mbx-Token", token)
    if host is not None:
        request.add_header("Host", host)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            status, kind, body = answer.status, answer.headers["Content-Type"], answer.read()
    except urllib.error.HTTPError as refusal:
        status, kind, body = refusal.code, refusal.headers["Content-Type"], refusal.read()
    text = body.decode()
    return status, json.loads(text) if kind.startswith("application/json") else text


def local_time(moment: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))


# -- the token -----------------------------------------------------------------------------

def test_the_token_is_made_once_and_readable_by_its_owner_alone(tmp_path, queue):
    first = StatusServer(queue, port=0)
    first.server_close()
    kept = tmp_path / "web-token"
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    assert kept.read_text().strip() == first.token
    assert len(first.token) >= 40  # 32 random bytes, base64
    second = StatusServer(queue, port=0)
    second.server_close()
    assert second.token == first.token
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(second.url).query)["token"] == [
        first.token]


def test_a_given_token_is_used_and_not_kept(tmp_path, queue):
    given = StatusServer(queue, port=0, token="given-token")
    given.server_close()
    assert given.token == "given-token"
    assert not (tmp_path / "web-token").exists()


def test_a_token_file_others_can_read_is_replaced(tmp_path, queue):
    kept = tmp_path / "web-token"
    kept.write_text("seen-by-others\n")
    kept.chmod(0o644)
    fresh = StatusServer(queue, port=0)
    fresh.server_close()
    assert fresh.token != "seen-by-others"
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    assert kept.read_text().strip() == fresh.token


# -- the API -------------------------------------------------------------------------------

def test_state_shows_the_queue_its_schedules_and_its_history(tmp_path, queue, server):
    waiting = queue.submit("noop", {"seconds": 30}).job
    held = queue.submit("noop", {"seconds": 1, "fail": "after"}, after=waiting.id).job
    secret = queue.submit("transform", {"source": str(tmp_path / "in.mbz"),
                                        "output": str(tmp_path / "out.mbz"),
                                        "anonymise": {"key": "s3cret-key-value"}},
                          notify={"webhook": "http://hooks.example/T0KEN", "on": "always"}).job
    ended = queue.submit("noop", {"seconds": 2}).job
    queue.cancel(ended.id)
    before = time.time()
    schedule = queue.schedule("*/5 * * * *", "noop", {"seconds": 1})
    queue.pause()
    queue.set_window("01:00-02:00")

    status, state = call(server, "/api/state")
    assert status == 200
    queued = {job["id"]: job for job in state["queued"]}
    assert set(queued) == {waiting.id, held.id, secret.id}
    assert queued[waiting.id]["kind"] == "noop"
    assert queued[waiting.id]["args"]["seconds"] == 30
    assert queued[held.id]["held"] == "after" and queued[held.id]["after"] == waiting.id
    assert state["running"] == []
    assert [job["id"] for job in state["history"]] == [ended.id]
    row = queue.get(ended.id)
    assert state["history"][0]["state"] == "cancelled"
    assert state["history"][0]["ended"] == row.ended and row.ended >= row.created

    [shown] = state["schedules"]
    assert shown["id"] == schedule.id and shown["cron"] == "*/5 * * * *"
    expected_due = croniter.croniter("*/5 * * * *", datetime.datetime.fromtimestamp(before)) \
        .get_next(float)
    assert abs(shown["next_due"] - expected_due) < 1e-6

    assert state["queue"]["paused"] is True
    assert state["queue"]["window"] == "01:00-02:00"
    moment = datetime.datetime.fromtimestamp(state["now"])
    if moment.hour == 1:
        assert state["queue"]["window_opens"] is None
    else:
        opening = moment.replace(hour=1, minute=0, second=0, microsecond=0)
        if opening <= moment:
            opening += datetime.timedelta(days=1)
        assert state["queue"]["window_opens"] == opening.timestamp()

    text = json.dumps(state)
    assert "s3cret-key-value" not in text and "T0KEN" not in text
    assert queued[secret.id]["args"]["anonymise"]["key"] == "***"
    assert queued[secret.id]["notify"] == ["webhook"]


def test_cancel_and_retry_through_the_api(queue, server):
    job = queue.submit("noop", {"seconds": 30}).job
    status, answer = call(server, f"/api/jobs/{job.id}/cancel", method="POST",
                          token=server.token)
    assert status == 200 and answer["id"] == job.id and answer["state"] == "cancelled"
    assert queue.get(job.id).state == "cancelled"

    status, answer = call(server, f"/api/jobs/{job.id}/cancel", method="POST",
                          token=server.token)
    assert status == 409 and answer["code"] == "job-ended"

    status, answer = call(server, f"/api/jobs/{job.id}/retry", method="POST",
                          token=server.token)
    assert status == 200 and answer["state"] == "queued"
    assert queue.get(job.id).state == "queued"

    status, answer = call(server, f"/api/jobs/{job.id}/retry", method="POST",
                          token=server.token)
    assert status == 409 and answer["code"] == "job-not-retryable"
    assert call(server, "/api/jobs/999999/cancel", method="POST", token=server.token)[0] == 404
    assert call(server, "/api/jobs/1/delete", method="POST", token=server.token)[0] == 404
    assert call(server, "/api/nothing")[0] == 404


def test_the_page_is_self_contained_and_scripts_only_its_own_code(server):
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/")
    with urllib.request.urlopen(request, timeout=10) as answer:
        policy = answer.headers["Content-Security-Policy"]
        page = answer.read().decode()
    nonce = re.search(r"script-src 'nonce-([^']+)'", policy)[1]
    assert f'<script nonce="{nonce}">' in page
    assert "default-src 'none'" in policy
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched
    assert "innerHTML" not in page and "insertAdjacentHTML" not in page
    again = call(server, "/")[1]
    assert nonce not in again  # a fresh nonce for every page


# -- the refusals --------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["no token", "wrong token", "token in the query",
                                 "foreign host", "foreign origin"])
def test_changes_are_refused_without_the_right_token_host_and_origin(queue, server, how):
    job = queue.submit("noop", {"seconds": 30}).job
    path, token, host, headers = f"/api/jobs/{job.id}/cancel", server.token, None, {}
    if how == "no token":
        token = None
    elif how == "wrong token":
        token = server.token[:-1] + ("A" if server.token[-1] != "A" else "B")
    elif how == "token in the query":
        path, token = f"{path}?token={urllib.parse.quote(server.token)}", None
    elif how == "foreign host":
        host = f"rebound.example:{server.port}"
    else:
        headers = {"Origin": "http://attacker.example"}
    status, answer = call(server, path, method="POST", token=token, host=host, headers=headers)
    assert status == 403 and answer["code"] == "refused"
    assert queue.get(job.id).state == "queued"
    assert queue.table.log_of(job.id)[-1].text.startswith("submitted")


@pytest.mark.parametrize("host", ["rebound.example", "rebound.example:{port}",
                                  "127.0.0.1.rebound.example", ""])
def test_reading_is_refused_under_a_foreign_host_name(server, host):
    status, answer = call(server, "/api/state", host=host.format(port=server.port))
    assert status == 403 and answer["code"] == "refused"
    assert call(server, "/", host=host.format(port=server.port))[0] == 403


@pytest.mark.parametrize("host", ["localhost:{port}", "127.0.0.1:{port}", "LOCALHOST",
                                  "localhost:9000"])
def test_local_names_are_served(server, host):
    # localhost:9000: through an ssh tunnel, the port in Host is the tunnel's
    status, state = call(server, "/api/state", host=host.format(port=server.port))
    assert status == 200 and "queued" in state


def test_off_loopback_every_request_wants_the_token(queue):
    job = queue.submit("noop", {"seconds": 30}).job
    server = StatusServer(queue, "0.0.0.0", 0).start()
    try:
        assert not server.loopback
        for path in ("/", "/api/state"):
            status, answer = call(server, path)
            assert status == 403 and answer["error"] == "no token"
            status, answer = call(server, f"{path}?token=not-{server.token}")
            assert status == 403 and answer["error"] == "wrong token"
            assert call(server, f"{path}?token={urllib.parse.quote(server.token)}")[0] == 200
            assert call(server, path, token=server.token)[0] == 200
        status, state = call(server, "/api/state", token=server.token)
        assert [shown["id"] for shown in state["queued"]] == [job.id]
        # an address is no rebinding; a name that is not this machine's is
        assert call(server, "/api/state", token=server.token, host="192.0.2.7:8765")[0] == 200
        assert call(server, "/api/state", token=server.token,
                    host="rebound.example:8765")[0] == 403
        assert "token=" in server.url
    finally:
        server.stop()


def test_serve_prints_its_address_and_stops_on_ctrl_c(tmp_path):
    environment = {**os.environ, "MBX_HOME": str(tmp_path),
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC),
                                                               os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen([*MBX, "jobs", "serve", "--bind", "127.0.0.1:0"],
                               env=environment, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)", line)
        assert found, line
        token = (tmp_path / "web-token").read_text().strip()
        assert urllib.parse.unquote(found[2]) == token
        with urllib.request.urlopen(f"http://127.0.0.1:{found[1]}/api/state",
                                    timeout=10) as answer:
            assert json.loads(answer.read())["queued"] == []
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()


# -- the page, in a browser, against a worker ----------------------------------------------

def _browser(playwright):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"the browser test needs Chromium at {CHROMIUM} (Debian: apt install "
                    "chromium)")
    try:
        return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                          timeout=30_000)
    except Exception as error:  # noqa: BLE001 - any launch failure is this test's failure
        pytest.fail(f"could not start Chromium at {CHROMIUM} through Playwright: {error}")


def _start_worker(home: Path, log: Path) -> subprocess.Popen:
    environment = {**os.environ, "MBX_HOME": str(home), "MBX_JOBS_HEARTBEAT": "0.2",
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC),
                                                               os.environ.get("PYTHONPATH")]))}
    with open(log, "w") as output:
        return subprocess.Popen([*MBX, "worker"], env=environment,
                                stdout=output, stderr=subprocess.STDOUT)


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def test_the_page_shows_a_running_job_and_cancels_it(tmp_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        pytest.fail(f"the browser test needs Playwright for Python (pip install playwright): "
                    f"{error}")
    queue = JobQueue(JobSettings(home=str(tmp_path)))
    hostile = '<img src=x onerror="document.body.dataset.pwned=1"><b id="pwned">x</b>'
    long = queue.submit("noop", {"seconds": 30}).job
    after = queue.submit("noop", {"seconds": 1, "fail": hostile}, after=long.id).job
    schedule = queue.schedule("0 3 * * *", "noop", {"seconds": 1})
    worker = _start_worker(tmp_path, tmp_path / "worker.log")
    server = StatusServer(queue, port=0).start()
    try:
        with sync_playwright() as playwright:
            browser = _browser(playwright)
            try:
                # the browser's clock shows UTC, so the times the page shows are read
                # here with time.gmtime
                page = browser.new_context(timezone_id="UTC").new_page()
                errors = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                page.goto(server.url)
                assert "token=" not in page.url  # taken off the address bar

                running = page.locator(f'#running tr[data-job="{long.id}"]')
                running.locator("progress").wait_for(timeout=15_000)
                page.wait_for_function(
                    f"""() => {{ const bar = document.querySelector(
                          '#running tr[data-job="{long.id}"] progress');
                          return bar && bar.position > 0; }}""", timeout=10_000)
                shown = running.locator("progress").evaluate("bar => bar.value")
                eta = running.locator("td").nth(4).inner_text()
                progress = queue.get(long.id).progress  # a poll (1 s) behind at most
                assert 0 < shown <= 1 and abs(shown - progress["fraction"]) < 0.1
                assert re.fullmatch(r"\d+ s", eta), eta
                assert abs(int(eta.split()[0]) - progress["eta"]) < 5
                assert running.locator("td").nth(5).inner_text() == time.strftime(
                    "%Y-%m-%d %H:%M:%S", time.gmtime(queue.get(long.id).started))

                waiting = page.locator(f'#queued tr[data-job="{after.id}"]')
                assert f"job {long.id} to succeed" in waiting.inner_text()
                assert hostile in waiting.locator("td.what").inner_text()
                assert page.locator("#pwned").count() == 0
                assert page.evaluate("document.body.dataset.pwned") is None

                due = page.locator(f'#schedules tr[data-schedule="{schedule.id}"]')
                assert "0 3 * * *" in due.inner_text()
                assert time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(schedule.next_due)) \
                    in due.inner_text()

                assert page.locator("#queue-state").inner_text() == "running"
                queue.pause()
                page.wait_for_function(
                    "() => document.getElementById('queue-state').textContent"
                    ".startsWith('paused')", timeout=5_000)

                running.locator("button[data-action=cancel]").click()
                ended = page.locator(f'#history tr[data-job="{long.id}"]')
                ended.wait_for(timeout=10_000)
                assert ended.locator("td.outcome").inner_text().startswith("cancelled")
                job = queue.get(long.id)
                assert job.state == "cancelled"
                assert ended.locator("td").nth(4).inner_text() == time.strftime(
                    "%Y-%m-%d %H:%M:%S", time.gmtime(job.started))
                assert ended.locator("td").nth(5).inner_text() == time.strftime(
                    "%Y-%m-%d %H:%M:%S", time.gmtime(job.ended))
                assert page.locator(f'#running tr[data-job="{long.id}"]').count() == 0

                dependent = page.locator(f'#history tr[data-job="{after.id}"]')
                dependent.wait_for(timeout=5_000)
                assert f"job {long.id} did not succeed" in dependent.inner_text()
                assert queue.get(after.id).state == "cancelled"

                dependent.locator("button[data-action=retry]").click()
                again = page.locator(f'#queued tr[data-job="{after.id}"]')
                again.wait_for(timeout=5_000)
                assert queue.get(after.id).state == "queued"
                page.wait_for_function(
                    f"""() => {{ const row = document.querySelector(
                          '#queued tr[data-job="{after.id}"]');
                          return row && row.textContent.includes('paused'); }}""",
                    timeout=5_000)
                assert queue.get(after.id).held == "paused"
                assert errors == []
            finally:
                browser.close()
    finally:
        server.stop()
        _stop(worker)
