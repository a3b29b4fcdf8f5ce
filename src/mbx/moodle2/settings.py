"""Backup settings that depend on user data, and the members a backup without users lacks.

A backup made without users has the root setting ``users`` at 0, and with it
every setting ``users`` gates, and every section and activity ``_userinfo``
setting. The members such a backup lacks follow: no ``users.xml``, no
comments, no completion states, no logs, no badges, and enrolment methods only
when the ``enrolments`` setting says "always" (2).
"""

from __future__ import annotations

import re

__all__ = ["USERINFO_SETTING", "USER_DATA_MEMBERS", "USER_GATED_SETTINGS"]

#: Root settings a backup without users has at 0 (those present in the backup).
USER_GATED_SETTINGS = ("users", "anonymize", "role_assignments", "comments", "badges",
                       "userscompletion", "logs", "grade_histories", "xapistate")
#: ``<section|mod>_<id>_userinfo``: the per-section and per-activity user data switch.
USERINFO_SETTING = re.compile(r"[a-z0-9]+_\d+_userinfo")
#: Members a backup without users does not hold (wherever they sit: root, course,
#: activity or block folder).
USER_DATA_MEMBERS = re.compile(
    r"(?:.*/)?(?:comments|logs|logstores|loglastaccess|xapistate)\.xml"
    r"|users\.xml|badges\.xml|course/enrolments\.xml|activities/[^/]+/completion\.xml")
