"""The course's files: planned records, their blobs sized to fill the target, files.xml.

Files are planned as the members that use them are written (each module asks
for its files through :meth:`Files.add`); their sizes are only drawn once the
XML is written and the rest of the size target is known (:meth:`Files.write_blobs`),
and ``files.xml`` comes last.
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import TYPE_CHECKING, Iterator

from mbx.archive.writer import ustar_header
from mbx.synth import images
from mbx.synth.meter import Collect, Meter
from mbx.synth.plan import NULL, SynthFile
from mbx.xml import XmlWriter

if TYPE_CHECKING:
    from mbx.archive.writer import ArchiveWriter
    from mbx.synth.course import CourseSynthesizer

__all__ = ["EMPTY_SHA1", "Files", "MIMETYPES"]

EMPTY_SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
_POOL_BLOCK = 1 << 16
_POOL_BLOCKS = 128  # 8 MiB of random bytes that blob content is cut from
#: (extension, mimetype, magic, weight of count, size factor); images (size factor
#: None) are real ones of their own size (:mod:`mbx.synth.images`), not sized by a draw
MIMETYPES = [
    ("pdf", "application/pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", 30, 1.0),
    ("png", "image/png", b"", 20, None),
    ("jpg", "image/jpeg", b"", 20, None),
    ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
     b"PK\x03\x04\x14\x00\x06\x00", 12, 0.5),
    ("pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation",
     b"PK\x03\x04\x14\x00\x06\x00", 6, 2.0),
    ("zip", "application/zip", b"PK\x03\x04\x14\x00\x00\x00", 4, 2.0),
    ("mp3", "audio/mp3", b"ID3\x04\x00\x00\x00\x00\x00", 3, 4.0),
    ("mp4", "video/mp4", b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", 5, 12.0),
]
PNG, JPEG = 1, 2  # kinds of MIMETYPES that modules ask for by name
_IMAGES = {PNG: lambda rng, pool, comment: images.png(rng, pool, comment),
           JPEG: lambda rng, pool, comment: images.jpeg(rng, comment)}


class Files:
    """Every file of the course, in the order planned (files.xml order)."""

    def __init__(self, course: CourseSynthesizer) -> None:
        self._course = course
        self.records: list[SynthFile] = []
        self._areas: set[tuple] = set()

    def __len__(self) -> int:
        return len(self.records)

    def add(self, contextid: int, component: str, filearea: str, itemid: int,
            userid: int | None, *, kind: int | None = None, name: str | None = None,
            filepath: str = "/", appears: int = 0, removed: int = 0) -> SynthFile:
        """Plans a new file (of a random kind unless ``kind``), and its area's "."
        record when it is the area's first. In a history, ``appears`` and
        ``removed`` say when the file was added and deleted (0: from the start,
        never); a file not there at the version's date is planned all the same (the
        same draws, the same ids) but not written (:meth:`visible`)."""
        course = self._course
        rng = course.rng
        if kind is None:
            kind = rng.choices(range(len(MIMETYPES)), weights=[entry[3] for entry in MIMETYPES])[0]
        extension, mimetype = MIMETYPES[kind][:2]
        stem = name or course.text.words(rng.randint(1, 3), "en").replace(" ", "_")
        area = (contextid, component, filearea, itemid)
        if area not in self._areas:  # Moodle keeps a "." record for each area's root
            self._areas.add(area)
            self.records.append(SynthFile(
                course.ids.next("file", 40000), contextid, component, filearea, itemid,
                ".", userid, "", None, course.start, directory=True, contenthash=EMPTY_SHA1,
                appears=appears))
        record = SynthFile(course.ids.next("file", 40000), contextid, component, filearea,
                           itemid, f"{stem}.{extension}", userid, mimetype, kind,
                           course.start + rng.randint(0, 100 * 86400), filepath=filepath,
                           appears=appears, removed=removed)
        if appears:
            record.timecreated = appears
        if userid is not None and course.users:
            first = next((u for u in course.users if u.id == userid), course.users[0])
            record.author = f"{first.firstname} {first.lastname}"
        self.records.append(record)
        return record

    def visible(self, record: SynthFile) -> bool:
        """Whether ``record`` is in the version being written (always, outside a history)."""
        cutoff = self._course.cutoff
        return cutoff is None or (record.appears <= cutoff
                                  and not (record.removed and record.removed <= cutoff))

    def refs(self, record: SynthFile) -> list[int]:
        """The ids an inforef lists for the file just added: the file, and its area's
        "." record when the file opened the area (none for a file not in this version)."""
        if not self.visible(record):
            return []
        before = self.records[-2] if len(self.records) > 1 else None
        if before is not None and before.directory and before.itemid == record.itemid and \
                before.filearea == record.filearea and before.contextid == record.contextid:
            return [before.id, record.id] if self.visible(before) else [record.id]
        return [record.id]

    def add_refs(self, *args, **options) -> list[int]:
        """:meth:`add`, returning :meth:`refs` of the new file."""
        return self.refs(self.add(*args, **options))

    # -- blobs -------------------------------------------------------------------------

    def calibrate(self) -> tuple[float, float]:
        """(compressed bytes per files.xml record + blob header + index line,
        compressed/raw ratio of incompressible data) for the course's engine."""
        course = self._course
        rng = random.Random(course.seed + 17)
        meter = Meter(course.compressor, course.level)
        sample = 64
        for number in range(sample):
            digest = "%040x" % rng.getrandbits(160)
            name = f"files/{digest[:2]}/{digest}"
            meter.feed(ustar_header(name, 123456, course.now, False))
            meter.feed(f"{name}\tf\t123456\t{course.now}\n".encode())
            record = SynthFile(40000 + number, course.course_context + 100 + number,
                               "mod_folder", "content", 0, f"{course.text.words(2, 'en')}.pdf",
                               2, "application/pdf", 0, course.now, size=123456,
                               contenthash=digest)
            buffer = Collect()
            writer = XmlWriter(buffer)
            _file_record(writer, record)
            meter.feed(b"".join(buffer.parts))
        per_file = meter.finish() / sample
        probe = Meter(course.compressor, course.level)
        block = random.Random(course.seed + 23).randbytes(1 << 20)
        for _ in range(4):
            probe.feed(block[: 1 << 19])
            probe.feed(random.Random(course.seed).randbytes(1 << 19))
        ratio = probe.finish() / probe.raw
        return per_file, max(1.0, ratio)

    def write_blobs(self, archive: ArchiveWriter, budget: int, ratio: float) -> None:
        """Makes the planned images, sizes every other planned file so that all blobs
        cost ``budget`` compressed bytes, then writes them (content cut from a seeded
        random pool, a format's magic in front)."""
        seed = self._course.seed
        stats = self._course.stats
        history = self._course.history
        blobs = [record for record in self.records if not record.directory]
        if not blobs:
            return
        pool_rng = random.Random(seed * 131 + 7)
        pool = pool_rng.randbytes(_POOL_BLOCK * _POOL_BLOCKS)
        if history is not None and history.blob_sizes is not None:
            # a history's earlier versions: the sizes its last version drew
            blobs = [record for record in blobs if self.visible(record)]
            budget = 0
        made = {record.id: _IMAGES[record.kind](random.Random(seed * 1_000_003 + record.id),
                                                 pool, f"mbx-synth {seed} file {record.id}")
                for record in blobs if record.kind in _IMAGES}
        drawn = [record for record in blobs if record.kind not in _IMAGES]
        rng = random.Random(seed * 31 + 5)
        weights = [math.exp(rng.gauss(0.0, 1.6)) * MIMETYPES[record.kind][4] for record in drawn]
        raw_budget = max(0, int(budget / ratio) - sum(map(len, made.values())))
        sizes = {}
        if drawn:
            minimum = max(64, min(4096, raw_budget // (8 * len(drawn))))
            total_weight = sum(weights)
            spare = max(0, raw_budget - minimum * len(drawn))
            for record, weight in zip(drawn, weights):
                sizes[record.id] = minimum + int(spare * weight / total_weight)
            # the rounding remainder goes to the largest file, so the total is exact
            largest = max(sizes, key=sizes.__getitem__)
            sizes[largest] += max(0, raw_budget - sum(sizes.values()))
        if history is not None and history.blob_sizes is None:
            history.blob_sizes = sizes  # drawn once, for the last version
            blobs = [record for record in blobs if self.visible(record)]
        elif history is not None:
            sizes = history.blob_sizes
        for record in blobs:
            if history is not None:  # content a function of the file alone
                pool_rng = random.Random(seed * 1_000_033 + record.id)
            content = made.get(record.id)
            if content is not None:
                record.size = len(content)
                record.contenthash = hashlib.sha1(content).hexdigest()
            else:
                size = record.size = sizes[record.id]
                magic = MIMETYPES[record.kind][2]
                head = (magic + f"mbx-synth {seed} file {record.id}\n".encode())[:size]
                # two passes over the same seeded pieces: hash (the name), then write
                state = pool_rng.getstate()
                digest = hashlib.sha1()
                for piece in _blob_pieces(head, size, pool, pool_rng):
                    digest.update(piece)
                record.contenthash = digest.hexdigest()
            name = f"files/{record.contenthash[:2]}/{record.contenthash}"
            if name in archive:  # identical content is stored once, as Moodle does
                continue
            with archive.open(name) as stream:
                if content is not None:
                    stream.write(content)
                else:
                    pool_rng.setstate(state)
                    for piece in _blob_pieces(head, size, pool, pool_rng):
                        stream.write(piece)
            stats["blob_bytes"] += record.size
        stats["files"] = len(blobs)

    def write_files_xml(self) -> None:
        with self._course.xml("files.xml") as w, w.element("files"):
            for record in self.records:
                if self.visible(record):
                    _file_record(w, record)


def _file_record(w: XmlWriter, r: SynthFile) -> None:
    directory = r.directory
    with w.element("file", {"id": r.id}):
        for leaf, value in [
                ("contenthash", r.contenthash), ("contextid", r.contextid),
                ("component", r.component), ("filearea", r.filearea), ("itemid", r.itemid),
                ("filepath", r.filepath), ("filename", "." if directory else r.filename),
                ("userid", r.userid if r.userid is not None else NULL),
                ("filesize", 0 if directory else r.size),
                ("mimetype", NULL if directory else r.mimetype), ("status", 0),
                ("timecreated", r.timecreated), ("timemodified", r.timecreated),
                ("source", NULL if directory else r.filename),
                ("author", NULL if directory else r.author),
                ("license", NULL if directory else "allrightsreserved"),
                ("sortorder", 0), ("repositorytype", NULL), ("repositoryid", NULL),
                ("reference", NULL)]:
            w.leaf(leaf, value)


def _blob_pieces(head: bytes, size: int, pool: bytes, rng: random.Random) -> Iterator[bytes]:
    """The content of one blob, in pieces: ``head``, then slices of the random pool at
    seeded offsets (far more than a deflate window apart, so it does not compress)."""
    yield head
    remaining = size - len(head)
    limit = len(pool) - _POOL_BLOCK
    while remaining > 0:
        start = rng.randrange(0, limit)
        piece = pool[start:start + min(remaining, _POOL_BLOCK)]
        remaining -= len(piece)
        yield piece
