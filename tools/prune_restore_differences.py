"""Drops from tests/restore_differences.json the items where a listed difference no longer
occurs (and entries left with none), and prints differences that are not listed yet, which
need a reason written by hand.

    PYTHONPATH=src:tests python tools/prune_restore_differences.py
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

import test_restore_oracle as oracle_test  # noqa: E402


def main() -> int:
    base, masks = oracle_test.oracle.base_site(), oracle_test.oracle.restore_time_columns()
    found = {item: oracle_test.differences_of(item, base, masks) for item in oracle_test.items()}
    data = json.loads(oracle_test.DIFFERENCES_FILE.read_text())
    kept = []
    for entry in data["differences"]:
        key = (entry["table"], entry["column"])
        entry["items"] = sorted(item for item in entry["items"] if key in found.get(item, {}))
        if entry["items"]:
            kept.append(entry)
    data["differences"] = kept
    listed = {(e["table"], e["column"]): set(e["items"]) for e in kept}
    unlisted = sorted((key, item, detail) for item, keys in found.items()
                      for key, detail in keys.items() if item not in listed.get(key, set()))
    for (table, column), item, detail in unlisted:
        print(f"unlisted: {table}.{column} in {item}: {detail}")
    oracle_test.DIFFERENCES_FILE.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    return 1 if unlisted else 0


if __name__ == "__main__":
    sys.exit(main())
