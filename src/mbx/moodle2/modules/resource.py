from mbx.moodle2.declare import COURSE, Element, Module, view_rules

MODULE = Module(
    "resource",
    (Element(".", "resource", kind="resource", fixed={"course": COURSE}, files=("intro", "content")),),
    links={"resource": ("intro",)},
    rules=view_rules("resource"))
