"""Hooks of ``questions.xml`` (root step 14): categories, entries, versions, questions.

They read the plan of step 13 from ``run.question_bank``
(:class:`mbx.restore.questions.QuestionBank`). A question arrives grouped
with all its parts; its hook decides create or map and, to create, writes its
entry, version and every declared part (:data:`mbx.moodle2.questions.QTYPES`)
through the engine, so each part is still built from its declaration.
"""

from __future__ import annotations

from typing import Any

from mbx.moodle2 import structure
from mbx.moodle2.questions import COMMON_PARTS, QTYPES, plugin_of
from mbx.moodle2.models import as_int
from mbx.restore.hooks import hook

#: Question types whose step data hold ids (Moodle's ``recode_response``): 1 answer
#: ids in ``_order``, 2 match subquestion ids, 3 question ids in ``_stemorder``.
RECODED_QTYPES = {"multichoice": 1, "calculatedmulti": 1, "match": 2, "randomsamatch": 3}

#: Penalties Moodle's restore rounds to what its forms offer.
PENALTIES = ((0.3333333, 0.33), (0.6666667, 0.66))



@hook
def question_category(run, element, record, row, state) -> bool:
    bank = run.question_bank
    old = record.get("id") or ""
    plan = bank.plans.get(old)
    if plan is None:
        return False  # not referenced (or a raw activity's): nothing under it either
    action, context, existing = plan
    bank.current = old
    module_bank = as_int(record.get("contextlevel")) == structure.MODULE_LEVEL
    if action == "map":
        row["id"] = existing
        return True
    parent = as_int(record.get("parent"))
    if not parent and not bank.before35:
        row["id"] = bank.top(context)  # the bank's top is the context's top
    else:
        stamp = record.get("stamp") or ""
        mark = run.target.mark
        if not stamp or run.query(f"SELECT 1 FROM {run.t('question_categories')} WHERE contextid = {mark} "
                                  f"AND stamp = {mark}", (context, stamp)):
            stamp = bank.new_stamp()
        idnumber = record.get("idnumber")
        if idnumber not in (None, "") and run.query(
                f"SELECT 1 FROM {run.t('question_categories')} WHERE contextid = {mark} "
                f"AND idnumber = {mark}", (context, idnumber)):
            idnumber = None
        if idnumber == "":
            idnumber = None
        row["id"] = run.insert("question_categories", {
            "name": record.get("name") or "", "contextid": context, "info": record.get("info") or "",
            "infoformat": record.get("infoformat") or 0, "stamp": stamp, "parent": 0,
            "sortorder": record.get("sortorder") or 0, "idnumber": idnumber})
        bank.category_context[row["id"]] = context
        bank.created.add(row["id"])
        bank.created_categories.append((row["id"], record.get("parent") or "0", context))
        run.ids.set("question_category_created", old, row["id"], context)
    if module_bank:
        bank.module_banks.setdefault(record.get("contextid") or "", []).append(row["id"])
    return True


@hook
def question_bank_entry(run, element, record, row, state) -> bool:
    bank = run.question_bank
    bank.entry = dict(record)
    bank.entry_new = None
    bank.version = None
    return True


@hook
def question_version(run, element, record, row, state) -> bool:
    run.question_bank.version = dict(record)
    return True


@hook
def question(run, element, record, row, state) -> bool:
    """A whole question (grouped): mapped onto an existing one, or created with its
    entry, version and parts."""
    bank = run.question_bank
    old = record.get("id") or ""
    category = state.current.get("question_category")
    plan = bank.plans.get(bank.current or "")
    if category is None or plan is None:
        return False
    _, context, _ = plan
    layout = element.args[0]
    entry = bank.entry if layout == "4.0" else None
    qtype = record.get("qtype") or ""
    if qtype == "random":
        # Pre-4.0 random questions become set references of the quizzes using them;
        # Moodle creates and later deletes them, mbx records what a reference needs.
        run.ids.set("question_random", old, category, as_int(record.get("questiontext")))
        run.ids.set("question_random_context", old, context)
        return False
    recode = RECODED_QTYPES.get(qtype)
    if recode:
        run.ids.set("question_recode", old, recode)
    if plan[0] == "map" and _map_existing(run, record, row, category, entry):
        return False
    if qtype not in QTYPES:
        bank.unknown_qtypes.add(qtype)
    row["id"] = run.target.new_id("question")
    row["parent"] = 0
    row["penalty"] = _penalty(row.get("penalty"))
    for column in ("createdby", "modifiedby"):
        row[column] = _user(run, record.get(column))
    entry_id = _entry(run, bank, record, category, entry)
    run.ids.set("question_entry", old, entry_id)
    version = bank.version if entry is not None else None
    status = (version or {}).get("status") or ("hidden" if as_int(record.get("hidden")) else "ready")
    version_id = run.insert("question_versions", {
        "questionbankentryid": entry_id, "questionid": row["id"],
        "version": as_int((version or {}).get("version"), 1) if version else 1, "status": status})
    if version and version.get("id"):
        run.ids.set("question_versions", version["id"], version_id)
    run.ids.set("question_created", old, row["id"], as_int(bank.current))
    bank.created_questions.append((row["id"], record.get("parent") or "0"))
    from mbx.restore.engine import StepState
    parts_state = StepState(state.member, bank.task(context))
    parts_state.current.update(state.current)
    parts_state.current["question"] = row["id"]
    _write_parts(run, record, QTYPES.get(qtype, ()) + COMMON_PARTS, "", parts_state)
    return True


def _write_parts(run, record: dict, parts, prefix: str, state) -> None:
    """Each declared part found in a grouped record, then the parts declared below it."""
    for part in parts:
        if any(part.path.startswith(other.path + "/") for other in parts):
            continue  # written with the part it sits in
        below = tuple(other for other in parts if other.path.startswith(part.path + "/"))
        for child in _children(record, part.path[len(prefix):]):
            if run.record_into(part, child, state.task, state) is None and part.table is not None:
                continue
            if below:
                _write_parts(run, child, below, part.path + "/", state)


def _children(record: dict, path: str) -> list[dict]:
    node: Any = record
    names = path.split("/")
    for name in names[:-1]:
        node = node.get(name) if isinstance(node, dict) else None
        if node is None:
            return []
    found = node.get(names[-1]) if isinstance(node, dict) else None
    if isinstance(found, dict):
        return [found]
    return [item for item in found or () if isinstance(item, dict)]


def _entry(run, bank, record: dict, category: int, entry: dict | None) -> int:
    """The question's bank entry: the 4.0 entry (once for all its versions), or one
    made from a pre-4.0 question."""
    if entry is not None and bank.entry_new is not None:
        return bank.entry_new
    source = entry if entry is not None else record
    idnumber = source.get("idnumber")
    if idnumber in ("", None) or (category, idnumber) in bank.entry_idnumbers:
        idnumber = None
    else:
        bank.entry_idnumbers.add((category, idnumber))
    owner = _user(run, (entry or {}).get("ownerid") if entry is not None else record.get("createdby"))
    new = run.insert("question_bank_entries", {"questioncategoryid": category, "idnumber": idnumber,
                                               "ownerid": owner})
    if entry is not None:
        bank.entry_new = new
        if entry.get("id"):
            run.ids.set("question_bank_entry", entry["id"], new)
    return new


def _user(run, value: Any) -> int | None:
    """``createdby``/``ownerid``: the restored user, else kept on the same site, else the
    restoring user."""
    if value in (None, ""):
        return None
    mapped = run.ids.get("user", value)
    if mapped is not None:
        return mapped
    return as_int(value) if run.settings.same_site else run.settings.restorer


def _penalty(value: Any) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    if number >= 1:
        return 1
    for fixed, rough in PENALTIES:
        if abs(number - rough) < 0.01 and round(number, 7) != fixed:
            return fixed
    return value


def _map_existing(run, record: dict, row: dict, category: int, entry: dict | None) -> bool:
    """A question of a found category that the category already holds (same identity)."""
    from mbx.restore.questions import identity_hash
    mark = run.target.mark
    found = run.query(
        f"SELECT q.id, q.name, q.questiontext, q.generalfeedback, q.qtype, q.defaultmark, q.penalty, "
        f"q.length, q.stamp, v.id, e.id FROM {run.t('question')} q "
        f"JOIN {run.t('question_versions')} v ON v.questionid = q.id "
        f"JOIN {run.t('question_bank_entries')} e ON e.id = v.questionbankentryid "
        f"WHERE e.questioncategoryid = {mark}", (category,))
    wanted = identity_hash([record.get(name) for name in
                            ("name", "questiontext", "generalfeedback", "qtype", "defaultmark",
                             "penalty", "length", "stamp")])
    for question_id, *values, version_id, entry_id in found:
        if identity_hash(values) != wanted:
            continue
        old = record.get("id")
        run.ids.set("question", old, question_id)
        if entry is not None and entry.get("id"):
            run.ids.set("question_bank_entry", entry["id"], entry_id)
            run.question_bank.entry_new = entry_id
        run.ids.set("question_entry", old, entry_id)
        version = run.question_bank.version if entry is not None else None
        if version and version.get("id"):
            run.ids.set("question_versions", version["id"], version_id)
        _map_answers(run, record, question_id)
        return True
    return False


def _map_answers(run, record: dict, question_id: int) -> None:
    """A mapped question's answers and hints, found by their text."""
    mark = run.target.mark
    answers = {text: answer_id for answer_id, text in run.query(
        f"SELECT id, answer FROM {run.t('question_answers')} WHERE question = {mark}", (question_id,))}
    plugin = record.get(plugin_of(record.get("qtype") or ""))
    for answer in _children(plugin or {}, "answers/answer"):
        found = answers.get(answer.get("answertext") or "")
        if found is not None:
            run.ids.set("question_answer", answer.get("id"), found)
    hints = {text: hint_id for hint_id, text in run.query(
        f"SELECT id, hint FROM {run.t('question_hints')} WHERE questionid = {mark}", (question_id,))}
    for hint in _children(record, "question_hints/question_hint"):
        found = hints.get(hint.get("hint") or "")
        if found is not None:
            run.ids.set("question_hint", hint.get("id"), found)


@hook
def question_answer(run, element, record, row, state) -> bool:
    """Sloppy fractions (0.33, 0.66...) become the exact ones Moodle's forms offer."""
    try:
        fraction = float(row.get("fraction") or 0)
    except (TypeError, ValueError):
        return True
    for exact in (1 / 3, 2 / 3, 1 / 6, 5 / 6, 1 / 7, 1 / 9, 1 / 8, 1 / 5):
        for sign in (1, -1):
            target = sign * exact
            if abs(fraction - target) < 0.0001 and fraction != round(target, 7):
                row["fraction"] = round(target, 7)
    return True


@hook
def question_dataset_definition(run, element, record, row, state) -> bool:
    """A shared definition (category not 0) already made by this restore is reused;
    each definition is linked to the question by ``question_datasets``."""
    bank = run.question_bank
    category = as_int(row.get("category"))
    key = (category, row.get("name") or "", str(row.get("type") or ""))
    reused = bank.shared_definitions.get(key) if category else None
    if reused is not None and reused[1] >= as_int(row.get("itemcount")):
        new = reused[0]
        run.ids.set("question_dataset_definition", record.get("id"), new)
        run.insert("question_datasets", {"question": state.current.get("question"), "datasetdefinition": new})
        return False
    row["id"] = run.target.new_id("question_dataset_definitions")
    if category:
        bank.shared_definitions[key] = (row["id"], as_int(row.get("itemcount")))
    run.insert("question_datasets", {"question": state.current.get("question"), "datasetdefinition": row["id"]})
    return True


@hook
def question_multianswer(run, element, record, row, state) -> bool:
    row["id"] = run.target.new_id("question_multianswer")
    run.question_bank.multianswers.append((row["id"], record.get("sequence") or ""))
    return True
