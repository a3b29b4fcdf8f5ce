"""mod_page: HTML content, sometimes with an embedded image; in a history, edited."""

from __future__ import annotations

import random

from mbx.synth.files import PNG
from mbx.synth.modules.base import ModuleWriter, register
from mbx.synth.plan import NULL

IMAGE_SHARE = 0.4  # pages with an image in their content


@register
class PageWriter(ModuleWriter):
    name = "page"

    def expected_files(self, course, count: int) -> int:
        return int(IMAGE_SHARE * count)

    def write(self, course, a) -> None:
        files = []
        content = course.text.html(3, 12)
        if course.include_files and course.rng.random() < IMAGE_SHARE:
            record = course.files.add(a.contextid, "mod_page", "content", 0, 2, kind=PNG)
            files.extend(course.files.refs(record))
            content += (f'<p><img src="@@PLUGINFILE@@/{record.filename}" alt="'
                        f'{course.text.words(3, "en")}" width="640" height="480"></p>')
        edits = course.edits(a)
        for when in edits:  # a history's edits: a paragraph more each, drawn apart
            saved, course.text.rng = course.text.rng, random.Random(course.seed * 1_000_037 + when)
            content += course.text.html(1, 2)
            course.text.rng = saved
        self.write_module(course, a)
        with self.activity_xml(course, a) as w, w.element("page", {"id": a.instance}):
            for leaf, value in [("name", a.title), ("intro", self.intro(course)),
                                ("introformat", 1), ("content", content), ("contentformat", 1),
                                ("legacyfiles", 0), ("legacyfileslast", NULL), ("display", 5),
                                ("displayoptions", ('a:2:{s:10:"printintro";s:1:"0";'
                                                    's:17:"printlastmodified";s:1:"1";}')),
                                ("revision", 1 + len(edits)),
                                ("timemodified", edits[-1] if edits else course.start + a.cmid)]:
                w.leaf(leaf, value)
        self.write_common(course, a, files=files)
