"""The reference kinds of ``inforef.xml`` and the members that define each.

Every ``<kind>ref/<kind>`` entry of an ``inforef.xml`` names a record of
another member: ``fileref`` a ``files.xml`` file, ``userref`` a ``users.xml``
user, and so on. The kinds are the reference groups Moodle writes
(``backup_helper::get_inforef_itemnames()``).
"""

from __future__ import annotations

#: Where the records every inforef kind points at are defined: member name (or, for
#: activity grade items, the file name in any folder) -> (record path, kind).
DEFINITIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "files.xml": (("/files/file", "file"),),
    "users.xml": (("/users/user", "user"),),
    "roles.xml": (("/roles_definition/role", "role"),),
    "groups.xml": (("/groups/group", "group"), ("/groups/groupings/grouping", "grouping")),
    "scales.xml": (("/scales_definition/scale", "scale"),),
    "outcomes.xml": (("/outcomes_definition/outcome", "outcome"),),
    "questions.xml": (("/question_categories/question_category", "question_category"),),
    "gradebook.xml": (("/gradebook/grade_items/grade_item", "grade_item"),),
    "grades.xml": (("/activity_gradebook/grade_items/grade_item", "grade_item"),),
}
#: Every kind, in the order of :data:`DEFINITIONS`.
KNOWN_REFS = tuple(dict.fromkeys(kind for paths in DEFINITIONS.values() for _, kind in paths))
#: Where each kind is defined, as messages name it.
DEFINED_IN = {kind: name for name, paths in DEFINITIONS.items() for _, kind in paths}
DEFINED_IN["grade_item"] = "grades.xml or gradebook.xml"
