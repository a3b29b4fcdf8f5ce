"""mod_scorm: the package's SCOs and their sequencing rules, and users' tracks.

``scorm.launch`` names a SCO, which comes later in the file: Moodle maps it after
parsing (falling back to the first SCO with a launch URL).

Three of the sequencing elements are not restored by Moodle although the backup
writes them: the backup nests a rule's conditions inside the rule
(``seq_rolluprule/seq_rollupruleconds/…``, ``seq_rulecond/seq_rulecond_datas/…``)
while the restore listens for them directly under the SCO, so those records pass
unseen; and ``seq_mapinfo``, read at the path written, is inserted into
``scorm_scoes_data`` instead of ``scorm_seq_mapinfo`` [quirk]. The first two are
declared with no table, as their rows never appear.

A track (``sco_track``) becomes a ``scorm_scoes_value`` row in Moodle 4.4+, with
its ``attempt`` and ``element`` turned into ``scorm_attempt`` and ``scorm_element``
rows found or created on the way.
"""

from mbx.moodle2.declare import COURSE, Element, Module, view_rules

_SCO = "scoes/sco"

MODULE = Module(
    "scorm",
    (Element(".", "scorm", kind="scorm", fixed={"course": COURSE}, files=("intro", "content", "package"),
             refs={"launch": "scorm_sco"}, dates=("timeopen", "timeclose")),
     Element(_SCO, "scorm_scoes", kind="scorm_sco", parents={"scorm": "scorm"}),
     Element(f"{_SCO}/sco_datas/sco_data", "scorm_scoes_data", parents={"scoid": "scorm_sco"}),
     Element(f"{_SCO}/seq_objectives/seq_objective", "scorm_seq_objective", kind="scorm_seq_objective",
             parents={"scoid": "scorm_sco"}),
     Element(f"{_SCO}/seq_objectives/seq_objective/seq_mapinfos/seq_mapinfo", "scorm_scoes_data",
             parents={"scoid": "scorm_sco", "objectiveid": "scorm_seq_objective"}),
     Element(f"{_SCO}/seq_rolluprules/seq_rolluprule", "scorm_seq_rolluprule",
             kind="scorm_seq_rolluprule", parents={"scoid": "scorm_sco"}),
     Element(f"{_SCO}/seq_rolluprules/seq_rolluprule/seq_rollupruleconds/seq_rolluprulecond", None),
     Element(f"{_SCO}/seq_ruleconds/seq_rulecond", "scorm_seq_ruleconds", kind="scorm_seq_ruleconds",
             parents={"scoid": "scorm_sco"}),
     Element(f"{_SCO}/seq_ruleconds/seq_rulecond/seq_rulecond_datas/seq_rulecond_data", None),
     Element(f"{_SCO}/sco_tracks/sco_track", "scorm_scoes_value", userdata=True,
             parents={"scoid": "scorm_sco"}, refs={"userid": "user"})),
    links={"scorm": ("intro",)},
    rules=view_rules("scorm"))
