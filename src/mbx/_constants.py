"""Constants shared by both parser engines and the path table that feeds them.

Kept below ``mbx.xml`` and ``mbx._speedups`` so the compiled modules import
nothing from the layers above them.
"""

#: The element's path is registered: it produces records.
REGISTERED = 1
#: The element's path is the direct parent of a registered path. Together with
#: REGISTERED this decides whether an empty child is a dropped wrapper.
SELECTED_PARENT = 2
#: The element is the root of a grouped delivery.
GROUPED = 4
#: The element lies strictly inside a grouped element: its records are
#: collected into the group's record, never dispatched alone.
IN_GROUP = 8


class _Skip:
    """The type of :data:`SKIP`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "mbx.xml.SKIP"


#: Returned by a handler: no more records from inside this element's subtree.
SKIP = _Skip()
