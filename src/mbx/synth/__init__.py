"""Synthetic Moodle course backups of any size, for benchmarks and scale tests.

``mbx synth`` writes archives with the structure of real Moodle 4.5 output
(``moodle_backup.xml``, ``course/``, ``sections/``, ``activities/<mod>_<cmid>/``,
``users.xml``, ``questions.xml``, ``files.xml`` and blobs ...), filled with seeded
invented data::

    from mbx.synth import synthesize

    result = synthesize("big.mbz", size="1G", seed=7)
    print(result["size"], result["mb_per_s"])

Same arguments, same bytes. ``synthesize_history(folder, versions=30)`` writes
a term of weekly backups of one course (:mod:`mbx.synth.history`). See :mod:`mbx.synth.course` for how the size
target is met and the course-level members, :mod:`mbx.synth.modules` for the
per-module writers (one file per module, behind a registry),
:mod:`mbx.synth.questions` for the question bank, :mod:`mbx.synth.files` for
files and blobs and :mod:`mbx.synth.text` for the text.
"""

from mbx.synth.course import DEFAULT_ACTIVITIES, SUPPORTED, parse_size, synthesize
from mbx.synth.history import synthesize_history

__all__ = ["DEFAULT_ACTIVITIES", "SUPPORTED", "parse_size", "synthesize", "synthesize_history"]
