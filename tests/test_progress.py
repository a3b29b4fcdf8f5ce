"""The progress line: drawn only on a terminal, only after the delay, cleared at the end."""

from __future__ import annotations

import io

from mbx.archive import MemberInfo
from mbx.inspect import summarize
from mbx.progress import Progress
from test_cli import SAMPLE


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_draws_on_a_terminal_after_the_delay_and_clears():
    screen = Terminal()
    with Progress("reading", stream=screen, delay=0.0) as progress:
        progress(MemberInfo("moodle_backup.xml", 2_000_000, None, False))
    text = screen.getvalue()
    assert "reading: 1 members, 2.0 MB" in text and "moodle_backup.xml" in text
    assert text.endswith("\r")


def test_silent_when_piped_or_before_the_delay():
    piped = io.StringIO()
    with Progress("reading", stream=piped, delay=0.0) as progress:
        progress(MemberInfo("a.xml", 10, None, False))
    assert piped.getvalue() == ""
    screen = Terminal()
    with Progress("reading", stream=screen, delay=60.0) as progress:
        progress(MemberInfo("a.xml", 10, None, False))
    assert screen.getvalue() == ""


def test_library_pass_reports_every_member():
    seen = []
    summarize(SAMPLE, progress=seen.append)
    assert sorted(m.name for m in seen if not m.is_dir) == sorted(
        str(p.relative_to(SAMPLE)) for p in SAMPLE.rglob("*") if p.is_file())
