"""The byte-preserving rewriter (mbx.xml.rewriter) on both engines.

Oracles are independent of mbx: lxml says which elements and leaves a document
holds, and what a rewritten document must contain; the input bytes themselves
say what an untouched document must be.
"""

from __future__ import annotations

import re
import pytest
from lxml import etree

from corpus import items, xml_members
from mbx.errors import XmlError
from mbx.xml import _core
from mbx.xml.rewriter import RewriteError, Rewriter

ENGINES = _core.ENGINES
CHUNK = 7919  # a prime: chunks cut tags, references and UTF-8 sequences anywhere
MARK = "MBX<&>MARK"


def chunks(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[at:at + size] for at in range(0, len(data), size)] or [b""]


def record_paths(data: bytes) -> set[str]:
    """Paths of every element with a leaf child (lxml's reading): what may hold records."""
    paths = set()
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, huge_tree=True))
    tree = root.getroottree()
    for element in root.iter(etree.Element):
        if any(len(child) == 0 for child in element.iterchildren(etree.Element)):
            paths.add(_path(tree, element))
    return paths


def _path(tree, element) -> str:
    return "/" + "/".join(node.tag for node in reversed([element, *element.iterancestors()]))


def rewrite(data: bytes, handlers: dict, engine: str) -> bytes:
    out: list[bytes] = []
    rewriter = Rewriter(out.append, source="test")
    for path, handler in handlers.items():
        rewriter.add_path(path, handler)
    with _core.engine_in_use(engine):
        rewriter.rewrite(chunks(data))
    return b"".join(out)


def corpus_documents():
    for item in items():
        for name, data in xml_members(item):
            if data.strip():
                yield item, name, data


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("item", items())
def test_untouched_documents_pass_through_byte_for_byte(item, engine):
    """Every element that could hold a record is registered (located mode everywhere),
    no handler changes anything: the output is the input."""
    for name, data in xml_members(item):
        if not data.strip():
            continue
        seen = []
        handlers = {path: seen.append for path in record_paths(data)}
        assert rewrite(data, handlers, engine) == data, f"{item}:{name}"


def _leaf_texts(element):
    return [(child.tag, child.text) for child in element.iterchildren(etree.Element)
            if len(child) == 0]


@pytest.mark.parametrize("item", items())
def test_every_leaf_can_be_replaced_and_nothing_else_changes(item):
    """Each record's leaves are replaced by a marker that needs escaping. lxml then
    finds: the markers only as the whole text of leaves of registered elements,
    one per replacement, and every other node, attribute and text unchanged. Both
    engines write the same bytes."""
    for name, data in xml_members(item):
        if not data.strip():
            continue
        paths = record_paths(data)
        outputs = {}
        for engine in ENGINES:
            replaced = [0]

            def mark(element):
                for field in element.spans:
                    element.replace(field, MARK)
                    replaced[0] += 1

            outputs[engine] = (rewrite(data, {path: mark for path in paths}, engine), replaced[0])
        (output, count), *others = outputs.values()
        assert all(other == (output, count) for other in others), f"{item}:{name}: engines differ"
        parser = etree.XMLParser(resolve_entities=False, huge_tree=True, strip_cdata=False)
        before = etree.fromstring(data, parser)
        after = etree.fromstring(output, parser)
        found = 0
        tree = after.getroottree()
        # elements only: a leaf holding a comment is a leaf, and its comment goes with its text
        for old, new in zip(before.iter(etree.Element), after.iter(etree.Element), strict=True):
            assert old.tag == new.tag and old.attrib == new.attrib, f"{item}:{name}"
            assert old.tail == new.tail or (old.tail or "").strip() == (new.tail or "").strip()
            if new.text == MARK:
                assert len(new) == 0 and _path(tree, new.getparent()) in paths
                found += 1
            else:
                assert old.text == new.text, f"{item}:{name}: {_path(tree, new)} changed"
        assert found == count, f"{item}:{name}"


def _drop_oracle(data: bytes, path: str) -> bytes:
    """The document without the elements at ``path``, their tails kept, and the line
    break and indentation just before each gone with it (lxml)."""
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, huge_tree=True))
    tree = root.getroottree()
    for element in [e for e in root.iter(etree.Element) if _path(tree, e) == path]:
        parent, tail = element.getparent(), element.tail or ""
        previous = element.getprevious()
        before = (previous.tail if previous is not None else parent.text) or ""
        before = re.sub(r"\n[ \t]*\Z", "", before)
        if previous is not None:
            previous.tail = before + tail
        else:
            parent.text = before + tail
        parent.remove(element)
    return etree.tostring(root, method="c14n")


def _deepest_busy_path(data: bytes) -> str | None:
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, huge_tree=True))
    tree = root.getroottree()
    counts: dict[str, int] = {}
    for element in root.iter(etree.Element):
        # a record Moodle's parser publishes: attributes, or a leaf with some text
        leaves = [c for c in element.iterchildren(etree.Element) if len(c) == 0]
        if element.getparent() is not None and leaves and (element.attrib or any(
                (c.text or "").strip() not in ("", "$@NULL@$") for c in leaves)):
            path = _path(tree, element)
            counts[path] = counts.get(path, 0) + 1
    return max(counts, key=lambda p: (counts[p], p.count("/"), p)) if counts else None


@pytest.mark.parametrize("engine", ENGINES)
def test_dropping_elements_matches_lxml(engine):
    """On every corpus document, the most repeated record element is dropped with its
    subtree: the result equals lxml's tree with those elements removed."""
    tried = 0
    for item, name, data in corpus_documents():
        path = _deepest_busy_path(data)
        if path is None:
            continue
        output = rewrite(data, {path: lambda element: element.drop()}, engine)
        result = etree.tostring(etree.fromstring(output, etree.XMLParser(huge_tree=True)),
                                method="c14n")
        assert result == _drop_oracle(data, path), f"{item}:{name} dropping {path}"
        tried += 1
    assert tried > 500


DOCUMENT = (b'<?xml version="1.0" encoding="UTF-8"?>\n<course id="3">\n'
            b'  <fullname>Old &amp; <![CDATA[cdata]]></fullname>\n  <shortname/>\n'
            b"  <!-- keep me -->\n  <tags>\n    <tag id='1'><name>a</name></tag>\n"
            b"    <tag id='2'><name>b</name></tag>\n  </tags>\n  <summary>s</summary>\n"
            b"</course>\n")


@pytest.mark.parametrize("engine", ENGINES)
def test_inserts_and_nulls(engine):
    def course(element):  # twice: the leaves before <tags>, then <summary> after it
        if "fullname" in element:
            element.replace("fullname", "New <name>")
            element.replace("shortname", None)
            element.insert_before(b"<!-- before -->")
        else:
            element.replace("summary", "S")

    def tag(element):
        if element["name"] == "a":
            element.insert_after(b"<tag id='9'><name>z</name></tag>")
        element.append(b"<rawname>R</rawname>")

    output = rewrite(DOCUMENT, {"/course": course, "/course/tags/tag": tag}, engine)
    expected = (DOCUMENT
                .replace(b"Old &amp; <![CDATA[cdata]]>", b"New &lt;name&gt;")
                .replace(b"<shortname/>", b"<shortname>$@NULL@$</shortname>")
                .replace(b'<course id="3">', b'<!-- before --><course id="3">')
                .replace(b"<name>a</name></tag>",
                         b"<name>a</name><rawname>R</rawname></tag><tag id='9'><name>z</name></tag>")
                .replace(b"<name>b</name></tag>", b"<name>b</name><rawname>R</rawname></tag>")
                .replace(b"<summary>s</summary>", b"<summary>S</summary>"))
    assert output == expected


@pytest.mark.parametrize("engine", ENGINES)
def test_composed_handlers_see_original_values_and_stop_after_a_drop(engine):
    calls = []

    def first(element):
        calls.append(("first", element["name"]))
        element.replace("name", element["name"].upper())
        if element["name"] == "b":
            element.drop()

    def second(element):
        calls.append(("second", element["name"]))

    out: list[bytes] = []
    rewriter = Rewriter(out.append)
    rewriter.add_path("/course/tags/tag", first)
    rewriter.add_path("/course/tags/tag", second)
    with _core.engine_in_use(engine):
        rewriter.rewrite(DOCUMENT)
    assert calls == [("first", "a"), ("second", "a"), ("first", "b")]
    output = b"".join(out)
    assert b"<name>A</name>" in output and b"<name>b</name>" not in output
    assert b"<tag id='2'>" not in output


@pytest.mark.parametrize("engine", ENGINES)
def test_memory_is_bounded_by_the_pending_record(engine):
    """A long document streams: what the rewriter holds stays far below its size."""
    body = b"".join(b"<post id='%d'><message>%s</message></post>\n" % (n, b"x" * 200)
                    for n in range(20000))
    data = b"<forum><posts>\n" + body + b"</posts></forum>"
    held = []
    out: list[bytes] = []
    rewriter = Rewriter(out.append)
    rewriter.add_path("/forum/posts/post", lambda e: e.replace("message", "y"))
    with _core.engine_in_use(engine):
        for chunk in chunks(data, 1 << 14):
            rewriter.feed(chunk)
            held.append(len(rewriter._pending))
        rewriter.close()
    assert max(held) < 64 << 10 < len(data)
    assert b"".join(out) == data.replace(b"x" * 200, b"y")


@pytest.mark.parametrize("engine", ENGINES)
def test_bad_documents_are_refused(engine):
    for bad in (b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', b"<a><b></a>", b"<a>\xff</a>"):
        with pytest.raises(XmlError):
            rewrite(bad, {"/a": lambda e: None}, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_changes_before_the_held_part_are_refused(engine):
    """Leaves after a nested element form a second record: its element start has been
    written already, so dropping the element then is refused, not done badly."""
    data = b"<a><r><x>1</x><n><m>2</m></n><y>3</y></r></a>"
    seen = []

    def handler(element):
        seen.append(dict(element.fields))
        if "y" in element:
            element.drop()

    with pytest.raises(RewriteError):
        rewrite(data, {"/a/r": handler, "/a/r/n": lambda e: None}, engine)
    assert seen == [{"x": "1"}, {"y": "3"}]


@pytest.mark.parametrize("engine", ENGINES)
def test_handler_errors_propagate(engine):
    def handler(element):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        rewrite(DOCUMENT, {"/course": handler}, engine)


def test_attribute_replacement_is_refused():
    out: list[bytes] = []
    rewriter = Rewriter(out.append)
    rewriter.add_path("/course", lambda e: e.replace("id", "4"))
    with pytest.raises(RewriteError, match="not a leaf"):
        rewriter.rewrite(DOCUMENT)


@pytest.mark.parametrize("engine", ENGINES)
def test_once_paths_stop_the_parse_when_every_change_is_known(engine):
    """With every path registered ``once`` and seen, the rest is copied unparsed (so
    even a broken tail passes, as in an untouched member); one path that is not
    ``once`` keeps the whole document parsed."""
    tail = b"<posts>" + b"<post><m>x</m></post>" * 5000 + b"</posts><broken"
    data = b"<activity><forum id='1'><name>old</name><duedate>5</duedate>" + tail
    out: list[bytes] = []
    rewriter = Rewriter(out.append)
    rewriter.add_path("/activity/forum", lambda e: e.replace("duedate", "6"), once=True)
    with _core.engine_in_use(engine):
        rewriter.rewrite(chunks(data, 4096))
    assert b"".join(out) == data.replace(b"<duedate>5<", b"<duedate>6<")
    rewriter = Rewriter([].append)
    rewriter.add_path("/activity/forum", lambda e: None, once=True)
    rewriter.add_path("/activity/forum/posts/post", lambda e: None)
    with _core.engine_in_use(engine), pytest.raises(XmlError):
        rewriter.rewrite(chunks(data, 4096))
