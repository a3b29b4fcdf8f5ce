from mbx.moodle2.declare import COURSE, Element, Module, view_rules

MODULE = Module(
    "page",
    (Element(".", "page", kind="page", fixed={"course": COURSE}, files=("intro", "content")),),
    links={"page": ("intro", "content")},
    rules=view_rules("page"))
