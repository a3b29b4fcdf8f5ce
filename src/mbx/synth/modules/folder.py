"""mod_folder: files in a tree; folders take the files no other module needs."""

from __future__ import annotations

from mbx.synth.modules.base import ModuleWriter, register


@register
class FolderWriter(ModuleWriter):
    name = "folder"
    takes_spare_files = True

    def write(self, course, a) -> None:
        files = []
        if course.include_files:
            subfolders = ["/", "/", f"/{course.text.words(1, 'en')}/"]
            for _ in range(a.spare_files):
                files.extend(course.files.add_refs(
                    a.contextid, "mod_folder", "content", 0, 2,
                    filepath=course.rng.choice(subfolders)))
        self.write_module(course, a)
        with self.activity_xml(course, a) as w, w.element("folder", {"id": a.instance}):
            for leaf, value in [("name", a.title), ("intro", self.intro(course)),
                                ("introformat", 1), ("revision", 1),
                                ("timemodified", course.start + a.cmid), ("display", 0),
                                ("showexpanded", 1), ("showdownloadfolder", 1),
                                ("forcedownload", 1)]:
                w.leaf(leaf, value)
        self.write_common(course, a, files=files)
