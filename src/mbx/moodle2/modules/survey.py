"""mod_survey: the instance names one of the site's fixed survey templates, whose
``survey_questions`` are not in the backup; ``question`` keeps its id."""

from mbx.moodle2.declare import COURSE, Element, Module, view_rules

MODULE = Module(
    "survey",
    (Element(".", "survey", kind="survey", fixed={"course": COURSE}, files=("intro",)),
     Element("answers/answer", "survey_answers", userdata=True, parents={"survey": "survey"},
             refs={"userid": "user"}),
     Element("analysis/analys", "survey_analysis", userdata=True, parents={"survey": "survey"},
             refs={"userid": "user"})),
    links={"survey": ("intro",)},
    rules=view_rules("survey"))
