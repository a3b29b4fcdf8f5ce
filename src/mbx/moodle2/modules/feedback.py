"""mod_feedback: items, and completed responses with their values (user data).

An item's ``dependitem`` may name a later item and is mapped after parsing. The
course ids of a response (``completed.courseid``, ``value.course_id``, set when
a feedback on the front page is answered from a course) are kept on the same
site, become the site id on the front page and 0 elsewhere: no mapping says
that. ``trackings/tracking`` comes from backups made before Moodle 3.x dropped
``feedback_tracking``; no restore reads it, yet it holds user ids.
"""

from mbx.moodle2.declare import COURSE, Element, Module

MODULE = Module(
    "feedback",
    (Element(".", "feedback", kind="feedback", fixed={"course": COURSE},
             files=("intro", "page_after_submit"), dates=("timeopen", "timeclose")),
     Element("items/item", "feedback_item", kind="feedback_item", parents={"feedback": "feedback"},
             refs={"dependitem": "feedback_item"}, files=("item",), files_by="feedback_item"),
     Element("completeds/completed", "feedback_completed", kind="feedback_completed", userdata=True,
             parents={"feedback": "feedback"}, refs={"userid": "user"}),
     Element("completeds/completed/values/value", "feedback_value", kind="feedback_value",
             userdata=True, parents={"completed": "feedback_completed"}, refs={"item": "feedback_item"}),
     Element("trackings/tracking", None, userdata=True,
             refs={"userid": "user", "completed": "feedback_completed"})),
    links={"feedback": ("intro", "site_after_submit", "page_after_submit"),
           "feedback_item": ("presentation",), "feedback_value": ("value",)},
    rules={"FEEDBACKINDEX": ("/mod/feedback/index.php?id=$1", ("course",)),
           **{f"FEEDBACK{name}BYID": (f"/mod/feedback/{page}.php?id=$1", ("course_module",))
              for name, page in (("VIEW", "view"), ("ANALYSIS", "analysis"),
                                 ("SHOWENTRIES", "show_entries"))}})
