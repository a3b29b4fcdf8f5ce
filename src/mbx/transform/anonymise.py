"""Anonymise: every person in a backup becomes a consistent, realistic pseudonym.

More thorough than Moodle's own ``anonymize`` setting (which numbers users
``anon1``, ``anon2``... and leaves free text alone):

* each user of ``users.xml`` gets a pseudonym made by Faker from a seed that
  is an HMAC of ``key`` and the person's username (lower-cased; the e-mail
  when there is none): the same key and the same person give the same
  pseudonym in every archive, and nobody without the key can go back;
* personal details are emptied, last-access times zeroed, personal
  preferences and profile tags dropped (:mod:`mbx.moodle2.personal` says
  which), and the files of user contexts (pictures, private files, drafts)
  leave through the pipeline's closure with their ``files.xml`` records,
  inforef entries and blobs;
* every XML member's free text (posts, submissions, feedback, glossary,
  wiki, logs... and every other leaf) is searched for every user's full
  name, "Last, First", username and e-mail, blind to case, accents,
  white space and XML/HTML escaping, and each match is replaced by that
  user's pseudonym in the same form (:mod:`mbx.transform.scrub`). Leaves
  holding codes (components, role shortnames...) are left alone;
* ``files.xml`` authors are replaced, and the ``anonymize`` root setting of
  ``moodle_backup.xml`` is set to 1.

Users holding one of ``keep_roles`` (shortnames, e.g. ``editingteacher``) in
any ``roles.xml`` of the backup keep their identity: their record, files and
mentions stay.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from faker import Faker

from mbx.errors import MbxError
from mbx.moodle2.members import FILES, MOODLE_BACKUP, USERS
from mbx.moodle2.personal import (CLEARED_LEAVES, NULLABLE_LEAVES, PERSONAL_PREFERENCE,
                                  ROLE_ASSIGNMENTS, ROLE_DEFINITIONS, USER_COMPONENT,
                                  USER_CUSTOM_FIELD, USER_PREFERENCE, USER_RECORD, USER_TAG,
                                  ZEROED_LEAVES)
from mbx.progress import Monitor
from mbx.transform.base import Facts, Transform
from mbx.transform.pipeline import run
from mbx.transform.report import TransformReport
from mbx.transform.scrub import NameMatcher, TextScrubber
from mbx.xml.rewriter import Element

__all__ = ["Anonymise", "AnonymiseError", "Pseudonym", "anonymise"]

SETTINGS = "/moodle_backup/information/settings/setting"
FILE_RECORD = "/files/file"
#: Top-level roles.xml, and the per-context ones (course, sections, activities, blocks).
ROLES_MEMBER = "roles.xml"
CONTEXT_ROLES = re.compile(r".+/roles\.xml")
#: Domains reserved for examples (RFC 2606): pseudonymous addresses reach nobody.
SAFE_DOMAINS = ("example.com", "example.org", "example.net")
#: What pseudonyms may hold: letters, marks, spaces, hyphens, dots. Nothing that
#: needs escaping in XML or HTML (so a replacement is written as it is, anywhere).
_UNSAFE = re.compile(r"[^\w .\-]|[\d_]")
_MOST_TRIES = 100


class AnonymiseError(MbxError, ValueError):
    """The options of an anonymise run are unusable."""

    code = "transform-anonymise"


class Pseudonym(NamedTuple):
    """Who a user becomes."""

    firstname: str
    lastname: str
    username: str
    email: str
    idnumber: str
    city: str
    country: str

    @property
    def fullname(self) -> str:
        return f"{self.firstname} {self.lastname}"


class _User(NamedTuple):
    id: str
    contextid: str
    username: str
    firstname: str
    lastname: str
    email: str
    middlename: str

    @property
    def identity(self) -> str:
        return (self.username or self.email or f"id:{self.id}").casefold()

    def forms(self) -> list[str]:
        """How the user may be written in free text."""
        forms = [f"{self.firstname} {self.lastname}", f"{self.lastname}, {self.firstname}",
                 f"{self.lastname} {self.firstname}"]
        if self.middlename:
            forms.append(f"{self.firstname} {self.middlename} {self.lastname}")
        return [form for form in forms if self.firstname and self.lastname] + [
            self.username, self.email]


def _text(record: dict, name: str) -> str:
    return (record.get(name) or "").strip()


def _safe(text: str) -> str:
    return " ".join(_UNSAFE.sub("", text).split())


def _ascii_word(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", decomposed.lower())


class Anonymise(Transform):
    """The anonymise transform (see the module docstring)."""

    name = "anonymise"

    def __init__(self, *, key: str | bytes, keep_roles: Iterable[str] = (),
                 locale: str = "en_US") -> None:
        if isinstance(key, str):
            key = key.encode("utf-8")
        if not isinstance(key, bytes) or not key:
            raise AnonymiseError("anonymise needs a non-empty key: pseudonyms are derived "
                                 "from it", code="transform-anonymise-key")
        if isinstance(keep_roles, str):
            keep_roles = (keep_roles,)
        self.key = key
        self.keep_roles = frozenset(keep_roles)
        try:
            self._faker = Faker(locale)
        except (AttributeError, ValueError, TypeError) as error:
            raise AnonymiseError(f"unknown Faker locale {locale!r}: {error}",
                                 code="transform-anonymise-locale") from None
        self.locale = locale
        self._records: list[dict] = []
        self._role_names: dict[str, str] = {}
        self._assignments: list[tuple[str, str]] = []
        self.pseudonyms: dict[str, Pseudonym] = {}   # user id -> pseudonym
        self.kept: set[str] = set()                  # user ids keeping their identity
        self._kept_contexts: set[str] = set()
        self.matcher = NameMatcher(())
        self._originals = NameMatcher(())   # everyone's real forms: no pseudonym may be one
        self._taken: set[str] = set()       # pseudonymous usernames given out
        self._authors: dict[str, str] = {}
        self._scrubbers: list[TextScrubber] = []
        self._files_removed = 0
        self._current_user: str | None = None

    # -- pass 1 --------------------------------------------------------------------------

    def survey(self, facts: Facts):
        rules = [(USERS, USER_RECORD, self._records.append)]
        if self.keep_roles:
            rules.append((ROLES_MEMBER, ROLE_DEFINITIONS, self._role_definition))
            rules.append((CONTEXT_ROLES, ROLE_ASSIGNMENTS, self._role_assignment))
        return rules

    def _role_definition(self, record: dict) -> None:
        if record.get("id") is not None:
            self._role_names[record["id"]] = _text(record, "shortname")

    def _role_assignment(self, record: dict) -> None:
        self._assignments.append((_text(record, "userid"), _text(record, "roleid")))

    def prepare(self, facts: Facts) -> None:
        users = [_User(_text(r, "id"), _text(r, "contextid"), _text(r, "username"),
                       _text(r, "firstname"), _text(r, "lastname"), _text(r, "email"),
                       _text(r, "middlename"))
                 for r in self._records if r.get("id") is not None]
        self.kept = {userid for userid, roleid in self._assignments
                     if self._role_names.get(roleid) in self.keep_roles}
        self._kept_contexts = {user.contextid for user in users if user.id in self.kept}
        originals = NameMatcher((form, "") for user in users for form in user.forms())
        taken = self._taken
        forms: list[tuple[str, str]] = []
        for user in users:
            if user.id in self.kept or user.id in self.pseudonyms:
                continue
            pseudonym = self._new_pseudonym(user.identity, originals, taken)
            self.pseudonyms[user.id] = pseudonym
            taken.add(pseudonym.username)
            forms.extend(zip(user.forms(), _forms_of(pseudonym, user)))
        self.matcher = NameMatcher(forms)
        self._originals = originals
        removed = [file_id for file_id, (_, contextid, component, _, _, userid)
                   in facts.files.records.items()
                   if component == USER_COMPONENT and userid not in self.kept
                   and contextid not in self._kept_contexts]
        self._files_removed = len(removed)
        facts.remove("file", removed)

    def _new_pseudonym(self, identity: str, originals: NameMatcher,
                       taken: set[str]) -> Pseudonym:
        """The pseudonym of ``identity``: the first draw that is no one's real name and
        no other pseudonym's username (nearly always the first)."""
        for attempt in range(_MOST_TRIES):
            pseudonym = self._draw(identity if not attempt else f"{identity}\x00{attempt}")
            if pseudonym.username in taken or any(
                    originals.matches(form) for form in (pseudonym.fullname,
                                                         pseudonym.username, pseudonym.email)):
                continue
            return pseudonym
        raise AnonymiseError(f"no pseudonym found for {identity!r} in {_MOST_TRIES} draws")

    def _draw(self, identity: str) -> Pseudonym:
        digest = hmac.new(self.key, identity.encode("utf-8"), hashlib.sha256).digest()
        faker = self._faker
        faker.seed_instance(int.from_bytes(digest[:8], "big"))
        firstname = _safe(faker.first_name()) or "Alex"
        lastname = _safe(faker.last_name()) or "Doe"
        city = _safe(faker.city())
        country = faker.country_code()
        number = int.from_bytes(digest[8:10], "big") % 10000
        base = (_ascii_word(firstname)[:1] + _ascii_word(lastname))[:20] or "user"
        username = f"{base}{number:04d}"
        email = f"{username}@{SAFE_DOMAINS[digest[10] % len(SAFE_DOMAINS)]}"
        idnumber = f"{int.from_bytes(digest[11:15], 'big') % 10 ** 8:08d}"
        return Pseudonym(firstname, lastname, username, email, idnumber, city, country)

    # -- pass 2 --------------------------------------------------------------------------

    def rewrites(self, name: str, facts: Facts):
        if name == USERS and self.pseudonyms:
            return [(USER_RECORD, self._rewrite_user),
                    (USER_CUSTOM_FIELD, self._rewrite_custom_field),
                    (USER_TAG, self._drop_unless_kept),
                    (USER_PREFERENCE, self._rewrite_preference)]
        if name == FILES:
            return [(FILE_RECORD, self._rewrite_file)]
        if name == MOODLE_BACKUP:
            return [(SETTINGS, _set_anonymize)]
        return ()

    def filters(self, name: str, facts: Facts):
        if self.matcher and name.endswith(".xml"):
            return [lambda: self._scrubber(name)]
        return ()

    def _scrubber(self, name: str) -> TextScrubber:
        scrubber = TextScrubber(self.matcher, name)
        self._scrubbers.append(scrubber)
        return scrubber

    def _rewrite_user(self, element: Element) -> None:
        if element.first:
            self._current_user = element.get("id")
        pseudonym = self.pseudonyms.get(self._current_user or "")
        if pseudonym is None:
            return
        values: dict[str, str | None] = {
            "username": pseudonym.username, "firstname": pseudonym.firstname,
            "lastname": pseudonym.lastname, "email": pseudonym.email}
        if _text(element.fields, "idnumber"):
            values["idnumber"] = pseudonym.idnumber
        if _text(element.fields, "city"):
            values["city"] = pseudonym.city
        if _text(element.fields, "country"):
            values["country"] = pseudonym.country
        for leaf in CLEARED_LEAVES:
            if leaf in element.spans:
                original = element.fields.get(leaf)
                values[leaf] = None if original is None and leaf in NULLABLE_LEAVES else ""
        for leaf in ZEROED_LEAVES:
            values[leaf] = "0"
        for leaf, value in values.items():
            if leaf in element.spans and element.fields.get(leaf) != value:
                element.replace(leaf, value)

    def _user_kept(self) -> bool:
        return self._current_user not in self.pseudonyms

    def _rewrite_custom_field(self, element: Element) -> None:
        if not self._user_kept() and _text(element.fields, "field_data"):
            element.replace("field_data", "")

    def _drop_unless_kept(self, element: Element) -> None:
        if not self._user_kept() and element.first:
            element.drop()

    def _rewrite_preference(self, element: Element) -> None:
        if (not self._user_kept() and element.first
                and PERSONAL_PREFERENCE.fullmatch(_text(element.fields, "name"))):
            element.drop()

    def _rewrite_file(self, element: Element) -> None:
        author = element.get("author")
        if not author or not author.strip() or "author" not in element.spans:
            return
        userid = _text(element.fields, "userid")
        if userid in self.kept or _text(element.fields, "contextid") in self._kept_contexts:
            return
        element.replace("author", self._author(author))

    def _author(self, author: str) -> str:
        """A user's pseudonym when the author is a user of the backup, else a
        pseudonymous name of its own (the same for the same author)."""
        if author not in self._authors:
            index = self.matcher.whole(author)
            if index is not None:
                self._authors[author] = self.matcher.replacements[index]
            else:
                pseudonym = self._new_pseudonym(f"author:{author.strip().casefold()}",
                                                self._originals, self._taken)
                self._authors[author] = pseudonym.fullname
        return self._authors[author]

    def report(self) -> dict[str, Any]:
        return {"users": len(self.pseudonyms), "kept": len(self.kept),
                "files_removed": self._files_removed,
                "text_replacements": sum(scrubber.replaced for scrubber in self._scrubbers)}


def _forms_of(pseudonym: Pseudonym, user: _User) -> list[str]:
    """The pseudonym's forms, in the order of :meth:`_User.forms`."""
    forms = [pseudonym.fullname, f"{pseudonym.lastname}, {pseudonym.firstname}",
             f"{pseudonym.lastname} {pseudonym.firstname}"]
    if user.middlename:
        forms.append(pseudonym.fullname)
    return [form for form in forms if user.firstname and user.lastname] + [
        pseudonym.username, pseudonym.email]


def _set_anonymize(element: Element) -> None:
    if (element.get("name") == "anonymize" and element.get("level") in (None, "root")
            and "value" in element.spans and element.get("value") != "1"):
        element.replace("value", "1")


def anonymise(source: str | os.PathLike, output: str | os.PathLike, *, key: str | bytes,
              keep_roles: Sequence[str] = (), locale: str = "en_US", format: str = "tgz",
              progress: Monitor | None = None) -> TransformReport:
    """Writes ``output``: ``source`` with every user pseudonymised (see the module
    docstring). The same ``key`` gives the same pseudonyms."""
    return run(source, output, [Anonymise(key=key, keep_roles=keep_roles, locale=locale)],
               format=format, progress=progress)
