"""Write src/mbx/moodle2/moodle45_schema.json from the table listings in
../shared/docs/moodle-restore.md §8 (facts: Moodle 4.5.6's install.xml files).

    python tools/extract_schema.py [DOC]

The listings are one block per table: ``[name]  (source)``, one line per column
``name type(length[,decimals]) NN|null [seq] [=default]``, then ``fk:`` and ``ix:`` lines.
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DOC = ROOT.parent / "shared" / "docs" / "moodle-restore.md"
OUT = ROOT / "src" / "mbx" / "moodle2" / "moodle45_schema.json"

TABLE = re.compile(r"^\[(\w+)\]\s+\((\S+)\)")
COLUMN = re.compile(
    r"^  (\w+)\s+(int|char|text|number|float|binary)(?:\((\d+)(?:,(\d+))?\))?\s+(NN|null)"
    r"(\s+seq)?(?:\s+=(.*))?$")
LISTED = re.compile(r"(U?)\(([^)]*)\)")


def default_value(raw):
    if raw is None:
        return None
    raw = raw.strip()
    if raw.startswith("'") and raw.endswith("'"):
        return raw[1:-1]
    return raw  # numbers stay text, as install.xml writes them


def parse(text):
    section = text.split("\n## 8.", 1)[1].split("\n## 9.", 1)[0]
    tables, table = {}, None
    for line in section.splitlines():
        if head := TABLE.match(line):
            table = tables.setdefault(head[1], {"source": head[2], "columns": [], "indexes": [], "foreign_keys": []})
            continue
        if table is None or not line.startswith("  "):
            if not line.strip() or line.startswith("```"):
                table = None if line.startswith("```") else table
            continue
        if column := COLUMN.match(line):
            name, kind, length, decimals, null, seq, default = column.groups()
            table["columns"].append({
                "name": name, "type": kind,
                "length": int(length) if length else None,
                "decimals": int(decimals) if decimals else None,
                "notnull": null == "NN", "sequence": bool(seq),
                "default": default_value(default)})
        elif line.startswith("  fk:"):
            for key in line[len("  fk:"):].split(","):
                field, target = key.strip().split("->")
                ref_table, ref_field = target.split(".")
                table["foreign_keys"].append([field, ref_table, ref_field])
        elif line.startswith("  ix:"):
            for unique, columns in LISTED.findall(line[len("  ix:"):]):
                table["indexes"].append({"unique": unique == "U",
                                         "columns": [c.strip() for c in columns.split(",")]})
        else:
            raise ValueError(f"unread schema line: {line!r}")
    return tables


def main(argv):
    doc = Path(argv[1]) if len(argv) > 1 else DEFAULT_DOC
    tables = parse(doc.read_text(encoding="utf-8"))
    OUT.write_text(json.dumps(tables, indent=None, separators=(",", ":"), sort_keys=True) + "\n",
                   encoding="utf-8")
    print(f"{len(tables)} tables, {sum(len(t['columns']) for t in tables.values())} columns -> {OUT}")


if __name__ == "__main__":
    main(sys.argv)
