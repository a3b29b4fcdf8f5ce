"""Generated course backups the benchmarks share, cached in the temp folder.

Every benchmark reads what ``mbx synth`` writes (seed 1), so figures from
different benchmarks describe the same kind of archive. Archives are keyed by
size; delete ``$TMPDIR/mbx-bench-*`` after changing the generator.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from mbx.archive import open_backup
from mbx.synth import synthesize

CHUNK = 1 << 20
#: forum document bytes per compressed archive byte: XML packs ~7:1, and the
#: larger of two forums holds about 70% of a file-less course's XML
_FORUM_PER_ARCHIVE_BYTE = 5


def course_archive(size: int) -> Path:
    """A synthetic course backup (tar.gz) of about ``size`` compressed bytes."""
    path = Path(tempfile.gettempdir()) / f"mbx-bench-synth-{size}.mbz"
    if not path.exists():
        partial = path.with_suffix(".part")
        result = synthesize(partial, size=size, seed=1)
        partial.replace(path)
        print(f"generated {path}: {result['size']} bytes at {result['mb_per_s']} MB/s",
              file=sys.stderr)
    return path


def forum_document(size: int) -> Path:
    """The largest ``forum.xml`` of a file-less synthetic course with two forums,
    about ``size`` bytes."""
    path = Path(tempfile.gettempdir()) / f"mbx-bench-forum-{size}.xml"
    if not path.exists():
        with tempfile.TemporaryDirectory() as folder:
            archive = Path(folder) / "forum-course.mbz"
            synthesize(archive, size=max(size // _FORUM_PER_ARCHIVE_BYTE, 64 * 1024), seed=1,
                       activities={"forum": 2}, include_files=False)
            with open_backup(archive) as backup:
                largest = max((member for member in backup.members()
                               if member.name.endswith("/forum.xml")),
                              key=lambda member: member.size)
                partial = path.with_suffix(".part")
                with backup.open(largest.name) as source, open(partial, "wb") as target:
                    shutil.copyfileobj(source, target, CHUNK)
        partial.replace(path)
    return path
