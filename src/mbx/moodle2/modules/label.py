from mbx.moodle2.declare import COURSE, Element, Module

MODULE = Module(
    "label",
    (Element(".", "label", kind="label", fixed={"course": COURSE}, files=("intro",)),),
    links={"label": ("intro",)})
