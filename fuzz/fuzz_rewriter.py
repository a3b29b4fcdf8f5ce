"""atheris harness for mbx.xml.rewriter.Rewriter (the byte-preserving rewriter).

The input is the document; its last two bytes pick where it is cut in two. The
rewriter runs twice on the active engine: with handlers that change nothing,
then with handlers that replace leaves, drop some elements and insert markup,
each decided by the record's own values so that every run decides alike.

Findings:

* any exception that is not an ``mbx.errors.MbxError``;
* an accepted document whose untouched rewrite is not the input, byte for byte;
* the output depending on where the input was cut;
* when both engines are importable, the engines disagreeing on accept/refuse or
  on the output bytes.

    python fuzz/fuzz_rewriter.py -atheris_runs=20000 fuzz/corpus/parser
"""

from __future__ import annotations

import sys

import atheris
from twins import check_twins, halves

with atheris.instrument_imports():
    import mbx.xml._core as core
    from mbx.errors import MbxError
    from mbx.xml import Limits
    from mbx.xml.rewriter import Rewriter

LIMITS = Limits(max_depth=32, max_name_length=64, max_attributes=16, max_text=4096,
                max_record=16384)
PATHS = ("/r", "/r/a", "/r/a/b", "/r/s", "/course", "/course/tags/tag",
         "/activity/forum/posts/post")
ACTIVE = core.ENGINES[-1]
OTHER = core.ENGINES[0] if len(core.ENGINES) == 2 else None


def change(element) -> None:
    """Edits picked by the record itself: deterministic for a given document."""
    for name, value in sorted(element.fields.items()):
        if name in element.spans and value is not None and len(value) % 3 == 0:
            element.replace(name, value[::-1] + "<&>")
    if element.first:
        if len(element.fields) % 4 == 1:
            element.drop()
        elif len(element.fields) % 4 == 2:
            element.insert_before(b"<!--before-->")
            element.append(b"<mbx/>")


def rewrite(engine, chunks: list[bytes], handler):
    out: list[bytes] = []
    with core.engine_in_use(engine):
        rewriter = Rewriter(out.append, limits=LIMITS, source="fuzz.xml")
        for path in PATHS:
            rewriter.add_path(path, handler)
        try:
            rewriter.rewrite(chunks)
        except MbxError as exc:
            return "refused", exc.code
    return "ok", b"".join(out)


def TestOneInput(data: bytes) -> None:
    cut, chunks = halves(data)
    untouched = rewrite(ACTIVE, chunks, lambda element: None)
    if untouched[0] == "ok" and untouched[1] != data:
        raise AssertionError(f"an untouched rewrite changed the document\ninput: {data!r}")
    changed = rewrite(ACTIVE, chunks, change)
    if changed[0] == "ok" and rewrite(ACTIVE, [data], change) != changed:
        raise AssertionError(f"cut at {cut} changes the output\ninput: {data!r}")
    if OTHER is not None:
        check_twins(changed, rewrite(OTHER, chunks, change), data)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
