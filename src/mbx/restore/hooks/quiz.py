"""Hooks of ``quiz.xml``: what Moodle's quiz restore does beyond the declarations.

Per quiz, ``run.quiz_state`` remembers what later records need: the old
``questions`` layout of a legacy quiz, the section made up front (a quiz needs
one; the file's first section takes it over), the attempt waiting for its
question usage, the set references whose filter a slot's tags extend, and the
question type of the question attempt being read (for recoding its steps).
"""

from __future__ import annotations

import json
from typing import Any

from mbx.moodle2.modules.quiz import ATTEMPT_ROW
from mbx.moodle2.models import as_int
from mbx.restore.hooks import hook

#: What each recoded step variable maps through, by the question's recode kind.
RECODES = {1: {"_order": "question_answer"},
           2: {"_stemorder": "qtype_match_subquestions", "_choiceorder": "qtype_match_subquestions"},
           3: {"_stemorder": "question"}}


#: The quiz's default ``reviewmaxmarks`` (during, immediately after, later while open, after
#: close), which a backup made before the setting existed gets.
REVIEW_MAX_MARKS_DEFAULT = 0x10000 | 0x1000 | 0x100 | 0x10



@hook
def quiz(run, element, record, row, state) -> bool:
    if not row.get("preferredbehaviour"):
        row["preferredbehaviour"] = "deferredfeedback"
    if "popup" in record and not record.get("browsersecurity"):
        row["browsersecurity"] = "securewindow" if as_int(record.get("popup")) else "-"
    if row.get("browsersecurity") is None:
        row["browsersecurity"] = "-"
    if record.get("reviewmaxmarks") in (None, ""):
        row["reviewmaxmarks"] = REVIEW_MAX_MARKS_DEFAULT  # a backup from before 4.3
    row["id"] = run.target.new_id("quiz")
    layout: dict[str, tuple[int, int]] = {}
    if record.get("questions"):
        slot, page = 0, 1
        for token in record["questions"].split(","):
            token = token.strip()
            if token in ("", "0"):
                page += 1 if token == "0" else 0
                continue
            slot += 1
            layout.setdefault(token, (slot, page))
    section = run.insert("quiz_sections", {"quizid": row["id"], "firstslot": 1, "heading": "",
                                           "shufflequestions": as_int(record.get("shufflequestions"))})
    run.quiz_state = {"layout": layout, "legacy_layout": bool(record.get("questions")),
                      "section": section, "claimed": False, "attempt": None, "set_refs": {},
                      "recode": None}
    if as_int(record.get("completionpass")) and state.task.module:
        run.update("course_modules", state.task.module, completionpassgrade=1)
    return True


@hook
def quiz_slot(run, element, record, row, state) -> bool:
    quiz_state = run.quiz_state
    question = record.get("questionid") or record.get("question")
    if quiz_state["legacy_layout"]:
        place = quiz_state["layout"].get(str(question))
        if place is None:
            return False  # not in the old layout: Moodle drops it
        row["slot"], row["page"] = place
    if row.get("maxmark") in (None, ""):
        row["maxmark"] = 0
    row["id"] = run.target.new_id("quiz_slots")
    if question:
        _legacy_reference(run, record, row, str(question), state)
    return True


def _legacy_reference(run, record: dict, row: dict, question: str, state) -> None:
    """A pre-4.0 slot names its question: the 4.x reference to its entry, or for a
    random question the set reference its category makes."""
    context = state.task.context
    random = run.ids.entry("question_random", question)
    category_old = record.get("questioncategoryid")
    if random is not None or as_int(category_old):
        category = run.ids.get("question_category", category_old) if as_int(category_old) else None
        if category is None and random is not None:
            category = random[0]
        including: Any = record.get("includingsubcategories")
        if including not in (None, ""):
            including = str(as_int(including))  # the 3.x slot's own field, kept as text
        elif random is not None:
            including = bool(as_int(random[1]))  # the random question's questiontext: a boolean
        else:
            including = "0"
        bank = getattr(run, "question_bank", None)
        where = run.ids.get("question_random_context", question) or \
            (bank.category_context.get(category) if bank and category else None) or run.course_context
        condition = {"questioncategoryid": str(category or 0), "includingsubcategories": including}
        reference = run.insert("question_set_references", {
            "usingcontextid": context, "component": "mod_quiz", "questionarea": "slot",
            "itemid": row["id"], "questionscontextid": where,
            "filtercondition": _encode(condition)})
        run.quiz_state["set_refs"][row["id"]] = (reference, condition)
        return
    entry = run.ids.get("question_entry", question)
    if entry is None:
        run.report.warn("question_not_restored", f"slot {row.get('slot')}: question {question} is not "
                        "in the backup's question bank: no reference", state.member)
        return
    run.insert("question_references", {
        "usingcontextid": context, "component": "mod_quiz", "questionarea": "slot",
        "itemid": row["id"], "questionbankentryid": entry, "version": None})


@hook
def quiz_slot_tag(run, element, record, row, state) -> bool:
    """A 3.x random slot's tags join its set reference's filter."""
    slot = state.current.get("quiz_question_instance")
    found = run.quiz_state["set_refs"].get(slot)
    name = record.get("tagname") or ""
    if found is None or not name:
        return False
    reference, condition = found
    tag_id = run.ids.get("tagname", name.lower())
    if tag_id is None:
        rows = run.query(f"SELECT id FROM {run.t('tag')} WHERE name = {run.target.mark}", (name.lower(),))
        tag_id = rows[0][0] if rows else record.get("tagid")
    condition.setdefault("tags", []).append(f"{tag_id},{name}")
    run.update("question_set_references", reference, filtercondition=_encode(condition))
    return False


@hook
def quiz_set_reference(run, element, record, row, state) -> bool:
    if not row.get("questionscontextid") or row["questionscontextid"] == record.get("questionscontextid") \
            and run.ids.get("context", record.get("questionscontextid")) is None:
        run.report.warn("question_set_reference_context", "a random slot's question context "
                        f"{record.get('questionscontextid')} is not in this restore: kept", state.member)
    text = row.get("filtercondition")
    try:
        condition = json.loads(text) if text else None
    except ValueError:
        condition = None
    if isinstance(condition, dict):
        if "filter" not in condition and "questioncategoryid" in condition:
            condition = _filter_of_legacy(condition)
        row["filtercondition"] = _encode(_remap_filter(run, condition, row.get("questionscontextid")))
    return True


def _filter_of_legacy(condition: dict) -> dict:
    """A 4.0-4.2 set reference's condition in the 4.3 filter form (Moodle converts the
    ones it reads from a backup; the ones it makes from 3.x random questions stay legacy)."""
    category = str(condition.get("questioncategoryid"))
    converted: dict[str, Any] = {"filter": {"category": {
        "jointype": 1, "values": [category],
        "filteroptions": {"includesubcategories": condition.get("includingsubcategories")}}}}
    if condition.get("tags"):
        converted["filter"]["qtagids"] = {
            "jointype": 1, "values": [str(tag).split(",", 1)[0] for tag in condition["tags"]]}
    converted.update(cat=f"{category},0", tabname="questions", qpage=0, qperpage=100, jointype=2)
    return converted


def _remap_filter(run, condition: dict, context: Any) -> dict:
    if "questioncategoryid" in condition:
        condition["questioncategoryid"] = str(run.ids.get("question_category", condition["questioncategoryid"],
                                                          condition["questioncategoryid"]))
    category = (condition.get("filter") or {}).get("category") if isinstance(condition.get("filter"), dict) else None
    new_category = None
    if isinstance(category, dict) and isinstance(category.get("values"), list):
        category["values"] = [str(run.ids.get("question_category", value, value)) for value in category["values"]]
        new_category = category["values"][0] if category["values"] else None
    if isinstance(condition.get("cat"), str) and "," in condition["cat"]:
        old_category = condition["cat"].split(",", 1)[0]
        new_category = new_category or str(run.ids.get("question_category", old_category, old_category))
        condition["cat"] = f"{new_category},{context}"
    return condition


def _encode(condition: dict) -> str:
    return json.dumps(condition, separators=(",", ":"), ensure_ascii=False)


@hook
def quiz_section(run, element, record, row, state) -> bool:
    quiz_state = run.quiz_state
    if not quiz_state["claimed"]:
        quiz_state["claimed"] = True
        run.update("quiz_sections", quiz_state["section"], firstslot=as_int(row.get("firstslot"), 1),
                   heading=row.get("heading"), shufflequestions=as_int(row.get("shufflequestions")))
        run.ids.set("quiz_section", record.get("id"), quiz_state["section"])
        return False
    return True


@hook
def quiz_override(run, element, record, row, state) -> bool:
    if record.get("userid") not in (None, "", "0") and not state.task.userinfo:
        return False
    if not row.get("userid") and not row.get("groupid"):
        return False
    return True


@hook
def quiz_attempt(run, element, record, row, state) -> bool:
    """The attempt waits for its question usage (its ``uniqueid``); an attempt of a
    user not restored is not written, its usage still is (Moodle's orphan usage)."""
    attempt = run.build_row(run._compile(ATTEMPT_ROW), record, state.task, state)
    if attempt is not None:
        if not attempt.get("state"):
            attempt["state"] = "finished" if as_int(record.get("timefinish")) else "inprogress"
        if attempt.get("layout") is None:
            attempt["layout"] = ""
        if attempt.get("timecheckstate") is None:
            attempt["timecheckstate"] = 0
        if attempt.get("gradednotificationsenttime") is None:
            # a backup from before the column: the notification counts as sent at the finish
            attempt["gradednotificationsenttime"] = attempt.get("timefinish")
    run.quiz_state["attempt"] = (record.get("id"), attempt)
    return True


@hook
def quiz_question_usage(run, element, record, row, state) -> bool:
    row["id"] = run.target.new_id("question_usages")
    pending = run.quiz_state.get("attempt")
    run.quiz_state["attempt"] = None
    if pending is not None and pending[1] is not None:
        old, attempt = pending
        attempt["uniqueid"] = row["id"]
        new = run.insert("quiz_attempts", attempt)
        if old is not None:
            run.ids.set("quiz_attempt", old, new)
    return True


@hook
def quiz_question_attempt(run, element, record, row, state) -> bool:
    run.quiz_state["recode"] = run.ids.get("question_recode", record.get("questionid"))
    return True


@hook
def quiz_attempt_step(run, element, record, row, state) -> bool:
    """A step and its response variables (``question_attempt_step_data``), ids inside
    them recoded (``recode_response``)."""
    row["id"] = run.target.new_id("question_attempt_steps")
    recode = RECODES.get(run.quiz_state.get("recode") or 0, {})
    response = record.get("response")
    variables = response.get("variable") if isinstance(response, dict) else None
    for variable in variables or ():
        name = variable.get("name")
        if not name:
            continue
        value = variable.get("value")
        kind = recode.get(name)
        if kind and value:
            value = ",".join(str(run.ids.get(kind, part, part)) for part in value.split(","))
        run.insert("question_attempt_step_data", {"attemptstepid": row["id"], "name": name, "value": value})
    return True
