"""The command line, run in-process through ``mbx.cli.main`` and once as a real command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import mbx
import mbx.cli
from mbx.cli import build_parser, main
from mbx.inspect import summarize

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "demo-course"


def test_version_names_the_implementation(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert f"({mbx.implementation})" in capsys.readouterr().out


def test_ls_of_the_bundled_sample(capsys):
    assert main(["ls", str(SAMPLE), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == summarize(SAMPLE)
    assert [s["number"] for s in result["sections"]] == [0, 1, 2]
    assert result["course"] == {"fullname": "Demo course: streaming backups", "shortname": "DEMO",
                                "format": "topics", "startdate": 1732000000, "enddate": 0}
    assert [s["title"] for s in result["sections"]] == [
        "General", "Week 1: Getting started", "Week 2: \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac & \u65e5\u672c\u8a9e"]
    assert [a["modulename"] for s in result["sections"] for a in s["activities"]] == [
        "forum", "page", "forum", "page"]
    assert result["counts"] == {"activities": 4, "sections": 3, "users": 3, "files": 0,
                                "groups": 0, "groupings": 0, "question_categories": 0,
                                "questions": 0}
    assert [a["title"] for a in result["activities"]] == [
        a["title"] for s in result["sections"] for a in s["activities"]]


def test_ls_of_real_folder_backups_matches_their_xml(corpus):
    from lxml import etree
    for folder in sorted(corpus.glob("*/*/moodle_backup.xml"))[:12]:
        result = summarize(folder.parent)
        tree = etree.parse(str(folder))
        assert result["moodle_release"] == tree.findtext("information/moodle_release")
        titles = [e.findtext("title") for e in tree.iterfind("information/contents/sections/section")]
        assert [s["title"] for s in result["sections"]] == titles
        users = folder.parent / "users.xml"
        expected_users = len(etree.parse(str(users)).findall("user")) if users.exists() else 0
        assert result["counts"]["users"] == expected_users


def test_records_streams_ndjson(capsys):
    forum = SAMPLE / "activities" / "forum_203" / "forum.xml"
    assert main(["records", str(forum), "/activity/forum/discussions/discussion/posts/post"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6
    assert json.loads(lines[0])["subject"] == "Hello from Anna"


def test_refused_input_is_one_line_and_exit_1(tmp_path, capsys):
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<a>\n<b></a>")
    assert main(["records", str(bad), "/a"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.xml:2:" in err and "xml-mismatched-tag" in err
    assert main(["ls", str(tmp_path), "--json"]) == 1
    assert json.loads(capsys.readouterr().err)["error"]["code"].startswith(("format-", "archive-"))


def test_installed_command_runs():
    out = subprocess.run([sys.executable, "-m", "mbx", "ls", str(SAMPLE)],
                         capture_output=True, text=True, check=True).stdout
    assert "Demo course: streaming backups (DEMO)" in out


def test_ls_long_and_cat_on_a_tar_gz(tmp_path, capsys):
    import tarfile
    archive = tmp_path / "demo.mbz"
    with tarfile.open(archive, "w:gz", format=tarfile.USTAR_FORMAT) as tar:
        for file in sorted(SAMPLE.rglob("*")):
            tar.add(file, arcname=str(file.relative_to(SAMPLE)), recursive=False)
    assert main(["ls", "-l", str(archive), "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    expected = {str(f.relative_to(SAMPLE)): f.stat().st_size for f in SAMPLE.rglob("*") if f.is_file()}
    assert {name: m["size"] for name, m in listed.items() if not m["is_dir"]} == expected
    assert main(["ls", str(archive), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"] == summarize(SAMPLE)["counts"]
    out = subprocess.run([sys.executable, "-m", "mbx", "cat", str(archive), "users.xml"],
                         capture_output=True, check=True).stdout
    assert out == (SAMPLE / "users.xml").read_bytes()
    assert main(["cat", str(archive), "no/such.xml"]) == 1


def test_ls_long_streams_the_same_text_as_one_dump(capsys):
    """Listings are written in batches; the text is what one json.dumps would give."""
    from mbx.archive import MemberInfo
    from mbx.cli.commands import _members
    from mbx.cli.output import Output

    members = [MemberInfo(f"files/{n:04x}/blob", n, 1700000000 + n % 3, n % 5 == 0)
               for n in range(10_000)] + [MemberInfo("unknown.xml", 1, None, False)]
    for listing in ([], members[:1], members):
        assert _members(Output("json"), iter(listing)) == 0
        expected = [{"name": m.name, "size": m.size, "mtime": m.mtime, "is_dir": m.is_dir}
                    for m in listing]
        assert capsys.readouterr().out == json.dumps(expected) + "\n"
        assert _members(Output("nl"), iter(listing)) == 0
        assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == expected
    assert _members(Output("text"), iter(members)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(members)
    assert lines[0] == "d            0 2023-11-14 22:13 files/0000/blob/"
    assert lines[1].startswith("-            1 2023-11-14 22:13 files/0001/blob")
    assert lines[-1] == "-            1 ???????????????? unknown.xml"


def test_ls_counts_on_real_archives_match_the_manifest(corpus):
    manifest = json.loads((corpus / "manifest.json").read_text())
    checked = 0
    for entry in manifest:
        if entry["container"] == "folder" or not entry["moodle_release"].startswith(("3.", "4.", "5.")):
            continue
        result = summarize(corpus / entry["item"])
        modules = {}
        for activity in result["activities"]:  # activity backups too: they have no sections
            modules[activity["modulename"]] = modules.get(activity["modulename"], 0) + 1
        assert result["type"] == entry["type"], entry["item"]
        assert result["moodle_release"] == entry["moodle_release"], entry["item"]
        assert modules == entry["activities"], entry["item"]
        checked += 1
    assert checked >= 20


def test_verify_command(tmp_path, capsys):
    assert main(["verify", str(SAMPLE)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("sound")
    broken = tmp_path / "broken"
    import shutil
    shutil.copytree(SAMPLE, broken)
    (broken / "users.xml").write_bytes(b"<users>\n<user id='1'>")
    assert main(["verify", str(broken), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert any(p["member"] == "users.xml" and p["code"].startswith("xml-") for p in report["problems"])


def test_ls_of_a_moodle1_backup_matches_its_xml(corpus):
    from lxml import etree
    folder = corpus / "moodle__moodle" / "moodle1-converter-fixtures"
    result = summarize(folder)
    root = etree.parse(str(folder / "moodle.xml")).getroot()
    assert result["format"] == "moodle1"
    assert result["moodle_release"] == root.findtext("INFO/MOODLE_RELEASE")
    assert result["course"]["fullname"] == root.findtext("COURSE/HEADER/FULLNAME")
    assert [s["number"] for s in result["sections"]] == [
        int(s.findtext("NUMBER")) for s in root.iterfind("COURSE/SECTIONS/SECTION")]
    names = {(m.findtext("MODTYPE"), m.findtext("ID")): m.findtext("NAME")
             for m in root.iterfind("COURSE/MODULES/MOD")}
    assert [(a["moduleid"], a["modulename"], a["title"]) for s in result["sections"]
            for a in s["activities"]] == [
        (m.findtext("ID"), m.findtext("TYPE"), names.get((m.findtext("TYPE"), m.findtext("INSTANCE"))))
        for m in root.iterfind("COURSE/SECTIONS/SECTION/MODS/MOD")]
    assert result["counts"]["users"] == len(root.findall("COURSE/USERS/USER"))


def test_ls_sizes_match_an_independent_reading(corpus):
    from lxml import etree
    for folder in sorted(corpus.glob("LINCS__*/*/moodle_backup.xml"))[:4]:
        root = folder.parent
        result = summarize(root)
        by_context: dict[str, int] = {}
        files = etree.parse(str(root / "files.xml")).getroot()
        with_content = 0
        for record in files.iterfind("file"):
            if record.findtext("filename") == "." or not record.findtext("contenthash"):
                continue
            with_content += 1
            context = record.findtext("contextid")
            by_context[context] = by_context.get(context, 0) + int(record.findtext("filesize"))
        assert result["counts"]["files"] == with_content
        activities = [a for s in result["sections"] for a in s["activities"]]
        for entry in etree.parse(str(folder)).getroot().iterfind(
                "information/contents/activities/activity"):
            directory = root / entry.findtext("directory")
            got = next(a for a in activities if a["moduleid"] == entry.findtext("moduleid"))
            assert got["xml_bytes"] == sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())
            module = etree.parse(str(directory / f"{entry.findtext('modulename')}.xml")).getroot()
            assert got["file_bytes"] == by_context.get(module.get("contextid"), 0)
        largest = result["largest_activities"]
        totals = [a["xml_bytes"] + a["file_bytes"] for a in largest]
        assert totals == sorted(totals, reverse=True)
        assert totals[0] == max(a["xml_bytes"] + a["file_bytes"] for a in activities)
        assert result["has_files"] == (with_content > 0)


def test_every_corpus_item_gets_through_ls_info_and_verify(corpus, capsys):
    manifest = json.loads((corpus / "manifest.json").read_text())
    verdicts = {verdict["item"]: verdict for verdict in (
        json.loads(line.rstrip(",\n")) for line in
        (Path(__file__).with_name("verify_verdicts.json")).read_text().splitlines()
        if line.startswith("{"))}
    for entry in manifest:
        path = str(corpus / entry["item"])
        for command in (["ls"], ["ls", "-l"], ["info"], ["ls", "--json"], ["info", "--json"]):
            assert main(["-q", *command, path]) == 0, (command, entry["item"])
        # verify: each item's written verdict (tests/verify_verdicts.json) gives its exit
        # code: 0 without errors, 1 with errors, 4 for warnings only under --strict, 5 for
        # the 1.9 backup verify cannot read yet
        verdict = verdicts[entry["item"]]
        expected = 5 if "refused" in verdict else 1 if verdict["errors"] else 0
        assert main(["-q", "verify", path]) == expected, entry["item"]
        if expected == 0 and verdict["warnings"]:
            assert main(["-q", "verify", "--strict", path]) == 4, entry["item"]
    capsys.readouterr()


def test_synth_command_writes_a_sound_backup(tmp_path, capsys):
    out = tmp_path / "synthetic.mbz"
    assert main(["-q", "synth", str(out), "--size", "2M", "--seed", "4",
                 "--activities", "forum:2,page=1,assign:1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert abs(result["size"] - (2 << 20)) <= 0.05 * (2 << 20)
    assert main(["-q", "verify", str(out)]) == 0
    assert main(["ls", str(out), "--json"]) == 0
    listing = json.loads(capsys.readouterr().out.split("sound\n")[-1])
    modules = sorted(a["modulename"] for s in listing["sections"] for a in s["activities"])
    assert modules == ["assign", "forum", "forum", "page"]
    assert main(["synth", str(out), "--activities", "forum:x"]) == 2
    assert main(["synth", str(out), "--size", "lots"]) == 2


# -- one output layer, errors, interrupts --------------------------------------------------

def _run_mbx(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mbx", *args], capture_output=True, text=True,
                          **kwargs)


def _blocked_reading_stdin(pid: int) -> bool:
    try:
        wchan = Path(f"/proc/{pid}/wchan").read_text()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state == "S" and "pipe" in wchan


def test_ctrl_c_prints_one_line_and_exits_130():
    import signal
    import time

    child = subprocess.Popen([sys.executable, "-m", "mbx", "records", "-", "/a/b"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        child.stdin.write("<a><b>one</b>")
        child.stdin.flush()
        deadline = time.monotonic() + 60
        while not _blocked_reading_stdin(child.pid):   # inside main, waiting for more XML
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 130
    assert err == "mbx: interrupted\n"


@pytest.mark.parametrize("order", ["before", "after"])
def test_quiet_and_debug_before_or_after_the_subcommand(order, tmp_path):
    flags = ["-q", "--debug"]
    argv = [*flags, "ls", "nowhere.mbz"] if order == "before" else ["ls", "nowhere.mbz", *flags]
    from mbx.errors import ArchiveError
    with pytest.raises(ArchiveError):        # --debug lets the error through
        main(argv)
    args = build_parser().parse_args(argv)
    assert args.quiet and args.debug


def test_flags_default_off_when_not_given(capsys):
    assert main(["ls", "nowhere.mbz"]) == 1      # no --debug: one line, no traceback
    assert capsys.readouterr().err.count("\n") == 1


def test_plain_errors_never_show_errno(tmp_path):
    cases = {
        "records on a folder": _run_mbx("records", str(tmp_path), "/a"),
        "synth into a missing folder": _run_mbx("synth", str(tmp_path / "no" / "x.mbz"),
                                                "--size", "1M"),
        "ls of an empty path": _run_mbx("ls", ""),
        "cat of a missing file": _run_mbx("cat", str(tmp_path / "none.mbz"), "x"),
    }
    for what, result in cases.items():
        assert result.returncode in (1, 2), what
        assert "Errno" not in result.stderr and "Traceback" not in result.stderr, what
        assert result.stderr.count("\n") == 1 or result.returncode == 2, (what, result.stderr)
    assert "Is a directory" in cases["records on a folder"].stderr
    assert "No such file or directory" in cases["synth into a missing folder"].stderr


@pytest.mark.parametrize("argv", [
    ["ls", "{missing}", "--json"], ["ls", "-l", "{missing}", "--json"],
    ["info", "{missing}", "--json"], ["verify", "{missing}", "--json"],
    ["records", "{missing}", "/a", "--json"], ["records", "{missing}", "/a", "--nl"],
])
def test_one_error_shape_in_every_command(argv, tmp_path, capsys):
    missing = str(tmp_path / "missing.mbz")
    assert main([part.format(missing=missing) for part in argv]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    error = json.loads(captured.err)["error"]
    assert set(error) == {"code", "message", "source", "line", "column", "path"}
    assert error["source"] and missing.endswith(os.path.basename(error["source"]))


def test_records_reads_a_member_of_a_backup(tmp_path, capsys):
    from lxml import etree

    archive = tmp_path / "demo.mbz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(SAMPLE, arcname=".")
    member = "activities/forum_203/forum.xml"
    path = "/activity/forum/discussions/discussion/posts/post"
    assert main(["records", str(archive), member, path, "--nl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    subjects = etree.parse(str(SAMPLE / member)).xpath("//post/subject/text()")
    assert [json.loads(line)["subject"] for line in lines] == subjects


def test_records_json_is_one_array(capsys):
    forum = SAMPLE / "activities" / "forum_203" / "forum.xml"
    assert main(["records", str(forum), "/activity/forum/discussions/discussion/posts/post",
                 "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 6


def test_records_says_when_nothing_matched(capsys):
    forum = SAMPLE / "activities" / "forum_203" / "forum.xml"
    assert main(["records", str(forum), "/activity/nothing/here"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no element matched /activity/nothing/here" in captured.err


def test_the_front_door():
    import pydoc

    for name in ("open_backup", "summarize", "verify", "Parser", "describe", "synthesize"):
        assert callable(getattr(mbx, name)), name
    assert mbx.Parser is __import__("mbx.xml", fromlist=["Parser"]).Parser
    overview = pydoc.render_doc(mbx, renderer=pydoc.plaintext)
    assert "summarize" in overview and "open_backup" in overview


def test_help_names_only_commands_that_exist(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    listed = set(re.findall(r"^    ([a-z-]+)\s{2,}\S", text, re.MULTILINE))
    assert listed == set(mbx.cli.COMMANDS) == {"ls", "info", "cat", "records", "verify",
                                                 "synth", "restore", "query", "transform",
                                                 "dates", "strip-users", "rewrite-users",
                                                 "roll-dates", "extract", "prune-questions",
                                                 "anonymise", "store", "jobs", "worker"}
