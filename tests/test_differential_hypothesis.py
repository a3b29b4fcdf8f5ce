"""Differential testing of both parser engines against expat, with hypothesis.

Documents come from a small grammar (ASCII element names, attributes in both
quote styles, text with entity and character references, CDATA sections,
comments, processing instructions, CRLF and non-ASCII text), and then, in the
second test, from corrupting those documents a few bytes at a time. For each
document:

(a) every mbx engine accepts exactly what the oracle accepts. The oracle is
    plain expat plus the restrictions mbx documents on purpose (UTF-8 input
    only, ASCII names, XML 1.x, no DOCTYPE);
(b) when a document is accepted, both engines hand the handlers the same
    records, whether the document arrives whole or cut at random points; a
    refused document is refused with the same code however it is cut.
"""

from __future__ import annotations

import re
from xml.parsers import expat

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import mbx.xml._core as core
from mbx.xml._core import ENGINES
from mbx.errors import MbxError
from mbx.xml import SKIP, Parser, RegistrationError

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example])




# -- the grammar -----------------------------------------------------------------------------

NAMES = ["a", "b", "c", "r", "ab", "x1", "n-m", "p.q", "_u", "d:e", "T"]
PI_TARGETS = ["pi", "php", "x-y", "t", "xml-stylesheet"]
PLAIN = ["x", "Moodle", " ", "  ", "\t", "\n", "\r\n", "\r", "\n  ", ">", "'", '"', "]", "?",
         "-", "=", "/", "\u00e9", "\u65e5\u672c", "\U0001F600", "\u00a0", "\u2028", "\ufeff",
         "$@NULL@$", "0", "42"]
ENTITIES = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
CHAR_REFS = ["&#65;", "&#x41;", "&#xe9;", "&#xE9;", "&#x65E5;", "&#x1F600;", "&#128512;",
             "&#10;", "&#13;", "&#9;", "&#32;", "&#x20;", "&#60;", "&#38;", "&#x0041;",
             "&#xFFFD;", "&#x10FFFF;"]
SPACE = st.sampled_from(["", " ", "\n", "\r\n", "\t", "  \n  "])


def joined(pieces):
    return st.lists(pieces, max_size=6).map("".join)


TEXT = joined(st.one_of(st.sampled_from(PLAIN), st.sampled_from(ENTITIES),
                        st.sampled_from(CHAR_REFS))).map(
    # no "]]>" in character data, even across two adjacent text children
    lambda t: t.replace("]]>", "]]&gt;") + ("." if t.endswith("]") else ""))


def attribute_value(quote: str):
    pieces = [p for p in PLAIN if p != quote]  # PLAIN has no raw '<' or '&'
    return joined(st.one_of(st.sampled_from(pieces), st.sampled_from(ENTITIES),
                            st.sampled_from(CHAR_REFS)))


def _no_cdata_end(text: str) -> str:
    while "]]>" in text:
        text = text.replace("]]>", "]>")
    return text


def _comment_safe(text: str) -> str:
    while "--" in text:
        text = text.replace("--", "-")
    return text[:-1] if text.endswith("-") else text


def _pi_safe(text: str) -> str:
    while "?>" in text:
        text = text.replace("?>", "? >")
    return text


RAW = joined(st.sampled_from(PLAIN + ["<", "&", "&amp;", "<a>", "]]"]))
CDATA = RAW.map(_no_cdata_end).map(lambda t: f"<![CDATA[{t}]]>")
COMMENT = RAW.map(_comment_safe).map(lambda t: f"<!--{t}-->")
PI = st.tuples(st.sampled_from(PI_TARGETS), RAW.map(_pi_safe)).map(
    lambda pair: f"<?{pair[0]} {pair[1]}?>" if pair[1] else f"<?{pair[0]}?>")
MISC = st.lists(st.one_of(COMMENT, PI, SPACE), max_size=3).map("".join)


@st.composite
def attributes(draw) -> str:
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=3))
    out = []
    for name in names:
        quote = draw(st.sampled_from(['"', "'"]))
        value = draw(attribute_value(quote))
        out.append(f"{draw(st.sampled_from([' ', '  ', chr(10), chr(9)]))}{name}"
                   f"{draw(st.sampled_from(['=', ' = ']))}{quote}{value}{quote}")
    return "".join(out)


@st.composite
def element(draw, depth: int = 0) -> str:
    name = draw(st.sampled_from(NAMES))
    attrs = draw(attributes())
    kinds = ["text", "text", "cdata", "comment", "pi"] + (["element"] * 4 if depth < 4 else [])
    children = []
    for kind in draw(st.lists(st.sampled_from(kinds), max_size=5 if depth < 3 else 2)):
        if kind == "element":
            children.append(draw(element(depth + 1)))
        else:
            children.append(draw({"text": TEXT, "cdata": CDATA, "comment": COMMENT,
                                  "pi": PI}[kind]))
    tail = draw(SPACE)
    if not children and draw(st.booleans()):
        return f"<{name}{attrs}{tail}/>"
    return f"<{name}{attrs}{tail}>{''.join(children)}</{name}>"


@st.composite
def documents(draw) -> bytes:
    prolog = ""
    if draw(st.booleans()):
        prolog = '<?xml version="1.0" encoding="UTF-8"?>'
    bom = "\ufeff" if draw(st.integers(0, 9)) == 0 else ""
    text = bom + prolog + draw(MISC) + draw(element()) + draw(MISC)
    return text.encode("utf-8")


FRAGMENTS = [piece.encode() for piece in PLAIN + ENTITIES + CHAR_REFS] + [
    b"<a/>", b"<b>", b"</b>", b"<!--c-->", b"<?pi x?>", b"<![CDATA[", b"]]>", b"&#", b"&#x",
    b" c='1'", b'"', b"'", b"\xc3", b"\xa9", b"\xed\xa0\x80", b"\xef\xbf\xbe"]


@st.composite
def mutated(draw) -> bytes:
    doc = bytearray(draw(documents()))
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        at = draw(st.integers(0, len(doc)))
        op = draw(st.sampled_from(["delete", "insert", "replace", "truncate", "lt", "amp",
                                   "cdata-end", "fragment", "fragment", "copy"]))
        if op == "delete" and at < len(doc):
            del doc[at]
        elif op == "insert":
            doc[at:at] = bytes([draw(st.integers(0, 255))])
        elif op == "replace" and at < len(doc):
            doc[at] = draw(st.integers(0, 255))
        elif op == "truncate":
            del doc[at:]
        elif op == "lt":
            doc[at:at] = b"<"
        elif op == "amp":
            doc[at:at] = b"&"
        elif op == "cdata-end":
            doc[at:at] = b"]]>"
        elif op == "fragment":
            doc[at:at] = draw(st.sampled_from(FRAGMENTS))
        elif op == "copy":  # a slice of the document pasted elsewhere
            start = draw(st.integers(0, len(doc)))
            doc[at:at] = doc[start:start + draw(st.integers(1, 16))]
    return bytes(doc)


# -- the oracle ---------------------------------------------------------------------------------

class _Refused(Exception):
    pass


def _refuse(*args):
    raise _Refused()


def _ascii_name(name: str) -> None:
    if not name.isascii():
        raise _Refused()


def oracle(doc: bytes) -> tuple[bool, list[tuple[str, ...]]]:
    """(expat's verdict under mbx's documented restrictions, element paths seen)."""
    paths: list[tuple[str, ...]] = []
    stack: list[str] = []
    # mbx reads UTF-8 only; left alone, expat would switch to UTF-16 on "<\0" or a BOM
    if b"\x00" in doc:
        return False, paths
    try:
        doc.decode("utf-8")
    except UnicodeDecodeError:
        return False, paths

    def start(name, attrs):
        _ascii_name(name)
        for key in attrs:
            _ascii_name(key)
        stack.append(name)
        path = tuple(stack)
        if path not in paths:
            paths.append(path)

    def end(name):
        stack.pop()

    def declaration(version, encoding, standalone):
        if not re.fullmatch(r"1\.[0-9]+", version or ""):
            raise _Refused()
        if encoding is not None and encoding.lower() != "utf-8":
            raise _Refused()

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = _refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.ProcessingInstructionHandler = lambda target, data: _ascii_name(target)
    parser.XmlDeclHandler = declaration
    try:
        parser.Parse(doc, True)
    except (expat.ExpatError, _Refused):
        return False, paths
    return True, paths


# -- running mbx ----------------------------------------------------------------------------------

def _skipper(out: list, path: str):
    def handler(record):
        out.append((path, record))
        return SKIP
    return handler


def run(module_name: str, doc: bytes, chunks: list[bytes] | None, paths, grouped, skipped):
    """("ok", records) or ("refused", code) for one engine; anything else propagates."""
    out: list = []
    with core.engine_in_use(module_name):
        parser = Parser(source="hypothesis.xml")
        inside = [] if grouped is None else [
            p for p in paths if len(p) > len(grouped) and p[:len(grouped)] == grouped]
        for path in paths:
            joined_path = "/" + "/".join(path)
            try:
                if path in inside:
                    parser.add_path(joined_path)
                elif path == skipped:
                    parser.add_path(joined_path, _skipper(out, joined_path),
                                    grouped=path == grouped)
                else:
                    parser.add_path(joined_path, lambda record, p=joined_path: out.append(
                        (p, record)), grouped=path == grouped)
            except RegistrationError:
                continue  # a name split_path refuses (it came out of a mutation)
        try:
            parser.parse(doc if chunks is None else iter(chunks))
        except MbxError as exc:
            assert exc.code.startswith("xml-"), exc
            assert exc.source == "hypothesis.xml"
            assert isinstance(exc.line, int) and exc.line >= 1, exc
            assert isinstance(exc.column, int) and exc.column >= 1, exc
            return "refused", exc.code
    return "ok", out


def split(doc: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted(set(cuts))
    return [doc[a:b] for a, b in zip([0] + points, points + [len(doc)])]


def check(data, doc: bytes) -> None:
    accepted, paths = oracle(doc)
    grouped = skipped = None
    if paths and data.draw(st.booleans(), label="group one path"):
        grouped = data.draw(st.sampled_from(paths), label="grouped")
    if paths and data.draw(st.booleans(), label="skip below one path"):
        skipped = data.draw(st.sampled_from(paths), label="skipped")
        if grouped is not None and skipped[:len(grouped)] == grouped:
            skipped = None  # inside a group there is no handler to return SKIP
    cuts = data.draw(st.lists(st.integers(0, len(doc)), max_size=12), label="cuts")
    chunks = split(doc, cuts)

    results = {}
    for name in ENGINES:
        whole = run(name, doc, None, paths, grouped, skipped)
        assert (whole[0] == "ok") == accepted, (
            f"{name} {'accepts' if whole[0] == 'ok' else 'refuses'} what expat "
            f"{'accepts' if accepted else 'refuses'}: {whole}")
        cut = run(name, doc, chunks, paths, grouped, skipped)
        assert cut == whole, f"{name}: cut at {sorted(set(cuts))} gives {cut}, whole {whole}"
        bytewise = run(name, doc, [doc[i:i + 1] for i in range(len(doc))], paths, grouped,
                       skipped)
        assert bytewise == whole, f"{name}: byte by byte gives {bytewise}, whole {whole}"
        results[name] = whole
        event(f"{name.rsplit('.', 1)[-1]}: {whole[0] if whole[0] == 'ok' else whole[1]}")
    if accepted:
        first, *others = results.values()
        for name, other in zip(ENGINES[1:], others):
            assert other == first, f"{ENGINES[0]} gives {first[1]}, {name} gives {other[1]}"


@SETTINGS
@given(data=st.data(), doc=documents())
def test_generated_documents(data, doc):
    accepted, _ = oracle(doc)
    assert accepted, f"the grammar made a document expat refuses: {doc!r}"
    check(data, doc)


@SETTINGS
@given(data=st.data(), doc=mutated())
def test_mutated_documents(data, doc):
    check(data, doc)


@pytest.mark.parametrize("doc", [
    b"<r/>",
    b'<?xml version="1.0" encoding="UTF-8"?>\r\n<r a="1"><b>x&amp;y</b><c/></r>',
    "<r><a b='\u00e9'>\u65e5\u672c &#x1F600;<![CDATA[<&]]><!--c--><?pi d?></a></r>".encode(),
])
def test_oracle_accepts_plain_documents(doc):
    assert oracle(doc)[0]


@pytest.mark.parametrize("doc", [
    b"<!DOCTYPE r><r/>", b"<r>\x00</r>", "<\u00e9/>".encode(), b"<r/><r/>",
    "<r/>".encode("utf-16"), b"<?xml version='2.0'?><r/>",
    b"<?xml version='1.0' encoding='ISO-8859-1'?><r/>",
])
def test_oracle_refuses_what_mbx_refuses(doc):
    assert not oracle(doc)[0]
