"""What the database holds about one customer, found by walking Django's model graph.

Every model is one of three things, and ``classify`` says which:

- **held**: it has a chain of foreign keys to ``Customer`` (an event, a message, a delivery
  attempt through its message, an answer through its response …). The chains are found from
  the model graph, not listed by hand, so a model added later with a key to a customer is
  found by itself; ``ERASE`` must still say how its columns are erased, and the coverage test
  fails until it does.
- **mentioning**: no key, but its rows can name the customer — the audit log and the admin's
  history by the customer's number, staff notifications and staff messages by the customer's
  task pages, an import's refused cells and preview by the values themselves (``MENTIONS``).
- **unrelated**: staff, set-up and aggregate tables, each with the reason (``UNRELATED``).

``rows_about`` returns every row of the first two kinds for one customer: the access request's
export and the erasure both read it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.apps.registry import Apps
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.urls import reverse

from huifang.customers import pii
from huifang.customers.models import Customer
from huifang.customers.phones import format_phone

# How far a chain of keys may go: an answer's tag is three keys from its customer.
DEPTH = 4
CUSTOMER = "customers.Customer"


def label(model: type[models.Model]) -> str:
    return str(model._meta.label)


def chains(registry: Apps = apps) -> dict[str, list[str]]:
    """Model label → the lookups (``"response__customer"``) that lead from its rows to a
    customer, for every model with at least one chain of foreign keys to ``Customer``."""
    found: dict[str, list[str]] = {CUSTOMER: ["pk"]}
    for _ in range(DEPTH):
        grown = False
        for model in registry.get_models(include_auto_created=True):
            for field in model._meta.concrete_fields:
                target = field.related_model if field.is_relation else None
                if target is None or target is model or label(target) not in found:
                    continue
                for rest in found[label(target)]:
                    path = field.name if rest == "pk" else f"{field.name}__{rest}"
                    if path.count("__") >= DEPTH or path in found.get(label(model), []):
                        continue
                    if label(model) == CUSTOMER:
                        continue
                    found.setdefault(label(model), []).append(path)
                    grown = True
        if not grown:
            break
    # The shortest chains only: a longer one (a message's plan's customer) leads to the same
    # customer as the model's own key, and each join costs every query.
    return {
        name: [p for p in paths if p.count("__") == min(q.count("__") for q in paths)]
        for name, paths in found.items()
    }


@dataclass(frozen=True)
class Mention:
    """A model without a key to customers whose rows can still name one: ``find`` returns
    the rows that do."""

    why: str
    find: Callable[[Customer, Identifiers], models.QuerySet[Any]]


@dataclass(frozen=True)
class Identifiers:
    """What identifies the customer, to find it in text and to erase it there: name, phones
    (as stored and as dialled), e-mail addresses, WeCom ids, the external id, personal
    attributes' values, and the addresses of the customer's own pages."""

    name: str
    values: tuple[str, ...]
    pages: tuple[str, ...]

    @property
    def texts(self) -> tuple[str, ...]:
        """The strings erased wherever they occur. A one-letter name is left out: erasing
        every "王" in the database would erase other people's words."""
        name = (self.name,) if len(self.name.strip()) >= 2 else ()
        return tuple(sorted({*name, *self.values}, key=len, reverse=True))


def identifiers(customer: Customer) -> Identifiers:
    values: set[str] = set()
    phones = [customer.phone] + [
        cp.value for cp in customer.contact_points.all() if cp.kind == cp.Kind.PHONE
    ]
    for phone in filter(None, phones):
        values |= {phone, phone.removeprefix("+86"), format_phone(phone)}
    others = [customer.email, customer.wecom_external_userid, customer.external_id or ""]
    others += [cp.value for cp in customer.contact_points.all() if cp.kind != cp.Kind.PHONE]
    attributes = customer.attributes or {}
    others += [str(v) for k, v in attributes.items() if pii.is_personal_attribute(k) and v]
    values |= {v.strip() for v in others if v and len(v.strip()) >= 3}
    tasks = customer.tasks.values_list("pk", flat=True)
    pages = [reverse("customers:detail", args=[customer.pk])]
    pages += [reverse("tasks:detail", args=[pk]) for pk in tasks]
    return Identifiers(customer.name, tuple(sorted(values)), tuple(pages))


def _any_text(fields: list[str], terms: tuple[str, ...]) -> Q:
    found = Q(pk__in=[])
    for term in terms:
        for name in fields:
            found |= Q(**{f"{name}__contains": term})
    return found


def _notifications(customer: Customer, ids: Identifiers) -> models.QuerySet[Any]:
    """Staff told about the customer's tasks: by the page they point to (a name in a title
    could be a namesake's)."""
    model = apps.get_model("accounts", "Notification")
    return model.objects.filter(url__in=ids.pages)


def _staff_messages(customer: Customer, ids: Identifiers) -> models.QuerySet[Any]:
    """Robot and e-mail notifications to staff: they carry the task's page in their text."""
    model = apps.get_model("outbox", "Message")
    return model.objects.filter(customer__isnull=True).filter(
        _any_text(["subject", "body"], ids.pages)
    )


def _audit(customer: Customer, ids: Identifiers) -> models.QuerySet[Any]:
    model = apps.get_model("audit", "Entry")
    return model.objects.filter(object_type="customers.customer", object_id=str(customer.pk))


def _admin_history(customer: Customer, ids: Identifiers) -> models.QuerySet[Any]:
    kind = ContentType.objects.get_for_model(Customer)
    return LogEntry.objects.filter(content_type=kind, object_id=str(customer.pk))


def _problems(customer: Customer, ids: Identifiers) -> models.QuerySet[Any]:
    """Refused cells that held one of the customer's values, whole (a part could be anyone's)."""
    model = apps.get_model("imports", "Problem")
    return model.objects.filter(value__in=ids.texts)


def _imports(customer: Customer, ids: Identifiers) -> models.QuerySet[Any]:
    """Imports whose stored preview shows the customer (JSON is stored with escapes, so the
    preview is read, not searched in SQL; imports are few)."""
    model = apps.get_model("imports", "Import")
    hits = [
        pk
        for pk, summary in model.objects.exclude(summary={}).values_list("pk", "summary")
        if holds_value(summary, ids.texts)
    ]
    return model.objects.filter(pk__in=hits)


def _api_answers(customer: Customer, ids: Identifiers) -> models.QuerySet[Any]:
    """API answers kept to replay a retried request (a day at most) that show the customer."""
    model = apps.get_model("api", "IdempotentRequest")
    hits = [
        pk
        for pk, body in model.objects.values_list("pk", "body")
        if holds_value(readable(bytes(body)), ids.texts)
    ]
    return model.objects.filter(pk__in=hits)


def _received(customer: Customer, ids: Identifiers) -> models.QuerySet[Any]:
    """What an inbound source pushed that became (or named) the customer: the log keeps the
    payload with contact details masked, but a name or an address can remain."""
    model = apps.get_model("sources", "Received")
    return model.objects.filter(Q(customer_id=customer.pk) | _any_text(["payload"], ids.texts))


def _deliveries(customer: Customer, ids: Identifiers) -> models.QuerySet[Any]:
    """Events told to another system about the customer (their number and name are in it)."""
    model = apps.get_model("subscriptions", "Delivery")
    return model.objects.filter(payload__customer__id=customer.pk)


def _previews(customer: Customer, ids: Identifiers) -> models.QuerySet[Any]:
    """Impact previews whose kept figures list the customer among those over a cap (by number
    only: names are read when shown). Read, not searched in SQL: previews are few."""
    model = apps.get_model("studio", "Preview")
    hits = [
        pk
        for pk, result in model.objects.filter(result__isnull=False).values_list("pk", "result")
        if any(
            listed.get("id") == customer.pk
            for scenario in ("alone", "together")
            for listed in (result or {}).get(scenario, {}).get("over_cap", {}).get("customers", [])
        )
    ]
    return model.objects.filter(pk__in=hits)


MENTIONS: dict[str, Mention] = {
    "sources.Received": Mention("what an inbound source pushed about them", _received),
    "subscriptions.Delivery": Mention("events told to other systems about them", _deliveries),
    "studio.Preview": Mention("an impact preview that lists them over a frequency cap", _previews),
    "api.IdempotentRequest": Mention("an API answer kept to replay a retry", _api_answers),
    "audit.Entry": Mention("entries about the customer, by number", _audit),
    "admin.LogEntry": Mention("the admin's history of the customer", _admin_history),
    "accounts.Notification": Mention("staff told about the customer's tasks", _notifications),
    "imports.Problem": Mention("an import's refused cells holding their values", _problems),
    "imports.Import": Mention("an import's preview showing them", _imports),
}
# Staff messages (robots, e-mail to staff) live in the same table as the customer's own:
# their rows with no customer are searched as mentions.
STAFF_MESSAGES = Mention("staff messages about the customer's tasks", _staff_messages)

UNRELATED: dict[str, str] = {
    "sources.Source": "inbound sources' set-up",
    "imports.SavedMapping": "column choices of imports (header names, no customer)",
    "subscriptions.Subscription": "event subscriptions' set-up",
    "auth.Permission": "Django's permission names",
    "auth.Group_permissions": "Django's permission names",
    "auth.Group": "Django's groups of staff",
    "auth.User_groups": "staff",
    "auth.User_user_permissions": "staff",
    "auth.User": "staff",
    "contenttypes.ContentType": "model names",
    "sessions.Session": "staff sign-in sessions",
    "axes.AccessFailureLog": "staff sign-in attempts",
    "axes.AccessAttempt": "staff sign-in attempts",
    "axes.AccessAttemptExpiration": "staff sign-in attempts",
    "axes.AccessLog": "staff sign-ins",
    "otp_totp.TOTPDevice": "staff two-step sign-in",
    "accounts.Team": "staff",
    "accounts.StaffProfile": "staff",
    "accounts.ApiToken": "staff's API tokens",
    "audit.Head": "the audit chain's head",
    "customers.Tag": "tag names shared by many customers",
    "customers.CustomEventType": "event type names",
    "organisation.OrganisationSettings": "the organisation's set-up",
    "organisation.CalendarYear": "the holiday calendar",
    "organisation.CalendarDay": "the holiday calendar",
    "rules.Rule": "rules",
    "rules.RuleVersion": "rules",
    "rules.RuleChange": "rules' history",
    "rules.StrategySet_rules": "strategy sets",
    "rules.StrategySet": "strategy sets",
    "rules.ScheduledSwitch": "strategy sets",
    "surveys.Survey": "questionnaires",
    "surveys.SurveyVersion": "questionnaires",
    "integrations.Provider": "channel providers",
    "outbox.MessageTemplate": "templates",
    "outbox.TemplateVersion": "templates",
    "engine.TriggerCursor": "rules' progress",
    "analytics.MessageDay": "report figures (counts, no customer)",
    "analytics.TaskDay": "report figures (counts, no customer)",
    "analytics.AnswerDay": "report figures (counts, no customer)",
    "analytics.EventDay": "report figures (counts, no customer)",
    "analytics.MessageDayBy": "report figures (counts, no customer)",
    "analytics.TaskDayBy": "report figures (counts, no customer)",
    "analytics.AnswerDayBy": "report figures (counts, no customer)",
    "analytics.EventDayBy": "report figures (counts, no customer)",
    "analytics.AnswerCutDay": "report figures (counts, no customer)",
    "analytics.EnrollmentDay": "report figures (counts, no customer)",
    "analytics.RuleStepDay": "report figures (counts, no customer)",
    "analytics.DecisionDay": "report figures (counts, no customer)",
    "analytics.Watermark": "the report rollups' progress",
    "analytics.ReportSchedule": "reports e-mailed to staff",
    "analytics.ReportDelivery": "reports e-mailed to staff",
}


def classify(registry: Apps = apps) -> dict[str, str]:
    """Every model's label → ``held``, ``mentioning``, ``unrelated`` or ``unknown`` (a model
    nobody has thought about: the coverage test refuses it)."""
    held = chains(registry)
    kinds = {}
    for model in registry.get_models(include_auto_created=True):
        name = label(model)
        if name in held:
            kinds[name] = "held"
        elif name in MENTIONS:
            kinds[name] = "mentioning"
        elif name in UNRELATED:
            kinds[name] = "unrelated"
        else:
            kinds[name] = "unknown"
    return kinds


def held(customer: Customer) -> Iterator[tuple[str, models.QuerySet[Any]]]:
    """(model label, its rows) for every model with a chain of keys to the customer."""
    for name, paths in sorted(chains().items()):
        model = apps.get_model(name)
        found = Q(pk__in=[])
        for path in paths:
            found |= Q(**{path: customer.pk})
        rows = model.objects.filter(found)
        if rows.exists():
            yield name, rows.distinct().order_by("pk")


def mentioning(customer: Customer, ids: Identifiers) -> Iterator[tuple[str, models.QuerySet[Any]]]:
    """(model label, its rows) for every model whose rows name the customer without a key."""
    for name, mention in [*sorted(MENTIONS.items()), ("outbox.Message", STAFF_MESSAGES)]:
        rows = mention.find(customer, ids)
        if rows.exists():
            yield name, rows.order_by("pk")


def rows_about(customer: Customer) -> Iterator[tuple[str, models.QuerySet[Any]]]:
    """(model label, its rows about the customer) for every model that holds or mentions
    them, rows in key order; models with none are left out."""
    found: dict[str, models.QuerySet[Any]] = dict(held(customer))
    for name, rows in mentioning(customer, identifiers(customer)):
        if name in found:
            rows = rows.model.objects.filter(
                Q(pk__in=found[name].values("pk")) | Q(pk__in=rows.values("pk"))
            )
        found[name] = rows
    for name in sorted(found):
        yield name, found[name].order_by("pk")


def readable(body: bytes) -> Any:
    """A stored body as what it says: JSON read (its escapes undone), else the text."""
    text = body.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def holds_value(value: Any, terms: tuple[str, ...]) -> bool:
    """Whether some text in ``value`` (JSON) is one of ``terms``, whole: a preview's cell, an
    API answer's field."""
    if isinstance(value, str):
        return value.strip() in terms
    if isinstance(value, dict):
        return any(holds_value(v, terms) for v in value.values())
    if isinstance(value, list):
        return any(holds_value(v, terms) for v in value)
    return False
