"""mod_url: a link."""

from __future__ import annotations

from mbx.synth.modules.base import ModuleWriter, register


@register
class UrlWriter(ModuleWriter):
    name = "url"

    def write(self, course, a) -> None:
        self.write_module(course, a)
        with self.activity_xml(course, a) as w, w.element("url", {"id": a.instance}):
            for leaf, value in [("name", a.title), ("intro", self.intro(course)),
                                ("introformat", 1), ("externalurl", course.text.url()),
                                ("display", 0),
                                ("displayoptions", 'a:1:{s:10:"printintro";i:1;}'),
                                ("parameters", "a:0:{}"),
                                ("timemodified", course.start + a.cmid)]:
                w.leaf(leaf, value)
        self.write_common(course, a)
