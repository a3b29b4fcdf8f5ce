"""Declarations of the course-level parts of a backup, and of what every activity shares.

Each constant is a :class:`~mbx.moodle2.declare.Step`: the member it reads
(relative to its task's folder: the backup root, ``course/``,
``sections/section_<id>/``, ``activities/<mod>_<cmid>/`` or a block folder),
the root element, and what each element becomes. The activity documents
themselves (``forum.xml`` ...) are declared per module in
:mod:`mbx.moodle2.modules`.
"""

from __future__ import annotations

from mbx.moodle2.declare import (CONTEXT, COURSE, INSTANCE, MODULE, NOW,
                                 Element, Missing, Step, ref)

#: ``$USER->id`` while Moodle's command-line restore runs: no one is logged in, so the
#: columns Moodle fills from the session (``modifierid``, a new tag's ``userid``) get 0,
#: while those it takes from the restore controller (files, scales) get the restorer.
SESSION_USER = 0

# -- root task --------------------------------------------------------------------------

USERS = Step("users.xml", "/users", (
    Element("user", "user", kind="user", hook="user", files=("user/icon", "user/profile")),
    Element("user/preferences/preference", "user_preferences", parents={"userid": "user"},
            hook="user_preference"),
    Element("user/custom_fields/custom_field", None, hook="user_custom_field"),
    Element("user/tags/tag", None, hook="tag", args=("core", "user", "user")),
), setting="users")

GROUPS = Step("groups.xml", "/groups", (
    Element("group", "groups", kind="group", fixed={"courseid": COURSE},
            files=("group/description", "group/icon"), files_by="group"),
    Element("groupings/grouping", "groupings", kind="grouping", fixed={"courseid": COURSE},
            files=("grouping/description",), files_by="grouping"),
    Element("groupings/grouping/grouping_groups/grouping_group", "groupings_groups",
            parents={"groupingid": "grouping"}, refs={"groupid": ref("group", Missing.SKIP)}),
), setting="groups")

#: Memberships are restored in the course task, after enrolments (members must be enrolled).
GROUP_MEMBERS = Step("groups.xml", "/groups", (
    Element("group", None, hook="group_again"),
    Element("group/group_members/group_member", "groups_members", userdata=True,
            parents={"groupid": "group"}, refs={"userid": ref("user", Missing.SKIP)},
            fixed={"timeadded": NOW, "component": "", "itemid": 0}, unique=("groupid", "userid"),
            hook="group_member"),
), setting="groups")

SCALES = Step("scales.xml", "/scales_definition", (
    Element("scale", "scale", kind="scale", refs={"userid": ref("user", Missing.RESTORER)},
            hook="scale", files=("grade/scale",), files_by="scale"),
))

OUTCOMES = Step("outcomes.xml", "/outcomes_definition", (
    Element("outcome", "grade_outcomes", kind="outcome",
            refs={"scaleid": "scale", "usermodified": ref("user", Missing.RESTORER)},
            hook="outcome", files=("grade/outcome",), files_by="outcome"),
))

# -- course task ------------------------------------------------------------------------

COURSE_XML = Step("course.xml", "/course", (
    Element(".", "course", kind="course", dates=("startdate", "enddate"),
            refs={"defaultgroupingid": "grouping"}, hook="course",
            files=("course/summary", "course/overviewfiles")),
    Element("tags/tag", None, hook="tag", args=("core", "course", "course")),
    Element("courseformatoptions/courseformatoption", "course_format_options",
            fixed={"courseid": COURSE}, hook="course_format_option"),
    Element("customfields/customfield", None, hook="custom_field"),
), required=True)

#: The course formats of a stock 4.5 site; a course of another format is handled by the
#: default one, topics (its format options are written under that name).
INSTALLED_FORMATS = frozenset({"topics", "weeks", "social", "singleactivity"})
#: The course-level options of the stock section formats with their defaults: a course of
#: the format gets each one the backup does not give.
COURSE_FORMAT_DEFAULTS = {
    "topics": {"hiddensections": "0", "coursedisplay": "0"},
    "weeks": {"hiddensections": "0", "coursedisplay": "0", "automaticenddate": "1"},
}

#: The instances a new course gets from the enrolment plugins that add one by default
#: (``defaultenrol``) with their default settings, on a stock site, in the enabled plugins'
#: order: what a restore without users (so without enrolment methods) leaves the course.
#: ``roleid`` names the role by short name.
DEFAULT_ENROL_INSTANCES = (
    {"enrol": "manual", "status": 0, "roleid": "student", "expirythreshold": 86400,
     "customint1": 1},
    {"enrol": "guest", "status": 1, "roleid": None, "expirythreshold": 0, "password": ""},
    {"enrol": "self", "status": 1, "roleid": "student", "expirythreshold": 86400,
     "customint1": 0, "customint2": 0, "customint3": 0, "customint4": 1, "customint5": 0,
     "customint6": 1},
)

#: Enrolment methods are restored with users only (the ``enrolments`` setting's default);
#: each through its plugin's ``add_instance`` with the backup's fields, times included.
ENROLMENTS = Step("enrolments.xml", "/enrolments", (
    Element("enrols/enrol", "enrol", kind="enrol", fixed={"courseid": COURSE},
            refs={"roleid": "role"}, hook="enrol"),
    Element("enrols/enrol/user_enrolments/enrolment", "user_enrolments", userdata=True,
            parents={"enrolid": "enrol"}, refs={"userid": ref("user", Missing.SKIP)},
            fixed={"modifierid": SESSION_USER, "timecreated": NOW, "timemodified": NOW},
            required=("enrolid",), unique=("enrolid", "userid"), hook="user_enrolment"),
))

#: ``roles.xml`` of the course, of each activity and of each block: in the task's context.
ROLES = Step("roles.xml", "/roles", (
    Element("role_assignments/assignment", "role_assignments", userdata=True,
            refs={"roleid": ref("role", Missing.SKIP), "userid": ref("user", Missing.SKIP)},
            fixed={"contextid": CONTEXT, "timemodified": NOW, "modifierid": SESSION_USER,
                   "component": "", "itemid": 0, "sortorder": 0},
            required=("roleid",), unique=("roleid", "contextid", "userid")),
    Element("role_overrides/override", "role_capabilities",
            refs={"roleid": ref("role", Missing.SKIP)},
            fixed={"contextid": CONTEXT, "timemodified": NOW, "modifierid": SESSION_USER},
            required=("roleid",), unique=("contextid", "roleid", "capability"), hook="role_override"),
))

FILTERS = Step("filters.xml", "/filters", (
    Element("filter_actives/filter_active", "filter_active", fixed={"contextid": CONTEXT},
            hook="filter"),
    Element("filter_configs/filter_config", "filter_config", fixed={"contextid": CONTEXT},
            hook="filter"),
), setting="filters")

COMMENTS = Step("comments.xml", "/comments", (
    Element("comment", "comments", refs={"userid": ref("user", Missing.SKIP)},
            fixed={"contextid": CONTEXT}, hook="comment", userdata=True),
), setting="comments")

#: An event's unmapped user falls back to the session's ``$USER``, SESSION_USER (0) in a
#: restore with no session (the command line), not the user the restore runs as.
CALENDAR = Step("calendar.xml", "/events", (
    Element("event", "event", kind="event", refs={"userid": ref("user"),
                                                  "groupid": "group", "repeatid": "event"},
            dates=("timestart", "timesort"), hook="event",
            files=("calendar/event_description",), files_by="event"),
), setting="calendarevents")

# -- section task -----------------------------------------------------------------------

SECTION = Step("section.xml", "/section", (
    Element(".", "course_sections", kind="course_section",
            rename={"section": "number", "availability": "availabilityjson"},
            fixed={"course": COURSE, "sequence": "", "component": None, "itemid": None},
            hook="section", files=("course/section",), files_by="course_section"),
    Element("availability", None, hook="legacy_availability"),
    Element("availability_field", None, hook="legacy_availability_field"),
    Element("course_format_options", "course_format_options", fixed={"courseid": COURSE},
            parents={"sectionid": "course_section"}, hook="course_format_option"),
), required=True)

# -- activity task ----------------------------------------------------------------------

MODULE_XML = Step("module.xml", "/module", (
    Element(".", "course_modules", kind="course_module", fixed={"course": COURSE, "instance": 0},
            refs={"groupingid": "grouping"}, dates=("completionexpected",), hook="module"),
    Element("availability_info/availability", None, hook="legacy_availability"),
    Element("availability_info/availability_field", None, hook="legacy_availability_field"),
    Element("tags/tag", None, hook="tag", args=("core", "course_modules", "course_module")),
), required=True)

ACTIVITY_GRADES = Step("grades.xml", "/activity_gradebook", (
    Element("grade_items/grade_item", "grade_items", kind="grade_item",
            fixed={"courseid": COURSE, "iteminstance": INSTANCE},
            refs={"scaleid": ref("scale", Missing.NULL), "outcomeid": ref("outcome", Missing.NULL)},
            hook="grade_item"),
    Element("grade_items/grade_item/grade_grades/grade_grade", "grade_grades", kind="grade_grades",
            userdata=True, parents={"itemid": "grade_item"},
            refs={"userid": ref("user", Missing.SKIP), "usermodified": ref("user", Missing.NULL),
                  "rawscaleid": ref("scale", Missing.NULL)},
            files=("grade/feedback",), files_by="grade_grades", hook="activity_grade"),
    Element("grade_letters/grade_letter", "grade_letters", fixed={"contextid": CONTEXT},
            unique=("contextid", "lowerboundary", "letter")),
))

ACTIVITY_COMPLETION = Step("completion.xml", "/completions", (
    Element("completion", "course_modules_completion", userdata=True,
            fixed={"coursemoduleid": MODULE}, refs={"userid": "user"},
            unique=("coursemoduleid", "userid"), hook="completion"),
    Element("completionviews/completionview", "course_modules_viewed", userdata=True,
            fixed={"coursemoduleid": MODULE}, refs={"userid": ref("user", Missing.SKIP)}),
), setting="userscompletion")

#: A log row's ``objecttable`` -> the mapping its ``objectid`` is translated through (the
#: event classes' objectid mappings, for the tables logs of the corpus name).
LOG_OBJECT_KINDS = {"quiz_attempts": "quiz_attempt", "quiz": "quiz", "grade_grades": "grade_grades",
                    "course_modules": "course_module", "user": "user", "course": "course"}

LOGSTORES = Step("logstores.xml", "/logstores", (
    Element("logstore/subplugin_logstore_standard_logstore/logstore_standard_log",
            "logstore_standard_log", userdata=True,
            refs={"userid": ref("user", Missing.SKIP), "relateduserid": ref("user", Missing.NULL),
                  "realuserid": ref("user", Missing.NULL), "contextid": ref("context", Missing.SKIP)},
            fixed={"courseid": COURSE}, hook="log"),
), setting="logs")

#: The steps of an activity task after its module document, in Moodle's order.
#: Advanced grading (modules that support it: assign, forum): the activity's grading areas.
#: A definition (a rubric, a marking guide) and its filled-in instances are not declared yet:
#: its hook says so.
ACTIVITY_GRADING = Step("grading.xml", "/areas", (
    Element("area", "grading_areas", kind="grading_area", fixed={"contextid": CONTEXT},
            hook="grading_area"),
    Element("area/definitions/definition", None, hook="grading_definition"),
))

ACTIVITY_STEPS = (ROLES, FILTERS, COMMENTS, CALENDAR, ACTIVITY_GRADES, ACTIVITY_GRADING,
                  ACTIVITY_COMPLETION, LOGSTORES)
#: The steps of the course task, in Moodle's order (enrolments and members need users).
COURSE_STEPS = (COURSE_XML, ENROLMENTS, GROUP_MEMBERS, ROLES, FILTERS, COMMENTS, CALENDAR)

# -- block task -------------------------------------------------------------------------

BLOCK = Step("block.xml", "/block", (
    Element(".", "block_instances", kind="block_instance", hook="block", grouped=True),
    Element("block_positions/block_position", None),
), required=True)
BLOCK_STEPS = (ROLES, COMMENTS)

# -- final task -------------------------------------------------------------------------

COURSE_LOGSTORES = LOGSTORES

#: Interlinks of the course and its sections: table -> columns decoded.
COURSE_LINKS = {"course": ("summary",), "event": ("description",),
                "course_sections": ("summary",)}
#: The course-level link rules: token -> (url template, kinds of its ids).
COURSE_RULES = {
    "COURSEVIEWBYID": ("/course/view.php?id=$1", ("course",)),
    "COURSESECTIONBYID": ("/course/section.php?id=$1", ("course_section",)),
    "GRADEINDEXBYID": ("/grade/index.php?id=$1", ("course",)),
    "GRADEREPORTINDEXBYID": ("/grade/report/index.php?id=$1", ("course",)),
    "BADGESVIEWBYID": ("/badges/index.php?type=2&id=$1", ("course",)),
    "USERINDEXVIEWBYID": ("/user/index.php?id=$1", ("course",)),
    "PLUGINFILEBYCONTEXT": ("/pluginfile.php/$1", ("context",)),
    "PLUGINFILEBYCONTEXTURLENCODED": ("/pluginfile.php/$1", ("context",)),
}

#: Context levels (``context.contextlevel``).
SYSTEM_LEVEL, USER_LEVEL, CATEGORY_LEVEL, COURSE_LEVEL, MODULE_LEVEL, BLOCK_LEVEL = 10, 30, 40, 50, 70, 80

#: Components whose files.xml records are restored whatever inforef says.
ALWAYS_LOADED_COMPONENTS = ("user", "group", "grouping", "badges", "grade", "question")

__all__ = [name for name in dir() if name.isupper()]
