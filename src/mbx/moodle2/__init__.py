"""Moodle-format knowledge: what a moodle2 backup's parts are called and mean.

The room between the lower layers (``mbx.archive`` hands over members,
``mbx.xml`` turns them into records) and the consumers. Everything a consumer
must know about the format itself lives here, once:

- :mod:`~mbx.moodle2.models`: typed records (the ``information`` block,
  ``files.xml`` records, inforef references);
- :mod:`~mbx.moodle2.information`: the reader of ``moodle_backup.xml``;
- :mod:`~mbx.moodle2.inforef`: the inforef kinds and the member defining each;
- :mod:`~mbx.moodle2.members`: member names and the patterns that recognise them
  (section and activity members, blobs ``files/xx/<sha1>``, top folders);
- :mod:`~mbx.moodle2.files`: which ``files.xml`` records have a blob, and whose
  bytes they are.

``inspect`` and ``verify`` read it today; ``restore``, ``transform`` and ``synth``
will read it too, as will the per-module declarations (element paths, tables,
foreign keys, dates, file areas) when they come. Consumers import from here,
never from each other.
"""

from mbx.moodle2.files import file_has_content, file_size, is_question_file
from mbx.moodle2.inforef import DEFINED_IN, DEFINITIONS, KNOWN_REFS
from mbx.moodle2.information import INFORMATION, read_backup_information, read_information
from mbx.moodle2.models import (ActivityEntry, CourseEntry, Detail, FileRecord, Information,
                                Reference, SectionEntry, Setting, as_unix_time)

__all__ = ["DEFINED_IN", "DEFINITIONS", "INFORMATION", "KNOWN_REFS", "ActivityEntry",
           "CourseEntry", "Detail", "FileRecord", "Information", "Reference", "SectionEntry",
           "Setting", "as_unix_time", "file_has_content", "file_size", "is_question_file",
           "read_backup_information", "read_information"]
