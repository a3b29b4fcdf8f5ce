"""mod_resource: one file."""

from __future__ import annotations

from mbx.synth.modules.base import ModuleWriter, register
from mbx.synth.plan import NULL


@register
class ResourceWriter(ModuleWriter):
    name = "resource"

    def expected_files(self, course, count: int) -> int:
        return count

    def write(self, course, a) -> None:
        files = []
        if course.include_files:
            files.extend(course.files.add_refs(a.contextid, "mod_resource", "content", 0, 2))
        self.write_module(course, a)
        with self.activity_xml(course, a) as w, w.element("resource", {"id": a.instance}):
            for leaf, value in [("name", a.title), ("intro", self.intro(course)),
                                ("introformat", 1), ("tobemigrated", 0), ("legacyfiles", 0),
                                ("legacyfileslast", NULL), ("display", 0),
                                ("displayoptions", 'a:1:{s:10:"printintro";i:1;}'),
                                ("filterfiles", 0), ("revision", 1),
                                ("timemodified", course.start + a.cmid)]:
                w.leaf(leaf, value)
        self.write_common(course, a, files=files)
