"""The rows of a new Moodle 4.5 site, for a target that holds none yet.

A restore needs what every Moodle site has before its first course: the system
context, a course category, the site course, the guest and admin users, the
standard roles, the modules, the default scales and tag collection. An empty
target gets them once (the same ids a fresh install gives them); a target that
already is a Moodle site, or was restored into before, is left as it is.
"""

from __future__ import annotations

__all__ = ["seed_site"]

#: (id, contextlevel, instanceid, path)
CONTEXTS = ((1, 10, 0, "/1"), (2, 50, 1, "/1/2"), (3, 40, 1, "/1/3"), (4, 30, 1, "/1/4"),
            (5, 30, 2, "/1/5"))
#: The standard roles: (shortname = archetype) in Moodle's sort order.
ROLES = ("manager", "coursecreator", "editingteacher", "teacher", "student", "guest", "user",
         "frontpage")
#: The modules of a standard 4.5 tree, with whether they are enabled by default.
MODULES = (("assign", 1), ("bigbluebuttonbn", 0), ("book", 1), ("chat", 0), ("choice", 1),
           ("data", 1), ("feedback", 1), ("folder", 1), ("forum", 1), ("glossary", 1),
           ("h5pactivity", 1), ("imscp", 1), ("label", 1), ("lesson", 1), ("lti", 1),
           ("page", 1), ("quiz", 1), ("resource", 1), ("scorm", 1), ("subsection", 0),
           ("survey", 0), ("url", 1), ("wiki", 1), ("workshop", 1))
SCALES = (("Separate and Connected ways of knowing",
           "Mostly separate knowing,Separate and connected,Mostly connected knowing"),
          ("Default competence scale", "Not yet competent,Competent"))
USERS = ((1, "guest", "Guest user", " ", "root@localhost"),
         (2, "admin", "Admin", "User", "admin@example.invalid"))


def seed_site(engine) -> bool:
    """Writes the site's starting rows when the target has no system context."""
    if engine.query(f"SELECT 1 FROM {engine.t('context')} WHERE id = 1"):
        return False
    now = engine.now
    for context_id, level, instance, path in CONTEXTS:
        engine.write("context", {"id": context_id, "contextlevel": level, "instanceid": instance,
                                 "path": path, "depth": path.count("/"), "locked": 0})
    engine.write("course", {"id": 1, "category": 0, "sortorder": 0, "fullname": "mbx site",
                            "shortname": "mbxsite", "idnumber": "", "summary": "",
                            "format": "site", "newsitems": 3, "lang": "", "calendartype": "",
                            "theme": "", "timecreated": now, "timemodified": now, "cacherev": now})
    engine.write("course_categories", {"id": 1, "name": "Category 1", "parent": 0,
                                       "sortorder": 10000, "coursecount": 0, "visible": 1,
                                       "visibleold": 1, "timemodified": now, "depth": 1,
                                       "path": "/1", "descriptionformat": 1})
    for user_id, username, firstname, lastname, email in USERS:
        engine.write("user", {"id": user_id, "auth": "manual", "confirmed": 1, "mnethostid": 1,
                              "username": username, "password": "", "idnumber": "",
                              "firstname": firstname, "lastname": lastname, "email": email,
                              "lang": "en", "calendartype": "gregorian", "timezone": "99",
                              "descriptionformat": 1, "mailformat": 1, "maildisplay": 2,
                              "autosubscribe": 1, "timemodified": now})
    for order, shortname in enumerate(ROLES, 1):
        engine.write("role", {"id": order, "name": "", "shortname": shortname, "description": "",
                              "sortorder": order, "archetype": shortname})
    for module_id, (name, visible) in enumerate(MODULES, 1):
        engine.write("modules", {"id": module_id, "name": name, "cron": 0, "lastcron": 0,
                                 "search": "", "visible": visible})
    for scale_id, (name, items) in enumerate(SCALES, 1):
        engine.write("scale", {"id": scale_id, "courseid": 0, "userid": 0, "name": name,
                               "scale": items, "description": "", "descriptionformat": 0,
                               "timemodified": now})
    engine.write("tag_coll", {"id": 1, "isdefault": 1, "sortorder": 0, "searchable": 1})
    engine.flush()
    engine.target.after_explicit_ids(("context", "course", "course_categories", "user", "role",
                                      "modules", "scale", "tag_coll"))
    engine.forget_created()
    return True
