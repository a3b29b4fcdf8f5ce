"""The text the ``mbx`` commands print: one renderer per kind of result.

Each renderer takes the result a library function returned (the dict of
``summarize``, ``describe`` or ``synthesize``, a ``VerifyReport``, a member)
and gives lines; :class:`~mbx.cli.output.Output` writes them, or the result
itself as JSON. Commands never format inline, so ``--json`` and the text
always show the same result.
"""

from __future__ import annotations

import os

import time
from typing import Any

from mbx.units import format_size

__all__ = ["info_lines", "member_line", "summary_lines", "synth_lines", "verify_lines"]


#: Summary settings in the order ``mbx ls`` names them, with their words.
_SETTING_WORDS = {"users": "users", "role_assignments": "role assignments",
                  "activities": "activities", "blocks": "blocks", "files": "files",
                  "filters": "filters", "comments": "comments", "badges": "badges",
                  "calendarevents": "calendar events", "userscompletion": "user completion",
                  "logs": "logs", "grade_histories": "grade histories",
                  "questionbank": "question bank", "groups": "groups",
                  "competencies": "competencies", "customfield": "custom fields",
                  "contentbankcontent": "content bank", "legacyfiles": "legacy files"}
#: ``file_bytes`` owners with their words.
_OWNER_WORDS = {"activities": "activities", "course": "course", "sections": "sections",
                "question_bank": "question bank", "users": "users", "other": "other"}
#: Narrowest width the listing is cut to, whatever the terminal says.
_MIN_WIDTH = 60


def _plural(count: int | None, word: str, plural: str | None = None) -> str:
    """``1 activity``, ``3 activities``, ``? files`` when a backup cannot say."""
    if count is None:
        return f"? {plural or word + 's'}"
    return f"{count} {word if count == 1 else plural or word + 's'}"


def _date(value: int | None) -> str | None:
    return None if value is None else time.strftime("%Y-%m-%d", time.gmtime(value))


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, an ellipsis marking the cut."""
    return text if len(text) <= width else text[:max(width - 1, 0)] + "\u2026"


def _wrap(lead: str, items: list[str], width: int) -> list[str]:
    """``lead`` and a comma-separated list, wrapped to ``width`` (items are never cut)."""
    import textwrap  # only the summary wraps: ls -l starts without it

    return textwrap.wrap(", ".join(items), width, initial_indent=lead,
                         subsequent_indent=" " * 4, break_long_words=False,
                         break_on_hyphens=False)


def _section_title(section: dict) -> str:
    """What Moodle shows: the section's name, else "General" for section 0 and
    "Section N" (an untitled section's title in moodle_backup.xml is its number)."""
    if section["name"]:
        return section["name"]
    if section["title"] and section["title"] != str(section["number"]):
        return section["title"]
    return "General" if section["number"] == 0 else f"Section {section['number']}"


def summary_lines(result: dict, width: int = 100) -> list[str]:
    """The text of ``mbx ls``: the summary dict of :func:`mbx.inspect.summarize`,
    as lines no wider than ``width`` (titles are cut with an ellipsis)."""
    width = max(width, _MIN_WIDTH)
    course, counts, sizes = result["course"], result["counts"], result["sizes"]
    lines = [_fit(f"{course['fullname']} ({course['shortname']})", width)]
    when = f" on {_date(result['backup_date'])}" if result["backup_date"] is not None else ""
    lines.extend(_wrap("  ", [f"{result['type']} backup written by Moodle "
                              f"{result['moodle_release']}{when}"], width))
    if result["source_site"]:
        lines.append(_fit(f"  from {result['source_site']}", width))
    dates = [f"format {course['format'] or '?'}"]
    if course["startdate"]:
        dates.append(f"starts {_date(course['startdate'])}")
    if course["enddate"] is not None:
        dates.append(f"ends {_date(course['enddate'])}" if course["enddate"] else "no end date")
    lines.append("  course " + ", ".join(dates))
    settings = result["settings"]
    anonymised = {True: "yes", False: "no", None: "?"}[settings["anonymize"]]
    included = [word for name, word in _SETTING_WORDS.items() if settings.get(name) is True]
    left_out = [word for name, word in _SETTING_WORDS.items() if settings.get(name) is False]
    lines.append(f"  anonymised: {anonymised}")
    if included:
        lines.extend(_wrap("  includes: ", included, width))
    if left_out:
        lines.extend(_wrap("  left out: ", left_out, width))

    module_width = max([10] + [len(a["modulename"] or "") for a in result["activities"]])

    def activity_line(activity: dict) -> str:
        sizes_note = ("" if activity["xml_bytes"] is None else
                      f"  ({format_size(activity['xml_bytes'])} XML, "
                      f"{format_size(activity['file_bytes'])} files)")
        head = f"         {activity['modulename'] or '?':<{module_width}} "
        room = width - len(head) - len(sizes_note)
        return head + _fit(activity["title"] or "(untitled)", max(room, 10)) + sizes_note

    for section in result["sections"]:
        note = f"  ({format_size(section['file_bytes'])} files)" if section["file_bytes"] else ""
        head = f"  {section['number']:>3}  "
        lines.append(head + _fit(_section_title(section), width - len(head) - len(note)) + note)
        lines.extend(activity_line(activity) for activity in section["activities"])
    listed = {section["sectionid"] for section in result["sections"]}
    outside = [a for a in result["activities"] if a["sectionid"] not in listed]
    if outside:
        lines.append("  not in a listed section:" if result["sections"] else "  activities:")
        lines.extend(activity_line(activity) for activity in outside)
    lines.extend(_wrap("  ", [
        _plural(counts["activities"], "activity", "activities"),
        _plural(counts["sections"], "section"), _plural(counts["users"], "user"),
        _plural(counts["files"], "file"), _plural(counts["groups"], "group"),
        _plural(counts["groupings"], "grouping"),
        _plural(counts["question_categories"], "question category", "question categories"),
        _plural(counts["questions"], "question")], width))
    owners = result["file_bytes"]
    placed = [f"{format_size(owners[name])} {word}" for name, word in _OWNER_WORDS.items()
              if owners.get(name)]
    if placed:
        lines.extend(_wrap("  file bytes: ", placed, width))
    lines.append(f"  user data: {'yes' if result['has_users'] else 'no'}; "
                 f"files: {'yes' if result['has_files'] else 'no'}")
    parts = [f"{format_size(sizes['xml'])} XML"]
    if sizes["blobs"] is not None:
        parts.append(f"{format_size(sizes['blobs'])} blobs")
    parts.append(f"{format_size(sizes['other'])} other")
    lines.extend(_wrap("  ", [f"{_plural(sizes['members'], 'file member')} and "
                              f"{_plural(sizes['directories'], 'directory', 'directories')}, "
                              f"{format_size(sizes['total'])} ({', '.join(parts)})"], width))
    if result["largest_activities"]:
        lines.extend(_wrap("  largest: ", [
            f"{a['modulename']} '{_fit(a['title'] or '(untitled)', 40)}' "
            f"{format_size(a['xml_bytes'] + a['file_bytes'])}"
            for a in result["largest_activities"]], width))
    return lines


#: What ``mbx ls -l`` says on stderr about where its listing comes from.
LISTING_SOURCES = {
    "index": "listing from .ARCHIVE_INDEX (its length agrees with the gzip trailer)",
    "scan": "listing from a scan of the archive's entries, each one checked",
}



def listing_note(source: str | None) -> str | None:
    """Where an ``ls -l`` listing came from, in words (None when unknown)."""
    return None if source is None else LISTING_SOURCES[source]


#: Backups share a handful of member times: each is formatted once.
_MEMBER_TIMES: dict[int | None, str] = {None: "?" * 16}


def member_line(member: Any) -> str:
    """One line of ``mbx ls -l``, like ``tar tv``: kind, size, time, name."""
    when = _MEMBER_TIMES.get(member.mtime)
    if when is None:
        when = _MEMBER_TIMES[member.mtime] = time.strftime("%Y-%m-%d %H:%M",
                                                           time.gmtime(member.mtime))
    slash = "/" if member.is_dir else ""
    return f"{'d' if member.is_dir else '-'} {member.size:>12} {when} {member.name}{slash}"


def member_dict(member: Any) -> dict[str, Any]:
    """One member of ``mbx ls -l --json``."""
    return {"name": member.name, "size": member.size, "mtime": member.mtime,
            "is_dir": member.is_dir}


def info_lines(data: dict) -> list[str]:
    """The text of ``mbx info``: every scalar of the information block, the
    details, then every setting (moodle2) or every module (Moodle 1.9)."""
    lines = [f"{key:<46} {value if value is not None else '-'}"
             for key, value in data.items() if not isinstance(value, (list, dict))]
    for detail in data.get("details", []):
        lines.append(f"detail {detail['backup_id']}: type={detail['type']} "
                     f"format={detail['format']} mode={detail['mode']} "
                     f"execution={detail['execution']}")
    if data["format"] == "moodle2":
        lines.append(f"{_plural(len(data['activities']), 'activity', 'activities')}, "
                     f"{_plural(len(data['sections']), 'section')}")
        lines.append("settings:")
        for setting in data["settings"]:
            scope = setting["section"] or setting["activity"] or ""
            lines.append(f"  {setting['level'] or '-':<9} {scope:<22} "
                         f"{setting['name']} = {setting['value']}")
    else:
        for mod in data["moodle1"]["INFO"]["DETAILS"].get("MOD", []):
            lines.append(f"  module {mod.get('NAME')}: included={mod.get('INCLUDED')} "
                         f"userinfo={mod.get('USERINFO')}")
    return lines


def verify_lines(report: Any, *, max_problems: int, strict: bool) -> list[str]:
    """The text of ``mbx verify``: what was checked, at most ``max_problems``
    problems (errors first), and the verdict with a summary by code."""
    checked = report.checked
    lines = [f"checked {report.path}: {checked['xml_members']} XML members, "
             f"{checked['blobs']} blobs, {checked['files_records']} files.xml records, "
             f"{checked['references']} references, {checked['activities']} activities, "
             f"{checked['sections']} sections, {checked['index_entries']} index entries"]
    if report.unknown_ref_kinds:
        lines.append(f"  not checked: reference kinds {', '.join(report.unknown_ref_kinds)}")
    shown = (report.errors + report.warnings)[:max_problems]
    lines.extend(f"  {problem}" for problem in shown)
    if len(shown) < len(report.problems):
        lines.append(f"  ... {len(report.problems) - len(shown)} more not shown "
                     "(--max-problems N shows more)")
    if not report.problems:
        lines.append("sound")
        return lines
    errors, warnings = len(report.errors), len(report.warnings)
    verdict = (f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}" if errors else
               f"sound, with {_plural(warnings, 'warning')}"
               + (" (failing: --strict)" if strict else ""))
    lines.append(f"{verdict}: " + ", ".join(
        f"{item['count']} × {item['code']} ({item['severity']})"
        for item in report.summary()))
    return lines


def synth_lines(result: dict) -> list[str]:
    """The text of ``mbx synth``: what was written, how big, how fast."""
    return [
        f"wrote {result['archive']}: {result['size']} bytes "
        f"(target {result['target']}, {result['size_error']:+.2%}), "
        f"{_plural(result['members'], 'file member')} and "
        f"{_plural(result['directories'], 'directory', 'directories')}",
        f"  {_plural(sum(result['activities'].values()), 'activity', 'activities')}, "
        f"{_plural(result['sections'], 'section')}, {_plural(result['users'], 'user')}, "
        f"{_plural(result['discussions'], 'discussion')}, {_plural(result['posts'], 'post')}, "
        f"{_plural(result['files'], 'file')}",
        f"  {result['seconds']:.1f} s, {result['mb_per_s']} MB/s",
    ]


def synth_history_lines(result: dict) -> list[str]:
    """The text of ``mbx synth --versions``: one line a version."""
    lines = [f"wrote {_plural(len(result['versions']), 'version')} into {result['folder']}: "
             f"{result['size']} bytes in all, {result['seconds']:.1f} s"]
    lines += [f"  {os.path.basename(v['archive'])}: {v['size']} bytes, "
              f"{_plural(sum(v['activities'].values()), 'activity', 'activities')}, "
              f"{_plural(v['posts'], 'post')}, {_plural(v['submissions'], 'submission')}, "
              f"{_plural(v['quiz_attempts'], 'quiz attempt')}, {_plural(v['files'], 'file')}"
              for v in result["versions"]]
    return lines


def restore_lines(report: Any, *, max_warnings: int = 20) -> list[str]:
    """The text of ``mbx restore``: the new course, rows, files, what was kept raw,
    warnings, and the time of each phase."""
    rows = report.rows
    lines = [f"restored {report.archive} into {report.target} as course {report.course_id} "
             f"(context {report.course_context_id})",
             f"  {_plural(sum(rows.values()), 'row')} in {_plural(len(rows), 'table')}: "
             + ", ".join(f"{table} {count}" for table, count in
                         sorted(rows.items(), key=lambda item: (-item[1], item[0]))[:12])
             + (", ..." if len(rows) > 12 else ""),
             f"  files: {report.files_written} written, {report.files_reused} already in "
             f"{report.files_dir}"]
    if report.users:
        actions: dict[str, int] = {}
        for decision in report.users:
            actions[decision.action] = actions.get(decision.action, 0) + 1
        lines.append("  users: " + ", ".join(f"{count} {action}" for action, count in sorted(actions.items())))
    if report.kept_raw:
        size = sum(kept.bytes for kept in report.kept_raw)
        lines.append(f"  kept raw in mbx_raw_members: {_plural(len(report.kept_raw), 'member')}, "
                     f"{size} bytes (no declaration yet)")
    for warning in report.warnings[:max_warnings]:
        lines.append(f"  warning: {warning.message} ({warning.code})")
    if len(report.warnings) > max_warnings:
        lines.append(f"  ... {len(report.warnings) - max_warnings} more warnings (--json lists all)")
    lines.append("  " + ", ".join(f"{phase} {seconds:.2f} s" for phase, seconds in report.phases.items())
                 + f"; {report.seconds:.2f} s in all")
    return lines


def table_lines(columns: list[str], rows: list[tuple], *, limit: int = 60) -> list[str]:
    """Rows as an aligned text table (values cut at ``limit`` characters)."""
    def cell(value: Any) -> str:
        shown = "NULL" if value is None else str(value).replace("\n", " ")
        return shown if len(shown) <= limit else shown[:limit - 1] + "…"
    cells = [[cell(value) for value in row] for row in rows]
    widths = [max([len(name)] + [len(row[index]) for row in cells]) for index, name in enumerate(columns)]
    lines = ["  ".join(name.ljust(width) for name, width in zip(columns, widths)).rstrip(),
             "  ".join("-" * width for width in widths)]
    lines += ["  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip() for row in cells]
    lines.append(f"({_plural(len(rows), 'row')})")
    return lines


def transform_lines(report: Any) -> list[str]:
    """The text of ``mbx transform``: what was written, member by member kind, and what
    each transform did."""
    lines = [f"wrote {report.output} from {report.source}"
             + (f" ({', '.join(report.transforms)})" if report.transforms else " (exact copy)"),
             f"  {_plural(report.members_written, 'member')}: {report.members_copied} copied, "
             f"{report.members_rewritten} rewritten ({report.members_changed} changed), "
             f"{report.members_dropped} dropped; {format_size(report.bytes_out)} written",
             f"  {sum(report.seconds.values()):.1f} s (" + ", ".join(
                 f"{phase} {seconds:.1f} s" for phase, seconds in report.seconds.items()) + ")"]
    for name, details in report.details.items():
        shown = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in details.items()
                          if value not in (None, {}, [], ""))
        lines.append(f"  {name}: {shown}")
    return lines


# -- mbx store ---------------------------------------------------------------------------------

def store_init_lines(result: dict) -> list[str]:
    return [f"created the store {result['store']}"]


def store_add_lines(result: Any) -> list[str]:
    if result.duplicate_of is not None:
        return [f"{result.course}@{result.version} already holds this archive: nothing added"
                + (f" (tags: {', '.join(result.tags)})" if result.tags else "")]
    tags = f" [{', '.join(result.tags)}]" if result.tags else ""
    return [f"added {result.course}@{result.version}{tags}: {_plural(result.members, 'member')}, "
            f"{format_size(result.bytes)}; stored {format_size(result.added_bytes)} new "
            f"({_plural(result.new_chunks, 'chunk')}, {_plural(result.new_blobs, 'blob')}) "
            f"in {result.seconds:.1f} s"]


def store_ls_lines(result: Any) -> list[str]:
    lines = []
    for course in result.courses:
        lines.append(course.name + (f"  ({course.versions[-1].title})"
                                    if course.versions and course.versions[-1].title else ""))
        for version in course.versions:
            tags = f" [{', '.join(version.tags)}]" if version.tags else ""
            backed = _date(version.backup_date) or "?"
            lines.append(f"  @{version.version:<4} added {_time(version.added_at)}  "
                         f"backup {backed}  {format_size(version.bytes):>9}  "
                         f"+{format_size(version.added_bytes):>9}  {version.container}{tags}")
    lines.append(f"{_plural(len(result.courses), 'course')}, "
                 f"{_plural(sum(len(c.versions) for c in result.courses), 'version')}; "
                 f"{format_size(result.stored_bytes)} stored")
    return lines


def _time(value: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(value))


def store_get_lines(result: Any) -> list[str]:
    return [f"wrote {result.output} ({result.format}) from {result.course}@{result.version}: "
            f"{_plural(result.members, 'member')}, {format_size(result.bytes)} "
            f"({format_size(result.bytes_out)} packed)"]


def store_checkout_lines(result: Any) -> list[str]:
    return [f"checked out {result.course}@{result.version} into {result.folder}: "
            f"{_plural(result.members, 'member')}, {result.linked} blobs linked "
            f"(read-only), {result.copied} copied"]


def store_diff_lines(result: Any) -> list[str]:
    marks = {"added": "+", "removed": "-", "changed": "~"}
    lines = [f"{result.a} -> {result.b}"]
    for kind, items in (("activities", result.activities), ("sections", result.sections)):
        if items:
            lines.append(f"  {kind}:")
            lines.extend(f"    {marks[item.change]} {item.title or '(untitled)'}"
                         f"  ({item.modulename + ' ' if item.modulename else ''}"
                         f"{item.directory or item.id})" for item in items)
    for word, files in (("files added", result.files_added),
                        ("files removed", result.files_removed)):
        if files:
            lines.append(f"  {word}: {len(files)}, "
                         f"{format_size(sum((f.size_b or f.size_a or 0) for f in files))}")
    if result.members:
        lines.append("  members:")
        lines.extend(f"    {marks[m.change]} {m.name}  "
                     f"{'' if m.size_a is None else m.size_a} -> "
                     f"{'' if m.size_b is None else m.size_b} bytes" for m in result.members)
    if len(lines) == 1:
        lines.append("  no difference")
    return lines


def store_rm_lines(result: Any) -> list[str]:
    lines = [f"removed {ref}" for ref in result.removed]
    lines.extend(f"no version of {course} is left: the course is gone"
                 for course in result.courses_removed)
    lines.append("run `mbx store gc` to free what only they held")
    return lines


def store_gc_lines(result: Any) -> list[str]:
    return [f"freed {format_size(result.bytes_freed)}: {_plural(result.chunks_freed, 'chunk')}, "
            f"{_plural(result.blobs_freed, 'blob')}"
            + (f", {_plural(result.temporaries_removed, 'temporary file')}"
               if result.temporaries_removed else "")]


def store_verify_lines(result: Any) -> list[str]:
    lines = [f"checked {_plural(result.chunks, 'chunk')} and {_plural(result.blobs, 'blob')} "
             f"({format_size(result.bytes)})"]
    for damage in result.damage:
        lines.append(f"  damaged {damage.kind} {damage.id} ({damage.problem}): "
                     + (", ".join(damage.versions) or "no version needs it"))
    if result.damaged_versions:
        lines.append(f"damaged versions: {', '.join(result.damaged_versions)}")
    else:
        lines.append("sound")
    if result.unlisted_files:
        lines.append(f"  {_plural(result.unlisted_files, 'file')} no version lists "
                     "(`mbx store gc` removes them)")
    return lines


#: The renderer of each ``mbx store`` action.
STORE_LINES = {"add": store_add_lines, "ls": store_ls_lines, "get": store_get_lines,
               "checkout": store_checkout_lines, "diff": store_diff_lines,
               "rm": store_rm_lines, "gc": store_gc_lines, "verify": store_verify_lines}
