"""mod_subsection (Moodle 4.5+): an activity that owns a delegated course section.

The section itself is the ``sections/section_<id>/`` of a backup whose
``moodle_backup.xml`` entry names this activity in ``parentcmid``; the instance
holds only a name. Moodle's restore also maps the old instance id to the new
one under ``course_section::mod_subsection`` (``set_delegated_section_mapping``),
which the section's restore reads to fill ``course_sections.itemid``.
"""

from mbx.moodle2.declare import COURSE, Element, Module

MODULE = Module(
    "subsection",
    (Element(".", "subsection", kind="subsection", fixed={"course": COURSE}),))
