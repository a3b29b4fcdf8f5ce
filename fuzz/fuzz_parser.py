"""atheris harness for mbx.xml.Parser.

The input is the document itself; its last two bytes also pick where it is cut
in two before feeding, so a seed that is plain XML stays plain XML. The parser
has a few registered paths (one grouped, one returning SKIP) and small limits.

Findings:

* any exception that is not an ``mbx.errors.MbxError`` (it propagates);
* the active engine refusing with one code whole and another when cut, or
  giving other records;
* when the compiled engine is active (so both engines are importable), the two
  engines disagreeing on accept/refuse or on the records (AssertionError).

``MBX_NO_EXTENSIONS=1`` runs the pure engine alone.

    python fuzz/fuzz_parser.py -atheris_runs=20000 fuzz/corpus/parser
"""

from __future__ import annotations

import sys

import atheris
from twins import check_twins, halves

with atheris.instrument_imports():
    import mbx.xml._core as core
    from mbx.errors import MbxError
    from mbx.xml import SKIP, Limits, Parser

LIMITS = Limits(max_depth=32, max_name_length=64, max_attributes=16, max_text=4096,
                max_record=16384)
#: (path, kind): "handler", "skip" (handler returning SKIP), "grouped", "below" (in a group)
PATHS = [
    ("/r", "handler"),
    ("/r/a", "handler"),
    ("/r/a/b", "handler"),
    ("/r/s", "skip"),
    ("/r/s/t", "handler"),
    ("/course", "grouped"),
    ("/course/tags/tag", "below"),
    ("/course/sections/section", "below"),
    ("/course/sections/section/mods/mod", "below"),
    ("/activity/forum/posts/post", "handler"),
]

#: The engine this process runs (compiled unless MBX_NO_EXTENSIONS=1), and the pure
#: one, checked against it when the compiled one runs.
ACTIVE = core.ENGINES[-1]
OTHER = core.ENGINES[0] if len(core.ENGINES) == 2 else None


def parse(engine, chunks: list[bytes]):
    """("ok", records) or ("refused", code); any other exception propagates."""
    out: list = []

    def handler_for(path, kind):
        if kind == "skip":
            def skip(record):
                out.append((path, record))
                return SKIP
            return skip
        return lambda record: out.append((path, record))

    with core.engine_in_use(engine):
        parser = Parser(limits=LIMITS, source="fuzz.xml")
        for path, kind in PATHS:
            if kind == "below":
                parser.add_path(path)
            else:
                parser.add_path(path, handler_for(path, kind), grouped=kind == "grouped")
        try:
            for chunk in chunks:
                parser.feed(chunk)
            parser.close()
        except MbxError as exc:
            if not (isinstance(exc.line, int) and isinstance(exc.column, int)):
                raise AssertionError(f"refusal without a location: {exc!r}") from exc
            return "refused", exc.code
        return "ok", out


def TestOneInput(data: bytes) -> None:
    cut, chunks = halves(data)
    whole = parse(ACTIVE, [data])
    split = parse(ACTIVE, chunks)
    if split != whole:
        raise AssertionError(f"cut at {cut}: {split!r} but whole: {whole!r}\ninput: {data!r}")
    if OTHER is not None:
        check_twins(whole, parse(OTHER, chunks), data)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
