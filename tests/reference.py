"""An independent reading of mbx's record semantics, built on lxml trees.

It walks a whole parsed tree instead of streaming, and shares no code with
either engine: it exists to check them. The rules are those documented in
``mbx.xml.parser``.
"""

from __future__ import annotations

from lxml import etree

_WS = " \t\n\r"
NULL = "$@NULL@$"


def element_paths(data: bytes) -> list[str]:
    """Every distinct element path in the document."""
    root = _parse(data)
    seen = set()

    def walk(element, path):
        seen.add(path)
        for child in element:
            walk(child, f"{path}/{child.tag}")

    walk(root, "/" + root.tag)
    return sorted(seen)


def _parse(data: bytes):
    parser = etree.XMLParser(remove_comments=True, remove_pis=True, resolve_entities=False,
                             huge_tree=True, no_network=True, load_dtd=False)
    return etree.fromstring(data, parser)


def reference_records(data: bytes, registered: dict[str, bool]) -> list[tuple[str, dict]]:
    """``[(path, record)]`` in dispatch order for ``{path: grouped}`` registrations."""
    root = _parse(data)
    selected_parents = {path.rsplit("/", 1)[0] for path in registered}
    grouped = [path for path, is_grouped in registered.items() if is_grouped]
    out: list[tuple[str, dict]] = []

    def is_wrapper(path):
        return path in registered or path in selected_parents

    def group_root(path):
        for outer in grouped:
            if path.startswith(outer + "/"):
                return outer
        return None

    def visit(element, path, groups):
        state = None
        if path in registered:
            state = {"attrs": dict(element.attrib), "attrs_pending": bool(element.attrib),
                     "built": None}
            if registered[path]:
                state["built"] = {}
                groups = dict(groups, **{path: state})
        chunk: dict = {}
        for child in element:
            child_path = f"{path}/{child.tag}"
            if len(child) == 0:
                if state is not None:
                    value = child.text or ""
                    value = None if value == NULL else value
                    if child.tag not in chunk or (value is not None and value.strip(_WS)):
                        chunk[child.tag] = (value, is_wrapper(child_path))
            else:
                if state is not None:
                    publish(path, state, chunk, bool(child.attrib), groups)
                    chunk = {}
                visit(child, child_path, groups)
        if state is not None:
            publish(path, state, chunk, False, groups)
            if registered[path]:
                built = state["built"]
                if state["attrs_pending"]:
                    for key, value in state["attrs"].items():
                        built.setdefault(key, value)
                out.append((path, built))

    def publish(path, state, chunk, marker, groups):
        if not chunk and not marker:
            return
        fields = {name: value for name, (value, wrapper) in chunk.items()
                  if not (wrapper and (value is None or value.startswith("\n")))}
        blank = all(value is None or not value.strip(_WS) for value in fields.values())
        if state["attrs_pending"]:
            state["attrs_pending"] = False
            fields = {**state["attrs"], **fields}
            blank = False
        if blank or not fields:
            return
        outer = group_root(path)
        if outer is None and not registered[path]:
            out.append((path, fields))
        elif state["built"] is not None:
            state["built"].update(fields)
        else:
            state["built"] = fields
            place(groups[outer]["built"], path[len(outer) + 1:].split("/"), fields)

    def place(tree, names, fields):
        for name in names[:-1]:
            existing = tree.get(name)
            if isinstance(existing, list):
                tree = existing[-1]
            elif isinstance(existing, dict):
                tree = existing
            else:
                tree[name] = {}
                tree = tree[name]
        if not isinstance(tree.get(names[-1]), list):
            tree[names[-1]] = []
        tree[names[-1]].append(fields)

    visit(root, "/" + root.tag, {})
    return out
