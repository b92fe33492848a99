"""The builder's form: flat field names that follow the rule document, read back into it.

Every input of the builder is named after the place it fills in the rule document
(``steps.0.send.template``, ``policy.caps.1.max``), with three kinds of widget that need more
than one input: a duration (``<path>.amount`` and ``<path>.unit``), a condition group
(``<path>.join`` — all or any — and its children under ``<path>.c.<n>``) and a condition's
field (``<path>.field`` plus ``<path>.key`` for a custom attribute or an event property).

``document_from_form`` turns a submitted form into a (possibly unfinished) document: the
builder's working copy. ``apply_action`` changes its structure (add, remove, move);
``check`` validates it like ``parse_rule`` does, but collects every problem, each keyed by the
form path of the input it belongs to so the page can show it right there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pydantic
from django.conf import settings
from django.http import QueryDict
from django.utils.translation import gettext as _

from huifang.core.validation import describe_validation_error
from huifang.rules.conditions import (
    BOOL,
    DAY,
    ENUM,
    JSON,
    MAX_DEPTH,
    MOMENT,
    NUMBER,
    OPS_BY_KIND,
    SCORE,
    TAGS,
    TEXT,
    ConditionError,
    compile_condition,
    field_spec,
)
from huifang.rules.document import (
    RuleDocument,
    RuleError,
    check_references,
    event_type_known,
    parse_rule,
)

UNITS = ("minutes", "hours", "days", "business_days")
EVERY_UNITS = ("days", "weeks", "months", "quarters")
STEP_KINDS = ("message", "task", "wait", "stop")
TRIGGER_KINDS = ("event", "date", "segment", "recurring")
MAX_CHANNELS = 3  # fallbacks offered on a message step
FREE_FIELDS = ("attributes.", "properties.")

DEFAULT_OP = {
    TEXT: "eq",
    ENUM: "in",
    NUMBER: "gte",
    MOMENT: "within_last_days",
    DAY: "between",
    BOOL: "eq",
    TAGS: "contains",
    JSON: "eq",
    SCORE: "lt",
}
NEW_LEAF: dict[str, Any] = {"field": "tier", "op": "in"}
KEY = re.compile(r"^[a-z0-9][a-z0-9-]{1,79}$")
_LIST_SPLIT = re.compile(r"[,，、\n]+")
# Up to 18 digits: longer numbers stay text and are refused as such (Python will not even
# convert more than 4,300 digits).
_INT = re.compile(r"^-?\d{1,18}$")
_FLOAT = re.compile(r"^-?\d{1,18}\.\d{1,18}$")


class Form:
    """Read access to the submitted values, stripped."""

    def __init__(self, data: QueryDict | Mapping[str, Any]) -> None:
        self.data = data

    def get(self, name: str, default: str = "") -> str:
        value = self.data.get(name)
        return default if value is None else str(value).strip()

    def getlist(self, name: str) -> list[str]:
        if isinstance(self.data, QueryDict):
            values = self.data.getlist(name)
        else:
            raw = self.data.get(name)
            values = raw if isinstance(raw, list) else ([] if raw is None else [raw])
        return [str(v).strip() for v in values if str(v).strip()]

    def has(self, name: str) -> bool:
        return name in self.data

    def indices(self, prefix: str) -> list[int]:
        """The list positions submitted under ``prefix`` (``steps.`` → 0, 1, 2 …)."""
        found = set()
        for name in self.data:
            if name.startswith(prefix):
                head = name[len(prefix) :].partition(".")[0]
                if head.isascii() and head.isdigit() and len(head) < 6:
                    found.add(int(head))
        return sorted(found)


# -- reading ------------------------------------------------------------------------------------


def document_from_form(data: QueryDict | Mapping[str, Any], *, key: str) -> dict[str, Any]:
    form = Form(data)
    document: dict[str, Any] = {"key": key, "name": form.get("name")}
    if form.get("description"):
        document["description"] = form.get("description")
    document["trigger"] = _trigger(form)
    audience = _condition(form, "audience", events=False)
    if audience:
        document["audience"] = audience
    policy = _policy(form)
    if policy:
        document["policy"] = policy
    document["steps"] = [_step(form, f"steps.{i}") for i in form.indices("steps.")]
    exits = form.getlist("exit.on")
    if exits:
        document["exit"] = {"on": exits}
    return document


def _duration(form: Form, path: str, units: tuple[str, ...] = UNITS) -> dict[str, Any] | None:
    amount = form.get(f"{path}.amount")
    if not amount:
        return None
    unit = form.get(f"{path}.unit") or units[2 if len(units) > 2 else 0]
    return {unit: int(amount) if _INT.match(amount) else amount}


def _trigger(form: Form) -> dict[str, Any]:
    kind = form.get("trigger.kind") or "event"
    trigger: dict[str, Any] = {"kind": kind}
    if kind == "event":
        trigger["event"] = form.get("trigger.event")
        where = _condition(form, "trigger.where", events=True)
        if where:
            trigger["where"] = where
        delay = _duration(form, "trigger.delay")
        if delay:
            trigger["delay"] = delay
    elif kind == "date":
        if form.get("trigger.source") == "event":
            trigger["event"] = form.get("trigger.event")
            trigger["property"] = form.get("trigger.property")
        else:
            trigger["field"] = _field_name(form, "trigger")
        offset = _duration(form, "trigger.offset")
        if offset:
            trigger["offset"] = offset
        if form.get("trigger.before"):
            trigger["before"] = True
        if form.get("trigger.at") and form.get("trigger.at") != "10:00":
            trigger["at"] = form.get("trigger.at")
    elif kind == "segment":
        trigger["where"] = _condition(form, "trigger.where", events=False) or {}
        if form.get("trigger.include_existing"):
            trigger["include_existing"] = True
    elif kind == "recurring":
        every = _duration(form, "trigger.every", EVERY_UNITS)
        trigger["every"] = every or {}
        where = _condition(form, "trigger.where", events=False)
        if where:
            trigger["where"] = where
    return trigger


def _field_name(form: Form, path: str) -> str:
    name = form.get(f"{path}.field")
    if name in FREE_FIELDS:
        name += form.get(f"{path}.key")
    return name


def _condition(
    form: Form, path: str, *, events: bool, answers: bool = False, depth: int = 0
) -> dict[str, Any] | None:
    """A group and everything under it; ``None`` for a top-level group with nothing in it.
    Groups deeper than ``MAX_DEPTH`` are read empty: ``check`` refuses them by name, and a
    hand-made form cannot make the reading recurse without end."""
    join = form.get(f"{path}.join")
    if join not in ("all", "any"):
        return None
    items: list[Any] = []
    if depth > MAX_DEPTH:
        return {join: items}
    for index in form.indices(f"{path}.c."):
        child = f"{path}.c.{index}"
        if form.has(f"{child}.join"):
            items.append(
                _condition(form, child, events=events, answers=answers, depth=depth + 1)
                or {join: []}
            )
        else:
            items.append(_leaf(form, child, events=events, answers=answers))
    if not items and path in ("audience", "trigger.where"):
        return None
    if form.get(f"{path}.bare") and join == "all" and len(items) == 1 and "field" in items[0]:
        return items[0]  # written as a single condition, kept that way
    return {join: items}


def _leaf(form: Form, path: str, *, events: bool, answers: bool = False) -> dict[str, Any]:
    name = _field_name(form, path)
    op = form.get(f"{path}.op")
    node: dict[str, Any] = {"field": name, "op": op}
    spec = field_spec(name, events=events, answers=answers)
    if spec is None:
        return node
    if op not in OPS_BY_KIND[spec.kind]:
        # The field changed to one of another kind: start again with its usual operator.
        node["op"] = DEFAULT_OP[spec.kind]
        return node
    value = _leaf_value(form, path, spec.kind, op)
    if value is not None:
        node["value"] = value
    return node


def _leaf_value(form: Form, path: str, kind: str, op: str) -> Any:
    raw = form.get(f"{path}.value")
    if op == "is_empty":
        return raw != "false"
    if op in ("within_last_days", "before_days"):
        return int(raw) if _INT.match(raw) else (raw or None)
    if op == "between":
        pair = [form.get(f"{path}.value.0"), form.get(f"{path}.value.1")]
        if not any(pair):
            return None
        return [_scalar(kind, item) for item in pair]
    if op in ("in", "not_in") or (kind == TAGS and op == "contains"):
        items = (
            form.getlist(f"{path}.value")
            if kind == ENUM
            else [i.strip() for i in _LIST_SPLIT.split(raw) if i.strip()]
        )
        if not items:
            return None
        values = [_scalar(kind, item) for item in items]
        return values[0] if kind == TAGS and op == "contains" and len(values) == 1 else values
    return _scalar(kind, raw)


def _scalar(kind: str, raw: str) -> Any:
    if raw == "":
        return None
    if kind in (NUMBER, SCORE, JSON):
        if _INT.match(raw):
            return int(raw)
        if _FLOAT.match(raw):
            return float(raw)
    if kind in (BOOL, JSON) and raw in ("true", "false"):
        return raw == "true"
    return raw


def _policy(form: Form) -> dict[str, Any]:
    policy: dict[str, Any] = {}
    if form.get("policy.quiet_hours.mode") == "custom":
        # Just switched to own hours: start from the organisation's.
        start, _dash, end = str(settings.HUIFANG_QUIET_HOURS).partition("-")
        policy["quiet_hours"] = {
            "start": form.get("policy.quiet_hours.start", start),
            "end": form.get("policy.quiet_hours.end", end),
        }
    if form.get("policy.days") == "business":
        policy["days"] = "business"
    caps = []
    for index in form.indices("policy.caps."):
        path = f"policy.caps.{index}"
        caps.append(
            {
                "channel": form.get(f"{path}.channel") or "any",
                "max": _number(form.get(f"{path}.max")),
                "per_days": _number(form.get(f"{path}.per_days")),
            }
        )
    if caps:
        policy["caps"] = caps
    on_cap = form.get("policy.on_cap")
    if caps or on_cap == "drop":
        policy["on_cap"] = on_cap or "defer"
    for name in ("misfire_grace", "reenroll_after"):
        duration = _duration(form, f"policy.{name}")
        if duration:
            policy[name] = duration
    attempts = form.get("policy.max_attempts")
    if attempts:
        policy["max_attempts"] = _number(attempts)
    return policy


def _number(raw: str) -> Any:
    return int(raw) if _INT.match(raw) else (raw or None)


def _step(form: Form, path: str) -> dict[str, Any]:
    kind = form.get(f"{path}.kind") or "message"
    step: dict[str, Any] = {"id": form.get(f"{path}.id")}
    if kind == "message":
        channels: list[str] = []
        for n in range(MAX_CHANNELS):
            channel = form.get(f"{path}.send.channel.{n}")
            if channel and channel not in channels:
                channels.append(channel)
        send: dict[str, Any] = {}
        if len(channels) == 1:
            send["channel"] = channels[0]
        elif channels:
            send["channels"] = channels
        send["template"] = form.get(f"{path}.send.template")
        if form.get(f"{path}.send.transactional"):
            send["transactional"] = True
        step["send"] = send
    elif kind == "task":
        step["task"] = _task(form, f"{path}.task")
    elif kind == "stop":
        step["stop"] = True
    if kind == "wait":
        step["wait"] = _duration(form, f"{path}.wait") or {}
    elif kind != "stop" and _duration(form, f"{path}.wait"):
        step["wait"] = _duration(form, f"{path}.wait")  # a pause after sending
    if kind != "stop":
        wait_reply = _duration(form, f"{path}.wait_reply")
        if wait_reply:
            step["wait_reply"] = wait_reply
        on_reply = form.get(f"{path}.on_reply") or "continue"
        if on_reply != "continue":
            step["on_reply"] = on_reply
    if kind in ("message", "task") and form.get(f"{path}.survey"):
        step["survey"] = form.get(f"{path}.survey")
    branches = []
    for index in form.indices(f"{path}.branch."):
        branch = f"{path}.branch.{index}"
        branches.append(
            {
                # answer.* is read here; check refuses it where the step waits for no reply.
                "when": _condition(form, f"{branch}.when", events=False, answers=True)
                or {"all": []},
                "goto": form.get(f"{branch}.goto"),
            }
        )
    if branches:
        step["branch"] = branches
    return step


def _task(form: Form, path: str) -> dict[str, Any]:
    task: dict[str, Any] = {"title": form.get(f"{path}.title")}
    if form.get(f"{path}.script"):
        task["script"] = form.get(f"{path}.script")
    sla = _duration(form, f"{path}.sla")
    if sla:
        task["sla"] = sla
    strategy = form.get(f"{path}.assign.strategy")
    if strategy:
        assign: dict[str, Any] = {"strategy": strategy}
        if form.get(f"{path}.assign.team"):
            assign["team"] = form.get(f"{path}.assign.team")
        if strategy == "field":
            assign["field"] = form.get(f"{path}.assign.field")
            assign["map"] = _mapping(form.get(f"{path}.assign.map"))
        task["assign"] = assign
    priority = form.get(f"{path}.priority") or "normal"
    if priority != "normal":
        task["priority"] = priority
    return task


def _mapping(text: str) -> dict[str, str]:
    """``douyin = user:li`` lines (or ``:``) to ``{"douyin": "user:li"}``."""
    result = {}
    for line in text.splitlines():
        value, sep, target = line.partition("=")
        if not sep:
            value, sep, target = line.partition("→")
        if sep and value.strip():
            result[value.strip()] = target.strip()
    return result


def mapping_text(mapping: Mapping[str, str] | None) -> str:
    return "\n".join(f"{value} = {target}" for value, target in (mapping or {}).items())


# -- changing the structure ---------------------------------------------------------------------


class ActionError(ValueError):
    pass


def _resolve(document: dict[str, Any], path: str) -> Any:
    """The node at a form path; ``c`` stands for a condition group's list."""
    node: Any = document
    for part in path.split("."):
        if isinstance(node, list):
            node = node[int(part)]
        elif part == "c" and isinstance(node, dict):
            node = node.get("all", node.get("any"))
        else:
            node = node[part]
    return node


def _parent(document: dict[str, Any], path: str) -> tuple[list[Any], int]:
    head, _dot, index = path.rpartition(".")
    container = _resolve(document, head)
    if not isinstance(container, list) or not index.isdigit():
        raise ActionError(path)
    return container, int(index)


def _new_step_id(document: dict[str, Any]) -> str:
    taken = {str(step.get("id")) for step in document.get("steps", [])}
    n = len(taken) + 1
    while f"step-{n}" in taken:
        n += 1
    return f"step-{n}"


def _new_leaf() -> dict[str, Any]:
    return dict(NEW_LEAF)


def apply_action(document: dict[str, Any], action: str) -> bool:
    """Change the working copy as a button asked; returns whether the conditions changed."""
    verb, _colon, path = action.partition(":")
    try:
        return _ACTIONS[verb](document, path)
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        raise ActionError(action) from exc


def _add_leaf(document: dict[str, Any], path: str) -> bool:
    return _add_condition(document, path, _new_leaf())


def _add_group(document: dict[str, Any], path: str) -> bool:
    return _add_condition(document, path, {"any": [_new_leaf()]})


def _add_condition(document: dict[str, Any], path: str, node: dict[str, Any]) -> bool:
    head, _dot, last = path.rpartition(".")
    container = _resolve(document, head) if head else document
    if isinstance(container, list):
        group = container[int(last)]
    else:
        group = container.get(last)
        if not group:
            container[last] = {"all": [node]}
            return True
    group.setdefault("any" if "any" in group else "all", []).append(node)
    return True


def _remove(document: dict[str, Any], path: str) -> bool:
    container, index = _parent(document, path)
    del container[index]
    if path.startswith(("audience.", "trigger.where.")):
        for top in ("audience", "trigger.where"):
            head, _dot, last = top.rpartition(".")
            holder = _resolve(document, head) if head else document
            group = holder.get(last)
            if isinstance(group, dict) and not group.get("all", group.get("any", [1])):
                del holder[last]
    return ".c." in f".{path}" or path.startswith(("audience", "trigger.where"))


def _move(document: dict[str, Any], path: str, by: int) -> bool:
    container, index = _parent(document, path)
    target = index + by
    if 0 <= target < len(container):
        container[index], container[target] = container[target], container[index]
    return False


def _add_step(document: dict[str, Any], kind: str) -> bool:
    step: dict[str, Any] = {"id": _new_step_id(document)}
    if kind == "message":
        step["send"] = {"channel": "sms", "template": ""}
    elif kind == "task":
        step["task"] = {"title": "", "assign": {"strategy": "owner"}}
    elif kind == "wait":
        step["wait"] = {"days": 1}
    elif kind == "stop":
        step["stop"] = True
    else:
        raise ValueError(kind)
    document.setdefault("steps", []).append(step)
    return False


def _add_cap(document: dict[str, Any], _path: str) -> bool:
    policy = document.setdefault("policy", {})
    policy.setdefault("caps", []).append({"channel": "any", "max": 3, "per_days": 30})
    policy.setdefault("on_cap", "defer")
    return False


def _add_branch(document: dict[str, Any], path: str) -> bool:
    step = _resolve(document, path)
    others = [s.get("id") for s in document.get("steps", []) if s is not step]
    step.setdefault("branch", []).append(
        {"when": {"all": [_new_leaf()]}, "goto": others[0] if others else ""}
    )
    return False


_ACTIONS = {
    "add_leaf": _add_leaf,
    "add_group": _add_group,
    "remove": _remove,
    "up": lambda document, path: _move(document, path, -1),
    "down": lambda document, path: _move(document, path, 1),
    "add_step": _add_step,
    "add_cap": _add_cap,
    "add_branch": _add_branch,
}


# -- checking -----------------------------------------------------------------------------------

_TIMES = (".start", ".end", "trigger.at")
_GROUP = re.compile(r"(^|\.)(all|any)(?=\.\d|$)")
_UNIT = re.compile(r"\.(minutes|hours|days|business_days|weeks|months|quarters)$")
_SLOTS = (
    (re.compile(r"^(steps\.\d+\.send)\.channels?(\.\d+)?$"), r"\1.channel"),
    (re.compile(r"^(.*\.value)\.\d+$"), r"\1"),
    (re.compile(r"^exit\.on\.\d+$"), "exit.on"),
    (re.compile(r"^(steps\.\d+\.task\.assign\.map)\..*$"), r"\1"),
)


def form_path(path: str) -> str:
    """Where a document path's problem is shown: the input (or section) that fills it."""
    path = _GROUP.sub(lambda m: f"{m.group(1)}c", path)
    for pattern, replacement in _SLOTS:
        path = pattern.sub(replacement, path)
    path = path.rstrip(".")
    if path != "policy.days":
        path = _UNIT.sub("", path)
    return path


def check(document: dict[str, Any]) -> dict[str, list[str]]:
    """Every problem of the working copy, keyed by form path; empty when it can be saved."""
    errors: dict[str, list[str]] = {}

    def add(path: str, message: str) -> None:
        errors.setdefault(form_path(path), []).append(message)

    try:
        RuleDocument.model_validate(document)
    except pydantic.ValidationError as exc:
        kind = (document.get("trigger") or {}).get("kind")
        for problem in describe_validation_error(exc):
            # A trigger's problems are reported under its kind (trigger.event.delay).
            path = re.sub(rf"^trigger\.{re.escape(str(kind))}(?=\.|$)", "trigger", problem["field"])
            message = problem["message"]
            if problem["code"] == "string_pattern_mismatch" and path.endswith(_TIMES):
                message = _("Enter a time as HH:MM, e.g. 21:00.")
            add(path, message)
    for place, condition, events, answers in _condition_places(document):
        try:
            compile_condition(condition, events=events, replies=() if answers else None)
        except ConditionError as exc:
            add(f"{place}.{exc.path}".rstrip("."), exc.message)
    for index, step in enumerate(document.get("steps") or []):
        if isinstance(step, dict) and step.get("send") and not step["send"].get("template"):
            errors.setdefault(f"steps.{index}.send.template", [_("Choose a message template.")])
    trigger = document.get("trigger") or {}
    if trigger.get("kind") in ("event", "date") and "event" in trigger:
        if not trigger.get("event"):
            errors.setdefault("trigger.event", [_("Choose an event.")])
        elif not event_type_known(str(trigger["event"])):
            add(
                "trigger.event",
                _("“%(value)s” is not a known event type.") % {"value": trigger["event"]},
            )
    if trigger.get("kind") == "segment" and not trigger.get("where"):
        add("trigger.where", _("A segment needs at least one condition."))
    if not document.get("steps"):
        add("steps", _("Add at least one step."))
    if not errors:
        try:
            check_references(parse_rule(document))
        except RuleError as exc:
            add(exc.field, exc.message)
    return errors


def _condition_places(document: dict[str, Any]) -> list[tuple[str, Any, bool, bool]]:
    """Each condition: its place, whether event properties and whether ``answer.*`` (a
    branch of a step waiting for a reply) may be named."""
    places: list[tuple[str, Any, bool, bool]] = []
    trigger = document.get("trigger")
    if isinstance(trigger, dict) and trigger.get("where") is not None:
        places.append(("trigger.where", trigger["where"], trigger.get("kind") == "event", False))
    if document.get("audience") is not None:
        places.append(("audience", document["audience"], False, False))
    for i, step in enumerate(document.get("steps") or []):
        if not isinstance(step, dict):
            continue
        for j, branch in enumerate(step.get("branch") or []):
            if isinstance(branch, dict):
                waits = bool(step.get("wait_reply"))
                places.append((f"steps.{i}.branch.{j}.when", branch.get("when"), False, waits))
    return places
