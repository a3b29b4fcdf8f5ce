"""What ``questions.xml`` restores into: the question bank and the core question types.

The bank is a tree of categories (one per context, under that context's
``top``), each holding questions. From Moodle 4.0 a question sits inside its
bank entry and version::

    question_categories/question_category
      question_bank_entries/question_bank_entry            (questioncategoryid, idnumber, ownerid)
        question_version/question_versions                 (version, status)
          questions/question                               (the question, grouped)

and before 4.0 ``questions/question`` sits directly under the category.

A question is read *grouped* (Moodle's restore does the same): the question
with its hints, tags and its type's plugin data arrives as one record, because
whether its rows are created or mapped onto an existing question is decided
for the question as a whole, by its identity in the target bank. The parts are
declared here relative to the question (:data:`QUESTION_PARTS`) and the
:func:`step` places them under both layouts.

Question types are plugins. :data:`QTYPES` lists the ones declared here (the
core types of Moodle 4.5 that the corpus holds); a question of any other type
(``stack``, ``gapfill``, ``coderunner``...) becomes a ``question`` row under
its own ``qtype``, as Moodle restores it on a site without that plugin, and
its plugin data is not declared.
"""

from __future__ import annotations

from mbx.moodle2.declare import Element, Missing, Step, ref

__all__ = ["CATEGORY", "ENTRY", "QTYPES", "QUESTION_PARTS", "QUESTIONS_STEP", "VERSION",
           "LAYOUT_40", "LAYOUT_PRE40", "plugin_of", "step"]

ROOT = "/question_categories"

#: Where a question sits, from the step root.
LAYOUT_40 = ("question_category/question_bank_entries/question_bank_entry/question_version/"
             "question_versions/questions/question")
LAYOUT_PRE40 = "question_category/questions/question"

CATEGORY = Element("question_category", None, kind="question_category", hook="question_category")
ENTRY = Element("question_category/question_bank_entries/question_bank_entry", None,
                hook="question_bank_entry")
VERSION = Element("question_category/question_bank_entries/question_bank_entry/question_version/"
                  "question_versions", None, hook="question_version")

#: Feedback areas of the combined-feedback question types.
COMBINED_FEEDBACK = ("question/correctfeedback", "question/partiallycorrectfeedback",
                     "question/incorrectfeedback")


def plugin_of(qtype: str) -> str:
    """The element that holds a question type's own data."""
    return f"plugin_qtype_{qtype}_question"


def _answers(qtype: str) -> Element:
    return Element(f"{plugin_of(qtype)}/answers/answer", "question_answers", kind="question_answer",
                   parents={"question": "question"}, rename={"answer": "answertext"},
                   files=("question/answer", "question/answerfeedback"), files_by="question_answer",
                   hook="question_answer")


def _options(qtype: str, leaf: str, table: str, column: str = "questionid",
             files: tuple[str, ...] = COMBINED_FEEDBACK) -> Element:
    return Element(f"{plugin_of(qtype)}/{leaf}", table, parents={column: "question"},
                   files=files, files_by="question_created" if files else None)


def _numerical_units(qtype: str) -> tuple[Element, ...]:
    plugin = plugin_of(qtype)
    return (Element(f"{plugin}/numerical_units/numerical_unit", "question_numerical_units",
                    parents={"question": "question"}),
            Element(f"{plugin}/numerical_options/numerical_option", "question_numerical_options",
                    parents={"question": "question"}))


def _calculated(qtype: str) -> tuple[Element, ...]:
    plugin = plugin_of(qtype)
    definition = f"{plugin}/dataset_definitions/dataset_definition"
    return (_answers(qtype), *_numerical_units(qtype),
            Element(definition, "question_dataset_definitions", kind="question_dataset_definition",
                    refs={"category": "question_category"}, hook="question_dataset_definition"),
            Element(f"{definition}/dataset_items/dataset_item", "question_dataset_items",
                    parents={"definition": "question_dataset_definition"},
                    rename={"itemnumber": "number"}),
            Element(f"{plugin}/calculated_records/calculated_record", "question_calculated",
                    parents={"question": "question"}, refs={"answer": "question_answer"}),
            Element(f"{plugin}/calculated_options/calculated_option", "question_calculated_options",
                    parents={"question": "question"}, files=COMBINED_FEEDBACK,
                    files_by="question_created"))


def _drag_drop(qtype: str, options: str, drags: str, drops: str, drag_kind: str,
               drag_files: tuple[str, ...]) -> tuple[Element, ...]:
    plugin = plugin_of(qtype)
    return (_options(qtype, qtype, options, files=(*COMBINED_FEEDBACK, f"qtype_{qtype}/bgimage")),
            Element(f"{plugin}/drags/drag", drags, kind=drag_kind, parents={"questionid": "question"},
                    files=drag_files, files_by=drag_kind),
            Element(f"{plugin}/drops/drop", drops, parents={"questionid": "question"}))


#: Each declared question type's plugin data, relative to the question, in the
#: order the rows must be made (answers before what refers to them).
QTYPES: dict[str, tuple[Element, ...]] = {
    "truefalse": (_answers("truefalse"),
                  Element(f"{plugin_of('truefalse')}/truefalse", "question_truefalse",
                          parents={"question": "question"},
                          refs={"trueanswer": "question_answer", "falseanswer": "question_answer"})),
    "multichoice": (_answers("multichoice"),
                    _options("multichoice", "multichoice", "qtype_multichoice_options")),
    "shortanswer": (_answers("shortanswer"),
                    _options("shortanswer", "shortanswer", "qtype_shortanswer_options", files=())),
    "numerical": (_answers("numerical"), *_numerical_units("numerical"),
                  Element(f"{plugin_of('numerical')}/numerical_records/numerical_record",
                          "question_numerical", parents={"question": "question"},
                          refs={"answer": "question_answer"})),
    "calculated": _calculated("calculated"),
    "calculatedsimple": _calculated("calculatedsimple"),
    "calculatedmulti": _calculated("calculatedmulti"),
    "essay": (_options("essay", "essay", "qtype_essay_options",
                       files=("qtype_essay/graderinfo", "qtype_essay/responsetemplate")),),
    "match": (_options("match", "matchoptions", "qtype_match_options"),
              Element(f"{plugin_of('match')}/matches/match", "qtype_match_subquestions",
                      kind="qtype_match_subquestions", parents={"questionid": "question"},
                      files=("qtype_match/subquestion",), files_by="qtype_match_subquestions")),
    "ddwtos": (_answers("ddwtos"), _options("ddwtos", "ddwtos", "question_ddwtos")),
    "gapselect": (_answers("gapselect"), _options("gapselect", "gapselect", "question_gapselect")),
    "ddimageortext": _drag_drop("ddimageortext", "qtype_ddimageortext", "qtype_ddimageortext_drags",
                                "qtype_ddimageortext_drops", "qtype_ddimageortext_drags",
                                ("qtype_ddimageortext/dragimage",)),
    "ddmarker": _drag_drop("ddmarker", "qtype_ddmarker", "qtype_ddmarker_drags",
                           "qtype_ddmarker_drops", "qtype_ddmarker_drags", ()),
    "randomsamatch": (_options("randomsamatch", "randomsamatch", "qtype_randomsamatch_options"),),
    "multianswer": (Element(f"{plugin_of('multianswer')}/multianswer", "question_multianswer",
                            parents={"question": "question"}, hook="question_multianswer"),),
    "ordering": (_answers("ordering"),
                 _options("ordering", "ordering", "qtype_ordering_options")),
    "description": (),
    "random": (),
}

#: What every question carries, whatever its type.
COMMON_PARTS = (
    Element("question_hints/question_hint", "question_hints", kind="question_hint",
            parents={"questionid": "question"}, files=("question/hint",), files_by="question_hint"),
    Element("tags/tag", None, hook="tag", args=("core_question", "question", "question")),
)

#: Every part of a question, relative to it.
QUESTION_PARTS: tuple[Element, ...] = (*(part for parts in QTYPES.values() for part in parts),
                                       *COMMON_PARTS)


def _question(path: str, layout: str) -> Element:
    return Element(path, "question", kind="question", grouped=True, hook="question", args=(layout,),
                   refs={"createdby": ref("user", Missing.KEEP), "modifiedby": ref("user", Missing.KEEP)},
                   files=("question/questiontext", "question/generalfeedback"),
                   files_by="question_created")


def step() -> Step:
    elements = [CATEGORY, ENTRY, VERSION]
    for path, layout in ((LAYOUT_40, "4.0"), (LAYOUT_PRE40, "pre-4.0")):
        elements.append(_question(path, layout))
        # Registered under the grouped question so that they arrive inside it; the
        # question's hook writes them through the relative declarations above.
        for part in QUESTION_PARTS:
            elements.append(Element(f"{path}/{part.path}", None, files=part.files,
                                    files_by=part.files_by))
    return Step(member="questions.xml", root=ROOT, elements=tuple(elements))


QUESTIONS_STEP = step()
