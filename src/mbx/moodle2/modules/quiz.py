"""The quiz (``mod_quiz``): its slots point into the question bank restored by the root task.

A slot (``question_instance``) refers to a question bank entry (4.0+:
``question_reference``) or to a set of questions (``question_set_reference``,
a random slot). Older backups name the question itself in the slot
(``questionid``/``question``); the hook turns that into the reference a 4.x
quiz has. Attempts own a question usage, its question attempts and their steps;
a step's response variables are read grouped with it and become
``question_attempt_step_data`` rows.
"""

from mbx.moodle2.declare import CONTEXT, COURSE, Element, Missing, Module, ref, view_rules

_SLOT = "question_instances/question_instance"
_USAGE = "attempts/attempt/question_usage"
_ATTEMPT = f"{_USAGE}/question_attempts/question_attempt"

#: The ``quiz_attempts`` row of an attempt: written by the hook of its question usage,
#: whose new id is the attempt's ``uniqueid`` (Moodle's ``inform_new_usage_id``).
ATTEMPT_ROW = Element("attempts/attempt", "quiz_attempts", kind="quiz_attempt", userdata=True,
                      parents={"quiz": "quiz"}, refs={"userid": ref("user", Missing.SKIP)},
                      rename={"attempt": "attemptnum"}, dates=("timecheckstate",))

MODULE = Module(
    "quiz",
    (Element(".", "quiz", kind="quiz", fixed={"course": COURSE}, files=("intro",),
             rename={"attempts": "attempts_number"}, dates=("timeopen", "timeclose"), hook="quiz"),
     Element("quiz_grade_items/quiz_grade_item", "quiz_grade_items", kind="quiz_grade_item",
             parents={"quizid": "quiz"}),
     Element(_SLOT, "quiz_slots", kind="quiz_question_instance", parents={"quizid": "quiz"},
             refs={"quizgradeitemid": ref("quiz_grade_item", Missing.NULL)},
             rename={"maxmark": "grade"}, hook="quiz_slot"),
     Element(f"{_SLOT}/question_reference", "question_references",
             parents={"itemid": "quiz_question_instance"}, fixed={"usingcontextid": CONTEXT},
             refs={"questionbankentryid": ref("question_bank_entry", Missing.KEEP)},
             defaults={"component": "mod_quiz", "questionarea": "slot"}),
     Element(f"{_SLOT}/question_set_reference", "question_set_references",
             parents={"itemid": "quiz_question_instance"}, fixed={"usingcontextid": CONTEXT},
             refs={"questionscontextid": ref("context", Missing.KEEP)},
             defaults={"component": "mod_quiz", "questionarea": "slot"}, hook="quiz_set_reference"),
     Element(f"{_SLOT}/tags/tag", None, hook="quiz_slot_tag"),
     Element("sections/section", "quiz_sections", kind="quiz_section", parents={"quizid": "quiz"},
             hook="quiz_section"),
     Element("feedbacks/feedback", "quiz_feedback", kind="quiz_feedback", parents={"quizid": "quiz"},
             files=("feedback",), files_by="quiz_feedback"),
     Element("overrides/override", "quiz_overrides", kind="quiz_override", parents={"quiz": "quiz"},
             refs={"userid": ref("user", Missing.NULL), "groupid": ref("group", Missing.NULL)},
             dates=("timeopen", "timeclose"), hook="quiz_override"),
     Element("grades/grade", "quiz_grades", userdata=True, parents={"quiz": "quiz"},
             refs={"userid": "user"}, rename={"grade": "gradeval"}),
     # The attempt's row is ATTEMPT_ROW, which the hook builds; its references and dates
     # are repeated here for the readers of the declaration (with no table, the engine
     # maps and rolls nothing on this element itself).
     Element("attempts/attempt", None, userdata=True, refs=ATTEMPT_ROW.refs, dates=ATTEMPT_ROW.dates,
             hook="quiz_attempt"),
     Element(_USAGE, "question_usages", kind="question_usage", userdata=True,
             fixed={"contextid": CONTEXT}, hook="quiz_question_usage"),
     Element(_ATTEMPT, "question_attempts", kind="question_attempt", userdata=True,
             parents={"questionusageid": "question_usage"},
             refs={"questionid": ref("question_created", Missing.KEEP)},
             defaults={"variant": "1", "maxfraction": "1"}, hook="quiz_question_attempt"),
     Element(f"{_ATTEMPT}/steps/step", "question_attempt_steps", kind="question_attempt_step",
             userdata=True, grouped=True, parents={"questionattemptid": "question_attempt"},
             refs={"userid": ref("user")}, hook="quiz_attempt_step",
             files=("question/response_attachments", "question/response_answer"),
             files_by="question_attempt_step"),
     Element(f"{_ATTEMPT}/steps/step/response/variable", None, userdata=True)),
    links={"quiz": ("intro",), "quiz_feedback": ("feedbacktext",)},
    rules=view_rules("quiz", by_instance="q"))
