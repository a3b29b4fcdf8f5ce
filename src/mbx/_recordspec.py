"""What both parser engines share: path-node flags, :data:`SKIP`, group nesting.

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


#: Syntax errors found after the root element has closed are all reported as
#: ``xml-junk-after-root``: expat's own classification there depends on how the
#: input was split, and a code must not.
JUNK_AFTER_ROOT_CODES = frozenset({
    "xml-syntax", "xml-invalid-char", "xml-bad-reference", "xml-bad-declaration",
    "xml-unclosed", "xml-mismatched-tag", "xml-duplicate-attribute", "xml-unsupported"})


def token_guard(max_text: int) -> int:
    """Raw bytes one markup token (tag, comment, CDATA section, instruction) may
    span before it is refused: room for heavily escaped values, but bounded."""
    return 2 * max_text + (1 << 20)


class _Skip:
    """The type of :data:`SKIP`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "mbx.xml.SKIP"


#: Returned by a handler: no more records from inside this element's subtree.
SKIP = _Skip()


def attach_to_group(group: dict, group_path: tuple[str, ...], fields: dict) -> None:
    """Puts a grouped descendant's record at ``wrapper -> name -> [records]``.

    ``group_path`` runs from the grouped element down to the descendant; on the
    way, a name already holding a list means "the last occurrence of that
    element", so nested lists attach to their latest parent.
    """
    node = group
    for name in group_path[:-1]:
        child = node.get(name)
        if isinstance(child, list):
            node = child[-1]
        elif isinstance(child, dict):
            node = child
        else:
            node[name] = node = {}
    siblings = node.get(group_path[-1])
    if not isinstance(siblings, list):
        node[group_path[-1]] = siblings = []
    siblings.append(fields)
