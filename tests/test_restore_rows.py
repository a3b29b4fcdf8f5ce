"""The restore's per-row twins (``mbx.restore.rowvalues``): a row's insert tuple and
a text's counts, on both engines, against readings made here with the schema's own
``Column.coerce`` and with ``str.split``/``str.isspace``."""

from __future__ import annotations

import html
import importlib
import re
from decimal import Decimal

import pytest

from mbx import _impl
from mbx.errors import FormatError
from mbx.moodle2 import schema
from mbx.restore import engine
from mbx.restore.hooks import forum_counts

TWINS = [importlib.import_module(name) for name in _impl.variants("_rows")]
IDS = [twin.__name__ for twin in TWINS]


def _expected(table: schema.Table, row: dict) -> tuple:
    """The row as insert_record makes it, column by column."""
    values = []
    for column in table.columns:
        fill = engine._fill(column)
        value = row.get(column.name, fill)
        if value is None and column.notnull:
            value = fill
        values.append(column.coerce(value))
    return tuple(values)


ROWS = [
    {"id": 7, "discussion": "12", "parent": "0", "userid": 3, "created": " 1700000000 ",
     "subject": "Re: 42", "message": "<p>hi</p>", "wordcount": None, "mailed": "",
     "totalscore": True, "privatereplyto": "+5"},
    {"id": 8, "discussion": "1" * 25, "message": "x", "charcount": "3.0"},
    {"id": 9, "message": None, "attachment": None, "deleted": False, "parent": "٣"},
    {"id": 10},
]


@pytest.mark.parametrize("twin", TWINS, ids=IDS)
@pytest.mark.parametrize("row", ROWS)
def test_row_values_is_coerce_column_by_column(twin, row):
    table = schema.table("forum_posts")
    values = twin.row_values(row, *engine._layout(table))
    assert values == _expected(table, row)
    assert [type(value) for value in values] == [type(value) for value in _expected(table, row)]


@pytest.mark.parametrize("twin", TWINS, ids=IDS)
def test_row_values_keeps_decimals_and_text(twin):
    table = schema.table("grade_items")
    row = {"id": 1, "grademax": "10.50000", "itemname": "12", "courseid": "4"}
    values = dict(zip(table.column_names, twin.row_values(row, *engine._layout(table))))
    assert values["grademax"] == Decimal("10.50000")
    assert values["itemname"] == "12"           # a char column keeps its text
    assert values["courseid"] == 4


@pytest.mark.parametrize("twin", TWINS, ids=IDS)
@pytest.mark.parametrize("bad", ["twelve", "1e", "--3", "0x10"])
def test_row_values_refuses_what_coerce_refuses(twin, bad):
    table = schema.table("grade_items")
    row = {"id": 1, "grademax": bad}
    with pytest.raises((ValueError, ArithmeticError)):
        table.by_name["grademax"].coerce(bad)
    assert twin.row_values(row, *engine._layout(table)) is None


def test_the_engine_names_the_column_that_is_not_a_number():
    layout = engine._layout(schema.table("forum_posts"))
    error = engine._bad_value("forum_posts", {"id": 1, "userid": "3", "created": "soon"}, layout)
    assert isinstance(error, FormatError)
    assert error.code == "restore-bad-value"
    assert "forum_posts.created" in str(error) and "'soon'" in str(error)


TEXTS = ["", "   ", "one", " two  words ", "tab\tand\nnew\x0bline\x1c",
         "accénts ünd ümlaute", "no\u00a0break\u2003em\u3000ideographic", "emoji 😀 two",
         "zero\u200bwidth", "\x85next line", "x" * 5000 + " y"]


@pytest.mark.parametrize("twin", TWINS, ids=IDS)
@pytest.mark.parametrize("text", TEXTS)
def test_count_text_is_split_and_isspace(twin, text):
    assert twin.count_text(text) == (len(text.split()),
                                     sum(1 for character in text if not character.isspace()))


def _moodle_counts(message: str) -> tuple[int, int]:
    """count_words and count_letters read as two separate texts, the long way."""
    breaks = re.sub(r"(</(?!(?:a|b|del|em|i|ins|s|small|span|strong|sub|sup|u)>)\w+>|<br>|<br\s*/>)",
                    lambda match: match[0] + " ", message)
    words = len(html.unescape(re.sub(r"<[^>]*>", "", breaks)).split())
    plain = html.unescape(re.sub(r"<[^>]*>", " ", message))
    return words, sum(1 for character in plain if not character.isspace())


@pytest.mark.parametrize("message", [
    "", "plain words only", "<p>Two</p><p>paragraphs</p>", "in<b>line</b> stays one",
    "a<br>b<br/>c<br />d", "<a <br>x", "&amp; &lt;tag&gt; caf&eacute;", "&am<b>p; split",
    "<p>é&nbsp;à</p>", "<div>\u00a0 nbsp</div>", "< not a tag", "<p>unclosed",
])
def test_forum_counts_agree_with_the_two_texts(message):
    assert forum_counts(message) == _moodle_counts(message)


BREAKS = r"(</(?!(?:a|b|del|em|i|ins|s|small|span|strong|sub|sup|u)>)\w+>|<br>|<br\s*/>)"


def _word_text(message: str) -> str:
    return re.sub(r"<[^>]*>", "", re.sub(BREAKS, lambda match: match[0] + " ", message))


#: pieces that make tags, breaks, near-breaks and text when strung together at random
PIECES = ["<", ">", "/", "</", "<br", "br", "p", "span", "sub", "s", "abbr", "_", "٣", "é",
          " ", "\t", "\u2003", "x", "word", "&amp;", "<br/>", "<br \n/>", "</p>", "</em>", "😀"]


def _random_messages(count: int, seed: int) -> list[str]:
    import random
    generator = random.Random(seed)
    return ["".join(generator.choice(PIECES) for _ in range(generator.randrange(0, 40)))
            for _ in range(count)]


@pytest.mark.parametrize("twin", TWINS, ids=IDS)
def test_word_text_strips_tags_and_spaces_breaks_as_the_regexes_do(twin):
    fixed = ["", "plain", "<p>a</p>b", "x<a </p>y", "a<br>b<BR>c<br >d<br\t/>e", "</span>x</spanx>",
             "<</p>>", "tail <no end", "<p>one<p>two", "</٣>x", "</_>y", "é<b>ü</b>😀</div>ok"]
    for message in fixed + _random_messages(3000, seed=9):
        assert twin.word_text(message) == _word_text(message), repr(message)


@pytest.mark.parametrize("twin", TWINS, ids=IDS)
def test_count_text_knows_every_space_of_the_first_planes(twin):
    """Each code point below U+3100 and a few astral ones, between words and spaces, in
    strings of each width (Latin-1, two and four bytes a character)."""
    for point in [*range(0x3100), 0x10000, 0x1F600, 0xE0020]:
        for other in (" ", "A", "\xa0", "\u2003", "😀"):
            text = f"{chr(point)}{other}x{chr(point)}"
            assert twin.count_text(text) == (len(text.split()),
                                             sum(1 for character in text if not character.isspace())), hex(point)
