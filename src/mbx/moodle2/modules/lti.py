"""mod_lti (external tool): the instance, the tool type it uses, and users' submissions.

The instance's ``typeid`` is cleared and then set to the type found or created for
``ltitype`` (an earlier mapping, the same type on the same site, or a course
tool with the same base URL); only course tools are ever inserted, and a site
tool's record carries little more than its name. ``resourcekey``, ``password``
and a type's encrypted settings are encrypted with the site's backup key: on
another site they come back empty. The tool proxy carries only its id; its
settings are restored only on the same site. Subplugins (``ltisource``,
``ltiservice``) may add elements under the instance.
"""

from mbx.moodle2.declare import COURSE, Element, Fixed, Missing, Module, ref, view_rules

_TYPE = "ltitype"

MODULE = Module(
    "lti",
    (Element(".", "lti", kind="lti", fixed={"course": COURSE}, files=("intro",)),
     Element(_TYPE, "lti_types", kind="ltitype",
             refs={"createdby": ref("user", Missing.RESTORER), "course": "course"}),
     Element(f"{_TYPE}/ltitypesconfigs/ltitypesconfig", "lti_types_config", parents={"typeid": "ltitype"}),
     Element(f"{_TYPE}/ltitypesconfigs/ltitypesconfigencrypted", "lti_types_config",
             parents={"typeid": "ltitype"}),
     Element(f"{_TYPE}/ltitoolproxy", None, kind="ltitoolproxy"),
     Element(f"{_TYPE}/ltitoolproxy/ltitoolsettings/ltitoolsetting", "lti_tool_settings",
             parents={"toolproxyid": "ltitoolproxy"},
             fixed={"course": COURSE, "coursemoduleid": Fixed.MODULE}),
     Element("ltisubmissions/ltisubmission", "lti_submission", kind="ltisubmission", userdata=True,
             parents={"ltiid": "lti"}, refs={"userid": "user"}, dates=("datesubmitted", "dateupdated")),
     Element("lticoursevisible", "lti_coursevisible", refs={"typeid": "ltitype"},
             fixed={"courseid": COURSE})),
    links={"lti": ("intro",)},
    rules=view_rules("lti"))
