"""The language of the per-part declarations: which element becomes which row.

A backup member is read by one *step*: a member name, the path of its root
element, and the *elements* under that root whose records become rows. Each
:class:`Element` says, as data, what Moodle's restore does with a record:

* ``table``: the row it becomes (``None``: no row, the element only carries ids);
* ``kind``: the id-map item its old ``id`` is recorded under (``forum_post``),
  so that later records, files and links can find the new id;
* ``parents``: columns that take the new id of the nearest enclosing element of
  a kind (``{"discussion": "forum_discussion"}``);
* ``refs``: columns that hold an old id of some kind and take its new id
  (``{"userid": "user"}``; a :class:`Ref` says what to do when it is unmapped);
* ``dates``: columns shifted by the restore's date offset;
* ``rename``: columns filled from a differently named leaf;
* ``fixed``: columns set from the restore itself (:data:`COURSE`, :data:`CONTEXT`, ...);
* ``files``: file areas restored with this element, and ``files_by`` the kind
  their ``itemid`` maps through (none: the itemid is kept, normally 0);
* ``userdata``: restored only with user data;
* ``defaults``: values for columns the record leaves out;
* ``required``: columns that must end up holding an id (not empty, not 0) for the
  record to be restored (a role mapped to none, an unmapped parent);
* ``unique``: columns whose values identify the row: a second record with the same
  values is left out, as Moodle reuses the row it finds;
* ``hook`` (with ``args``): the name of a function for what data cannot say.

Restore reads these forwards (path → rows), the transforms read which fields are
dates, users and files, and a backup writer can read them backwards (rows →
paths). The declarations themselves live in :mod:`mbx.moodle2.structure` (the
course, its sections and the parts every activity shares) and in
:mod:`mbx.moodle2.modules` (one file per module).
"""

from __future__ import annotations

import enum
from typing import Mapping

import msgspec

__all__ = ["CONTEXT", "COURSE", "INSTANCE", "Element", "Fixed", "Module", "Ref", "Step",
           "Missing", "USER", "ref"]


class Fixed(enum.Enum):
    """Values that come from the restore, not from the backup."""

    COURSE = "the new course id"
    CONTEXT = "the new context of the step's task (course, module or block)"
    INSTANCE = "the new instance id of the step's activity"
    MODULE = "the new course module id of the step's activity"
    USER = "the user the restore runs as"
    COURSE_CONTEXT = "the new course context"
    NOW = "the time of the restore"


COURSE, CONTEXT, INSTANCE, MODULE, USER, COURSE_CONTEXT, NOW = Fixed


class Missing(enum.Enum):
    """What a reference whose old id has no new id becomes."""

    ZERO = "0, as Moodle stores get_mappingid()'s false"
    NULL = "NULL"
    KEEP = "the old id, unchanged"
    SKIP = "the whole record is not restored"
    RESTORER = "the id of the user the restore runs as"


class Ref(msgspec.Struct, frozen=True):
    """A column holding an old id of ``kind``.

    ``signed``: a negative value is a negated id (Moodle's scale fields), a
    positive one is no id at all (a maximum grade) and stays.
    """

    kind: str
    missing: Missing = Missing.ZERO
    signed: bool = False


def ref(kind: str, missing: Missing = Missing.ZERO, *, signed: bool = False) -> Ref:
    return Ref(kind, missing, signed)


class Element(msgspec.Struct, frozen=True):
    path: str                                    # relative to the step root; "." is the root
    table: str | None
    kind: str | None = None
    parents: Mapping[str, str] = {}
    refs: Mapping[str, str | Ref] = {}
    dates: tuple[str, ...] = ()
    rename: Mapping[str, str] = {}
    fixed: Mapping[str, Fixed | int | str | None] = {}
    files: tuple[str, ...] = ()                  # "area" (step component) or "component/area"
    files_by: str | None = None                  # the kind of the files' itemid (else kept)
    userdata: bool = False
    grouped: bool = False
    defaults: Mapping[str, str] = {}             # values for columns the record lacks
    required: tuple[str, ...] = ()               # columns that must hold an id, or no row
    unique: tuple[str, ...] = ()                 # a second row with these values is left out
    hook: str | None = None
    args: tuple[str, ...] = ()                   # what the hook is told (a tag area, ...)

    def references(self) -> dict[str, Ref]:
        return {column: (target if isinstance(target, Ref) else Ref(target))
                for column, target in self.refs.items()}


class Step(msgspec.Struct, frozen=True):
    """One member read by one pass of the parser."""

    member: str                                  # relative to the task folder
    root: str                                    # path of the root element
    elements: tuple[Element, ...]
    component: str = ""                          # the files component of ``files`` areas
    setting: str | None = None                   # root setting that must be on
    required: bool = False                       # a missing member is an error
    after: str | None = None                     # a hook run once the member is parsed

    def absolute(self, element: Element) -> str:
        return self.root if element.path == "." else f"{self.root}/{element.path}"


class Module(msgspec.Struct, frozen=True):
    """What one activity module's ``<mod>.xml`` holds, and its interlinks.

    ``links`` names, per table, the columns whose ``$@TOKEN*id@$`` links are
    decoded; ``rules`` the module's tokens: ``TOKEN -> (url template, kinds)``.
    """

    name: str
    elements: tuple[Element, ...]
    links: Mapping[str, tuple[str, ...]] = {}
    rules: Mapping[str, tuple[str, tuple[str, ...]]] = {}
    after: str | None = None                     # a hook run once ``<mod>.xml`` is parsed

    @property
    def component(self) -> str:
        return f"mod_{self.name}"

    def step(self) -> Step:
        return Step(member=f"{self.name}.xml", root=f"/activity/{self.name}",
                    elements=self.elements, component=self.component, required=True,
                    after=self.after)

    @property
    def instance(self) -> Element:
        return next(element for element in self.elements if element.path == ".")


def view_rules(module: str, by_instance: str = "") -> dict[str, tuple[str, tuple[str, ...]]]:
    """The two rules every module has: ``<MOD>VIEWBYID`` and ``<MOD>INDEX``, plus the
    optional ``<MOD>VIEWBY<letter>`` by instance id."""
    upper = module.upper()
    rules = {f"{upper}VIEWBYID": (f"/mod/{module}/view.php?id=$1", ("course_module",)),
             f"{upper}INDEX": (f"/mod/{module}/index.php?id=$1", ("course",))}
    if by_instance:
        rules[f"{upper}VIEWBY{by_instance.upper()}"] = (f"/mod/{module}/view.php?{by_instance}=$1", (module,))
    return rules
