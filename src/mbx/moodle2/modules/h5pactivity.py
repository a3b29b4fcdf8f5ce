"""mod_h5pactivity: the package and its attempts. xAPI states are not here: they come
from the activity's ``xapistate.xml``, restored by a core step."""

from mbx.moodle2.declare import COURSE, Element, Module, view_rules

MODULE = Module(
    "h5pactivity",
    (Element(".", "h5pactivity", kind="h5pactivity", fixed={"course": COURSE},
             files=("intro", "package")),
     Element("attempts/attempt", "h5pactivity_attempts", kind="h5pactivity_attempt", userdata=True,
             parents={"h5pactivityid": "h5pactivity"}, refs={"userid": "user"}),
     Element("attempts/attempt/results/result", "h5pactivity_attempts_results",
             kind="h5pactivity_attempt_result", userdata=True,
             parents={"attemptid": "h5pactivity_attempt"})),
    links={"h5pactivity": ("intro",)},
    rules=view_rules("h5pactivity"))
