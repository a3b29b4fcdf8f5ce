"""The XML writer: Moodle's layout, escaping, the state machine, and round trips."""

from __future__ import annotations

import importlib
import io

import pytest

import mbx.xml._escaping as escaping
from mbx import _impl
from mbx.errors import XmlWriterError
from mbx.xml import Parser, XmlWriter

ESCAPERS = _impl.variants("_escape")


@pytest.fixture(params=ESCAPERS, ids=lambda name: name.rsplit(".", 1)[-1])
def escaper(request, monkeypatch):
    """Runs the test once per escaping implementation."""
    module = importlib.import_module(request.param)
    import mbx.xml.writer as writer_module
    monkeypatch.setattr(writer_module, "escape_text", module.escape_text)
    monkeypatch.setattr(writer_module, "escape_attribute", module.escape_attribute)
    return module


def written(build) -> bytes:
    stream = io.BytesIO()
    writer = XmlWriter(stream, buffer_size=7)
    build(writer)
    writer.close()
    return stream.getvalue()


def test_layout_matches_moodle(escaper):
    def build(w):
        with w.element("activity", {"id": 1, "modulename": "forum"}):
            with w.element("forum", {"id": 2}):
                w.leaf("name", "News")
                w.leaf("intro", "")
                w.leaf("wordcount", None)
                w.leaf("flag", True)
                w.leaf("off", False)
                with w.element("discussions"):
                    pass
    assert written(build) == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<activity id="1" modulename="forum">\n'
        b'  <forum id="2">\n'
        b"    <name>News</name>\n"
        b"    <intro></intro>\n"
        b"    <wordcount>$@NULL@$</wordcount>\n"
        b"    <flag>1</flag>\n"
        b"    <off></off>\n"
        b"    <discussions>\n"
        b"    </discussions>\n"
        b"  </forum>\n"
        b"</activity>")


@pytest.mark.parametrize("value, text, attribute", [
    ("plain", b"plain", b"plain"),
    ("a & b < c > d", b"a &amp; b &lt; c &gt; d", b"a &amp; b &lt; c &gt; d"),
    ("say \"hi\" 'x'", b"say \"hi\" 'x'", b"say &quot;hi&quot; 'x'"),
    ("line\r\nnext\rlast", b"line\nnext\nlast", b"line\nnext\nlast"),
    ("ctl\x00\x01\x08\x0b\x0c\x0e\x1f\x7fend\ttab", b"ctlend\ttab", b"ctlend\ttab"),
    ("caf\u00e9 \u65e5\u672c \U0001F600", "caf\u00e9 \u65e5\u672c \U0001F600".encode(),
     "caf\u00e9 \u65e5\u672c \U0001F600".encode()),
    ("bad\ud800\udfff\ufffe\uffffok", b"badok", b"badok"),
])
def test_escaping(escaper, value, text, attribute):
    assert escaper.escape_text(value) == text
    assert escaper.escape_attribute(value) == attribute


@pytest.mark.parametrize("misuse, message", [
    (lambda w: (w.start("a"), w.end("b")), "while <a> is open"),
    (lambda w: w.end("a"), "no element open"),
    (lambda w: (w.leaf("a", 1), w.leaf("b", 2)), "after the root"),
    (lambda w: w.start("1bad"), "invalid element name"),
    (lambda w: w.start("a", {"bad name": 1}), "invalid attribute name"),
])
def test_state_machine_refuses_misuse(misuse, message):
    writer = XmlWriter(io.BytesIO())
    with pytest.raises(XmlWriterError, match=message):
        misuse(writer)


def test_close_refuses_open_elements_and_empty_documents():
    writer = XmlWriter(io.BytesIO())
    writer.start("a")
    writer.start("b")
    with pytest.raises(XmlWriterError, match="/a/b"):
        writer.close()
    with pytest.raises(XmlWriterError, match="before any root"):
        XmlWriter(io.BytesIO()).close()


def test_round_trip_gives_back_the_records(engine, escaper):
    posts = [{"subject": f"Re: {i} <&> \"q\"", "message": f"<p>caf\u00e9 {i}\n\u65e5\u672c</p>",
              "wordcount": None if i % 2 else str(i), "empty": "", "spaces": "  x  "}
             for i in range(50)]

    def build(w):
        with w.element("activity", {"id": "1"}), w.element("forum", {"id": "2"}):
            w.leaf("name", "F & co")
            with w.element("posts"):
                for i, post in enumerate(posts):
                    w.record("post", post, attrs={"id": i, "note": "a\"b<c"})
            with w.element("grades"):
                pass

    data = written(build)
    got_posts, got_forum = [], []
    parser = Parser()
    parser.add_path("/activity/forum", got_forum.append)
    parser.add_path("/activity/forum/posts/post", got_posts.append)
    parser.parse(data)
    # <grades> comes after a nested child: a late, all-blank chunk, not dispatched
    assert got_forum == [{"id": "2", "name": "F & co"}]
    assert got_posts == [{"id": str(i), "note": "a\"b<c", **post} for i, post in enumerate(posts)]


def test_writer_streams_through_a_small_buffer():
    class Sink(io.RawIOBase):
        def __init__(self):
            self.writes = []

        def writable(self):
            return True

        def write(self, data):
            self.writes.append(len(data))
            return len(data)

    sink = Sink()
    writer = XmlWriter(sink, buffer_size=1024)
    with writer.element("a"):
        for i in range(5000):
            writer.leaf("x", i)
    writer.close()
    assert len(sink.writes) > 40
    assert max(sink.writes) < 1024 + 64


def test_switch_point_picks_one_escaper():
    import mbx
    expected = "mbx._speedups._escape" if mbx.implementation == "cython" else "mbx.xml._escape_py"
    assert escaping.escape_text.__module__ == expected
