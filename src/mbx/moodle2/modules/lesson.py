"""mod_lesson: pages, their answers, and what users did on them.

Several references point forwards and are resolved by Moodle after the file is
parsed: a page's ``prevpageid``/``nextpageid`` and a branch's ``nextpageid``
(to pages further down), ``lesson.dependency`` and ``lesson.activitylink``
(after the whole restore, to another lesson and a course module). Answers are
buffered and inserted after the file, so an attempt's ``answerid`` first holds
the old answer id. An answer's ``jumpto`` is a page id only when positive (0 and
the negative values are Moodle's jump codes, "this page", "next page", "end of
lesson"...), which a reference cannot say; it is left out here.

``highscores/highscore`` comes from backups made before Moodle 3.0 dropped the
table; the restore ignores it, yet it holds user ids.
"""

from mbx.moodle2.declare import COURSE, Element, Module, view_rules

_PAGE = "pages/page"
_ANSWER = f"{_PAGE}/answers/answer"

MODULE = Module(
    "lesson",
    (Element(".", "lesson", kind="lesson", fixed={"course": COURSE}, files=("intro", "mediafile"),
             refs={"dependency": "lesson", "activitylink": "course_module"},
             dates=("available", "deadline")),
     Element(_PAGE, "lesson_pages", kind="lesson_page", parents={"lessonid": "lesson"},
             refs={"prevpageid": "lesson_page", "nextpageid": "lesson_page"},
             files=("page_contents",), files_by="lesson_page"),
     Element(_ANSWER, "lesson_answers", kind="lesson_answer",
             parents={"lessonid": "lesson", "pageid": "lesson_page"}, rename={"answer": "answer_text"},
             files=("page_answers", "page_responses"), files_by="lesson_answer"),
     Element(f"{_ANSWER}/attempts/attempt", "lesson_attempts", kind="lesson_attempt", userdata=True,
             parents={"lessonid": "lesson", "pageid": "lesson_page", "answerid": "lesson_answer"},
             refs={"userid": "user"},
             files=("essay_responses", "essay_answers"), files_by="lesson_attempt"),
     Element(f"{_PAGE}/branches/branch", "lesson_branch", userdata=True,
             parents={"lessonid": "lesson", "pageid": "lesson_page"},
             refs={"userid": "user", "nextpageid": "lesson_page"}),
     Element("grades/grade", "lesson_grades", kind="lesson_grade", userdata=True,
             parents={"lessonid": "lesson"}, refs={"userid": "user"}),
     Element("highscores/highscore", None, userdata=True,
             refs={"userid": "user", "gradeid": "lesson_grade"}),
     Element("timers/timer", "lesson_timer", userdata=True, parents={"lessonid": "lesson"},
             refs={"userid": "user"}, defaults={"completed": "0"}),
     # A user override is written and restored only with user data, a group override always.
     Element("overrides/override", "lesson_overrides", kind="lesson_override",
             parents={"lessonid": "lesson"},
             refs={"userid": "user", "groupid": "group"}, dates=("available", "deadline"))),
    links={"lesson": ("intro",), "lesson_pages": ("contents",),
           "lesson_answers": ("answer", "response")},
    # LESSONESAY is Moodle's spelling.
    rules={**view_rules("lesson"),
           "LESSONEDIT": ("/mod/lesson/edit.php?id=$1", ("course_module",)),
           "LESSONESAY": ("/mod/lesson/essay.php?id=$1", ("course_module",)),
           "LESSONREPORT": ("/mod/lesson/report.php?id=$1", ("course_module",)),
           "LESSONMEDIAFILE": ("/mod/lesson/mediafile.php?id=$1", ("course_module",)),
           "LESSONVIEWPAGE": ("/mod/lesson/view.php?id=$1&pageid=$2", ("course_module", "lesson_page")),
           "LESSONEDITPAGE": ("/mod/lesson/edit.php?id=$1&pageid=$2", ("course_module", "lesson_page"))})
