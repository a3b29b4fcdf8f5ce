"""The final task: what can only be settled once every part is in.

Section sequences (rebuilt in the backup's order), the section numbers a
course must not skip, availability trees and interlinks (their ids are new
only now), course-level logs, and the ``files`` rows (their blobs arrived in
the second pass, after the activities that use them).
"""

from __future__ import annotations

import base64
import posixpath
import re
from collections.abc import Iterator
from typing import Any

from mbx.moodle2 import structure
from mbx.moodle2.modules import NAMES, declaration
from mbx.moodle2.models import as_int
from mbx.restore.engine import Task, decode_links, guess_mimetype, pathname_hash, remap_availability
from mbx.restore.pool import EMPTY_SHA1

__all__ = ["finish"]

#: Rows read back at a time by the passes over what the restore wrote.
PAGE = 1000


def finish(engine, plan) -> None:
    from mbx.restore import completion, gradebook, questions
    questions.finish_question_bank(engine, plan)
    gradebook.restore_gradebook(engine, plan)
    completion.restore_course_completion(engine, plan)
    _sequences(engine, plan)
    _missing_sections(engine)
    if plan.info.type == "activity":
        _made_sections(engine)
    _weeks_end_date(engine)
    _availability(engine)
    _links(engine)
    if engine.setting_on("logs"):
        engine.run_step(structure.LOGSTORES, Task(kind="course", folder="course/",
                                                  context=engine.course_context,
                                                  userinfo=engine.userinfo))
    _files(engine)
    engine.update("course_categories", engine.category,
                  coursecount=engine.query(f"SELECT coursecount FROM {engine.t('course_categories')} "
                                           f"WHERE id = {engine.target.mark}", (engine.category,))[0][0] + 1)


def _sequences(engine, plan) -> None:
    by_section: dict[int, list[str]] = {}
    touched: set[int] = set()
    for activity in plan.activities:
        cm = engine.ids.get("course_module", activity.moduleid)
        row = engine.module_rows.get(cm) if cm else None
        if row is not None:
            by_section.setdefault(row["section"], []).append(str(cm))
            if not _module_added(engine, row.get("module")):
                touched.add(row["section"])  # Moodle restores the module: adding it stamps the section
    for section, cms in by_section.items():
        if section in touched:
            engine.update("course_sections", section, sequence=",".join(cms), timemodified=engine.now)
        else:
            engine.update("course_sections", section, sequence=",".join(cms))


def _module_added(engine, module: Any) -> bool:
    """Whether the engine added the module to the target (for an activity kept raw, which
    Moodle skips)."""
    span = engine.created("modules")
    return span is not None and module is not None and span[0] <= as_int(module) <= span[1]


def _missing_sections(engine) -> None:
    numbers = {number for number, _ in engine.sections_written}
    for number in range(0, max(numbers, default=-1) + 1):
        if number not in numbers:
            new = engine.insert("course_sections", {"course": engine.course_id, "section": number,
                                                    "timemodified": engine.now, "sequence": None,
                                                    "summaryformat": 0, "visible": 1})
            engine.sections_written.append((number, new))


def _made_sections(engine) -> None:
    """An activity backup's course has only the sections the restore made, as Moodle's
    course creation makes them: no summary format, no sequence until a module joins."""
    mark = engine.target.mark
    for row_id, sequence in engine.query(f"SELECT id, sequence FROM {engine.t('course_sections')} "
                                         f"WHERE course = {mark}", (engine.course_id,)):
        engine.update("course_sections", row_id, summaryformat=0, sequence=sequence or None)


WEEK = 7 * 24 * 3600


def _weeks_end_date(engine) -> None:
    """format_weeks' automatic end date: the end of the course's last week (its last
    section's, at least the first's), counted in whole weeks from the start date.

    Moodle counts the weeks in the site's timezone, so a course spanning a daylight saving
    change ends an hour off from this count (in UTC)."""
    mark = engine.target.mark
    found = engine.query(f"SELECT format, startdate FROM {engine.t('course')} WHERE id = {mark}",
                         (engine.course_id,))
    if not found or found[0][0] != "weeks":
        return
    option = engine.query(f"SELECT value FROM {engine.t('course_format_options')} WHERE courseid = {mark} "
                          f"AND format = 'weeks' AND sectionid = 0 AND name = 'automaticenddate'",
                          (engine.course_id,))
    if not option or option[0][0] != "1":
        return
    last = engine.query(f"SELECT MAX(section) FROM {engine.t('course_sections')} WHERE course = {mark}",
                        (engine.course_id,))[0][0] or 0
    engine.update("course", engine.course_id, enddate=as_int(found[0][1]) + max(as_int(last), 1) * WEEK)


def _created_rows(engine, table: str, columns: tuple[str, ...], where: str,
                  params: tuple = ()) -> Iterator[tuple]:
    """Rows this restore wrote to ``table`` that match ``where`` ({mark}: a parameter), in
    id order, a page at a time (a course's posts with links are as many as it likes;
    a caller may change the rows it was given before it asks for the next)."""
    span = engine.created(table)
    if span is None:
        return
    mark = engine.target.mark
    names = ", ".join(f'"{column}"' for column in columns)
    sql = (f"SELECT id, {names} FROM {engine.t(table)} WHERE id BETWEEN {mark} AND {mark} "
           f"AND ({where.format(mark=mark)}) ORDER BY id LIMIT {PAGE}")
    first, last = span
    while first <= last:
        rows = engine.query(sql, (first, last, *params))
        yield from rows
        if len(rows) < PAGE:
            return
        first = rows[-1][0] + 1


def _availability(engine) -> None:
    for table in ("course_sections", "course_modules"):
        for row_id, text in _created_rows(engine, table, ("availability",), '"availability" IS NOT NULL'):
            fixed = remap_availability(text, engine.ids, engine.offset)
            if fixed != text:
                engine.update(table, row_id, availability=fixed)


def _links(engine) -> None:
    rules = dict(structure.COURSE_RULES)
    contents: dict[str, set[str]] = {table: set(columns) for table, columns in structure.COURSE_LINKS.items()}
    for name in NAMES:
        module = declaration(name)
        rules.update(module.rules)
        for table, columns in module.links.items():
            contents.setdefault(table, set()).update(columns)
    target_root = (engine.settings.wwwroot or engine.info.original_wwwroot or "").rstrip("/")
    source_root = (engine.info.original_wwwroot or "").rstrip("/")
    for table, columns in contents.items():
        ordered = tuple(sorted(columns))
        where = " OR ".join(f'"{column}" LIKE {{mark}}' for column in ordered)
        for row_id, *values in _created_rows(engine, table, ordered, where, ("%$@%",) * len(ordered)):
            changed = {}
            for column, value in zip(ordered, values):
                if isinstance(value, str) and "$@" in value:
                    decoded = decode_links(value, rules, engine.ids, target_root, source_root)
                    if decoded != value:
                        changed[column] = decoded
            if changed:
                engine.update(table, row_id, **changed)
    # block_html decodes the links of its text inside configdata (base64 of a PHP
    # serialized object): every string is decoded and its length recounted.
    for row_id, config in _created_rows(engine, "block_instances", ("configdata",),
                                        "blockname = 'html' AND configdata IS NOT NULL AND configdata <> ''"):
        try:
            serialized = base64.b64decode(config, validate=True)
        except ValueError:
            continue
        if b"$@" not in serialized:
            continue
        decoded = _map_serialized_strings(serialized, lambda text: decode_links(
            text, rules, engine.ids, target_root, source_root) if "$@" in text else text)
        if decoded is not None and decoded != serialized:
            engine.update("block_instances", row_id, configdata=base64.b64encode(decoded).decode("ascii"))


_SERIAL_HEAD = re.compile(rb"([sOaidbN])(?::(-?[\d.E+-]+))?[:;]")


def _map_serialized_strings(data: bytes, change) -> bytes | None:
    """``data`` (PHP ``serialize`` output) with every string value passed through ``change``;
    None if it does not parse. Strings are walked by their byte lengths, never searched."""
    out, i = [], 0
    while i < len(data):
        if data[i:i + 1] in (b"}", b";"):
            out.append(data[i:i + 1])
            i += 1
            continue
        head = _SERIAL_HEAD.match(data, i)
        if head is None:
            return None
        kind = head[1]
        if kind == b"s":
            length = int(head[2])
            start = head.end() + 1  # the opening quote
            raw = data[start:start + length]
            if data[head.end():start] != b'"' or data[start + length:start + length + 2] != b'";':
                return None
            text = change(raw.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
            out.append(b's:%d:"%s";' % (len(text), text))
            i = start + length + 2
        elif kind == b"O":
            length = int(head[2])
            end = head.end() + 1 + length + 2  # "name":
            close = data.index(b"{", end) + 1
            out.append(data[i:close])
            i = close
        elif kind == b"a":
            close = data.index(b"{", head.end()) + 1
            out.append(data[i:close])
            i = close
        elif kind == b"N":
            out.append(b"N;")
            i = head.end()
        else:  # i, d, b: the value runs to its semicolon
            close = data.index(b";", head.start()) + 1
            out.append(data[i:close])
            i = close
    return b"".join(out)


def _files(engine) -> None:
    """One ``files`` row per restored file (and its folders), as ``send_files_to_pool``."""
    if engine.pool is not None:
        engine.pool.add_empty()
    skipped_areas = 0
    for _, record in engine.ids.staged("file"):
        context = engine.ids.get("context", record.get("contextid"))
        if not context:
            continue
        component = record.get("component") or ""
        area = record.get("filearea") or ""
        requested, kind = engine.file_kind(component, area)
        itemid: Any = as_int(record.get("itemid"))
        if requested and kind:
            itemid = engine.ids.get(kind, record.get("itemid"))
            if itemid is None:
                continue
        elif not requested and context not in engine.raw_contexts:
            skipped_areas += 1
            continue
        filepath = record.get("filepath") or "/"
        filename = record.get("filename") or ""
        user = engine.ids.get("user", record.get("userid"), engine.settings.restorer)
        if filename == ".":
            if filepath != "/":
                _directories(engine, context, component, area, itemid, filepath, user)
            continue
        if record.get("repositoryid"):
            engine.report.warn("file_alias_not_restored",
                               f"{filepath}{filename}: aliases to repositories are not restored", "files.xml")
            continue
        contenthash = record.get("contenthash") or ""
        if not _content_available(engine, contenthash):
            engine.report.warn("file_missing_in_backup",
                               f"{component}/{area}{filepath}{filename}: its content "
                               f"({contenthash or 'no hash'}) is not in the backup", "files.xml")
            continue
        if not _new_path(engine, context, component, area, itemid, filepath, filename):
            continue
        _directories(engine, context, component, area, itemid, filepath, user)
        sortorder = as_int(record.get("sortorder"))
        engine.insert("files", {
            "contenthash": contenthash,
            "pathnamehash": pathname_hash(context, component, area, itemid, filepath, filename),
            "contextid": context, "component": component, "filearea": area, "itemid": itemid,
            "filepath": filepath, "filename": filename, "userid": user,
            "filesize": as_int(record.get("filesize")), "mimetype": record.get("mimetype") or guess_mimetype(filename),
            "status": 0, "source": record.get("source"), "author": record.get("author"),
            "license": record.get("license"), "timecreated": engine.now, "timemodified": engine.now,
            "sortorder": sortorder if sortorder > 0 else 0, "referencefileid": None})
    if skipped_areas:
        engine.report.files_not_restored = skipped_areas


def _content_available(engine, contenthash: str) -> bool:
    if not contenthash or contenthash in engine.bad_blobs:
        return False
    if engine.pool is not None:
        return engine.pool.has(contenthash)
    mark = engine.target.mark
    return bool(engine.query(f"SELECT 1 FROM {engine.t('files')} WHERE contenthash = {mark}",
                             (contenthash,)))


def _new_path(engine, context, component, area, itemid, filepath, filename) -> bool:
    key = pathname_hash(context, component, area, itemid, filepath, filename)
    if engine.ids.get("pathnamehash", key) is not None:
        return False
    engine.ids.set("pathnamehash", key, 1)
    return True


def _directories(engine, context, component, area, itemid, filepath, user) -> None:
    """The ``.`` rows of a path and all its parents, each once."""
    path = filepath if filepath.endswith("/") else filepath + "/"
    while True:
        if _new_path(engine, context, component, area, itemid, path, "."):
            engine.insert("files", {
                "contenthash": EMPTY_SHA1,
                "pathnamehash": pathname_hash(context, component, area, itemid, path, "."),
                "contextid": context, "component": component, "filearea": area, "itemid": itemid,
                "filepath": path, "filename": ".", "userid": user, "filesize": 0, "mimetype": None,
                "status": 0, "timecreated": engine.now, "timemodified": engine.now, "sortorder": 0})
        if path == "/":
            return
        path = posixpath.dirname(path.rstrip("/")).rstrip("/") + "/"


