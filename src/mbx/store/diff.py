"""``diff``: what changed between two stored versions.

Members are compared by name and content (a blob's sha1, any other member's
xxh3-128), from the index alone. Activities and sections come from each
version's ``moodle_backup.xml``, read from the store
(:func:`~mbx.moodle2.information.read_information`): one is added or removed
when its id is in one listing only, changed when its title changed or a
member of its folder did.
"""

from __future__ import annotations

import os

from mbx.errors import MbxError
from mbx.moodle2.information import read_information
from mbx.moodle2.members import BLOB, MOODLE_BACKUP
from mbx.store.index import connect, resolve
from mbx.store.layout import Layout
from mbx.store.objects import ObjectPool
from mbx.store.read import _reporting, content_pieces, members_of
from mbx.store.results import DiffResult, ItemChange, MemberChange

__all__ = ["diff"]


def diff(store: str | os.PathLike, a: str, b: str) -> DiffResult:
    """The activities, sections, files and members that differ from version ``a`` to ``b``."""
    layout = Layout(store)
    with layout.locked(), connect(layout) as db:
        pool = ObjectPool(layout)
        versions = [resolve(db, ref) for ref in (a, b)]
        listed = [{member.name: member for member in members_of(db, version)}
                  for version in versions]
        informations = []
        for version, members in zip(versions, listed):
            member = members.get(MOODLE_BACKUP)
            information = None
            if member is not None and member.content is not None:
                with _reporting(version, member):
                    try:
                        information = read_information(
                            content_pieces(db, pool, member.content, member.size,
                                           f"{version.ref}:{MOODLE_BACKUP}"),
                            source=f"{version.ref}:{MOODLE_BACKUP}")
                    except MbxError as error:
                        if error.code == "store-damaged":
                            raise
            informations.append(information)
    old, new = listed
    changes = []
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if before is not None and after is not None:
            if (before.is_dir, before.blob, before.content, before.size) == \
                    (after.is_dir, after.blob, after.content, after.size):
                continue
            change = "changed"
        else:
            change = "added" if before is None else "removed"
        if (before or after).is_dir:
            continue  # folders appear and go with what they hold
        changes.append(MemberChange(name=name, change=change,
                                    size_a=None if before is None else before.size,
                                    size_b=None if after is None else after.size))
    touched = [change.name for change in changes]
    files = [change for change in changes if BLOB.fullmatch(change.name)]
    return DiffResult(
        a=versions[0].ref, b=versions[1].ref,
        activities=_items("activity", informations, touched),
        sections=_items("section", informations, touched),
        files_added=[change for change in files if change.change == "added"],
        files_removed=[change for change in files if change.change == "removed"],
        members=[change for change in changes if not BLOB.fullmatch(change.name)])


def _items(kind: str, informations: list, touched: list[str]) -> list[ItemChange]:
    """The activities (or sections) of the two information blocks that differ."""
    key = "moduleid" if kind == "activity" else "sectionid"
    listings = [{getattr(item, key): item for item in
                 (getattr(information, "activities" if kind == "activity" else "sections")
                  if information is not None else [])}
                for information in informations]
    old, new = listings
    found = []
    for item_id in sorted(old.keys() | new.keys(), key=lambda value: (len(value or ""), value)):
        before, after = old.get(item_id), new.get(item_id)
        item = after or before
        if before is None or after is None:
            change = "added" if before is None else "removed"
        else:
            below = [f"{folder}/" for folder in {before.directory, after.directory} if folder]
            inside = any(name.startswith(prefix) for name in touched for prefix in below)
            if before.title == after.title and before.directory == after.directory \
                    and not inside:
                continue
            change = "changed"
        found.append(ItemChange(kind=kind, change=change, id=item_id, title=item.title,
                                directory=item.directory,
                                modulename=getattr(item, "modulename", None)))
    return found
