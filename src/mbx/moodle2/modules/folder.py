from mbx.moodle2.declare import COURSE, Element, Module, view_rules

MODULE = Module(
    "folder",
    (Element(".", "folder", kind="folder", fixed={"course": COURSE}, files=("intro", "content")),),
    links={"folder": ("intro",)},
    rules=view_rules("folder"))
