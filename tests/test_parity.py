"""The two engines agree on every verdict; codes differ only as differences.json says.

A catalogue of small documents, valid and broken, runs through both engines
(whole and one byte at a time) and through plain expat. Expat's verdict is the
oracle, except for what mbx refuses by design (DTDs, non-UTF-8 encodings, UTF-16,
non-ASCII names, XML versions other than 1.x), where both engines must refuse.
"""

from __future__ import annotations

import json
from importlib import resources
from xml.parsers import expat

import pytest

import mbx.xml._core as core
from mbx.xml._core import ENGINES
from mbx.errors import MbxError
from mbx.xml import Parser

ACCEPTED = [
    b'<?xml version="1.0" encoding="UTF-8"?><a/>', b'<?xml version="1.1"?><a/>',
    b"<?xml version='1.0' encoding='utf-8' standalone='no' ?><a/>",
    b'<?xml  version = "1.0" ?><a/>', b"\xef\xbb\xbf<a/>", b"<a><?pi?></a>", b"<a>]]</a>",
    b'<a b="&#60;"/>', b"<a/><!--c--><?p?>  ", b"<a:b:c/>", b'<a xmlns:x="1"/>', b"<a>\x7f</a>",
    b"<a>\xc2\x80</a>", b"<a-b.c/>", b"<a></a >", b'<a b = "1"/>', b'<a\tb="1"/>',
    b"<a>\xf0\x9f\x98\x80</a>", b"<a><!----></a>", b"<a><![CDATA[]]></a>", b"<a><?x-y z?></a>",
    b'<a b=""/>', b"<a b='\"'/>", b"<a>\r\n</a>", b"<a>&#x000000041;</a>",
    b"<a>&#0000000000000065;</a>", b"<a>&#x10FFFF;</a>", b"<a>\xf4\x8f\xbf\xbf</a>",
    b"<a>\xef\xb7\x90</a>", b"<a><?xml-stylesheet x?></a>", b"<?xml-stylesheet x?><a/>",
    b'<a b="x\ty\nz"/>', b"<a>&amp;&lt;&gt;&quot;&apos;</a>", b"<a:/>", b"<:a/>", b"<_/>",
    b"<a.b/>", b"<a>x<![CDATA[y]]>z<!--c-->w</a>", b"<a>\r</a>", b"<a b='\r\n'/>",
    # the compiled engine's shortcuts: common references, runs of non-ASCII characters
    b"<a>&lt;p&gt;x&amp;y&lt;/p&gt;&amp;amp;&lt;</a>", b"<a>&gt;&lt;&amp;&quot;&gt;</a>",
    b"<a>\xd1\x80\xd1\x83\xd1\x81 \xe6\x97\xa5\xe6\x9c\xac\xf0\x9f\x98\x80x</a>",
]
REFUSED = [
    b'<?xml version="1.0" standalone="maybe"?><a/>', b'<?xml encoding="UTF-8"?><a/>',
    b' <?xml version="1.0"?><a/>', b'<a><?xml version="1.0"?></a>', b"<a><?XmL x?></a>",
    b"<a>]]></a>", b"<a>&#xFFFE;</a>", b"<a>&#xD800;</a>", b"<a>&#0;</a>", b"<a>&#x110000;</a>",
    b"<a>\xef\xbf\xbe</a>", b"<a>\xed\xa0\x80</a>", b"<a>\xc0\xaf</a>", b'<a b="1"c="2"/>',
    b'<a b="<"/>', b"<a><!-- x -- y --></a>", b"<a><!-- x ---></a>", b"<a/>&amp;",
    b"<a/><![CDATA[x]]>", b"<a/>x", b"<a>\x0c</a>", b"<1a/>", b"<-a/>", b'<a b="1" b="2"/>',
    b"<a>&#X41;</a>", b"<a>&#x;</a>", b"<a>&#;</a>", b"<a>&lt</a>",
    b'<?xml version="1.0"encoding="utf-8"?><a/>', b"<a></ a>", b"< a/>", b"<a/ >", b"<a / >",
    b"<a>\xf4\x90\x80\x80</a>", b"<a><!---></a>", b"<a><![cdata[x]]></a>", b"<a><?x?y?></a>",
    b"<a><? x?></a>", b"", b"   ", b"<a>", b'<?xml version="1.0"?>', b"<a><b></a></b>",
    b'<?xml version="1.0" standalone="yes" encoding="UTF-8"?><a/>',
    b"<?xml version='1.0' encoding=\"UTF-8'?><a/>", b'<?xml version="1.0" encoding=""?><a/>',
    b"<a>\xf8\x88\x80\x80\x80</a>", b"<a>\xef\xbf\xbf</a>", b"<a>x</a>\x00",
    b'<?xml version="1.0"?><?xml version="1.0"?><a/>', b"<a>&foo;</a>", b"<a>\x00</a>",
    b'<a b="\x01"/>', b"<a><!DOCTYPE a></a>", b"<a/><!DOCTYPE a>", b"<a>&#x41</a>", b"<a>x",
    b"<a><b>", b"<a><!-- x", b"<a><![CDATA[x", b'<a b="1', b"<a b", b"x<a/>", b"<a/><b/>",
    b"<a>&ltx;</a>", b"<a>&amp</a>", b"<a>&gt</a>", b"<a>&lt;&g;</a>", b"<a>&amp;&am;</a>",
    b"<a>\xd1\x80\xd1</a>", b"<a>\xd1\x80\xd1\x80\x80</a>", b"<a>\xd1\x80\xef\xbf\xbe</a>",
    b"<a>\xe6\x97\xa5\xed\xa0\x80</a>",
    b"</a>", b"<a></b>", b"<a/></a>", b"<a>\xe2\x82</a>", b"<a>\xe2</a>",
]
# refused by mbx on purpose although expat takes them
BY_DESIGN = [
    b'<?xml version="2.0"?><a/>', b'<?xml version="x"?><a/>',
    b"<?xml version='1.0' encoding='latin-1'?><a/>",
    b'<?xml version="1.0" encoding="US-ASCII"?><a/>', b'<?xml version="1.0"?><!DOCTYPE a><a/>',
    b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', b"<a\xc3\xa9/>", b"<\xc3\xa9/>",
    b"\xff\xfe<\x00a\x00/\x00>\x00", b"\xfe\xff\x00<\x00a\x00/\x00>", b"<a><?\xc3\xa9 x?></a>",
]

DIFFERENCES = json.loads(resources.files("mbx.xml").joinpath("differences.json").read_text())
ALLOWED = {(row["python"], row["compiled"]) for row in DIFFERENCES["error_codes"]}


def verdict(engine_name: str, doc: bytes, bytewise: bool) -> str:
    try:
        with core.engine_in_use(engine_name):
            parser = Parser(source="doc")
            parser.add_path("/a", lambda record: None)
            parser.parse([doc[i:i + 1] for i in range(len(doc))] if bytewise else doc)
        return "accepted"
    except MbxError as exc:
        assert exc.code.startswith("xml-") and exc.source == "doc"
        assert isinstance(exc.line, int) and exc.line >= 1
        assert isinstance(exc.column, int) and exc.column >= 1
        return exc.code


def expat_accepts(doc: bytes) -> bool:
    try:
        expat.ParserCreate().Parse(doc, True)
        return True
    except expat.ExpatError:
        return False


@pytest.mark.parametrize("doc", ACCEPTED + REFUSED + BY_DESIGN, ids=repr)
def test_engines_agree_with_expat(doc):
    expected = expat_accepts(doc) and doc not in BY_DESIGN
    assert expected == (doc in ACCEPTED)
    verdicts = {(name, bytewise): verdict(name, doc, bytewise)
                for name in ENGINES for bytewise in (False, True)}
    for (name, bytewise), got in verdicts.items():
        assert (got == "accepted") == expected, (name, bytewise, got)
        assert got == verdicts[(name, False)], "verdict depends on chunking"
    if len(ENGINES) == 2 and not expected:
        python, compiled = verdicts[(ENGINES[0], False)], verdicts[(ENGINES[1], False)]
        assert python == compiled or (python, compiled) in ALLOWED, (python, compiled)


@pytest.mark.parametrize("doc", BY_DESIGN, ids=repr)
def test_design_refusals_have_their_own_codes(doc):
    for name in ENGINES:
        assert verdict(name, doc, False) in (
            "xml-dtd-forbidden", "xml-unsupported", "xml-bad-declaration")
