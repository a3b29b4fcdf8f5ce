from mbx.moodle2.declare import COURSE, Element, Module, view_rules

MODULE = Module(
    "book",
    (Element(".", "book", kind="book", fixed={"course": COURSE}, files=("intro",)),
     Element("chapters/chapter", "book_chapters", kind="book_chapter",
             parents={"bookid": "book"}, files=("chapter",), files_by="book_chapter"),
     Element("chaptertags/tag", None, hook="tag", args=("mod_book", "book_chapters", "book_chapter"))),
    links={"book": ("intro",), "book_chapters": ("content",)},
    rules={**view_rules("book", by_instance="b"),
           "BOOKSTART": ("/mod/book/view.php?id=$1", ("course_module",)),
           "BOOKVIEWBYIDCH": ("/mod/book/view.php?id=$1&amp;chapterid=$2", ("course_module", "book_chapter")),
           "BOOKCHAPTER": ("/mod/book/view.php?id=$1&amp;chapterid=$2", ("course_module", "book_chapter")),
           "BOOKVIEWBYBCH": ("/mod/book/view.php?b=$1&amp;chapterid=$2", ("book", "book_chapter"))})
