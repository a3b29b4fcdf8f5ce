"""mod_folder: files in a tree; folders take the files no other module needs (in a
history, some added and some removed during the term)."""

from __future__ import annotations

from mbx.synth.modules.base import ModuleWriter, register

CHANGE_SHARE = 0.1  # in a history, the folder files added during the term, and removed


@register
class FolderWriter(ModuleWriter):
    name = "folder"
    takes_spare_files = True

    def write(self, course, a) -> None:
        files = []
        if course.include_files:
            subfolders = ["/", "/", f"/{course.text.words(1, 'en')}/"]
            for number in range(a.spare_files):
                appears, removed = self._history_change(course, number)
                files.extend(course.files.add_refs(
                    a.contextid, "mod_folder", "content", 0, 2,
                    filepath=course.rng.choice(subfolders), appears=appears, removed=removed))
        self.write_module(course, a)
        with self.activity_xml(course, a) as w, w.element("folder", {"id": a.instance}):
            for leaf, value in [("name", a.title), ("intro", self.intro(course)),
                                ("introformat", 1), ("revision", 1),
                                ("timemodified", course.start + a.cmid), ("display", 0),
                                ("showexpanded", 1), ("showdownloadfolder", 1),
                                ("forcedownload", 1)]:
                w.leaf(leaf, value)
        self.write_common(course, a, files=files)

    @staticmethod
    def _history_change(course, number: int) -> tuple[int, int]:
        """In a history, (added, removed) times of the folder's ``number``-th file: a
        tenth are added during the term and a tenth removed, each a day before some
        week's backup; the first file is always there (it opens the area)."""
        history = course.history
        if history is None or history.versions < 2 or number == 0:
            return 0, 0
        change, week = course.rng.random(), course.rng.randint(1, history.versions - 1)
        moment = course.before_backup(week)
        return (moment, 0) if change < CHANGE_SHARE else \
            (0, moment) if change < 2 * CHANGE_SHARE else (0, 0)
