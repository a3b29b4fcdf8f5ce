from mbx.moodle2.declare import COURSE, Element, Module, view_rules

MODULE = Module(
    "url",
    (Element(".", "url", kind="url", fixed={"course": COURSE}, files=("intro",)),),
    links={"url": ("intro", "externalurl")},
    rules=view_rules("url", by_instance="u"))
