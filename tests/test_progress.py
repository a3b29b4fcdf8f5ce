"""The progress-and-cancel protocol: monitors, snapshots, cancel tokens, the terminal line."""

from __future__ import annotations

import io
import threading

import pytest

from mbx.archive import MemberInfo
from mbx.errors import Cancelled, MbxError
from mbx.inspect import summarize
from mbx.progress import (CancelToken, Monitor, ProgressSnapshot, TerminalProgress,
                          as_monitor)
from test_cli import SAMPLE


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _snapshot(**fields) -> ProgressSnapshot:
    base = dict(phase="verifying", done_bytes=0, total_bytes=None, done_members=0,
                total_members=None, item=None, elapsed=0.0)
    return ProgressSnapshot(**{**base, **fields})


def test_monitor_counts_members_and_bytes_and_tells_listeners():
    seen: list[ProgressSnapshot] = []
    monitor = Monitor(seen.append, interval=0)
    monitor.phase("verifying", total_bytes=300, total_members=3)
    for size in (100, 50):
        monitor(MemberInfo(f"m{size}.xml", size, None, False))
    monitor.finish()
    assert [s.done_members for s in seen] == [0, 1, 2, 2]
    assert [s.done_bytes for s in seen] == [0, 100, 150, 150]
    assert seen[-1].finished and seen[-1].item == "m50.xml"
    assert seen[-1].fraction == pytest.approx(0.5)


def test_listeners_are_told_at_most_once_an_interval():
    clock = FakeClock()
    seen: list[ProgressSnapshot] = []
    monitor = Monitor(seen.append, interval=1.0, clock=clock)
    monitor.phase("reading")                      # a phase change always tells
    for step in range(10):                        # 10 steps in 0.9 s: none told
        clock.now = step * 0.1
        monitor.advance(10, 1)
    clock.now = 1.5
    monitor.advance(10, 1)
    assert [s.done_members for s in seen] == [0, 11]


def test_eta_from_the_rate_so_far():
    half_done = _snapshot(done_bytes=50, total_bytes=100, elapsed=10.0)
    assert half_done.eta == pytest.approx(10.0)
    by_members = _snapshot(done_members=1, total_members=4, elapsed=3.0)
    assert by_members.fraction == pytest.approx(0.25) and by_members.eta == pytest.approx(9.0)
    assert _snapshot(done_bytes=5, elapsed=1.0).eta is None     # total unknown


def test_cancel_stops_at_the_next_member_with_one_exception():
    token = CancelToken()
    monitor = Monitor(cancel=token)
    monitor(MemberInfo("a.xml", 1, None, False))
    token.cancel()
    with pytest.raises(Cancelled) as caught:
        monitor(MemberInfo("b.xml", 1, None, False))
    assert isinstance(caught.value, MbxError) and caught.value.code == "cancelled"
    with pytest.raises(Cancelled):
        monitor.check()
    assert monitor.done_members == 1


def test_cancel_from_another_thread():
    token = CancelToken()
    thread = threading.Thread(target=token.cancel)
    thread.start()
    thread.join()
    assert token.cancelled
    with pytest.raises(Cancelled):
        token.raise_if_cancelled()


def test_a_cancelled_summary_raises_and_returns_nothing():
    token = CancelToken()
    reached: list[str] = []

    def listener(snapshot: ProgressSnapshot) -> None:
        if snapshot.item:
            reached.append(snapshot.item)
        if snapshot.done_members == 3:
            token.cancel()

    with pytest.raises(Cancelled):
        summarize(SAMPLE, progress=Monitor(listener, cancel=token, interval=0))
    assert len(reached) == 3


def test_a_plain_callable_still_sees_every_member():
    seen = []
    summarize(SAMPLE, progress=seen.append)
    assert sorted(m.name for m in seen if not m.is_dir) == sorted(
        str(p.relative_to(SAMPLE)) for p in SAMPLE.rglob("*") if p.is_file())


def test_as_monitor():
    monitor = Monitor()
    assert as_monitor(monitor) is monitor
    as_monitor(None)(MemberInfo("a", 1, None, False))      # does nothing, raises nothing
    with pytest.raises(TypeError):
        as_monitor(42)


def test_terminal_line_draws_after_the_delay_and_clears():
    screen = Terminal()
    line = TerminalProgress(stream=screen, delay=0.0)
    monitor = Monitor(line, interval=0)
    monitor.phase("reading", total_bytes=4_000_000, total_members=4)
    monitor(MemberInfo("moodle_backup.xml", 2_000_000, None, False))
    text = screen.getvalue()
    assert "reading: 50% 1/4 members, 2.0 MB" in text and "moodle_backup.xml" in text
    assert "ETA" in text
    monitor.finish()
    assert screen.getvalue().endswith("\r")


def test_terminal_line_silent_when_piped_or_before_the_delay():
    piped = io.StringIO()
    monitor = Monitor(TerminalProgress(stream=piped, delay=0.0), interval=0)
    monitor(MemberInfo("a.xml", 10, None, False))
    assert piped.getvalue() == ""
    screen = Terminal()
    monitor = Monitor(TerminalProgress(stream=screen, delay=60.0), interval=0)
    monitor(MemberInfo("a.xml", 10, None, False))
    monitor.finish()
    assert screen.getvalue() == ""


@pytest.mark.parametrize("phase", ["writing", "packing"])
def test_a_cancelled_synth_leaves_nothing_behind(tmp_path, phase):
    from mbx.synth import synthesize

    token = CancelToken()
    phases: list[str] = []

    def listener(snapshot: ProgressSnapshot) -> None:
        phases.append(snapshot.phase)
        if snapshot.phase == phase and snapshot.done_members >= 5:
            token.cancel()

    with pytest.raises(Cancelled):
        synthesize(tmp_path / "c.mbz", size="2M", seed=3,
                   progress=Monitor(listener, cancel=token, interval=0))
    assert phase in phases
    assert list(tmp_path.iterdir()) == []       # no archive, no .part, no spool


def test_synth_reports_both_phases_with_totals_when_packing(tmp_path):
    from mbx.synth import synthesize

    seen: list[ProgressSnapshot] = []
    result = synthesize(tmp_path / "c.mbz", size="1M", seed=3,
                        progress=Monitor(seen.append, interval=0))
    packing = [s for s in seen if s.phase == "packing"]
    assert [s.phase for s in seen[:1]] == ["writing"] and packing
    assert packing[0].total_members == result["members"] - 1    # the index is written apart
    assert max(s.done_bytes for s in packing) == packing[0].total_bytes


@pytest.mark.parametrize("operation", ["verify", "summarize"])
def test_passes_over_a_backup_know_their_totals(tmp_path, operation):
    import tarfile

    import mbx

    from mbx.archive.writer import ArchiveWriter

    indexed, plain = tmp_path / "indexed.mbz", tmp_path / "plain.mbz"
    with ArchiveWriter(indexed) as writer:           # .ARCHIVE_INDEX first, as Moodle packs
        for path in sorted(SAMPLE.rglob("*")):
            if path.is_file():
                writer.write(str(path.relative_to(SAMPLE)), path.read_bytes())
    with tarfile.open(plain, "w:gz") as tar:          # no index: totals unknown in advance
        tar.add(SAMPLE, arcname=".")
    with tarfile.open(indexed) as tar:               # what the pass will meet, read apart
        entries = [m for m in tar.getmembers() if m.name != ".ARCHIVE_INDEX"]
    files = [p for p in SAMPLE.rglob("*") if p.is_file()]
    expected = {SAMPLE: (len(list(SAMPLE.rglob("*"))), sum(p.stat().st_size for p in files)),
                indexed: (len(entries), sum(m.size for m in entries if m.isfile())),
                plain: (None, None)}
    seen: list[ProgressSnapshot] = []
    for backup, (members, total) in expected.items():
        seen.clear()
        getattr(mbx, operation)(backup, progress=Monitor(seen.append, interval=0))
        first, last = seen[0], seen[-1]
        assert first.phase in ("verifying", "reading") and first.done_members == 0
        assert (first.total_members, first.total_bytes) == (members, total), backup
        if members is not None:
            assert last.done_members >= members and last.fraction == 1.0


def test_the_last_snapshot_says_finished_with_everything_counted():
    import mbx

    seen: list[ProgressSnapshot] = []
    mbx.verify(SAMPLE, progress=Monitor(seen.append, interval=3600))   # told rarely
    assert seen[-1].finished and seen[-1].fraction == 1.0
    assert seen[-1].done_members == len(list(SAMPLE.rglob("*")))
