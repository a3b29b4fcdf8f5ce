"""Where a moodle2 backup keeps personal data: the facts anonymising reads.

``users.xml`` holds one record per user, ``users/user[@id, @contextid]`` with
the columns of Moodle's ``user`` table as leaves and, below, custom profile
fields, interest tags, preferences and user-context roles; ``files.xml`` names
the files of user contexts and who wrote each file; free text anywhere may
mention anyone. These tables say which leaves are the identity (replaced by a
pseudonym), which are personal details (emptied), which are moments of
activity (zeroed), and which leaves hold codes that free-text rewriting must
never touch.
"""

from __future__ import annotations

import re

__all__ = ["CLEARED_LEAVES", "CODE_LEAVES", "IDENTITY_LEAVES", "MEMBER_CODE_LEAVES",
           "NULLABLE_LEAVES", "PERSONAL_PREFERENCE", "ROLE_ASSIGNMENTS", "ROLE_DEFINITIONS",
           "USER_COMPONENT", "USER_CUSTOM_FIELD", "USER_PREFERENCE", "USER_RECORD", "USER_TAG",
           "ZEROED_LEAVES"]

USER_RECORD = "/users/user"
USER_CUSTOM_FIELD = "/users/user/custom_fields/custom_field"
USER_TAG = "/users/user/tags/tag"
USER_PREFERENCE = "/users/user/preferences/preference"
#: Top-level ``roles.xml``: role id -> shortname.
ROLE_DEFINITIONS = "/roles_definition/role"
#: Per-context ``roles.xml`` (course, sections, activities, blocks): who holds which role.
ROLE_ASSIGNMENTS = "/roles/role_assignments/assignment"

#: The leaves that say who the user is: each gets the pseudonym's value.
IDENTITY_LEAVES = ("username", "firstname", "lastname", "email", "idnumber")

#: Personal details, emptied: contact, location and network data, the profile text,
#: instant-messenger ids (Moodle before 3.11), the other name fields and the password
#: hash (present only with ``includeuserpasswordsinbackup``).
CLEARED_LEAVES = ("phone1", "phone2", "institution", "department", "address", "lastip",
                  "description", "url", "icq", "skype", "yahoo", "aim", "msn",
                  "firstnamephonetic", "lastnamephonetic", "middlename", "alternatename",
                  "imagealt", "password", "secret")
#: Of those, the columns that may be NULL: a ``$@NULL@$`` stays one.
NULLABLE_LEAVES = frozenset({"description", "imagealt", "firstnamephonetic",
                             "lastnamephonetic", "middlename", "alternatename"})
#: When the user was last seen, set to 0 (never); ``picture`` 0: the icon files go.
ZEROED_LEAVES = ("firstaccess", "lastaccess", "lastlogin", "currentlogin", "picture")

#: User preferences that record the person rather than a setting of the interface:
#: mail traffic and bounces, failed logins and lockouts, password changes, a pending
#: new address. Matched against the preference name; the record is dropped.
PERSONAL_PREFERENCE = re.compile(
    r"email_bounce_count|email_send_count|login_failed.*|login_lockout.*|auth_.*"
    r"|create_password|newemail.*|.*_secret|.*_token|core_message_migrate_data")

#: The ``files.xml`` component of files in user contexts (``icon``, ``private``,
#: ``draft``, ``profile``, ``backup``...): pictures and private files leave with it.
USER_COMPONENT = "user"

#: Leaves whose text is a code Moodle resolves (a plugin, an area, a role or module
#: name, a hash, a setting of the site), never prose: free-text rewriting skips
#: them, so a username that happens to be a word ("student", "manual") cannot
#: break a restore.
CODE_LEAVES = frozenset({
    "archetype", "auth", "calendartype", "capability", "component", "contenthash",
    "enrol", "filearea", "format", "lang", "mimetype", "modulename", "pathnamehash",
    "plugin", "qtype", "repositorytype", "stamp", "theme", "timezone", "directory",
})
#: The same, for leaves that are codes in one member only: member file name -> leaves
#: (``shortname`` is free text in ``course.xml`` but the role's key in ``roles.xml``;
#: ``name`` in ``moodle_backup.xml`` names settings).
MEMBER_CODE_LEAVES = {
    "roles.xml": frozenset({"shortname"}),
    "moodle_backup.xml": frozenset({"name", "level", "type", "format"}),
}
