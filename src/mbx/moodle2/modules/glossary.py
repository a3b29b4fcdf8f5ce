"""mod_glossary: entries (user data) and categories (not), joined by category entries.

A category's entries are user data under a category that is not, so they rely on
the entries preceding the categories in the file, which they do.
"""

from mbx.moodle2.declare import CONTEXT, COURSE, Element, Module, ref, view_rules

_ENTRY = "entries/entry"

MODULE = Module(
    "glossary",
    (Element(".", "glossary", kind="glossary", fixed={"course": COURSE}, files=("intro",),
             refs={"scale": ref("scale", signed=True)}, dates=("assesstimestart", "assesstimefinish")),
     Element(_ENTRY, "glossary_entries", kind="glossary_entry", userdata=True,
             parents={"glossaryid": "glossary"}, refs={"userid": "user", "sourceglossaryid": "glossary"},
             files=("entry", "attachment"), files_by="glossary_entry"),
     Element(f"{_ENTRY}/aliases/alias", "glossary_alias", userdata=True,
             parents={"entryid": "glossary_entry"}, rename={"alias": "alias_text"}),
     Element(f"{_ENTRY}/ratings/rating", "rating", userdata=True,
             parents={"itemid": "glossary_entry"}, rename={"rating": "value"},
             refs={"userid": "user", "scaleid": ref("scale", signed=True)},
             fixed={"contextid": CONTEXT}, defaults={"component": "mod_glossary", "ratingarea": "entry"}),
     Element("entriestags/tag", None, userdata=True, hook="tag",
             args=("mod_glossary", "glossary_entries", "glossary_entry")),
     Element("categories/category", "glossary_categories", kind="glossary_category",
             parents={"glossaryid": "glossary"}),
     Element("categories/category/category_entries/category_entry", "glossary_entries_categories",
             userdata=True, parents={"categoryid": "glossary_category"},
             refs={"entryid": "glossary_entry"})),
    links={"glossary": ("intro",), "glossary_entries": ("definition",)},
    rules={**view_rules("glossary"),
           "GLOSSARYSHOWENTRY": ("/mod/glossary/showentry.php?courseid=$1&eid=$2",
                                 ("course", "glossary_entry"))})
