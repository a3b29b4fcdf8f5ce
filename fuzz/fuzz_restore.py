"""atheris harness for ``mbx.restore.restore``: a hostile backup into a fresh SQLite target.

Inputs are built as ``fuzz_verify.py`` builds them (``archive_inputs.write_backup``:
a tree description, a zip or tar bytes), so the fuzzer reaches the restore's XML
handling, id mapping and file pool behind any container.

Findings: any exception that is not an ``mbx.errors.MbxError``; a restore that
fails yet leaves a course behind (the target must be as it was); a file in the
pool that does not hash to its name.

    python fuzz/fuzz_restore.py -atheris_runs=2000 fuzz/corpus/verify
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    import mbx.restore
    from archive_inputs import write_backup
    from mbx.errors import MbxError

WORK = tempfile.mkdtemp(prefix="mbx-fuzz-restore-")


def _courses(database: str) -> int:
    connection = sqlite3.connect(database)
    try:
        found = connection.execute("SELECT name FROM sqlite_master WHERE name = 'mdl_course'").fetchone()
        return connection.execute("SELECT COUNT(*) FROM mdl_course").fetchone()[0] if found else 0
    finally:
        connection.close()


def TestOneInput(data: bytes) -> None:
    path = write_backup(data)
    database = os.path.join(WORK, "t.db")
    pool = os.path.join(WORK, "pool")
    for leftover in (database, database + "-journal"):
        if os.path.exists(leftover):
            os.unlink(leftover)
    shutil.rmtree(pool, ignore_errors=True)
    try:
        mbx.restore.restore(path, f"sqlite:{database}", files=pool, work_dir=WORK)
    except MbxError:
        if os.path.exists(database) and _courses(database):
            raise AssertionError("a failed restore left a course behind")
    for folder, _, names in os.walk(pool):
        if ".incoming" in folder:
            continue
        for name in names:
            with open(os.path.join(folder, name), "rb") as blob:
                if hashlib.sha1(blob.read()).hexdigest() != name:
                    raise AssertionError(f"the pool holds {name} with other bytes")


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
