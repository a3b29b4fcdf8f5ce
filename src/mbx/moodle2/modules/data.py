"""mod_data (database): fields, and records with their contents (user data).

``data.defaultsort`` names a field, which comes later in the file: Moodle maps it
after parsing. Comments on records use the comment area ``database_entry``,
mapped through ``data_record``.
"""

from mbx.moodle2.declare import CONTEXT, COURSE, Element, Module, ref, view_rules

_RECORD = "records/record"
_TEMPLATES = ("singletemplate", "listtemplate", "listtemplateheader", "listtemplatefooter",
              "addtemplate", "rsstemplate", "rsstitletemplate", "asearchtemplate")

MODULE = Module(
    "data",
    (Element(".", "data", kind="data", fixed={"course": COURSE}, files=("intro",),
             refs={"scale": ref("scale", signed=True), "defaultsort": "data_field"},
             dates=("timeavailablefrom", "timeavailableto", "timeviewfrom", "timeviewto",
                    "assesstimestart", "assesstimefinish")),
     Element("fields/field", "data_fields", kind="data_field", parents={"dataid": "data"}),
     Element(_RECORD, "data_records", kind="data_record", userdata=True, parents={"dataid": "data"},
             refs={"userid": "user", "groupid": "group"}),
     Element(f"{_RECORD}/contents/content", "data_content", kind="data_content", userdata=True,
             parents={"recordid": "data_record"}, refs={"fieldid": "data_field"},
             files=("content",), files_by="data_content"),
     Element(f"{_RECORD}/ratings/rating", "rating", userdata=True,
             parents={"itemid": "data_record"}, rename={"rating": "value"},
             refs={"userid": "user", "scaleid": ref("scale", signed=True)},
             fixed={"contextid": CONTEXT}, defaults={"component": "mod_data", "ratingarea": "entry"}),
     Element("recordstags/tag", None, userdata=True, hook="tag",
             args=("mod_data", "data_records", "data_record"))),
    links={"data": ("intro", *_TEMPLATES),
           "data_fields": ("description", *(f"param{n}" for n in range(1, 11))),
           "data_content": ("content", "content1", "content2", "content3", "content4")},
    rules={**view_rules("data", by_instance="d"),
           "DATAVIEWRECORD": ("/mod/data/view.php?d=$1&amp;rid=$2", ("data", "data_record"))})
