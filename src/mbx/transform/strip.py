"""strip-users: the backup as Moodle would have made it without users.

What goes (see :mod:`mbx.moodle2.settings` for the members, the declarations
for the rest): ``users.xml`` and the members only user data fills (comments,
completion states, logs, badges, enrolments); in every other member, each
element declared ``userdata`` (posts, submissions, attempts, grades, role
assignments, group memberships...); the files of the user-data file areas
(submission files, post attachments, feedback files) and of the users'
own contexts, with their blobs; every ``userref`` of the inforefs. The
settings then say what the archive holds: ``users`` and what it gates at 0,
every ``_userinfo`` at 0.
"""

from __future__ import annotations

import os
from typing import Any

from mbx.moodle2.catalogue import elements_of, steps_for
from mbx.moodle2.members import INFOREF, MOODLE_BACKUP, USERS
from mbx.moodle2.settings import USER_DATA_MEMBERS, USER_GATED_SETTINGS, USERINFO_SETTING
from mbx.transform.base import Facts, Transform
from mbx.transform.pipeline import run

__all__ = ["StripUsers", "strip_users"]

SETTING = "/moodle_backup/information/settings/setting"
#: Files in users' own contexts (pictures, private files, drafts): gone with the users.
USER_COMPONENT = "user"


def _area(component: str, area: str) -> tuple[str, str]:
    """A declared file area: ``"intro"`` in the step's component, or ``"component/area"``."""
    if "/" in area:
        owner, name = area.split("/", 1)
        return owner, name
    return component, area


class StripUsers(Transform):
    """Removes users and user data; see the module docstring."""

    name = "strip-users"

    def __init__(self) -> None:
        self.areas: set[tuple[str, str]] = set()
        self.elements_dropped = 0
        self.files_removed = 0
        self.users_removed = 0

    def survey(self, facts: Facts):
        user_ids = set()
        yield USERS, "/users/user", lambda record: user_ids.add(record.get("id"))
        self._user_ids = user_ids

    def prepare(self, facts: Facts) -> None:
        # the file areas of user data, from every member the backup holds
        for info in facts.members:
            for step in steps_for(info.name):
                gone = USER_DATA_MEMBERS.fullmatch(info.name) is not None
                for element in step.elements:
                    if element.userdata or gone:
                        self.areas.update(_area(step.component, area) for area in element.files)
        removed = [file_id for file_id, (_, _, component, area, _, _) in facts.files.records.items()
                   if component == USER_COMPONENT or (component, area) in self.areas]
        self.files_removed = len(removed)
        facts.remove("file", removed)
        self._user_ids.discard(None)
        self.users_removed = len(self._user_ids)
        facts.remove("user", self._user_ids)

    def drops(self, name: str, facts: Facts) -> bool:
        return USER_DATA_MEMBERS.fullmatch(name) is not None

    def rewrites(self, name: str, facts: Facts):
        if name == MOODLE_BACKUP:
            yield SETTING, self._setting
        elif name.endswith(INFOREF):
            # every user reference goes, listed in users.xml or not (Moodle lists some
            # that a backup without users.xml does not define)
            yield "/inforef/userref/user", self._drop
        for path, element in elements_of(name):
            if element.userdata:
                yield path, self._drop

    def _drop(self, element) -> None:
        if element.first:
            element.drop()
            self.elements_dropped += 1

    @staticmethod
    def _setting(element) -> None:
        name = element.get("name") or ""
        if element.get("value") not in (None, "0") and (
                (name in USER_GATED_SETTINGS and element.get("level") in (None, "root"))
                or USERINFO_SETTING.fullmatch(name)):
            element.replace("value", "0")

    def report(self) -> dict[str, Any]:
        return {"users_removed": self.users_removed, "files_removed": self.files_removed,
                "elements_dropped": self.elements_dropped}


def strip_users(source: str | os.PathLike, output: str | os.PathLike, *, format: str = "tgz",
                progress=None):
    """Writes ``output``: ``source`` without users and user data."""
    return run(source, output, [StripUsers()], format=format, progress=progress)
