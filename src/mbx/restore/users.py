"""Backup users against the target's users, as Moodle's restore precheck matches them.

Only users some included part refers to (``userref`` in an ``inforef.xml``)
are considered. Each is *mapped* to a target user, *created*, or is a
*conflict* (the target has someone else under that username): the rules
are Moodle's ``precheck_user``, first match wins, named as the restore
reference names them (1A–1F on the same site, 2A1–2E from another). All
decisions are made, and conflicts reported, before a single user is written.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from mbx.errors import MbxError
from mbx.moodle2.structure import USERS
from mbx.moodle2.models import as_int
from mbx.restore.engine import StepState
from mbx.restore.report import UserDecision
from mbx.xml import Parser

__all__ = ["decide", "restore_users"]

LOCAL_HOST = 1
TRAILING_NUMBER = re.compile(r"\.\d+\Z")
ANONYMOUS = (re.compile(r"anon\d+\Z"), re.compile(r"anonfirstname\d+\Z"),
             re.compile(r"anonlastname\d+\Z"), re.compile(r"anon\d+@doesntexist\.(com|invalid)\Z"))
USER_ELEMENT, PREFERENCE_ELEMENT, _, TAG_ELEMENT = USERS.elements


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""



def _looks_anonymous(user: dict) -> bool:
    pattern_user, pattern_first, pattern_last, pattern_mail = ANONYMOUS
    return bool(pattern_user.match(_text(user.get("username")))
                and pattern_first.match(_text(user.get("firstname")))
                and pattern_last.match(_text(user.get("lastname")))
                and pattern_mail.match(_text(user.get("email"))))


def decide(engine, user: dict, same_site: bool) -> tuple[str, str, int | None]:
    """(action, rule, target id) for one backup user."""
    mark = engine.target.mark
    table = engine.t("user")
    username = _text(user.get("username"))
    email = _text(user.get("email"))
    firstaccess = as_int(user.get("firstaccess"))
    old_id = as_int(user.get("id"))

    def one(where: str, *params: Any) -> int | None:
        rows = engine.query(f"SELECT id FROM {table} WHERE {where} ORDER BY id", params)
        return rows[0][0] if rows else None

    if same_site:
        found = one(f"id = {mark} AND username = {mark} AND mnethostid = {mark}",
                    old_id, username, LOCAL_HOST)
        if found:
            return "map", "1A", found
        if _looks_anonymous(user):
            found = one(f"username = {mark}", username)
            if found:
                return "map", "1B", found
        found = one(f"id = {mark} AND mnethostid = {mark} AND deleted = 1 AND "
                    f"(LOWER(username) LIKE {mark} OR (email <> '' AND email = {mark}))",
                    old_id, LOCAL_HOST, email[:89].lower() + ".%", hashlib.md5(username.encode()).hexdigest())
        if found:
            return "map", "1C", found
        if as_int(user.get("deleted")):
            found = one(f"id = {mark} AND mnethostid = {mark} AND LOWER(SUBSTR(email, 1, 89)) = {mark}",
                        old_id, LOCAL_HOST, TRAILING_NUMBER.sub("", username).lower())
            if found:
                return "map", "1D", found
        found = one(f"username = {mark} AND mnethostid = {mark} AND id <> {mark}",
                    username, LOCAL_HOST, old_id)
        if found:
            return "conflict", "1E", found
        return "create", "1F", None
    found = one(f"username = {mark} AND mnethostid = {mark} AND (LOWER(email) = {mark} OR "
                f"(firstaccess <> 0 AND firstaccess = {mark}))",
                username, LOCAL_HOST, email.lower(), firstaccess)
    if found:
        return "map", "2A1", found
    md5_name = hashlib.md5(username.encode()).hexdigest()
    found = one(f"deleted = 1 AND mnethostid = {mark} AND email <> '' AND email = {mark} AND "
                f"(username LIKE {mark} OR (firstaccess <> 0 AND firstaccess = {mark}))",
                LOCAL_HOST, md5_name, email[:89] + ".%", firstaccess)
    if found:
        return "map", "2B1", found
    if firstaccess:
        found = one(f"deleted = 1 AND mnethostid = {mark} AND username LIKE {mark} AND firstaccess = {mark}",
                    LOCAL_HOST, email[:89] + ".%", firstaccess)
        if found:
            return "map", "2B2", found
        if as_int(user.get("deleted")):
            found = one(f"mnethostid = {mark} AND SUBSTR(email, 1, 89) = {mark} AND firstaccess = {mark}",
                        LOCAL_HOST, TRAILING_NUMBER.sub("", username), firstaccess)
            if found:
                return "map", "2C", found
    found = one(f"username = {mark} AND mnethostid = {mark}", username, LOCAL_HOST)
    if found:
        return "conflict", "2D", found
    return "create", "2E", None


def restore_users(engine, source, task) -> None:
    """Stages the referenced users, decides each, then maps or creates them."""
    ids = engine.ids
    staged = []

    def take(record: dict) -> None:
        if ids.referenced("user", record.get("id")):
            staged.append((record.get("id") or "", record))
            if len(staged) >= 1024:
                ids.stage("user", staged)
                staged.clear()

    parser = Parser(source="users.xml")
    parser.add_path("/users/user", take, grouped=True)
    for below in ("preferences/preference", "custom_fields/custom_field", "tags/tag"):
        parser.add_path(f"/users/user/{below}")
    with source.open("users.xml") as stream:
        parser.parse(stream)
    ids.stage("user", staged)

    same_site = engine.settings.same_site
    conflicts = []
    for old, user in ids.staged("user"):
        action, rule, found = decide(engine, user, same_site)
        engine.report.users.append(UserDecision(old_id=as_int(old), username=_text(user.get("username")),
                                                action=action, rule=rule, target_id=found))
        if action == "conflict":
            conflicts.append(user)
    policy = engine.settings.user_conflicts
    for user in conflicts:
        message = f"Trying to restore user '{user.get('username')}' from backup file will cause conflict"
        if policy == "fail":
            raise MbxError(message + " (choose --user-conflicts map or create)", code="restoreuserconflict")
        engine.report.warn("restoreuserconflict", f"{message}: "
                           + ("mapped to the target's user of that name" if policy == "map"
                              else "created as a new user"), "users.xml")
    suffix = engine.info.original_site_identifier_hash or "restored"
    for decision, (old, user) in zip(list(engine.report.users), ids.staged("user")):
        action = decision.action
        if action == "map" or (action == "conflict" and policy == "map"):
            ids.set("user", old, decision.target_id)
            continue
        state = StepState("users.xml", task)
        if action == "conflict":
            state.current["username"] = f"{user.get('username')}_{suffix}"[:100]
        new = engine.record_into(USER_ELEMENT, user, task, state)
        if new is None or as_int(user.get("deleted")):
            continue
        state.current["user"] = new
        user_task = task.__class__(kind="user", folder="", context=ids.get("user_context", new),
                                   userinfo=True)
        state.task = user_task
        for preference in (user.get("preferences") or {}).get("preference", []):
            engine.record_into(PREFERENCE_ELEMENT, preference, user_task, state)
        for tag in (user.get("tags") or {}).get("tag", []):
            engine.record_into(TAG_ELEMENT, tag, user_task, state)
