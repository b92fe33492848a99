"""The rule builder: one page that edits a rule's working copy, step by step, without reloads.

Every change of an input posts the whole form (htmx); the server reads it back into a document
(``form.document_from_form``), applies the button pressed (add a condition, move a step …),
keeps the result as the rule's working copy and answers with the form again, each problem next
to its input. So nothing typed is lost between steps, across reloads or devices. "Save
version" checks the working copy like the importer does and writes an immutable version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from huifang.accounts.assignment import strategy_choices
from huifang.accounts.models import Team
from huifang.customers.event_types import event_types, register_builtin_types
from huifang.customers.models import Channel, Customer, CustomEventType, Tag
from huifang.messaging.models import MessageTemplate
from huifang.rules.conditions import ANSWER_FIELDS, CUSTOMER_FIELDS, ENUM, OPS_BY_KIND, field_spec
from huifang.rules.document import RESERVED_KEYS, parse_rule
from huifang.rules.models import Rule, RuleChange
from huifang.rules.plans import plan
from huifang.rules.services import record, save_rule
from huifang.surveys.models import Survey

from . import form as builder_form
from .access import editors, readers
from .audience import live_audience
from .impact import default_days
from .tasks import queue_preview

OP_LABELS = {
    "eq": gettext_lazy("is"),
    "ne": gettext_lazy("is not"),
    "in": gettext_lazy("is one of"),
    "not_in": gettext_lazy("is none of"),
    "contains": gettext_lazy("contains"),
    "is_empty": gettext_lazy("is empty"),
    "lt": gettext_lazy("less than"),
    "lte": gettext_lazy("at most"),
    "gt": gettext_lazy("more than"),
    "gte": gettext_lazy("at least"),
    "between": gettext_lazy("between"),
    "within_last_days": gettext_lazy("within the last … days"),
    "before_days": gettext_lazy("more than … days ago"),
}
UNIT_LABELS = {
    "minutes": gettext_lazy("minutes"),
    "hours": gettext_lazy("hours"),
    "days": gettext_lazy("days"),
    "business_days": gettext_lazy("working days"),
    "weeks": gettext_lazy("weeks"),
    "months": gettext_lazy("months"),
    "quarters": gettext_lazy("quarters"),
}
TRIGGER_LABELS = {
    "event": gettext_lazy("When something happens"),
    "date": gettext_lazy("Relative to a date"),
    "segment": gettext_lazy("When a customer enters a segment"),
    "recurring": gettext_lazy("Regularly"),
}
STEP_LABELS = {
    "message": gettext_lazy("Send a message"),
    "task": gettext_lazy("Follow-up task"),
    "wait": gettext_lazy("Wait"),
    "stop": gettext_lazy("Stop"),
}
PRIORITY_LABELS = {
    "low": gettext_lazy("Low"),
    "normal": gettext_lazy("Normal"),
    "high": gettext_lazy("High"),
    "urgent": gettext_lazy("Urgent"),
}
EXTRA_FIELD_LABELS = {
    "owner": gettext_lazy("owner (username)"),
    "created_at": gettext_lazy("created at"),
    "csat": gettext_lazy("latest CSAT"),
    "answer.csat": gettext_lazy("this reply's CSAT (1–5)"),
    "answer.nps": gettext_lazy("this reply's NPS (0–10)"),
    "answer.ces": gettext_lazy("this reply's CES (1–7)"),
}
DATE_FIELDS = ("birthday", "first_purchase_at", "last_purchase_at", "created_at")


def field_label(name: str) -> str:
    if name in EXTRA_FIELD_LABELS:
        return str(EXTRA_FIELD_LABELS[name])
    # A condition field may have a name of its own ("nps" is the customer's last_nps).
    lookup = CUSTOMER_FIELDS[name].lookup if name in CUSTOMER_FIELDS else name
    try:
        return str(getattr(Customer._meta.get_field(lookup), "verbose_name", name))
    except Exception:
        return name


def empty_document(key: str, name: str) -> dict[str, Any]:
    return {"key": key, "name": name, "trigger": {"kind": "event", "event": ""}, "steps": []}


def working_copy(rule: Rule) -> dict[str, Any]:
    if rule.draft is not None:
        return dict(rule.draft)
    version = rule.latest_version()
    if version is not None:
        return dict(version.content)
    return empty_document(rule.key, rule.name)


# -- pages --------------------------------------------------------------------------------------


@editors
def new_rule(request: HttpRequest) -> HttpResponse:
    """Name a new, empty strategy; the builder opens on it."""
    errors: dict[str, str] = {}
    name = request.POST.get("name", "").strip()
    key = request.POST.get("key", "").strip().lower()
    if request.method == "POST":
        if not name:
            errors["name"] = _("Give the strategy a name.")
        elif len(name) > 100:
            errors["name"] = _("Enter at most 100 characters.")
        if not key:
            key = slugify(name) or f"rule-{timezone.now():%Y%m%d%H%M%S}"
        if not builder_form.KEY.match(key):
            errors["key"] = _(
                "A key is 2–80 lowercase letters, digits and hyphens, starting with a letter or "
                "digit."
            )
        elif key in RESERVED_KEYS:
            errors["key"] = _("“%(key)s” is reserved; choose another key.") % {"key": key}
        elif Rule.objects.filter(key=key).exists():
            errors["key"] = _("A rule with the key “%(key)s” exists.") % {"key": key}
        if not errors:
            with transaction.atomic():
                rule = Rule.objects.create(key=key, name=name)
                _keep(rule, empty_document(key, name), request.user)
                record(rule, RuleChange.Action.CREATED, actor=request.user)
            return redirect("rules:edit", key=rule.key)
    return render(request, "studio/new.html", {"errors": errors, "name": name, "key": key})


@editors
def edit(request: HttpRequest, key: str) -> HttpResponse:
    rule = get_object_or_404(Rule, key=key)
    if request.method != "POST":
        document = working_copy(rule)
        errors = builder_form.check(document) if rule.draft is not None else {}
        context = _context(rule, document, errors)
        return render(request, "studio/builder.html", context)

    action = request.POST.get("action", "")
    before = working_copy(rule)
    document = builder_form.document_from_form(request.POST, key=rule.key)
    notice = ""
    if action == "discard":
        rule.draft = None
        rule.save(update_fields=["draft", "updated_at"])
        document = working_copy(rule)
        return _builder(request, rule, document, {}, notice=_("Changes discarded."))
    if action == "save":
        errors = builder_form.check(document)
        if not errors:
            comment = request.POST.get("comment", "").strip()
            with transaction.atomic():
                saved = save_rule(parse_rule(document), actor=request.user, comment=comment)
                Rule.objects.filter(pk=rule.pk).update(draft=None, draft_saved_at=None)
                if saved.changed and plan(saved.version.pk).problem is None:
                    # A worker simulates its first period now: the preview is ready when opened.
                    queue_preview(
                        rule, saved.version, default_days(saved.version), user=request.user
                    )
            if saved.changed:
                messages.success(
                    request,
                    _("Saved as version %(number)s. Preview it before you activate it.")
                    % {"number": saved.version.number},
                )
            else:
                messages.info(
                    request,
                    _("Nothing changed since version %(number)s.")
                    % {"number": saved.version.number},
                )
            target = reverse("rules:detail", kwargs={"key": rule.key})
            return HttpResponse(status=204, headers={"HX-Redirect": target})
        _keep(rule, document, request.user)
        notice = _("Not saved: fix the problems marked below.")
        return _builder(request, rule, document, errors, notice=notice, before=before)
    if action:
        try:
            builder_form.apply_action(document, action)
        except builder_form.ActionError:
            notice = _("That change could not be made; the form was reloaded.")
    _keep(rule, document, request.user)
    return _builder(
        request, rule, document, builder_form.check(document), notice=notice, before=before
    )


def _keep(rule: Rule, document: dict[str, Any], user: Any) -> None:
    rule.draft = document
    rule.draft_saved_at = timezone.now()
    rule.draft_saved_by = user if getattr(user, "is_authenticated", False) else None
    rule.save(update_fields=["draft", "draft_saved_at", "draft_saved_by", "updated_at"])


def _builder(
    request: HttpRequest,
    rule: Rule,
    document: dict[str, Any],
    errors: dict[str, list[str]],
    *,
    notice: str = "",
    before: Mapping[str, Any] | None = None,
) -> HttpResponse:
    context = _context(rule, document, errors, notice=notice)
    # The note typed for the next version survives the form's re-rendering: leaving its box
    # (to press "Save version") sends the form as a change first, and its answer replaced the
    # box with an empty one before the save went out.
    context["comment"] = request.POST.get("comment", "").strip()[:200]
    response = render(request, "studio/_builder.html", context)
    if before is None or _who(before) != _who(document):
        response["HX-Trigger"] = "audience-changed"
    return response


def _who(document: Mapping[str, Any]) -> Any:
    trigger = document.get("trigger") or {}
    return (
        document.get("audience"),
        trigger.get("kind"),
        trigger.get("where"),
        trigger.get("field"),
    )


@readers
def audience(request: HttpRequest, key: str) -> HttpResponse:
    """The live audience of the working copy: how many customers now, and ten of them."""
    rule = get_object_or_404(Rule, key=key)
    found = live_audience(working_copy(rule))
    errors = [
        {"path": builder_form.form_path(path), "message": message}
        for path, message in found.errors.items()
    ]
    return render(request, "studio/_audience.html", {"audience": found, "errors": errors})


@require_GET
@readers
def template_preview(request: HttpRequest) -> HttpResponse:
    """The text a message step would send: the template's running version, per channel."""
    key = request.GET.get("template", "").strip()
    channels = [c for c in request.GET.getlist("channel") if c]
    templates = (
        MessageTemplate.objects.filter(key=key)
        .select_related("current_version")
        .order_by("channel")
    )
    if channels:
        templates = templates.filter(channel__in=channels)
    return render(
        request,
        "studio/_template_preview.html",
        {"key": key, "templates": list(templates), "channels": channels},
    )


# -- what the template needs --------------------------------------------------------------------


def _options() -> dict[str, Any]:
    register_builtin_types()
    events = [(t.key, str(t.label)) for t in event_types]
    events += list(CustomEventType.objects.order_by("key").values_list("key", "name"))
    fields = [
        {"name": name, "label": field_label(name), "kind": spec.kind}
        for name, spec in CUSTOMER_FIELDS.items()
    ]
    fields.sort(key=lambda f: f["label"])
    surveys = list(
        Survey.objects.exclude(status=Survey.Status.ARCHIVED)
        .order_by("key")
        .values_list("key", "name")
    )
    # Offered in branches only: the score in the reply that moved the step.
    answer_fields = [
        {"name": name, "label": field_label(name), "kind": spec.kind}
        for name, spec in ANSWER_FIELDS.items()
    ]
    return {
        "events": events,
        "fields": fields,
        "answer_fields": answer_fields,
        "date_fields": [(name, field_label(name)) for name in DATE_FIELDS],
        "channels": Channel.choices,
        "templates": sorted(set(MessageTemplate.objects.values_list("key", flat=True))),
        "tags": list(Tag.objects.order_by("name").values_list("name", flat=True)[:200]),
        "strategies": strategy_choices(),
        "teams": list(Team.objects.order_by("name").values_list("key", "name")),
        "units": [(u, UNIT_LABELS[u]) for u in builder_form.UNITS],
        "every_units": [(u, UNIT_LABELS[u]) for u in builder_form.EVERY_UNITS],
        "trigger_kinds": [(k, TRIGGER_LABELS[k]) for k in builder_form.TRIGGER_KINDS],
        "step_kinds": [(k, STEP_LABELS[k]) for k in builder_form.STEP_KINDS],
        "priorities": list(PRIORITY_LABELS.items()),
        "surveys": surveys,
        "survey_keys": [key for key, _name in surveys],
    }


def _context(
    rule: Rule, document: dict[str, Any], errors: dict[str, list[str]], *, notice: str = ""
) -> dict[str, Any]:
    options = _options()
    trigger = document.get("trigger") or {}
    steps = [s for s in document.get("steps") or [] if isinstance(s, dict)]
    step_ids = [str(s.get("id", "")) for s in steps]
    policy = document.get("policy") or {}
    exit_on = [str(e) for e in (document.get("exit") or {}).get("on") or []]
    # Chosen exit events first, in the order they were chosen; unknown ones still shown.
    known = {e[0] for e in options["events"]}
    options["events"] = options["events"] + [(e, e) for e in exit_on if e not in known]
    order = {name: index for index, name in enumerate(exit_on)}
    team_keys = {key for key, _name in options["teams"]}
    summary = [
        {"path": path, "anchor": anchor(path), "message": message}
        for path, messages_ in errors.items()
        for message in messages_
    ]
    return {
        "rule": rule,
        "doc": document,
        "errors": errors,
        "summary": summary,
        "notice": notice,
        "options": options,
        "trigger": _trigger_view(trigger, options),
        "audience_tree": _tree(document.get("audience"), "audience", events=False),
        "steps": [
            _step_view(step, i, len(steps), step_ids, team_keys) for i, step in enumerate(steps)
        ],
        "policy": _policy_view(policy),
        "exit_on": exit_on,
        "exit_events": sorted(options["events"], key=lambda e: order.get(e[0], len(order))),
        "saved_at": rule.draft_saved_at if rule.draft is not None else None,
        "has_draft": rule.draft is not None,
    }


def anchor(path: str) -> str:
    return "f-" + path.replace(".", "-")


def _duration(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        unit, amount = next(iter(value.items()))
        return {"amount": amount, "unit": unit}
    return {"amount": "", "unit": ""}


def _trigger_view(trigger: Mapping[str, Any], options: Mapping[str, Any]) -> dict[str, Any]:
    kind = trigger.get("kind") or "event"
    events = kind == "event"
    field_name = str(trigger.get("field") or "")
    prefix = next((p for p in builder_form.FREE_FIELDS if field_name.startswith(p)), "")
    return {
        "kind": kind,
        "event": trigger.get("event") or "",
        "property": trigger.get("property") or "",
        "source": "event" if trigger.get("event") and kind == "date" else "field",
        "field": prefix or field_name,
        "field_key": field_name[len(prefix) :] if prefix else "",
        "offset": _duration(trigger.get("offset")),
        "before": bool(trigger.get("before")),
        "at": trigger.get("at") or "10:00",
        "delay": _duration(trigger.get("delay")),
        "every": _duration(trigger.get("every")),
        "include_existing": bool(trigger.get("include_existing")),
        "where": _tree(trigger.get("where"), "trigger.where", events=events)
        if kind != "date"
        else None,
    }


def _tree(node: Any, path: str, *, events: bool, answers: bool = False) -> dict[str, Any]:
    """A condition group as the template draws it; an absent one is an empty "all"."""
    bare = isinstance(node, Mapping) and "field" in node
    if bare:
        node = {"all": [node]}
    elif not isinstance(node, Mapping):
        node = {"all": []}
    join = "any" if "any" in node else "all"
    children = []
    items = node.get(join) if isinstance(node.get(join), list) else []
    for index, child in enumerate(items):
        child_path = f"{path}.c.{index}"
        if isinstance(child, Mapping) and ("all" in child or "any" in child):
            children.append(_tree(child, child_path, events=events, answers=answers))
        else:
            children.append(
                _leaf_view(child if isinstance(child, Mapping) else {}, child_path, events, answers)
            )
    return {
        "group": True,
        "path": path,
        "join": join,
        "children": children,
        "events": events,
        "answers": answers,
        "bare": bare,
    }


def _leaf_view(
    node: Mapping[str, Any], path: str, events: bool, answers: bool = False
) -> dict[str, Any]:
    name = str(node.get("field") or "")
    prefix = next((p for p in builder_form.FREE_FIELDS if name.startswith(p)), "")
    spec = field_spec(name, events=events, answers=answers)
    kind = spec.kind if spec else ""
    op = str(node.get("op") or "")
    value = node.get("value")
    values = value if isinstance(value, list) else ([] if value is None else [value])
    choices = []
    if spec is not None and kind == ENUM:
        labels = _enum_labels(name)
        choices = [(c, labels.get(c, c), c in values) for c in spec.choices]
    return {
        "group": False,
        "path": path,
        "field": prefix or name,
        "key": name[len(prefix) :] if prefix else "",
        "kind": kind,
        "op": op,
        "ops": [(o, OP_LABELS[o]) for o in OPS_BY_KIND[kind]] if kind else [],
        "value": "" if value is None or isinstance(value, list) else _text(value),
        "value_list": "、".join(_text(v) for v in values) if isinstance(value, list) else "",
        "value0": _text(values[0]) if op == "between" and len(values) > 0 else "",
        "value1": _text(values[1]) if op == "between" and len(values) > 1 else "",
        "choices": choices,
        "multi": op in ("in", "not_in"),
        "empty": value is not False,
    }


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _enum_labels(name: str) -> dict[str, str]:
    try:
        field = Customer._meta.get_field(CUSTOMER_FIELDS[name].lookup)
    except Exception:
        return {}
    return {str(k): str(v) for k, v in (getattr(field, "choices", None) or [])}


def _step_view(
    step: Mapping[str, Any], index: int, count: int, ids: list[str], team_keys: set[str]
) -> dict[str, Any]:
    path = f"steps.{index}"
    kind = (
        "message"
        if step.get("send") is not None
        else "task"
        if step.get("task") is not None
        else "wait"
        if step.get("wait") is not None
        else "stop"
        if step.get("stop")
        else "message"
    )
    send = step.get("send") or {}
    channels = list(send.get("channels") or ([send["channel"]] if send.get("channel") else []))
    channels += [""] * (builder_form.MAX_CHANNELS - len(channels))
    task = step.get("task") or {}
    assign = task.get("assign") or {}
    on_reply = str(step.get("on_reply") or "continue")
    return {
        "path": path,
        "index": index,
        "number": index + 1,
        "survey": str(step.get("survey") or ""),
        "wait_after": _duration(step.get("wait")) if kind != "wait" else _duration(None),
        "id": step.get("id") or "",
        "kind": kind,
        "first": index == 0,
        "last": index == count - 1,
        "channels": [(n, c) for n, c in enumerate(channels[: builder_form.MAX_CHANNELS])],
        "template": send.get("template") or "",
        "transactional": bool(send.get("transactional")),
        "task": {
            "title": task.get("title") or "",
            "script": task.get("script") or "",
            "sla": _duration(task.get("sla")),
            "priority": task.get("priority") or "normal",
            "strategy": assign.get("strategy") or "",
            "team": assign.get("team") or "",
            "team_missing": bool(assign.get("team")) and assign.get("team") not in team_keys,
            "field": assign.get("field") or "",
            "map": builder_form.mapping_text(assign.get("map")),
        },
        "wait": _duration(step.get("wait")),
        "wait_reply": _duration(step.get("wait_reply")),
        "on_reply": on_reply,
        # (id, number): a step is named by its number on the page, its id stays the value.
        "targets": [(i, n + 1) for n, i in enumerate(ids) if i and i != step.get("id")],
        "branches": [
            {
                "path": f"{path}.branch.{j}",
                "when": _tree(b.get("when"), f"{path}.branch.{j}.when", events=False, answers=True),
                "goto": b.get("goto") or "",
            }
            for j, b in enumerate(step.get("branch") or [])
            if isinstance(b, Mapping)
        ],
    }


def _policy_view(policy: Mapping[str, Any]) -> dict[str, Any]:
    quiet = policy.get("quiet_hours") or {}
    return {
        "quiet_mode": "custom" if quiet else "default",
        "quiet_start": quiet.get("start", "21:00"),
        "quiet_end": quiet.get("end", "08:00"),
        "days": policy.get("days") or "any",
        "caps": [
            {"path": f"policy.caps.{i}", **cap}
            for i, cap in enumerate(policy.get("caps") or [])
            if isinstance(cap, Mapping)
        ],
        "on_cap": policy.get("on_cap") or "defer",
        "misfire_grace": _duration(policy.get("misfire_grace")),
        "reenroll_after": _duration(policy.get("reenroll_after")),
        "max_attempts": policy.get("max_attempts") or "",
    }
