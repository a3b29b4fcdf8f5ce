"""atheris harness for mbx.xml.XmlWriter: write records, parse them back.

Builds a few records from the fuzz data (any str values, control characters and
lone surrogates included, via ``ConsumeUnicode``), writes them with
``XmlWriter``, parses the output with ``Parser`` and checks the records come back
as the writer's escaping documents them (``mbx/xml/_escape_py.py``):

* CRLF and lone CR become LF; C0 controls other than tab and LF, DEL, lone
  surrogates, U+FFFE and U+FFFF are removed;
* ``None`` is written ``$@NULL@$`` and read back as ``None`` (so is the string
  ``"$@NULL@$"``);
* in attribute values the parser turns tab and LF into a space (the writer
  leaves them unescaped), and ``None`` is written as an empty value;
* the parser's record rules then apply: leaves win over attributes of the same
  name, attributes of leaves are dropped, a record without leaves, or with only
  blank leaves and no attributes, is not dispatched.

When the compiled speedups run, the compiled escaping is also checked against
the pure one, and the output is parsed by both engines.

    python fuzz/fuzz_writer.py -atheris_runs=20000
"""

from __future__ import annotations

import io
import sys

import atheris

with atheris.instrument_imports():
    import importlib

    import mbx.xml._core as core
    from mbx import _impl
    from mbx.xml import Parser, XmlWriter
    from mbx.xml import _escape_py

_ESCAPERS = _impl.variants("_escape")
#: The compiled escaping, checked against the pure one, when it runs.
compiled_escape = importlib.import_module(_ESCAPERS[1]) if len(_ESCAPERS) == 2 else None

NAMES = ["id", "name", "a", "b", "c_d", "x.y", "n-1", "ns:k", "_z", "value", "rec", "root"]
NULL = "$@NULL@$"
WS = " \t\n\r"


def _clean(value: str) -> str:
    """What the writer's documented escaping keeps of a value, unescaped."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    kept = []
    for char in value:
        code = ord(char)
        if (code < 0x20 and char not in "\t\n") or code == 0x7F or 0xD800 <= code <= 0xDFFF \
                or code in (0xFFFE, 0xFFFF):
            continue
        kept.append(char)
    return "".join(kept)


def _leaf_back(value) -> str | None:
    if value is None:
        return None
    cleaned = _clean(value)
    return None if cleaned == NULL else cleaned


def _attribute_back(value) -> str:
    if value is None:
        return ""
    return _clean(value).replace("\t", " ").replace("\n", " ")


def expected_record(fields: dict, attrs: dict) -> dict | None:
    if not fields:
        return None  # an element without leaf children is not dispatched
    leaves = {name: _leaf_back(value) for name, value in fields.items()}
    if not attrs and all(value is None or not value.strip(WS) for value in leaves.values()):
        return None
    return {**{name: _attribute_back(value) for name, value in attrs.items()}, **leaves}


def _value(fdp: atheris.FuzzedDataProvider):
    kind = fdp.ConsumeIntInRange(0, 15)
    if kind == 0:
        return None
    if kind == 1:
        return NULL
    if kind == 2:
        return " \t\r\n"[: fdp.ConsumeIntInRange(0, 4)]
    return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 48))


def _mapping(fdp: atheris.FuzzedDataProvider, most: int) -> dict:
    return {fdp.PickValueInList(NAMES): _value(fdp) for _ in range(fdp.ConsumeIntInRange(0, most))}


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    records = []
    for _ in range(fdp.ConsumeIntInRange(1, 3)):
        attrs = _mapping(fdp, 3)
        fields = _mapping(fdp, 5)
        leaf_attrs = [_mapping(fdp, 1) for _ in fields]
        records.append((fields, attrs, leaf_attrs))

    stream = io.BytesIO()
    writer = XmlWriter(stream, buffer_size=fdp.ConsumeIntInRange(1, 512))
    writer.start("root")
    for fields, attrs, leaf_attrs in records:
        writer.start("rec", attrs)
        for (name, value), extra in zip(fields.items(), leaf_attrs):
            writer.leaf(name, value, extra)
        writer.end("rec")
    writer.end("root")
    writer.close()
    output = stream.getvalue()

    if compiled_escape is not None:
        for fields, attrs, _ in records:
            for value in [*fields.values(), *attrs.values()]:
                if isinstance(value, str):
                    for kind in ("escape_text", "escape_attribute"):
                        ours, theirs = (getattr(compiled_escape, kind)(value),
                                        getattr(_escape_py, kind)(value))
                        if ours != theirs:
                            raise AssertionError(f"{kind}({value!r}): compiled {ours!r}, "
                                                 f"pure {theirs!r}")

    expected = [record for record in (expected_record(f, a) for f, a, _ in records)
                if record is not None]
    for engine in core.ENGINES:
        got: list = []
        with core.engine_in_use(engine):
            parser = Parser(source="written.xml")
            parser.add_path("/root/rec", got.append)
            parser.parse(output)
        if got != expected:
            raise AssertionError(f"{engine}: read back {got!r}\nexpected {expected!r}"
                                 f"\nwritten {output!r}\nfrom {records!r}")


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
