"""The record semantics documented in mbx.xml.parser, on both engines.

Each rule, and each place where mbx departs from Moodle on purpose, has a test
here; every test runs once per engine (the ``engine`` fixture).
"""

from __future__ import annotations

import io

import pytest

from mbx.errors import MbxError
from mbx.xml import SKIP, Limits, Parser, RegistrationError
from mbx.xml import parser as parser_module


def records(doc: bytes | str, *paths: str, grouped: tuple[str, ...] = (),
            below: tuple[str, ...] = (), chunks: int | None = None) -> list[tuple[str, dict]]:
    data = doc.encode() if isinstance(doc, str) else doc
    out: list[tuple[str, dict]] = []
    parser = Parser()
    for path in paths:
        parser.add_path(path, lambda record, path=path: out.append((path, record)),
                        grouped=path in grouped)
    for path in below:
        parser.add_path(path)
    if chunks:
        parser.parse(data[at:at + chunks] for at in range(0, len(data), chunks))
    else:
        parser.parse(data)
    return out


# -- fields ----------------------------------------------------------------------------

def test_attributes_and_leaves_make_one_record(engine):
    doc = '<a><post id="7" subject="attr"><subject>leaf</subject><n>1</n></post></a>'
    assert records(doc, "/a/post") == [("/a/post", {"id": "7", "subject": "leaf", "n": "1"})]


def test_null_token_is_none_and_values_are_not_trimmed(engine):
    doc = "<a><r><x>$@NULL@$</x><y>  spaced  </y><z></z><w/></r></a>"
    assert records(doc, "/a/r") == [("/a/r", {"x": None, "y": "  spaced  ", "z": "", "w": ""})]


def test_last_non_empty_repetition_wins(engine):
    doc = "<a><r><x>first</x><x>second</x><x>  </x><x/><y/><y>set</y><z>$@NULL@$</z><z></z></r></a>"
    assert records(doc, "/a/r") == [("/a/r", {"x": "second", "y": "set", "z": None})]


def test_leaf_attributes_and_mixed_text_are_discarded(engine):
    doc = "<a><r>mixed<x lang='en'>v</x>more</r></a>"
    assert records(doc, "/a/r") == [("/a/r", {"x": "v"})]


def test_references_cdata_and_line_ends(engine):
    doc = (b"<a><r k='a&#10;b\tc\r\nd'><x>&lt;p&gt; &amp;&quot;&apos;&#233;&#x1F600;</x>"
           b"<y><![CDATA[<b>raw</b> &amp;]]>\r\nz\r</y></r></a>")
    assert records(doc, "/a/r") == [("/a/r", {
        "k": "a\nb c d", "x": "<p> &\"'\u00e9\U0001F600", "y": "<b>raw</b> &amp;\nz\n"})]


def test_common_references_and_non_ascii_runs_split_anywhere(engine):
    """Escaped HTML and runs of other scripts, as forum posts hold them, cut at every byte."""
    text = "&lt;p&gt;Ελληνικά &amp;amp; русский&lt;/p&gt;&gt;日本語😀&lt;x"
    doc = f"<a><r><m>{text}</m><n>é&amp;</n></r></a>".encode()
    expected = [("/a/r", {"m": "<p>Ελληνικά &amp; русский</p>>日本語😀<x", "n": "é&"})]
    for size in (0, 1, 2, 3, 5, 7):
        assert records(doc, "/a/r", chunks=size) == expected, size


# -- wrappers and what is dispatched ------------------------------------------------------

FORUM = """<activity id="1"><forum id="2"><name>F</name>
  <discussions>
  </discussions>
  <subscriptions>
  </subscriptions>
  <grades/>
</forum></activity>"""


def test_registered_empty_wrapper_is_dropped_unregistered_stays(engine):
    got = records(FORUM, "/activity/forum", "/activity/forum/discussions/discussion")
    assert got == [("/activity/forum", {"id": "2", "name": "F", "subscriptions": "\n  ",
                                        "grades": ""})]


def test_blank_records_without_attributes_are_not_dispatched(engine):
    doc = "<a><r><x> </x><y/></r><r><x>$@NULL@$</x></r><r id='1'><x/></r></a>"
    assert records(doc, "/a/r") == [("/a/r", {"id": "1", "x": ""})]


def test_element_with_attributes_only_needs_an_attributed_child(engine):
    doc = "<a><r id='1'/><r id='2'><inner><deep>v</deep></inner></r><r id='3'><c k='v'><d>x</d></c></r></a>"
    # like Moodle: no leaves and no attributed nested child -> never dispatched
    assert records(doc, "/a/r") == [("/a/r", {"id": "3"})]


def test_parent_before_children_in_document_order(engine):
    doc = ("<f><name>F</name><ds><d id='1'><name>D1</name><ps><p id='10'><m>a</m></p>"
           "<p id='11'><m>b</m></p></ps></d><d id='2'><name>D2</name></d></ds></f>")
    got = records(doc, "/f", "/f/ds/d", "/f/ds/d/ps/p")
    assert [(path, record.get("id", record.get("name"))) for path, record in got] == [
        ("/f", "F"), ("/f/ds/d", "1"), ("/f/ds/d/ps/p", "10"), ("/f/ds/d/ps/p", "11"),
        ("/f/ds/d", "2")]


def test_leaves_after_a_nested_child_come_as_a_second_record(engine):
    doc = "<a><r id='1'><x>early</x><nested><n>1</n></nested><y>late</y></r></a>"
    assert records(doc, "/a/r") == [("/a/r", {"id": "1", "x": "early"}),
                                     ("/a/r", {"y": "late"})]


def test_departure_1_attributed_non_leaf_child_is_not_a_field(engine):
    doc = "<a><r><x>1</x><c k='v'><d>2</d></c></r></a>"
    # Moodle would add "c": null here
    assert records(doc, "/a/r") == [("/a/r", {"x": "1"})]


# -- grouped ---------------------------------------------------------------------------

COURSE = """<course id="5"><shortname>C</shortname>
  <category id="1"><name>Misc</name></category>
  <tags>
    <tag id="1"><name>one</name></tag>
    <tag id="2"><name>two</name></tag>
  </tags>
  <ignored><x>1</x></ignored>
</course>"""


def test_grouped_nests_registered_descendants(engine):
    got = records(COURSE, "/course", grouped=("/course",),
                  below=("/course/category", "/course/tags/tag"))
    assert got == [("/course", {
        "id": "5", "shortname": "C",
        "category": [{"id": "1", "name": "Misc"}],
        "tags": {"tag": [{"id": "1", "name": "one"}, {"id": "2", "name": "two"}]}})]


def test_grouped_lists_attach_to_the_last_parent_occurrence(engine):
    doc = ("<q><cats><cat id='1'><n>a</n><qs><q id='10'><t>x</t></q></qs></cat>"
           "<cat id='2'><n>b</n><qs><q id='20'><t>y</t></q><q id='21'><t>z</t></q></qs></cat>"
           "</cats></q>")
    got = records(doc, "/q/cats/cat", grouped=("/q/cats/cat",), below=("/q/cats/cat/qs/q",))
    assert got == [
        ("/q/cats/cat", {"id": "1", "n": "a", "qs": {"q": [{"id": "10", "t": "x"}]}}),
        ("/q/cats/cat", {"id": "2", "n": "b", "qs": {"q": [{"id": "20", "t": "y"},
                                                         {"id": "21", "t": "z"}]}})]
    deep = records(doc, "/q", grouped=("/q",), below=("/q/cats/cat", "/q/cats/cat/qs/q"))
    cats = deep[0][1]["cats"]["cat"]
    assert [len(cat["qs"]["q"]) for cat in cats] == [1, 2]


def test_departure_2_late_leaves_merge_inside_a_group(engine):
    doc = "<g><r id='1'><x>early</x><n><m>1</m></n><y>late</y></r></g>"
    got = records(doc, "/g", grouped=("/g",), below=("/g/r",))
    assert got == [("/g", {"r": [{"id": "1", "x": "early", "y": "late"}]})]


def test_departure_3_grouped_element_keeps_attributes_and_is_always_dispatched(engine):
    doc = "<a><g id='9'><items><i><v>1</v></i></items></g><g/></a>"
    got = records(doc, "/a/g", grouped=("/a/g",), below=("/a/g/items/i",))
    assert got == [("/a/g", {"id": "9", "items": {"i": [{"v": "1"}]}}), ("/a/g", {})]


def test_grouped_inside_grouped_is_refused():
    parser = Parser()
    parser.add_path("/a", print, grouped=True)
    with pytest.raises(RegistrationError):
        parser.add_path("/a/b", print, grouped=True)
    other = Parser()
    other.add_path("/a/b", print, grouped=True)
    with pytest.raises(RegistrationError):
        other.add_path("/a", print, grouped=True)


def test_handler_below_a_grouped_path_is_refused():
    parser = Parser()
    parser.add_path("/a", print, grouped=True)
    with pytest.raises(RegistrationError, match="no handler"):
        parser.add_path("/a/b", print)


@pytest.mark.parametrize("path", ["a/b", "/", "", "/a//b", "/a/b c", "/a/é"])
def test_malformed_paths_are_refused(path):
    with pytest.raises(RegistrationError):
        Parser().add_path(path, print)


def test_duplicate_registration_and_registration_mid_parse_are_refused():
    parser = Parser()
    parser.add_path("/a", print)
    with pytest.raises(RegistrationError):
        parser.add_path("/a", print)
    parser.feed(b"<a>")
    with pytest.raises(RegistrationError):
        parser.add_path("/a/b", print)


# -- skipping and handler errors ----------------------------------------------------------

def test_skip_suppresses_the_subtree(engine):
    doc = ("<f><d id='1'><n>a</n><ps><p id='1'><m>x</m></p></ps></d>"
           "<d id='2'><n>b</n><ps><p id='2'><m>y</m></p></ps></d></f>")
    out = []

    def on_discussion(record):
        out.append(("d", record["id"]))
        return SKIP if record["id"] == "1" else None

    parser = Parser()
    parser.add_path("/f/d", on_discussion)
    parser.add_path("/f/d/ps/p", lambda record: out.append(("p", record["id"])))
    parser.parse(doc.encode())
    assert out == [("d", "1"), ("d", "2"), ("p", "2")]


def test_departure_4_skip_also_drops_the_elements_own_late_leaves(engine):
    doc = "<a><r><x>1</x><n><m>2</m></n><y>late</y></r><r><x>3</x></r></a>"
    seen = []

    def handler(record):
        seen.append(record)
        return SKIP

    parser = Parser()
    parser.add_path("/a/r", handler)
    parser.parse(doc.encode())
    # Moodle would also deliver {"y": "late"}
    assert seen == [{"x": "1"}, {"x": "3"}]


def test_handler_exception_propagates_with_its_location(engine):
    failure = KeyError("boom")

    def handler(record):
        raise failure

    parser = Parser(source="member.xml")
    parser.add_path("/a/r", handler)
    with pytest.raises(KeyError) as caught:
        parser.parse(b"<a>\n<r><x>1</x></r>\n<r><x>2</x></r></a>")
    assert caught.value is failure
    location = caught.value.mbx_location
    assert location["source"] == "member.xml" and location["line"] == 2
    assert location["path"].startswith("/a")
    assert any("member.xml:2:" in note for note in caught.value.__notes__)


def test_handler_raising_mbx_error_is_not_relabelled(engine):
    failure = MbxError("mine", code="my-code")

    def handler(record):
        raise failure

    parser = Parser(source="s")
    parser.add_path("/a/r", handler)
    with pytest.raises(MbxError) as caught:
        parser.parse(b"<a><r><x>1</x></r></a>")
    assert caught.value is failure and caught.value.code == "my-code"


# -- inputs and streaming ------------------------------------------------------------------

MIXED = ("<?xml version='1.0' encoding='UTF-8'?>\r\n<!-- c -->\n<?pi data?>"
         "<root a='&lt;1&gt;'>\r\n"
         + "".join(f"<r id='{i}'><x>caf\u00e9 &amp; \U0001F600 {i}\r\n</x>"
                   f"<y><![CDATA[a]]b]]>]]<!-- mid --><?p q?>tail</y><z>$@NULL@$</z>"
                   f"<n><m k='\u65e5'>v</m></n><late>{i}</late></r>\n" for i in range(30))
         + "</root>\n<!-- after -->  ").encode()


def test_records_identical_however_the_input_is_split(engine):
    whole = records(MIXED, "/root", "/root/r", "/root/r/n")
    assert len(whole) == 1 + 30 * 2 + 30
    for size in (1, 2, 3, 7, 13, 61, 509, 4099):
        assert records(MIXED, "/root", "/root/r", "/root/r/n", chunks=size) == whole, size
    grouped = records(MIXED, "/root/r", grouped=("/root/r",), below=("/root/r/n/m",))
    for size in (1, 5, 17):
        assert records(MIXED, "/root/r", grouped=("/root/r",), below=("/root/r/n/m",),
                       chunks=size) == grouped


class CountingReader(io.RawIOBase):
    """A binary file that records the size of every read."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)
        self.reads: list[int] = []

    def readable(self) -> bool:
        return True

    def read(self, size=-1) -> bytes:
        self.reads.append(size)
        return self.data.read(size)


def test_sources_path_bytes_file_and_chunks_agree(engine, tmp_path):
    file = tmp_path / "doc.xml"
    file.write_bytes(MIXED)
    expected = records(MIXED, "/root/r")
    for source in (str(file), file, MIXED, io.BytesIO(MIXED), iter([MIXED[:100], MIXED[100:]])):
        out = []
        parser = Parser()
        parser.add_path("/root/r", out.append)
        parser.parse(source)
        assert [("/root/r", record) for record in out] == expected


def test_file_objects_are_read_in_bounded_chunks(engine, monkeypatch):
    monkeypatch.setattr(parser_module, "READ_SIZE", 4096)
    big = b"<a>" + b"<r><x>0123456789</x></r>" * 20000 + b"</a>"
    reader = CountingReader(big)
    count = []
    parser = Parser()
    parser.add_path("/a/r", count.append)
    parser.parse(reader)
    assert len(count) == 20000
    assert all(0 < size <= 4096 for size in reader.reads)
    assert len(reader.reads) > len(big) // 4096


def test_feed_and_close_and_reuse(engine):
    out = []
    parser = Parser()
    parser.add_path("/a/r", out.append)
    for piece in (b"<a><r><x>", b"1</x></r>", b"</a>"):
        parser.feed(piece)
    parser.close()
    parser.parse(b"<a><r><x>2</x></r></a>")
    assert out == [{"x": "1"}, {"x": "2"}]


def test_limits_must_be_positive_ints():
    for bad in (0, -1, 1.5, None):
        with pytest.raises(ValueError):
            Limits(max_depth=bad)


def test_raised_limit_lets_a_deep_document_through(engine):
    doc = b"<a>" * 300 + b"</a>" * 300
    with pytest.raises(MbxError) as caught:
        Parser().parse(doc)
    assert caught.value.code == "xml-limit-depth"
    Parser(limits=Limits(max_depth=400)).parse(doc)
