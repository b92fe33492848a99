"""The questionnaire builder's form: flat inputs named after the questionnaire document, read
back into it, and the buttons that change its structure.

Inputs follow the document (``questions.2.title``, ``questions.2.options.1.label``,
``questions.2.jumps.0.goto``) with two exceptions the builder needs: a page break is a
checkbox (``questions.N.new_page``) rather than a page number, and a jump's condition is an
operator (``…jumps.M.op``: always, equals, in, lte, gte) and its value (``…jumps.M.value``).

``document_from_form`` gives a possibly unfinished document as plain data: whatever was
typed stays in it, so a refused save shows everything again. ``parse_survey`` decides whether
it can be saved; ``error_places`` puts its problem next to the question it names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.http import QueryDict
from django.utils.translation import gettext as _

from huifang.surveys.document import CHOICE, DEFAULT_STARS, QUESTION_TYPES, SCALES

from .form import Form

ALWAYS = "always"
OPERATORS = ("always", "equals", "in", "lte", "gte")
_LIST_SPLIT = re.compile(r"[,，、;；\s]+")
_INT = re.compile(r"^-?\d{1,9}$")
LISTS = ("options", "rows", "columns")


def is_scale(kind: str) -> bool:
    return kind == "rating" or kind in SCALES


def operators_for(kind: str) -> tuple[str, ...]:
    """The conditions a jump of a question of ``kind`` can use."""
    if is_scale(kind):
        return OPERATORS
    if kind in CHOICE:
        return ("always", "equals", "in")
    return ("always",)


# -- reading ------------------------------------------------------------------------------------


def document_from_form(data: QueryDict | Mapping[str, Any], *, key: str) -> dict[str, Any]:
    form = Form(data)
    document: dict[str, Any] = {"key": key, "name": form.get("name")}
    if form.get("description"):
        document["description"] = form.get("description")
    questions = []
    page = 1
    for position, index in enumerate(form.indices("questions.")):
        path = f"questions.{index}"
        question = _question(form, path)
        if position and form.get(f"{path}.new_page"):
            page += 1
            question["page"] = page
        questions.append(question)
    document["questions"] = questions
    if form.get("thank_you"):
        document["thank_you"] = form.get("thank_you")
    return document


def _question(form: Form, path: str) -> dict[str, Any]:
    kind = form.get(f"{path}.type") or "single_choice"
    question: dict[str, Any] = {
        "id": form.get(f"{path}.id"),
        "type": kind,
        "title": form.get(f"{path}.title"),
    }
    if form.get(f"{path}.help"):
        question["help"] = form.get(f"{path}.help")
    if form.get(f"{path}.required"):
        question["required"] = True
    if kind in CHOICE:
        question["options"] = _options(form, f"{path}.options") or default_list("options")
    elif kind == "matrix":
        question["rows"] = _options(form, f"{path}.rows") or default_list("rows")
        question["columns"] = _options(form, f"{path}.columns") or default_list("columns")
    elif kind == "rating":
        stars = form.get(f"{path}.max")
        if stars:
            question["max"] = int(stars) if _INT.match(stars) else stars
    if form.get(f"{path}.metric"):
        question["metric"] = form.get(f"{path}.metric")
    jumps = [_jump(form, f"{path}.jumps.{n}", kind) for n in form.indices(f"{path}.jumps.")]
    if jumps:
        question["jumps"] = jumps
    return question


def _options(form: Form, path: str) -> list[dict[str, str]]:
    return [
        {"value": form.get(f"{path}.{n}.value"), "label": form.get(f"{path}.{n}.label")}
        for n in form.indices(f"{path}.")
    ]


def _jump(form: Form, path: str, kind: str) -> dict[str, Any]:
    op = form.get(f"{path}.op") or ALWAYS
    jump: dict[str, Any] = {}
    if op != ALWAYS and op in OPERATORS:
        if op == "in":
            raw = form.getlist(f"{path}.value")
            items = [i for part in raw for i in _LIST_SPLIT.split(part) if i]
            value: Any = [_scalar(kind, item) for item in items]
        else:
            value = _scalar(kind, form.get(f"{path}.value"))
        jump["when"] = {op: value}
    jump["goto"] = form.get(f"{path}.goto")
    return jump


def _scalar(kind: str, raw: str) -> Any:
    """A scale's answers are numbers; a choice's are the options' values."""
    return int(raw) if is_scale(kind) and _INT.match(raw) else raw


def default_list(field: str) -> list[dict[str, str]]:
    if field == "rows":
        return [{"value": "r1", "label": _("Row %(n)s") % {"n": 1}}]
    label = _("Column %(n)s") if field == "columns" else _("Option %(n)s")
    return [{"value": str(n), "label": label % {"n": n}} for n in (1, 2)]


# -- changing the structure ---------------------------------------------------------------------


class ActionError(ValueError):
    pass


def new_question(document: dict[str, Any], kind: str) -> dict[str, Any]:
    if kind not in QUESTION_TYPES:
        raise ActionError(kind)
    taken = {str(q.get("id")) for q in document.get("questions") or []}
    n = len(taken) + 1
    while f"q{n}" in taken:
        n += 1
    question: dict[str, Any] = {"id": f"q{n}", "type": kind, "title": ""}
    if kind in CHOICE:
        question["options"] = default_list("options")
    elif kind == "matrix":
        question["rows"] = default_list("rows")
        question["columns"] = default_list("columns")
    return question


def apply_action(document: dict[str, Any], action: str) -> None:
    """Change the document as a button asked: add a question (``add:nps``), move or remove
    one (``up:2``), add or remove an option, row, column or jump (``add_item:2.options``,
    ``remove_item:2.options.1``)."""
    verb, _colon, where = action.partition(":")
    questions: list[dict[str, Any]] = document.setdefault("questions", [])
    try:
        if verb == "add":
            questions.append(new_question(document, where))
            return
        parts = where.split(".")
        index = int(parts[0])
        question = questions[index]
        if verb == "remove":
            del questions[index]
        elif verb in ("up", "down"):
            target = index + (-1 if verb == "up" else 1)
            if 0 <= target < len(questions):
                questions[index], questions[target] = questions[target], questions[index]
        elif verb == "add_item" and parts[1] in LISTS:
            items = question.setdefault(parts[1], [])
            values = {str(item.get("value")) for item in items}
            n = len(items) + 1
            while str(n) in values or f"r{n}" in values:
                n += 1
            value = f"r{n}" if parts[1] == "rows" else str(n)
            items.append({"value": value, "label": ""})
        elif verb == "add_item" and parts[1] == "jumps":
            question.setdefault("jumps", []).append({"goto": "end"})
        elif verb == "remove_item" and parts[1] in (*LISTS, "jumps"):
            del question[parts[1]][int(parts[2])]
            if not question[parts[1]]:
                del question[parts[1]]
        else:
            raise ActionError(action)
    except (IndexError, ValueError, KeyError, TypeError) as exc:
        raise ActionError(action) from exc


# -- where a problem is shown -------------------------------------------------------------------

_PLACE = re.compile(r"^questions\.(\d+)(?:\.(jumps)\.(\d+))?")


def error_places(field: str, message: str) -> dict[str, list[str]]:
    """The problem keyed by where the builder shows it: the question it lies in (and the jump,
    when it is one), else the top-level field; always also ``""`` for the list above the form."""
    places: dict[str, list[str]] = {"": [message]}
    found = _PLACE.match(field)
    if found:
        places[f"questions.{found.group(1)}"] = [message]
        if found.group(2):
            places[f"questions.{found.group(1)}.jumps.{found.group(3)}"] = [message]
    elif field:
        places[field.split(".")[0]] = [message]
    return places


# -- what the template draws --------------------------------------------------------------------


def _page_breaks(questions: list[Mapping[str, Any]]) -> list[bool]:
    """Whether each question starts a new page, from the page numbers as written."""
    breaks: list[bool] = []
    previous = 1
    for question in questions:
        page = question.get("page")
        number = page if isinstance(page, int) and not isinstance(page, bool) else previous
        breaks.append(bool(breaks) and number > previous)
        previous = max(number, previous)
    return breaks


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return "" if value is None else str(value)


def question_views(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    questions = [q for q in document.get("questions") or [] if isinstance(q, Mapping)]
    breaks = _page_breaks(questions)
    ids = [(str(q.get("id") or ""), str(q.get("title") or "")) for q in questions]
    shown = []
    for index, question in enumerate(questions):
        kind = str(question.get("type") or "")
        path = f"questions.{index}"
        options = [o for o in question.get("options") or [] if isinstance(o, Mapping)]
        jumps = []
        for n, jump in enumerate(question.get("jumps") or []):
            if not isinstance(jump, Mapping):
                continue
            when = jump.get("when") if isinstance(jump.get("when"), Mapping) else None
            op, value = next(iter(when.items())) if when else (ALWAYS, None)
            goto = str(jump.get("goto") or "")
            targets = [(i, t, number + 1) for number, (i, t) in enumerate(ids) if number != index]
            jumps.append(
                {
                    "path": f"{path}.jumps.{n}",
                    "op": op,
                    "value": _text(value),
                    "values": [str(v) for v in value] if isinstance(value, list) else [],
                    "goto": goto,
                    "targets": targets,
                    "unknown_goto": goto not in {"end", *(i for i, _t in ids)},
                }
            )
        shown.append(
            {
                "index": index,
                "number": index + 1,
                "path": path,
                "id": question.get("id") or "",
                "type": kind,
                "type_label": QUESTION_TYPES.get(kind, kind),  # type: ignore[call-overload]
                "title": question.get("title") or "",
                "help": question.get("help") or "",
                "required": bool(question.get("required")),
                "new_page": breaks[index],
                "first": index == 0,
                "last": index == len(questions) - 1,
                "choice": kind in CHOICE,
                "scale": is_scale(kind),
                "lists": [
                    {
                        "field": field,
                        "path": f"{path}.{field}",
                        "items": [
                            {"path": f"{path}.{field}.{n}", **item}
                            for n, item in enumerate(question.get(field) or [])
                            if isinstance(item, Mapping)
                        ],
                    }
                    for field in LISTS
                    if question.get(field) is not None
                ],
                "options": [(str(o.get("value")), str(o.get("label"))) for o in options],
                "max": question.get("max") or DEFAULT_STARS,
                "metric": question.get("metric") or "",
                "operators": operators_for(kind),
                "jumps": jumps,
            }
        )
    return shown
