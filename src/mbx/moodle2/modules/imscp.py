from mbx.moodle2.declare import COURSE, Element, Module, view_rules

MODULE = Module(
    "imscp",
    (Element(".", "imscp", kind="imscp", fixed={"course": COURSE}, files=("intro", "backup", "content")),),
    links={"imscp": ("intro",)},
    rules=view_rules("imscp"))
