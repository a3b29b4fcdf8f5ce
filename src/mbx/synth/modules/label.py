"""mod_label: a piece of HTML on the course page."""

from __future__ import annotations

from mbx.synth.modules.base import ModuleWriter, register


@register
class LabelWriter(ModuleWriter):
    name = "label"

    def write(self, course, a) -> None:
        self.write_module(course, a)
        with self.activity_xml(course, a) as w, w.element("label", {"id": a.instance}):
            intro = course.text.html(1, 2)
            w.leaf("name", a.title)
            w.leaf("intro", intro)
            w.leaf("introformat", 1)
            w.leaf("timemodified", course.start + a.cmid)
        self.write_common(course, a)
