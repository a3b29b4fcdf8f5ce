"""Writes the seed corpora of the archive harnesses into ``fuzz/corpus/<harness>/``.

Run from the repository root: ``python fuzz/make_seeds.py``. The seeds are
small (the whole ``fuzz/corpus`` stays under 200 KB) and the same on every run:

* a minimal, sound moodle2 backup (one page activity, one section, one blob,
  one user) written by ``mbx.archive.writer.ArchiveWriter``, as tar.gz, as
  the raw tar inside it, as zip, and as a folder description (for
  ``fuzz_verify.py`` too, after its ``TREE`` line);
* the smallest ``mbx synth`` course (one page, no users, no files), tar.gz and zip;
* hand-made edge cases built with the standard library: pax headers (long and
  non-ASCII names, a fractional time, a global header), GNU long names and a
  base-256 time, a hard link to itself, the index as a late member, zip64
  records, macOS litter, stored and deflated members, an index with ``?``
  times and directory lines, a backup with a wrong blob, a dangling reference
  and a stale index.

``verify`` is run on the sound seeds, to make sure they stay sound.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from mbx.archive.index import INDEX_HEADER  # noqa: E402
from mbx.archive.writer import ArchiveWriter  # noqa: E402
from mbx.synth import synthesize  # noqa: E402
from mbx.verification import verify  # noqa: E402

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
MTIME = 1_730_086_400
BLOB = b"fuzz seed blob\n"
SHA1 = hashlib.sha1(BLOB).hexdigest()
USER_ID = "5"

MOODLE_BACKUP = b"""<?xml version="1.0" encoding="UTF-8"?>
<moodle_backup>
  <information>
    <name>seed.mbz</name>
    <moodle_version>2024100700</moodle_version>
    <backup_version>2024100700</backup_version>
    <backup_date>1730086400</backup_date>
    <original_course_id>2</original_course_id>
    <details>
      <detail backup_id="00000000000000000000000000000000">
        <type>course</type>
        <format>moodle2</format>
      </detail>
    </details>
    <contents>
      <activities>
        <activity>
          <moduleid>7</moduleid>
          <sectionid>3</sectionid>
          <modulename>page</modulename>
          <title>Page</title>
          <directory>activities/page_7</directory>
        </activity>
      </activities>
      <sections>
        <section>
          <sectionid>3</sectionid>
          <title>General</title>
          <directory>sections/section_3</directory>
        </section>
      </sections>
      <course>
        <courseid>2</courseid>
        <title>Seed</title>
        <directory>course</directory>
      </course>
    </contents>
    <settings>
      <setting>
        <level>root</level>
        <name>users</name>
        <value>1</value>
      </setting>
    </settings>
  </information>
</moodle_backup>
"""

FILES = f"""<?xml version="1.0" encoding="UTF-8"?>
<files>
  <file id="11">
    <contenthash>{SHA1}</contenthash>
    <contextid>40</contextid>
    <component>mod_page</component>
    <filearea>content</filearea>
    <itemid>0</itemid>
    <filepath>/</filepath>
    <filename>a.txt</filename>
    <userid>{USER_ID}</userid>
    <filesize>{len(BLOB)}</filesize>
  </file>
</files>
""".encode()

INFOREF = f"""<?xml version="1.0" encoding="UTF-8"?>
<inforef>
  <fileref>
    <file>
      <id>11</id>
    </file>
  </fileref>
  <userref>
    <user>
      <id>{USER_ID}</id>
    </user>
  </userref>
</inforef>
""".encode()

USERS = f"""<?xml version="1.0" encoding="UTF-8"?>
<users>
  <user id="{USER_ID}" contextid="50">
    <username>u5</username>
    <firstname>Ada</firstname>
  </user>
</users>
""".encode()


def _xml(root: str, body: str = "") -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}>{body}</{root}>\n'.encode()


def sound_members() -> dict[str, bytes]:
    """The members of the minimal sound backup (without the index: the writer adds it)."""
    return {
        "moodle_backup.xml": MOODLE_BACKUP,
        "files.xml": FILES,
        f"files/{SHA1[:2]}/{SHA1}": BLOB,
        "users.xml": USERS,
        "activities/page_7/inforef.xml": INFOREF,
        "activities/page_7/page.xml": _xml("activity", '<page id="1"><name>Page</name></page>'),
        "sections/section_3/section.xml": _xml("section", "<number>0</number>"),
        "course/course.xml": _xml("course", "<shortname>Seed</shortname>"),
    }


def broken_members() -> dict[str, bytes]:
    """The sound members with a wrong blob, a dangling file reference and no user."""
    members = sound_members()
    members[f"files/{SHA1[:2]}/{SHA1}"] = b"not the seed blob\n"
    members["activities/page_7/inforef.xml"] = INFOREF.replace(b"<id>11</id>", b"<id>12</id>")
    del members["users.xml"]
    return members


def written(members: dict[str, bytes], format: str, work: str) -> bytes:
    """An archive of ``members`` as ``ArchiveWriter`` packs it."""
    path = os.path.join(work, f"written.{format}")
    with ArchiveWriter(path, format, mtime=MTIME, compressor="zlib", spool_dir=work) as writer:
        for name, data in members.items():
            writer.write(name, data)
    with open(path, "rb") as file:
        return file.read()


def _tar(entries: list[tuple[tarfile.TarInfo, bytes | None]], format: int,
         pax_headers: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=format, pax_headers=pax_headers) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    # tarfile pads to 10 KiB records; the end-of-archive marker is two zero blocks
    used = -(-len(out.getvalue().rstrip(b"\x00")) // 512) * 512
    return out.getvalue()[:used] + bytes(1024)


def _file(name: str, data: bytes, mtime: float = MTIME) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), mtime
    return info, data


def pax_tar() -> bytes:
    """pax headers: a long name, a non-ASCII name, a fractional time, a global header."""
    long_name = "activities/page_7/" + "long_" * 24 + ".xml"
    return _tar([_file("moodle_backup.xml", MOODLE_BACKUP[:400]),
                 _file(long_name, _xml("activity")),
                 _file("course/Übung ✓.xml", _xml("course"), mtime=MTIME + 0.25)],
                tarfile.PAX_FORMAT, pax_headers={"comment": "seed"})


def gnu_tar() -> bytes:
    """GNU headers: a long name (``L``), a base-256 time, a hard link to itself."""
    long_name = "sections/section_3/" + "x" * 120 + ".xml"
    data = _xml("section")
    link = tarfile.TarInfo("course/course.xml")
    link.type, link.linkname, link.mtime = tarfile.LNKTYPE, "course/course.xml", MTIME
    return _tar([_file("moodle_backup.xml", MOODLE_BACKUP[:400]),
                 _file(long_name, data, mtime=-1),
                 _file("course/course.xml", _xml("course")), (link, None)],
                tarfile.GNU_FORMAT)


def late_index_tar() -> bytes:
    """The ``.ARCHIVE_INDEX`` as the last member, with ``./`` prefixes and a directory."""
    index = (INDEX_HEADER + b"3\n./course/\td\t0\t?\n./course/course.xml\tf\t9\t0\n"
             b"moodle_backup.xml\tf\t400\t1730086400\n")
    folder = tarfile.TarInfo("./course/")
    folder.type, folder.mtime = tarfile.DIRTYPE, MTIME
    return _tar([(folder, None), _file("./course/course.xml", b"<course/>"),
                 _file("./moodle_backup.xml", MOODLE_BACKUP[:400]),
                 _file("./.ARCHIVE_INDEX", index)], tarfile.USTAR_FORMAT)


def _zip(entries: list[tuple[str, bytes, int]], force_zip64: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data, method in entries:
            info = zipfile.ZipInfo(name, date_time=(2024, 10, 28, 3, 33, 20))
            info.compress_type = method
            with archive.open(info, "w", force_zip64=force_zip64) as member:
                member.write(data)
    return out.getvalue()


def zip64_zip() -> bytes:
    """Members written with zip64 extra fields."""
    return _zip([("moodle_backup.xml", MOODLE_BACKUP[:400], zipfile.ZIP_DEFLATED),
                 ("course/course.xml", _xml("course"), zipfile.ZIP_STORED)], force_zip64=True)


def macos_zip() -> bytes:
    """macOS litter beside the members, a directory entry, stored and deflated data."""
    return _zip([("course/", b"", zipfile.ZIP_STORED),
                 ("course/course.xml", _xml("course"), zipfile.ZIP_DEFLATED),
                 ("course/._course.xml", b"\x00\x05\x16\x07", zipfile.ZIP_STORED),
                 ("__MACOSX/course/._course.xml", b"\x00\x05\x16\x07", zipfile.ZIP_STORED),
                 ("moodle_backup.xml", MOODLE_BACKUP[:400], zipfile.ZIP_STORED)])


def folder_tree(members: dict[str, bytes], extra: bytes = b"") -> bytes:
    """The ``fuzz_folder.py`` description of a tree holding ``members``."""
    return b"\x00".join(b"f" + name.encode() + b"\n" + data for name, data in members.items()) \
        + extra


def index_seeds(work: str) -> dict[str, bytes]:
    writer = ArchiveWriter(os.path.join(work, "index.mbz"), mtime=MTIME, spool_dir=work)
    for name, data in sound_members().items():
        writer.write(name, data)
    text = writer.index_text()
    writer.abort()
    odd = (INDEX_HEADER + b"5\n./course\td\t0\t?\ncourse/course.xml\tf\t12\t?\n"
           + "course/Übung ✓.xml\tf\t3\t1730086400\n".encode()
           + b"files/\td\t0\t?\nmoodle_backup.xml\tf\t400\t0")
    return {"written.txt": text, "odd.txt": odd, "empty.txt": INDEX_HEADER + b"0\n"}


def main() -> None:
    work = tempfile.mkdtemp(prefix="mbx-seeds-")
    try:
        sound_tgz = written(sound_members(), "tgz", work)
        sound_zip = written(sound_members(), "zip", work)
        broken_tar = gzip.decompress(written(broken_members(), "tgz", work))
        synth = {}
        for format in ("tgz", "zip"):
            path = os.path.join(work, f"synth.{format}")
            synthesize(path, size="64K", sections=1, activities={"page": 1},
                       include_users=False, include_files=False, format=format)
            synth[format] = open(path, "rb").read()
        for data, suffix in ((sound_tgz, "tgz"), (sound_zip, "zip")):
            path = os.path.join(work, f"check.{suffix}")
            with open(path, "wb") as file:
                file.write(data)
            report = verify(path)
            assert report.ok, f"the sound {suffix} seed has problems: {report.problems}"

        folder_extra = (b"\x00dactivities/empty\n\x00lcourse/link.xml\n../moodle_backup.xml"
                        b"\x00pcourse/pipe\n\x00fcourse/._course.xml\n\x00\x05\x16\x07")
        corpora = {
            "tar": {"sound.tar.gz": sound_tgz, "sound.tar": gzip.decompress(sound_tgz),
                    "synth.tar.gz": synth["tgz"], "pax.tar": pax_tar(), "gnu.tar": gnu_tar(),
                    "late_index.tar": late_index_tar()},
            "zip": {"sound.zip": sound_zip, "synth.zip": synth["zip"], "zip64.zip": zip64_zip(),
                    "macos.zip": macos_zip()},
            "folder": {"sound.tree": folder_tree(sound_members()),
                       "special.tree": folder_tree({"moodle_backup.xml": MOODLE_BACKUP[:400]},
                                                   folder_extra)},
            "index": index_seeds(work),
            "verify": {"sound.tar": gzip.decompress(sound_tgz), "sound.zip": sound_zip,
                       "broken.tar": broken_tar,
                       "sound.tree": b"TREE\n" + folder_tree(sound_members()),
                       "broken.tree": b"TREE\n" + folder_tree(broken_members())},
        }
        for harness, seeds in corpora.items():
            folder = os.path.join(CORPUS, harness)
            shutil.rmtree(folder, ignore_errors=True)
            os.makedirs(folder)
            for name, data in seeds.items():
                with open(os.path.join(folder, name), "wb") as file:
                    file.write(data)
                print(f"{harness}/{name}: {len(data)} bytes")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
