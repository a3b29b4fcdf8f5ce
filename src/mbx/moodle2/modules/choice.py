from mbx.moodle2.declare import COURSE, Element, Module, view_rules

MODULE = Module(
    "choice",
    (Element(".", "choice", kind="choice", fixed={"course": COURSE}, files=("intro",),
             dates=("timeopen", "timeclose")),
     Element("options/option", "choice_options", kind="choice_option", parents={"choiceid": "choice"}),
     Element("answers/answer", "choice_answers", userdata=True, parents={"choiceid": "choice"},
             refs={"userid": "user", "optionid": "choice_option"})),
    links={"choice": ("intro",)},
    rules=view_rules("choice"))
