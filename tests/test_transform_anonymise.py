"""The anonymise transform over every corpus backup with users, each planted first with
every user's identity in many spellings.

The planted archive is the corpus item with its course summary, section
summaries, activity intros and forum posts rewritten (by the rewriter, through a
test-local transform) to mention every user: plain, in HTML (text, ``alt``,
``title``, ``mailto:``), "Last, First", upper case, with accents added or
removed, decomposed, as HTML entities, and as XML character references. What
the output must show is read with lxml, ``html.unescape`` and ``unicodedata``:
no original identifier anywhere (text, tail, attributes, every member), one
pseudonym per user, the same bytes for the same key, other pseudonyms for another
key, no new ``mbx verify`` error, the user count of ``mbx ls`` unchanged.
"""

from __future__ import annotations

import hashlib
import html
import re
import subprocess
import sys
import tarfile
import unicodedata
from pathlib import Path

import pytest

import mbx
from lxml import etree

import corpus
from conftest import FIXTURES
from mbx.errors import MbxError
from mbx.inspect import summarize
from mbx.transform import Transform, run
from mbx.transform import scrub
from mbx.transform.anonymise import Anonymise, anonymise
from mbx.verification import verify

KEY = "test key"

#: Leaves whose text is a code (a role's shortname and archetype): a username that is
#: also a role name ("student", "teacher") must survive there, or roles stop mapping.
CODE_LEAVES = {("roles.xml", "shortname"), ("roles.xml", "archetype")}
#: Where free text is planted: (member pattern, element path template).
PLANTED = [
    (re.compile(r"course/course\.xml"), "/course/summary"),
    (re.compile(r"sections/section_\d+/section\.xml"), "/section/summary"),
    (re.compile(r"activities/([a-z0-9]+)_\d+/\1\.xml"), "/activity/{module}/intro"),
    (re.compile(r"activities/forum_\d+/forum\.xml"),
     "/activity/forum/discussions/discussion/posts/post/message"),
]
_ACUTE = {"a": "á", "e": "é", "i": "í", "o": "ó", "u": "ú", "A": "Á", "E": "É", "I": "Í",
          "O": "Ó", "U": "Ú"}
_XML_REFS = re.compile("\u27e6(.*?)\u27e7".encode(), re.S)


# -- an independent reading ------------------------------------------------------------------

def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(stripped.casefold().split())


def read_members(path: Path) -> dict[str, bytes]:
    """Every XML member of an archive mbx wrote (tar.gz), by name, with the stdlib."""
    with tarfile.open(path, "r:gz") as archive:
        return {member.name: archive.extractfile(member).read() for member in archive
                if member.isfile() and member.name.endswith(".xml")}


def users_of(members: dict[str, bytes]) -> list[dict[str, str]]:
    root = etree.fromstring(members["users.xml"])
    return [{child.tag: (child.text or "") for child in user if len(child) == 0}
            | dict(user.attrib) for user in root.findall("user")]


def forms_of(user: dict[str, str]) -> list[str]:
    """The identifiers of a user as the issue lists them, folded; forms of fewer than
    two characters or without a letter are not searched (numbers stay numbers)."""
    first, last = user.get("firstname", "").strip(), user.get("lastname", "").strip()
    forms = [user.get("username", ""), user.get("email", "")]
    if first and last:
        forms += [f"{first} {last}", f"{last}, {first}", f"{last} {first}"]
    folded = [fold(form) for form in forms]
    return [form for form in folded if len(form) >= 2 and any(c.isalpha() for c in form)]


def texts(members: dict[str, bytes]):
    """(member, element tag, where, folded text) of every text, tail and attribute value
    of every element (comments and processing instructions too), HTML entities decoded."""
    for name, data in members.items():
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, huge_tree=True))
        for element in root.iter():
            tag = element.tag if isinstance(element.tag, str) else "#other"
            pieces = [("text", element.text), ("tail", element.tail)]
            pieces += [(f"@{key}", value) for key, value in element.attrib.items()]
            for where, value in pieces:
                if value:
                    yield name, tag, where, fold(html.unescape(value))


_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(" " if token.isspace() else token for token in _TOKEN.findall(text))


def found_forms(members: dict[str, bytes], users: list[dict[str, str]]) -> set[tuple]:
    r"""(form, member, tag, where) of every identifier of ``users`` found outside the
    code leaves: a form is found where its words, spaces and signs follow each other
    as whole tokens (the ``(?<!\w)form(?!\w)`` of a regular expression, without the
    cost of one alternation of hundreds of forms)."""
    forms = {_tokens(form): form for user in users for form in forms_of(user)}
    lengths = sorted({len(tokens) for tokens in forms}, reverse=True)
    found = set()
    for name, tag, where, text in texts(members):
        if (name.rsplit("/", 1)[-1], tag) in CODE_LEAVES:
            continue
        tokens = _tokens(text)
        for start in range(len(tokens)):
            for length in lengths:
                form = forms.get(tokens[start:start + length])
                if form is not None:
                    found.add((form, name, tag, where))
    return found


# -- planting --------------------------------------------------------------------------------

def _accented(name: str) -> str:
    """The name with its accents removed, or an acute added to its first vowel."""
    stripped = "".join(c for c in unicodedata.normalize("NFKD", name)
                       if not unicodedata.combining(c))
    if stripped != name:
        return stripped
    for index, char in enumerate(name):
        if char in _ACUTE:
            return name[:index] + _ACUTE[char] + name[index + 1:]
    return name


def _entities(text: str) -> str:
    """HTML entities: named or numeric for non-ASCII, a hex reference for the first letter."""
    out, first = [], True
    for char in text:
        if ord(char) > 127:
            name = html.entities.codepoint2name.get(ord(char))
            out.append(f"&{name};" if name else f"&#{ord(char)};")
        elif char.isalpha() and first:
            out.append(f"&#x{ord(char):X};")
            first = False
        elif char == "@":
            out.append("&#64;")
        else:
            out.append(char)
    return "".join(out)


def planted_text(users: list[dict[str, str]]) -> str:
    parts = []
    for user in users:
        first, last = user.get("firstname", "").strip(), user.get("lastname", "").strip()
        username, email = user.get("username", "").strip(), user.get("email", "").strip()
        parts += [
            f"<p>Posted by {first} {last}.</p>",
            f'<p><b>{first} {last}</b> wrote to <a href="mailto:{email}" '
            f'title="{last}, {first}">{username}</a></p>',
            f"<p>{first.upper()} {last.upper()} ({username.upper()}, {email.upper()})</p>",
            f'<p><img src="x.png" alt="{first} {last}"> {_accented(first)} {_accented(last)}</p>',
            f"<p>{_entities(first)} {_entities(last)}, {_entities(email)}</p>",
            f"<p>{last},  {first}\n and {first}\u00a0{last} and {last} {first}</p>",
            f"<p>\u27e6{first} {last} {username}\u27e7</p>",
            f"<p>{unicodedata.normalize('NFD', _accented(first))} {last}</p>",
        ]
    return "".join(parts)


class _XmlReferences:
    """Writes the planted ⟦...⟧ spans with XML character references (``&#233;``,
    ``&#x4A;``): the rewriter escapes ``&``, so these are made on the bytes."""

    changed = True

    def __init__(self) -> None:
        self._data = bytearray()

    def feed(self, data: bytes) -> bytes:
        self._data += data
        return b""

    def close(self) -> bytes:
        def references(match: re.Match) -> bytes:
            text = match.group(1).decode()
            out = [f"&#x{ord(c):X};" if index == 0 else
                   (f"&#{ord(c)};" if ord(c) > 127 or c.isupper() else c)
                   for index, c in enumerate(text)]
            return "".join(out).encode()
        return _XML_REFS.sub(references, bytes(self._data))


class Plant(Transform):
    """Test-local: rewrites the planted leaves to mention every user."""

    name = "plant"

    def __init__(self, text: str) -> None:
        self.text = text
        self.where: set[tuple[str, str]] = set()

    def rewrites(self, name, facts):
        rules = []
        for member, template in PLANTED:
            match = member.fullmatch(name)
            if match:
                path = template.format(module=match.group(1) if match.groups() else "")
                leaf = path.rsplit("/", 1)[1]
                rules.append((path.rsplit("/", 1)[0], self._planter(name, path, leaf)))
        return rules

    def _planter(self, name, path, leaf):
        def plant(element):
            if leaf in element.spans:
                element.replace(leaf, self.text)
                self.where.add((name, path))
        return plant

    def filters(self, name, facts):
        return [_XmlReferences] if name.endswith(".xml") else []


def items_with_users() -> list[str]:
    found = []
    for item in corpus.items():
        for name, data in corpus.xml_members(item):
            if name == "users.xml" and b"<user " in data:
                found.append(item)
                break
    return found


ITEMS = items_with_users()


class Case:
    def __init__(self, item, planted, output, users, where):
        self.item, self.planted, self.output, self.users, self.where = (
            item, planted, output, users, where)


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """One planted archive and its anonymised output per corpus item with users."""
    made = {}
    for item in ITEMS:
        folder = tmp_path_factory.mktemp(hashlib.sha1(item.encode()).hexdigest()[:12])
        users = users_of(dict(corpus.xml_members(item)))
        planter = Plant(planted_text(users))
        planted = folder / "planted.mbz"
        run(FIXTURES / item, planted, [planter])
        output = folder / "anonymised.mbz"
        anonymise(planted, output, key=KEY)
        made[item] = Case(item, planted, output, users, planter.where)
    return made


def test_the_corpus_has_backups_with_users():
    assert len(ITEMS) >= 20


@pytest.mark.parametrize("item", ITEMS)
def test_planting_worked(cases, item):
    """The planted archive mentions every form of every user (else the next test
    proves nothing)."""
    case = cases[item]
    assert case.where
    planted = {form for form, *_ in found_forms(read_members(case.planted), case.users)}
    for user in case.users:
        assert set(forms_of(user)) <= planted, user.get("username")


@pytest.mark.parametrize("item", ITEMS)
def test_no_identifier_survives(cases, item):
    members = read_members(cases[item].output)
    assert found_forms(members, cases[item].users) == set()


def _leaves(data: bytes, record: str, leaves: tuple[str, ...]) -> list[tuple]:
    return [tuple(element.findtext(leaf) for leaf in leaves)
            for element in etree.fromstring(data).iter(record)]


@pytest.mark.parametrize("item", ITEMS)
def test_codes_are_left_alone(cases, item):
    """Role shortnames and archetypes, and the components, areas and hashes of the
    files that stay, are as they were."""
    before, after = read_members(cases[item].planted), read_members(cases[item].output)
    if "roles.xml" in before:
        assert (_leaves(after["roles.xml"], "role", ("shortname", "archetype"))
                == _leaves(before["roles.xml"], "role", ("shortname", "archetype")))
    codes = ("component", "filearea", "contenthash", "itemid", "contextid")
    assert _leaves(after["files.xml"], "file", codes) == [
        leaves for leaves in _leaves(before["files.xml"], "file", codes) if leaves[0] != "user"]


@pytest.mark.parametrize("item", ITEMS)
def test_one_pseudonym_per_user_everywhere(cases, item):
    case = cases[item]
    after = read_members(case.output)
    pseudonyms = {user["id"]: user for user in users_of(after)}
    assert set(pseudonyms) == {user["id"] for user in case.users}
    usernames = [user["username"] for user in pseudonyms.values()]
    assert len(set(usernames)) == len(usernames)
    # a form two users share (two "Test Stud"s, one address) names one of them: only
    # the forms that are one user's are followed
    owners: dict[str, int] = {}
    for user in case.users:
        for form in set(forms_of(user)):
            owners[form] = owners.get(form, 0) + 1
    checked = 0
    for name, path in case.where:
        for element in etree.fromstring(after[name]).xpath(path):
            text = fold(html.unescape(element.text or ""))
            for user in case.users:
                pseudonym = pseudonyms[user["id"]]
                first, last = pseudonym["firstname"], pseudonym["lastname"]
                expected = {fold(user["username"]): pseudonym["username"],
                            fold(user["email"]): pseudonym["email"],
                            fold(f"{user.get('firstname')} {user.get('lastname')}"):
                                f"{first} {last}",
                            fold(f"{user.get('lastname')}, {user.get('firstname')}"):
                                f"{last}, {first}"}
                for form, replacement in expected.items():
                    if owners.get(form) == 1:
                        assert fold(replacement) in text, (name, path, form)
                        checked += 1
    assert checked


@pytest.mark.parametrize("item", ITEMS)
def test_users_xml_holds_pseudonyms_and_no_personal_details(cases, item):
    case = cases[item]
    before = {user["id"]: user for user in case.users}
    for user in users_of(read_members(case.output)):
        original = before[user["id"]]
        for leaf in ("username", "email"):
            assert user[leaf] and user[leaf] != original[leaf]
        assert user["firstname"] and user["lastname"]
        assert (user["firstname"], user["lastname"]) != (original.get("firstname"),
                                                         original.get("lastname"))
        assert re.fullmatch(r"[a-z]+\d{4}@example\.(com|org|net)", user["email"])
        assert user["email"].startswith(user["username"] + "@")
        for leaf in ("phone1", "phone2", "address", "lastip", "description", "url", "skype",
                     "institution", "department", "middlename", "alternatename", "password"):
            assert user.get(leaf, "") in ("", "$@NULL@$"), leaf
        for leaf in ("lastaccess", "firstaccess", "lastlogin", "currentlogin", "picture"):
            if leaf in original:
                assert user[leaf] == "0", leaf
        if original.get("idnumber"):
            assert user["idnumber"] != original["idnumber"]
    root = etree.fromstring(read_members(case.output)["users.xml"])
    assert all(not (field.findtext("field_data") or "") for field in root.iter("custom_field"))
    assert not root.findall("user/tags/tag")
    names = {preference.findtext("name") for preference in root.iter("preference")}
    assert not names & {"email_bounce_count", "email_send_count", "create_password",
                        "login_failed_count_since_success", "auth_forcepasswordchange"}


@pytest.mark.parametrize("item", ITEMS)
def test_user_files_go_and_authors_are_replaced(cases, item):
    case = cases[item]
    before, after = read_members(case.planted), read_members(case.output)
    old = etree.fromstring(before["files.xml"]).findall("file")
    new = etree.fromstring(after["files.xml"]).findall("file")
    assert [f.get("id") for f in new] == [f.get("id") for f in old
                                          if f.findtext("component") != "user"]
    authors = {fold(f.findtext("author") or "") for f in old} - {"", "$@null@$"}
    assert not authors & {fold(f.findtext("author") or "") for f in new}
    removed = {f.get("id") for f in old if f.findtext("component") == "user"}
    for name, data in after.items():
        if name.endswith("inforef.xml"):
            refs = [e.findtext("id") for e in etree.fromstring(data).iter("file")]
            assert refs == [e.findtext("id") for e in etree.fromstring(before[name]).iter("file")
                            if e.findtext("id") not in removed], name
    with tarfile.open(case.output) as archive:
        blobs = {m.name.rsplit("/", 1)[-1] for m in archive if m.name.startswith("files/")
                 and m.isfile()}
    assert blobs <= {f.findtext("contenthash") for f in new}


@pytest.mark.parametrize("item", ITEMS)
def test_verify_and_ls(cases, item):
    case = cases[item]
    errors_before = {problem.code for problem in verify(case.planted).errors}
    errors_after = {problem.code for problem in verify(case.output).errors}
    assert errors_after <= errors_before
    assert summarize(case.output)["counts"]["users"] == summarize(case.planted)["counts"]["users"]
    assert summarize(case.output)["counts"]["users"] == len(case.users)


@pytest.mark.parametrize("item", ITEMS)
def test_anonymize_setting_is_set(cases, item):
    root = etree.fromstring(read_members(cases[item].output)["moodle_backup.xml"])
    settings = [s for s in root.iter("setting") if s.findtext("name") == "anonymize"
                and s.findtext("level") == "root"]
    assert all(s.findtext("value") == "1" for s in settings)
    before = etree.fromstring(read_members(cases[item].planted)["moodle_backup.xml"])
    assert len(settings) == len([s for s in before.iter("setting")
                                 if s.findtext("name") == "anonymize"
                                 and s.findtext("level") == "root"])


def _largest(cases) -> Case:
    return max(cases.values(), key=lambda case: (len(case.users), case.item))


def test_same_key_same_bytes_other_key_other_pseudonyms(cases, tmp_path):
    case = _largest(cases)
    again = tmp_path / "again.mbz"
    anonymise(case.planted, again, key=KEY)
    assert again.read_bytes() == case.output.read_bytes()
    other = tmp_path / "other.mbz"
    anonymise(case.planted, other, key=KEY + "!")
    first = {u["id"]: u["username"] for u in users_of(read_members(case.output))}
    second = {u["id"]: u["username"] for u in users_of(read_members(other))}
    assert first.keys() == second.keys()
    assert all(first[key] != second[key] for key in first)


def test_same_key_same_pseudonyms_in_another_process(cases, tmp_path):
    case = _largest(cases)
    output = tmp_path / "child.mbz"
    code = ("import sys; from mbx.transform.anonymise import anonymise; "
            "anonymise(sys.argv[1], sys.argv[2], key=sys.argv[3])")
    subprocess.run([sys.executable, "-c", code, str(case.planted), str(output), KEY],
                   check=True, timeout=120, env={"PYTHONHASHSEED": "random",
                                                 "PYTHONPATH": str(Path(mbx.__file__)
                                                                   .resolve().parents[1]),
                                                 "PATH": "/usr/bin:/bin"})
    assert output.read_bytes() == case.output.read_bytes()


def test_same_person_same_pseudonym_across_archives(cases):
    """The corpus holds the same test users in several backups (``studenttest1``,
    ``admin``, ``tool_generator_...``): each gets one pseudonym in all of them, except
    where that pseudonym is the real name of someone else in one of the backups (it is
    drawn again there)."""
    pseudonyms: dict[str, dict[str, dict]] = {}   # username -> item -> pseudonym record
    real_names = {item: {fold(f"{u.get('firstname')} {u.get('lastname')}") for u in case.users}
                  for item, case in cases.items()}
    for item, case in cases.items():
        after = {u["id"]: u for u in users_of(read_members(case.output))}
        for user in case.users:
            pseudonyms.setdefault(user["username"].casefold(), {})[item] = after[user["id"]]
    assert len(pseudonyms["studenttest1"]) >= 3
    agreeing = 0
    for username, by_item in pseudonyms.items():
        for first, second in zip(list(by_item), list(by_item)[1:]):
            a, b = by_item[first], by_item[second]
            if a["username"] == b["username"]:
                assert (a["firstname"], a["lastname"], a["email"]) == (
                    b["firstname"], b["lastname"], b["email"])
                agreeing += 1
            else:
                assert (fold(f"{a['firstname']} {a['lastname']}") in real_names[second]
                        or fold(f"{b['firstname']} {b['lastname']}") in real_names[first]), (
                    username, first, second)
    assert agreeing >= 10


# -- keep_roles ------------------------------------------------------------------------------

def _teachers(item: str) -> set[str]:
    members = dict(corpus.xml_members(item))
    roles = {role.get("id"): role.findtext("shortname")
             for role in etree.fromstring(members["roles.xml"]).iter("role")}
    return {assignment.findtext("userid") for name, data in members.items()
            if name.endswith("/roles.xml")
            for assignment in etree.fromstring(data).iter("assignment")
            if roles.get(assignment.findtext("roleid")) == "editingteacher"}


def test_keep_roles_keeps_editing_teachers(cases, tmp_path):
    case = next(c for c in cases.values() if _teachers(c.item) and len(c.users) >= 4)
    teachers = _teachers(case.item)
    output = tmp_path / "kept.mbz"
    report = anonymise(case.planted, output, key=KEY, keep_roles=("editingteacher",))
    assert report.details["anonymise"]["kept"] == len(teachers)
    after = read_members(output)
    by_id = {user["id"]: user for user in users_of(after)}
    kept = [user for user in case.users if user["id"] in teachers]
    others = [user for user in case.users if user["id"] not in teachers]
    assert kept and others
    for user in kept:
        for leaf in ("username", "firstname", "lastname", "email"):
            assert by_id[user["id"]][leaf] == user[leaf]
    assert found_forms(after, others) == set()
    kept_names = {form for form, *_ in found_forms(after, kept)}
    for user in kept:
        assert set(forms_of(user)) <= kept_names


# -- refusals and streaming ----------------------------------------------------------------------

@pytest.mark.parametrize("options, code", [
    ({"key": ""}, "transform-anonymise-key"),
    ({"key": b""}, "transform-anonymise-key"),
    ({"key": None}, "transform-anonymise-key"),
    ({"key": "k", "locale": "xx_NOPE"}, "transform-anonymise-locale"),
])
def test_refusals_leave_nothing(cases, tmp_path, options, code):
    output = tmp_path / "out.mbz"
    with pytest.raises(MbxError) as raised:
        anonymise(_largest(cases).planted, output, **options)
    assert raised.value.code == code
    assert list(tmp_path.iterdir()) == []


def test_other_locales_give_their_names(cases, tmp_path):
    output = tmp_path / "fr.mbz"
    anonymise(_largest(cases).planted, output, key=KEY, locale="fr_FR")
    users = users_of(read_members(output))
    assert found_forms(read_members(output), _largest(cases).users) == set()
    assert {u["username"] for u in users}.isdisjoint(
        {u["username"] for u in users_of(read_members(_largest(cases).output))})


@pytest.mark.parametrize("chunk", [7, 97, 4096])
def test_small_reads_and_folds_give_the_same_bytes(cases, monkeypatch, tmp_path, chunk):
    """Members read, rewritten and folded a few bytes at a time (every carry between
    folds exercised) give the archive of one large fold per member."""
    from mbx.transform import pipeline
    from mbx.xml import rewriter
    case = min((c for c in cases.values() if len(c.users) >= 5),
               key=lambda c: c.planted.stat().st_size)
    monkeypatch.setattr(scrub, "FOLD_CHUNK", chunk)
    monkeypatch.setattr(pipeline, "READ_SIZE", chunk * 3 + 1)
    monkeypatch.setattr(rewriter, "READ_SIZE", chunk * 3 + 1)
    output = tmp_path / "small.mbz"
    anonymise(case.planted, output, key=KEY)
    assert output.read_bytes() == case.output.read_bytes()


class _Suffix:
    """A byte filter that holds everything and appends a mark at the end."""

    def __init__(self, mark: bytes) -> None:
        self.mark, self.data, self.changed = mark, bytearray(), True

    def feed(self, data: bytes) -> bytes:
        self.data += data
        return b""

    def close(self) -> bytes:
        return bytes(self.data) + self.mark


class _Marks(Transform):
    name = "marks"

    def filters(self, name, facts):
        if name == "moodle_backup.xml":
            return [lambda: _Suffix(b"<!--1-->"), lambda: _Suffix(b"<!--2-->")]
        return []


def test_byte_filters_compose_in_order(cases, tmp_path):
    """Two filters of one member: the first's output, rest included, goes through the
    second; with anonymise, its scrubber comes after them."""
    case = _largest(cases)
    output = tmp_path / "marked.mbz"
    run(case.planted, output, [_Marks(), Anonymise(key=KEY)])
    data = read_members(output)["moodle_backup.xml"]
    assert data.endswith(b"<!--1--><!--2-->")
    original = read_members(case.output)["moodle_backup.xml"]
    assert data == original + b"<!--1--><!--2-->"
