"""mod_wiki: everything below the instance is user data, even a collaborative wiki's
pages. A subwiki belongs to a group, a user (individual wikis), or both; Moodle
skips a subwiki whose non-zero group or user has no new id, and the pages of a
skipped subwiki with it."""

from mbx.moodle2.declare import COURSE, Element, Module, view_rules

_SUBWIKI = "subwikis/subwiki"
_PAGE = f"{_SUBWIKI}/pages/page"

MODULE = Module(
    "wiki",
    (Element(".", "wiki", kind="wiki", fixed={"course": COURSE}, files=("intro",),
             dates=("editbegin", "editend")),
     Element(_SUBWIKI, "wiki_subwikis", kind="wiki_subwiki", userdata=True, parents={"wikiid": "wiki"},
             refs={"groupid": "group", "userid": "user"}, files=("attachments",), files_by="wiki_subwiki"),
     Element(_PAGE, "wiki_pages", kind="wiki_page", userdata=True, parents={"subwikiid": "wiki_subwiki"},
             refs={"userid": "user"}),
     Element(f"{_PAGE}/versions/version", "wiki_versions", kind="wiki_version", userdata=True,
             parents={"pageid": "wiki_page"}, refs={"userid": "user"}),
     Element(f"{_PAGE}/tags/tag", None, userdata=True, hook="tag",
             args=("mod_wiki", "wiki_pages", "wiki_page")),
     Element(f"{_SUBWIKI}/synonyms/synonym", "wiki_synonyms", userdata=True,
             parents={"subwikiid": "wiki_subwiki"}, refs={"pageid": "wiki_page"}),
     Element(f"{_SUBWIKI}/links/link", "wiki_links", userdata=True, parents={"subwikiid": "wiki_subwiki"},
             refs={"frompageid": "wiki_page", "topageid": "wiki_page"})),
    links={"wiki": ("intro",), "wiki_versions": ("content",), "wiki_pages": ("cachedcontent",)},
    rules={**view_rules("wiki"),
           "WIKIPAGEBYID": ("/mod/wiki/view.php?pageid=$1", ("wiki_page",))})
