"""Folding raw XML for name search (mbx.xml.folding): both twins, against hand-made
expectations and an lxml + html + unicodedata reading of the corpus.

The twins must agree on every corpus member, whole and streamed in odd chunks
(the carry protocol: feed ``data[consumed:]`` again with the next bytes); a
name found must cover input bytes that read, once decoded by lxml and
``html.unescape`` and folded by ``unicodedata``, as that name.
"""

from __future__ import annotations

import html
import threading
import importlib
import re
import unicodedata

import pytest
from lxml import etree

import corpus
from mbx import _impl

TWINS = [importlib.import_module(name) for name in _impl.variants("_fold")]


@pytest.fixture(params=TWINS, ids=lambda module: module.__name__.rsplit(".", 1)[-1])
def twin(request):
    return request.param


def reference_fold(text: str) -> str:
    """An independent reading: NFKD, no combining marks, casefold, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(stripped.casefold().split())


def fold_all(twin, data: bytes, final_chunk: int | None = None) -> tuple[str, list[int]]:
    """The whole fold of ``data``, fed in chunks of ``final_chunk`` bytes (the carry
    protocol), as one string and its origins."""
    if final_chunk is None:
        folded, origins, consumed = twin.fold_xml(data, True)
        assert consumed == len(data)
        return folded, list(origins)
    texts, offsets = [], []
    pending, base = b"", 0
    for start in range(0, len(data), final_chunk):
        pending += data[start:start + final_chunk]
        folded, origins, consumed = twin.fold_xml(pending, False)
        texts.append(folded)
        offsets.extend(base + origin for origin in list(origins)[:-1])
        pending, base = pending[consumed:], base + consumed
    folded, origins, consumed = twin.fold_xml(pending, True)
    texts.append(folded)
    offsets.extend(base + origin for origin in origins)
    return "".join(texts), offsets


CASES = [
    # (raw XML, folded) written out by hand
    (b"<a>Jos&#233; GARC&#xCD;A</a>", "\x00jose garcia\x00"),
    (b"<a>Jos&amp;eacute;  \n Garc&amp;#237;a</a>", "\x00jose garcia\x00"),
    (b"<a>Jose\xcc\x81 Stra\xc3\x9fe \xc3\x98re</a>", "\x00jose strasse ore\x00"),
    (b'<a x="J>o">&lt;b title="Ann"&gt;x&lt;/b&gt;</a>', '\x00\x01b title="ann">x\x01/b>\x00'),
    (b"<a><![CDATA[<p>Ren\xc3\xa9e &eacute;</p>]]></a>", "\x00\x00\x01p>renee e\x01/p>\x00\x00"),
    (b"<!-- Bob --><?pi x?><a>A&nbsp;B &amp;nbsp;C</a>", "\x00 bob \x00\x00\x00a&nbsp;b c\x00"),
    (b"<a>&bogus; &#0; &amp;amp;</a>", "\x00&bogus; &#0; &\x00"),
    (b"<a>\xef\xac\x81le \xe2\x80\x83x</a>", "\x00file x\x00"),
]


@pytest.mark.parametrize("raw, expected", CASES)
def test_fold_cases(twin, raw, expected):
    assert twin.fold_xml(raw, True)[0] == expected


def test_fold_origins_cover_whole_tokens(twin):
    raw = b"<a>Jos&amp;eacute; GARC&#205;A</a>"
    folded, origins, _ = twin.fold_xml(raw, True)
    start = folded.index("jose")
    end = start + len("jose garcia")
    assert raw[origins[start]:origins[end]] == b"Jos&amp;eacute; GARC&#205;A"


def test_unfinished_input_waits_for_more(twin):
    raw = b"<a>done</a><b>Jos&am"
    folded, origins, consumed = twin.fold_xml(raw, False)
    assert raw[consumed:] == b"Jos&am"  # the open text run is folded again later
    assert folded == "\x00done\x00\x00"
    assert origins[len(folded)] == consumed
    for cut in (b"<a>x</a><![CDA", b"<a>x</a>\xc3", b"<a>x</a><!-- a -", b"<a>x</a><b y='>"):
        _, _, consumed = twin.fold_xml(cut, False)
        assert consumed < len(cut)


def test_twins_agree_on_every_corpus_member():
    """Every twin this process runs folds every member as the pure one does."""
    pure = TWINS[0]
    for item in corpus.items():
        for name, data in corpus.xml_members(item):
            expected = pure.fold_xml(data, True)
            for other in TWINS[1:]:
                assert other.fold_xml(data, True) == expected, (item, name)
            assert expected[2] == len(data)


@pytest.mark.parametrize("chunk", [1, 7, 61, 4093])
def test_streaming_equals_whole(twin, chunk):
    for item in corpus.items()[::9]:
        for name, data in list(corpus.xml_members(item))[:6]:
            data = data[:40000]
            assert fold_all(twin, data, chunk) == fold_all(twin, data), (item, name, chunk)


def test_names_found_read_as_the_name(twin):
    """Every text leaf of a corpus sample, planted with a name in several spellings:
    each match decodes (lxml, html.unescape, unicodedata) to the name."""
    names = ["józef mueller", "ana lopez", "smith, john"]
    trie = twin.NameTrie([reference_fold(name) for name in names])
    raw = ("<r><a>J\u00d3ZEF MUELLER &amp; Ana&amp;nbsp;L&amp;oacute;pez</a>"
           "<b>&lt;i&gt;Smith,  John&lt;/i&gt; smithson, john ana lopezz</b>"
           "<c>&lt;ana lopez&gt;</c><d>x=&lt;a ana lopez=1&gt;</d></r>").encode()
    found, consumed = twin.find_names(raw, True, trie)
    assert consumed == len(raw)
    texts = []
    for start, end, index in found:
        fragment = etree.fromstring(b"<x>" + raw[start:end] + b"</x>").text
        assert reference_fold(html.unescape(fragment)) == reference_fold(names[index])
        texts.append(index)
    # "ana lopezz" and "smithson, john" are not whole words; "<ana" is a tag name and
    # "lopez=" an attribute name inside HTML
    assert texts == [0, 1, 2]


def test_twins_find_the_same_names_in_the_corpus():
    """Words of the corpus searched as names: every twin finds what the pure one
    finds, and each match spans the word as lxml reads it."""
    words = re.compile(rb"[A-Za-z]{5,12}")
    for item in corpus.items()[::5]:
        members = list(corpus.xml_members(item))[:8]
        sample = sorted({match.group().decode().lower() for _, data in members
                         for match in words.finditer(data[:5000])})[:300]
        tries = [twin.NameTrie(sample) for twin in TWINS]
        for name, data in members:
            expected = TWINS[0].find_names(data, True, tries[0])
            for twin, trie in zip(TWINS[1:], tries[1:]):
                assert twin.find_names(data, True, trie) == expected, (item, name)
            for start, end, index in expected[0][:50]:
                assert data[start:end].decode().lower() == sample[index]


def test_searches_in_many_threads_at_once(twin):
    """The compiled search runs without the GIL, each call on a buffer of its own (a
    scratch one, or a fresh one when more calls run than there are scratch buffers):
    twelve threads searching the same members at once find what one search finds."""
    members = [data for item in corpus.items()[::7] for _, data in
               list(corpus.xml_members(item))[:3]]
    words = sorted({match.group().decode().lower() for data in members
                    for match in re.finditer(rb"[A-Za-z]{5,9}", data[:3000])})[:200]
    trie = twin.NameTrie(words)
    expected = [twin.find_names(data, True, trie) for data in members]
    assert any(found for found, _ in expected)
    results: list = [None] * 12
    start = threading.Barrier(len(results))

    def search(slot: int) -> None:
        start.wait()
        results[slot] = [twin.find_names(data, True, trie) for data in members for _ in
                         range(3)][::3]
    threads = [threading.Thread(target=search, args=(slot,)) for slot in range(len(results))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result == expected for result in results)
