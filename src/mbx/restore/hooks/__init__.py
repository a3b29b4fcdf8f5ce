"""What Moodle's restore does that a declaration cannot say, one small function each.

A hook is named by an element's ``hook`` (with its ``args``) and called with
the engine, the element, the parsed record, the row built from it and the
step's state, before the row is written. It may change the row, write other
rows, and return ``False`` to leave the record (and everything inside it) out.

This module holds the course-level hooks; a module's own hooks live in a
submodule named after it (``hooks/quiz.py``), registered with :func:`hook`.
"""

from __future__ import annotations

import html
import json
import os
import re
from typing import Any, Callable

from mbx.moodle2 import schema
from mbx.moodle2.models import as_int
from mbx.restore.rowvalues import count_text, word_text
from mbx.moodle2.structure import (BLOCK_LEVEL, COURSE_FORMAT_DEFAULTS, DEFAULT_ENROL_INSTANCES,
                                    INSTALLED_FORMATS, LOG_OBJECT_KINDS, MODULE_LEVEL, SESSION_USER,
                                    USER_LEVEL)

__all__ = ["HOOKS"]

HOOKS: dict[str, Callable[..., Any]] = {}


def hook(function: Callable[..., Any]) -> Callable[..., Any]:
    HOOKS[function.__name__] = function
    return function



# -- users ------------------------------------------------------------------------------

#: Authentication methods that keep a local password Moodle can reset.
INTERNAL_AUTHS = frozenset({"manual", "email", "none", "webservice"})
NOT_CACHED = "not cached"
MD5 = re.compile(r"[0-9a-f]{32}\Z")


@hook
def user(run, element, record, row, state) -> bool:
    """A user being created: local MNet host, no policy agreement, a password
    that cannot be an old MD5, a context of its own unless deleted."""
    row["mnethostid"] = 1
    row["policyagreed"] = 0
    if row.get("auth") == "mnet":
        row["auth"] = "manual"
    password = row.get("password") or ""
    if not password:
        row["password"] = "restored" if row.get("auth", "manual") in INTERNAL_AUTHS else NOT_CACHED
    elif MD5.match(password):
        row["password"] = os.urandom(16).hex()
    if row.get("timecreated") in (None, "", "0"):
        row["timecreated"] = run.now
    if row.get("lang") not in INSTALLED_LANGUAGES:
        row["lang"] = SITE_LANGUAGE
    username = state.current.get("username")
    if username:
        row["username"] = username
    row["id"] = run.target.new_id("user")
    if as_int(record.get("deleted")) != 1:
        context, _ = run.new_context(USER_LEVEL, row["id"], f"/{run.system_context}")
        if record.get("contextid"):
            run.ids.set("context", record["contextid"], context)
    return True


@hook
def user_preference(run, element, record, row, state) -> bool:
    name = row.get("name") or ""
    if name.startswith("message_provider_") and name.endswith(("_loggedin", "_loggedoff")):
        row["name"] = name.rsplit("_", 1)[0] + "_enabled"
        key = f"{row['userid']}:{row['name']}"
        if run.ids.get("user_preference", key) is not None:
            return False
        run.ids.set("user_preference", key, 1)
    return True


@hook
def user_custom_field(run, element, record, row, state) -> bool:
    return False  # matched by shortname and type against the target's fields: none in a new site


# -- tags -------------------------------------------------------------------------------

DEFAULT_TAG_COLLECTION = 1


@hook
def tag(run, element, record, row, state) -> bool:
    """``core_tag_tag::add_item_tag``: the tag found by name or created, then its instance."""
    component, itemtype, kind = element.args
    raw = (record.get("rawname") or record.get("name") or "").strip()
    if not raw:
        return False
    if "itemid" in record and kind not in ("course", "course_module", "user"):
        item = run.ids.get(kind, record["itemid"])
    else:
        item = state.current.get(kind)
    if item is None:
        return False
    name = raw.lower()
    tag_id = run.ids.get("tagname", name)
    if tag_id is None:
        found = run.query(f"SELECT id FROM {run.t('tag')} WHERE name = {run.target.mark} "
                          f"AND tagcollid = {run.target.mark}", (name, DEFAULT_TAG_COLLECTION))
        tag_id = found[0][0] if found else run.insert("tag", {
            "userid": SESSION_USER, "tagcollid": DEFAULT_TAG_COLLECTION, "name": name,
            "rawname": raw, "isstandard": 0, "descriptionformat": 0, "flag": 0,
            "timemodified": run.now})
        run.ids.set("tagname", name, tag_id)
    key = f"{component}:{itemtype}:{item}:{tag_id}"
    if run.ids.get("tag_instance", key) is not None:
        return False
    # add_item_tag numbers an item's tags from 1 (its max + 1); a user's set_item_tags from 0.
    ordering_key = f"{component}:{itemtype}:{item}"
    ordering = run.ids.get("tag_ordering", ordering_key, -1 if kind == "user" else 0) + 1
    run.ids.set("tag_ordering", ordering_key, ordering)
    context = state.task.context
    if kind == "user":
        context = run.ids.get("user_context", item, context)
    run.ids.set("tag_instance", key, run.insert("tag_instance", {
        "tagid": tag_id, "component": component, "itemtype": itemtype, "itemid": item,
        "contextid": context, "tiuserid": 0, "ordering": ordering,
        "timecreated": run.now, "timemodified": run.now}))
    return False


# -- groups, scales, outcomes -----------------------------------------------------------

@hook
def group_again(run, element, record, row, state) -> bool:
    """``groups.xml`` read a second time for memberships: the group's new id."""
    new = run.ids.get("group", record.get("id"))
    if not new:
        return False
    state.current["group"] = new
    return True


@hook
def group_member(run, element, record, row, state) -> bool:
    """Only enrolled users become members (``groups_add_member``)."""
    if run.ids.get("enrolled", row["userid"]) is None:
        return False
    run.update("groups", row["groupid"], timemodified=run.now)  # groups_add_member touches the group
    return True


@hook
def scale(run, element, record, row, state) -> bool:
    """A scale with the same items in the site or the course is reused."""
    mark = run.target.mark
    found = run.query(f"SELECT id FROM {run.t('scale')} WHERE scale = {mark} "
                      f"AND (courseid = 0 OR courseid = {mark}) ORDER BY id", (row.get("scale") or "", run.course_id))
    if found:
        run.ids.set("scale", record["id"], found[0][0])
        return False
    row["courseid"] = run.course_id if as_int(row.get("courseid")) else 0
    return True


@hook
def outcome(run, element, record, row, state) -> bool:
    mark = run.target.mark
    found = run.query(f"SELECT id FROM {run.t('grade_outcomes')} WHERE shortname = {mark} "
                      f"AND (courseid IS NULL OR courseid = {mark}) ORDER BY id",
                      (row.get("shortname") or "", run.course_id))
    if found:
        run.ids.set("outcome", record["id"], found[0][0])
        return False
    row["courseid"] = run.course_id if as_int(row.get("courseid")) else None
    row["id"] = run.target.new_id("grade_outcomes")
    run.insert("grade_outcomes_courses", {"courseid": run.course_id, "outcomeid": row["id"]})
    return True


# -- course, sections, modules ----------------------------------------------------------

#: ``course.xml`` leaves that 4.5 keeps as course format options.
LEGACY_FORMAT_FIELDS = ("hiddensections", "coursedisplay")
#: Languages a new Moodle 4.5 site has installed: a course or user language outside them
#: is not kept (``get_string_manager()->translation_exists``).
INSTALLED_LANGUAGES = frozenset({"en"})
#: The site language, which a user's uninstalled language becomes.
SITE_LANGUAGE = "en"
#: ``moodlecourse`` defaults a course takes when its backup predates the setting.
COURSE_SITE_DEFAULTS = {"showactivitydates": 1, "showcompletionconditions": 1}


@hook
def course(run, element, record, row, state) -> bool:
    row["id"] = run.course_id
    row["category"] = run.category
    row["sortorder"] = 0
    # The restore's course settings default to moodle_backup.xml's names, not course.xml's.
    row["fullname"], row["shortname"] = run.course_names(
        run.settings.fullname or run.info.original_course_fullname or row.get("fullname") or "",
        run.settings.shortname or run.info.original_course_shortname or row.get("shortname") or "")
    row["idnumber"] = ""
    row["cacherev"] = run.now
    row["originalcourseid"] = None
    row["theme"] = ""
    row["lang"] = row.get("lang") if row.get("lang") in INSTALLED_LANGUAGES else ""
    for column, value in COURSE_SITE_DEFAULTS.items():
        if column not in record:
            row[column] = value
    if row.get("format") == "scorm":
        row["format"] = "singleactivity"
    run.course_format = row.get("format") or "topics"
    # A pre-3.3 weeks or topics course kept sections beyond numsections as orphans: the
    # format's restore plugin hides them (after_restore_course), when moodle_backup.xml
    # names the course's format as the original one (backups since 2.7 do).
    run.legacy_numsections = (as_int(record["numsections"]) if record.get("numsections") not in (None, "")
                              and run.course_format in ("weeks", "topics")
                              and run.info.original_course_format == run.course_format else None)
    if not state.task.userinfo:
        default_enrol_instances(run)
    options_format = run.course_format if run.course_format in INSTALLED_FORMATS else "topics"
    for name in LEGACY_FORMAT_FIELDS:
        if record.get(name) not in (None, ""):
            run.format_option(0, options_format, name, record[name])
    run.format_defaults = (options_format, COURSE_FORMAT_DEFAULTS.get(options_format, {}))
    return True


@hook
def course_format_option(run, element, record, row, state) -> bool:
    section = row.get("sectionid")
    if element.parents:  # a section's options: only for the course's own format
        if row.get("format") != run.course_format or not section:
            return False
    elif as_int(record.get("sectionid")):
        return False
    else:
        section = 0
    run.format_option(section, row.get("format") or run.course_format, row.get("name"), row.get("value"))
    return False


@hook
def custom_field(run, element, record, row, state) -> bool:
    return False  # matched against the target's course custom fields: none in a new site


@hook
def section(run, element, record, row, state) -> bool:
    number = as_int(record.get("number"))
    defaults = getattr(run, "format_defaults", None)
    if defaults is not None:
        # course.xml is done: its format options the backup left out take their defaults
        run.format_defaults = None
        for name, value in defaults[1].items():
            run.format_option(0, defaults[0], name, value)
    if run.ids.get("section_number", number) is not None:
        return False  # two sections with one number: Moodle finds the first and fills it
    row["timemodified"] = row.get("timemodified") or 0
    limit = getattr(run, "legacy_numsections", None)
    if limit is not None and number > limit:
        row["visible"] = 0  # orphaned in the original course (beyond numsections): hidden
    row["id"] = run.target.new_id("course_sections")
    run.legacy_availability = None
    row["availability"] = row.get("availability") or _legacy_availability(
        run, "course_sections", row["id"], record, section=True)
    if row["availability"] and run.legacy_availability is not None:
        row["timemodified"] = run.now  # the converted tree is written by a section update
    run.ids.set("section_number", number, row["id"])
    run.sections_written.append((number, row["id"]))
    return True


# -- pre-2.7 availability ---------------------------------------------------------------
#
# A backup from before availability trees keeps a section's or module's conditions in
# fields (dates, group members only, the section's grouping) and in availability and
# availability_field records; Moodle turns them into a tree (core_availability's info
# legacy conversion): the fields' conditions first, then each profile-field condition as
# read, then the grade and completion conditions. Ids stay old here: the final task maps
# them with every other tree's.

def _legacy_availability(run, table: str, row_id: int, record: dict, section: bool) -> str | None:
    show = bool(as_int(record.get("showavailability")))
    base: list[tuple[dict, bool]] = []
    grouping = as_int(record.get("groupingid"))
    if (section and grouping) or (not section and as_int(record.get("groupmembersonly"))):
        base.append(({"type": "grouping", "id": grouping} if grouping else {"type": "group"}, False))
    if as_int(record.get("availablefrom")):
        base.append(({"type": "date", "d": ">=", "t": as_int(record["availablefrom"])}, show))
    if as_int(record.get("availableuntil")):
        base.append(({"type": "date", "d": "<", "t": as_int(record["availableuntil"])}, False))
    run.legacy_availability = {"table": table, "id": row_id, "show": show, "base": base,
                               "fields": [], "conditions": []}
    return _legacy_tree(run.legacy_availability)


def _legacy_tree(legacy: dict) -> str | None:
    parts = legacy["base"] + legacy["fields"] + legacy["conditions"]
    if not parts:
        return None
    return json.dumps({"op": "&", "showc": [shown for _, shown in parts],
                       "c": [condition for condition, _ in parts]}, separators=(",", ":"))


def _number(value: Any) -> int | float:
    number = float(value)
    return int(number) if number.is_integer() else number


def _legacy_add(run, kind: str, condition: dict) -> None:
    legacy = run.legacy_availability
    legacy[kind].append((condition, legacy["show"]))
    stamp = {"timemodified": run.now} if legacy["table"] == "course_sections" else {}
    run.update(legacy["table"], legacy["id"], availability=_legacy_tree(legacy), **stamp)


@hook
def legacy_availability(run, element, record, row, state) -> bool:
    """A grade or completion condition of the old format."""
    if getattr(run, "legacy_availability", None) is None:
        return False
    if as_int(record.get("sourcecmid")):
        condition = {"type": "completion", "cm": as_int(record["sourcecmid"]),
                     "e": as_int(record.get("requiredcompletion"))}
    elif as_int(record.get("gradeitemid")):
        condition = {"type": "grade", "id": as_int(record["gradeitemid"])}
        for leaf, key in (("grademin", "min"), ("grademax", "max")):
            if record.get(leaf) not in (None, "", "0"):
                condition[key] = _number(record[leaf])
    else:
        return False
    _legacy_add(run, "conditions", condition)
    return False


@hook
def legacy_availability_field(run, element, record, row, state) -> bool:
    """A user profile condition of the old format (a custom field must exist here)."""
    if getattr(run, "legacy_availability", None) is None:
        return False
    condition: dict[str, Any] = {"type": "profile", "op": record.get("operator") or ""}
    if record.get("userfield") not in (None, ""):
        condition["sf"] = record["userfield"]
    else:
        name, kind = record.get("customfield"), record.get("customfieldtype")
        if not name or not kind:
            return False
        mark = run.target.mark
        if not run.query(f"SELECT id FROM {run.t('user_info_field')} WHERE shortname = {mark} "
                         f"AND datatype = {mark}", (name, kind)):
            return False
        condition["cf"] = name
    if condition["op"] not in ("isempty", "isnotempty"):
        condition["v"] = record.get("value") or ""
    _legacy_add(run, "fields", condition)
    return False


@hook
def module(run, element, record, row, state) -> bool:
    task = state.task
    row["module"] = run.module_id(task.modulename)
    section = run.ids.get("course_section", record.get("sectionid"))
    if section is None:
        section = run.ids.get("section_number", as_int(record.get("sectionnumber")))
    if section is None:
        section = run.any_section()
    row["section"] = section
    row["showdescription"] = row.get("showdescription") or 0
    idnumber = row.get("idnumber") or ""
    if idnumber:
        if run.ids.get("cm_idnumber", idnumber) is not None:
            row["idnumber"] = ""
        else:
            run.ids.set("cm_idnumber", idnumber, 1)
    if not row.get("lang"):
        row["lang"] = None  # an empty forced language is no forced language
    row["id"] = run.target.new_id("course_modules")
    run.legacy_availability = None
    row["availability"] = row.get("availability") or _legacy_availability(
        run, "course_modules", row["id"], record, section=False)
    task.module = row["id"]
    task.context, task.context_path = run.new_context(MODULE_LEVEL, row["id"], run.course_context_path)
    run.module_rows[row["id"]] = row
    return True


# -- enrolment and roles ----------------------------------------------------------------

#: Enrolment plugins a new Moodle 4.5 site has enabled.
ENABLED_ENROL_PLUGINS = frozenset({"manual", "guest", "self", "cohort"})


#: Plugins that allow one instance per course: a second backup instance maps onto the first.
SINGLE_INSTANCE_ENROL = frozenset({"manual", "guest"})


def default_enrol_instances(run) -> None:
    """The default instances of a new course (``enrol_course_updated``), for a restore
    that brings no enrolment methods."""
    mark = run.target.mark
    for defaults in DEFAULT_ENROL_INSTANCES:
        row = dict(defaults, courseid=run.course_id, sortorder=run.next_enrol_sortorder(),
                   enrolperiod=0, enrolstartdate=0, enrolenddate=0, expirynotify=0, notifyall=0,
                   timecreated=run.now, timemodified=run.now)
        role = row.pop("roleid")
        found = run.query(f"SELECT id FROM {run.t('role')} WHERE shortname = {mark}", (role,)) if role else ()
        row["roleid"] = found[0][0] if found else 0
        run.ids.set("enrol_instance", row["enrol"], run.insert("enrol", row))


@hook
def enrol(run, element, record, row, state) -> bool:
    plugin = row.get("enrol")
    if not state.task.userinfo:
        run.ids.set("enrol", record.get("id"), 0)  # the course keeps its default instances
        return False
    if plugin not in ENABLED_ENROL_PLUGINS:
        run.ids.set("enrol", record.get("id"), 0)
        run.report.warn("enrolnotpermitted", f"enrolment method {plugin!r} is not enabled: "
                        "its instance and enrolments are not restored", state.member)
        return False
    if plugin in SINGLE_INSTANCE_ENROL:
        existing = run.ids.get("enrol_instance", plugin)
        if existing is not None:
            run.ids.set("enrol", record.get("id"), existing if plugin == "manual" else 0)
            return False
    row["sortorder"] = run.next_enrol_sortorder()
    for column in ("timecreated", "timemodified"):
        if row.get(column) in (None, ""):
            row[column] = run.now
    if plugin == "guest" and row.get("password") is None:
        row["password"] = ""
    row["id"] = run.target.new_id("enrol")
    run.ids.set("enrol_instance", plugin, row["id"])
    if plugin == "guest":
        run.ids.set("enrol", record.get("id"), 0)  # guest access has no enrolments to restore
        run.write("enrol", row)
        return False
    return True


@hook
def user_enrolment(run, element, record, row, state) -> bool:
    run.ids.set("enrolled", row["userid"], 1)
    return True


@hook
def role_override(run, element, record, row, state) -> bool:
    return as_int(row.get("permission")) != 0  # 0 (inherit) deletes an override: nothing to write


# -- filters, comments, events ----------------------------------------------------------

@hook
def filter(run, element, record, row, state) -> bool:
    name = row.get("filter") or ""
    if name.startswith("filter/"):
        name = name[len("filter/"):]
    if not name or "/" in name:
        return False
    row["filter"] = name
    if element.table == "filter_active" and as_int(row.get("active")) == 0:
        return False
    return True


#: Comment areas whose item is mapped under another name.
COMMENT_AREA_KINDS = {"submission_comments": "submission", "database_entry": "data_record"}


@hook
def comment(run, element, record, row, state) -> bool:
    item = as_int(row.get("itemid"))
    if item:
        area = row.get("commentarea") or ""
        mapped = run.ids.get(COMMENT_AREA_KINDS.get(area, area), item)
        if not mapped:
            return False
        row["itemid"] = mapped
    return True


@hook
def event(run, element, record, row, state) -> bool:
    if as_int(row.get("type")) == 1:
        return False  # action events are regenerated by Moodle, not restored
    task = state.task
    override = not as_int(record.get("courseid")) and record.get("modulename") and as_int(record.get("instance"))
    if override and not task.userinfo:
        return False
    if as_int(record.get("groupid")) and not row.get("groupid"):
        return False
    row["courseid"] = 0 if override else run.course_id
    row["instance"] = task.instance if task.kind == "activity" else 0
    if task.kind != "activity":
        row["modulename"] = row.get("modulename") or ""
    if not row.get("eventtype"):
        row["eventtype"] = ("group" if row.get("groupid") else "user" if override else
                            "due" if task.kind == "activity" else "course")
    for column in ("component", "categoryid", "subscriptionid"):
        row.pop(column, None)
    return True


# -- grades, completion, logs -----------------------------------------------------------

@hook
def grade_item(run, element, record, row, state) -> bool:
    """``grade_item::insert('restore')``: in the course category, stamped with the restore time."""
    made = run.grade_category is None
    row["categoryid"] = run.course_grade_category()
    if made:
        # The course category and item as made, before gradebook.xml updates them: what
        # their history rows (written at the end, mbx.restore.gradebook) record.
        run.grade_made = {table: _row(run, table, new) for table, new in (
            ("grade_categories", run.grade_category), ("grade_items", run.course_grade_item))}
    row["timecreated"] = row["timemodified"] = run.now
    run.ids.set("grade_item_category", record.get("id"), as_int(record.get("categoryid")))
    idnumber = row.get("idnumber") or ""
    if idnumber and run.ids.get("gi_idnumber", idnumber) is None:
        run.ids.set("gi_idnumber", idnumber, 1)
    else:
        row["idnumber"] = None  # an empty idnumber is not kept either
    return True


def _row(run, table: str, row_id: int) -> dict[str, Any]:
    names = schema.table(table).column_names
    listed = ", ".join(f'"{name}"' for name in names)
    found = run.query(f"SELECT {listed} FROM {run.t(table)} WHERE id = {run.target.mark}", (row_id,))
    return dict(zip(names, found[0]))


@hook
def activity_grade(run, element, record, row, state) -> bool:
    """``rawscaleid`` through get_mappingid(): no scale (NULL included) is false, stored 0."""
    if row.get("rawscaleid") is None:
        row["rawscaleid"] = 0
    return True


@hook
def grading_area(run, element, record, row, state) -> bool:
    row["component"] = f"mod_{state.task.modulename}"
    return True


@hook
def grading_definition(run, element, record, row, state) -> bool:
    run.report.warn("grading_definition_not_restored",
                    f"an advanced grading definition ({record.get('method') or 'unknown method'}) "
                    "is not restored: its area is, with no active form", state.member)
    return False


@hook
def completion(run, element, record, row, state) -> bool:
    if as_int(record.get("viewed")):
        run.insert("course_modules_viewed", {"coursemoduleid": row["coursemoduleid"],
                                             "userid": row.get("userid"),
                                             "timecreated": row.get("timemodified") or 0})
    return True


@hook
def log(run, element, record, row, state) -> bool:
    level = run.ids.entry("context_info", row["contextid"])
    if level is not None:
        row["contextlevel"], row["contextinstanceid"] = level
    kind = LOG_OBJECT_KINDS.get(row.get("objecttable") or "")
    if kind and as_int(row.get("objectid")):
        row["objectid"] = run.ids.get(kind, row["objectid"], row["objectid"])
    return True


# -- blocks -----------------------------------------------------------------------------

@hook
def block(run, element, record, row, state) -> bool:
    parent = run.ids.get("context", record.get("parentcontextid"))
    if not parent:
        return False
    row["parentcontextid"] = parent
    for column in ("timecreated", "timemodified"):
        if row.get(column) in (None, ""):
            row[column] = run.now
    row["id"] = run.target.new_id("block_instances")
    path = run.ids.get("context_path", parent) or f"/{parent}"
    context, _ = run.new_context(BLOCK_LEVEL, row["id"], path)
    state.current["block_context"] = context
    if record.get("contextid"):
        run.ids.set("context", record["contextid"], context)
    positions = (record.get("block_positions") or {}).get("block_position", [])
    for position in positions if isinstance(positions, list) else ():
        where = run.ids.get("context", position.get("contextid"))
        if where:
            run.insert("block_positions", {
                "blockinstanceid": row["id"], "contextid": where,
                "pagetype": position.get("pagetype") or "", "subpage": position.get("subpage") or "",
                "visible": position.get("visible") or 0, "region": position.get("region") or "",
                "weight": position.get("weight") or 0})
    return True


# -- forum ------------------------------------------------------------------------------

TAGS = re.compile(r"<[^>]*>")


def _plain(message: str) -> str:
    """The text of an HTML message: tags become spaces, entities characters."""
    if "<" in message:
        message = TAGS.sub(" ", message)
    return html.unescape(message) if "&" in message else message


def forum_counts(message: str) -> tuple[int, int]:
    """``count_words`` and ``count_letters`` of a message.

    Without an entity the two texts hold the same characters that are not white
    space (the spaces added after breaks follow a ``>``, so never fall inside a tag
    either strips), and one count of the word text gives both."""
    text = word_text(message)
    words, letters = count_text(html.unescape(text) if "&" in text else text)
    if "&" in message:  # a tag can split an entity in one text and not the other
        letters = count_text(_plain(message))[1]
    return words, letters


@hook
def forum_post(run, element, record, row, state) -> bool:
    """Word and character counts recomputed from the message; the first post of a
    discussion becomes its ``firstpost``."""
    row["wordcount"], row["charcount"] = forum_counts(row.get("message") or "")
    row["id"] = run.target.new_id("forum_posts")
    if not as_int(record.get("parent")) and row.get("discussion"):
        run.update("forum_discussions", row["discussion"], firstpost=row["id"])
    return True


def _load_module_hooks() -> None:
    import importlib
    import pkgutil
    for found in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{found.name}")


_load_module_hooks()
