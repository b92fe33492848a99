"""The answer to an erasure request (PIPL Art. 47): the customer anonymised, everything pending
for them cancelled, the figures kept, and the evidence in the audit log — in one transaction.

- **Pending work** is cancelled by the services that own it: active plans are ended
  (``engine.lifecycle.end_enrollments``, reason ``erased``), open tasks cancelled
  (``tasks.services.cancel``, reason ``erased``), and consent withdrawn on every channel
  (``customers.consent.withdraw_consent``, method *erasure request*), which sets
  do-not-contact and cancels queued and held messages and their retries.
- **The customer row stays**, so every count, sum and score that includes them stays: the name
  becomes "Erased customer #id"; contact details, the external id, birthday, gender, company,
  note, tags and personal attributes are cleared; what reports are cut by (tier, stage,
  province, city, source, business line, owner, product category) and the derived figures
  are kept.
- **Rows about them** (``holdings``) are rewritten by ``ERASE``: free text emptied (message
  bodies and links, replies and other event properties but the figures', free-text answers,
  task notes, provider answers, consent evidence, an import's before/after values), and every
  remaining text and JSON column of those rows has the customer's identifiers replaced.
- **The audit log** is append-only and hash-chained: its entries name customers by number
  only (``Customer.audit_label``), so there is nothing to erase there; the erasure adds one
  entry with who, when, why, the number of rows per kind, and a keyed hash of the identifiers
  erased (not the identifiers).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.apps import apps
from django.apps.registry import Apps
from django.conf import settings
from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from huifang.audit.models import Entry
from huifang.audit.services import record
from huifang.customers.consent import withdraw_consent
from huifang.customers.models import Consent, Customer
from huifang.engine import lifecycle
from huifang.engine.models import Enrollment
from huifang.surveys.document import parse_survey
from huifang.surveys.models import SurveyVersion
from huifang.tasks import services as task_services
from huifang.tasks.models import Task

from .holdings import Identifiers, classify, held, identifiers, mentioning

REASON = "erased"
REDACTED = "***"
# Properties, task history and decisions keep their text only under these keys: codes that
# reports and the timeline read (a channel, a status, a metric), never words people wrote.
CODES = frozenset(
    {
        "channel", "channels", "status", "asked", "survey", "outcome", "kind", "reminder",
        "currency", "product_category", "category", "from", "to", "method", "metric", "step",
        "action", "reason", "type", "level",
    }
)  # fmt: skip
# The attribute reports are cut by (analytics: the product category).
KEPT_ATTRIBUTES = ("product_category",)
FREE_TEXT = ("text", "long_text")
OPEN = (Task.Status.OPEN, Task.Status.IN_PROGRESS)


class ErasureRefused(Exception):
    """The erasure cannot be done (the message says why, in the user's language)."""


@dataclass
class Context:
    customer: Customer
    ids: Identifiers
    pattern: re.Pattern[str] | None
    free_text: dict[int, set[str]] = field(default_factory=dict)

    def scrub(self, value: Any) -> Any:
        """``value`` with the customer's identifiers replaced, text or JSON."""
        if self.pattern is None:
            return value
        if isinstance(value, str):
            return self.pattern.sub(REDACTED, value)
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        return value

    def free_questions(self, version_id: int) -> set[str]:
        """The ids of a questionnaire version's free-text questions."""
        if version_id not in self.free_text:
            content = SurveyVersion.objects.get(pk=version_id).content
            doc = parse_survey(content)
            self.free_text[version_id] = {q.id for q in doc.questions if q.type in FREE_TEXT}
        return self.free_text[version_id]


Rewrite = Callable[[models.Model, Context], Any]
DELETE = "delete"


def blank(row: models.Model, ctx: Context) -> Any:
    return ""


def empty(row: models.Model, ctx: Context) -> Any:
    return {}


def nothing(row: models.Model, ctx: Context) -> Any:
    return []


def codes(value: Any) -> Any:
    """Numbers and yes/no kept anywhere, text only under ``CODES`` keys."""
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            if isinstance(item, str):
                if key in CODES:
                    kept[key] = item
            elif isinstance(item, dict | list):
                kept[key] = codes(item)
            else:
                kept[key] = item
        return kept
    if isinstance(value, list):
        return [codes(v) for v in value if not isinstance(v, str)]
    return value


def _properties(row: models.Model, ctx: Context) -> Any:
    return codes(row.properties)  # type: ignore[attr-defined]


def _task_data(row: models.Model, ctx: Context) -> Any:
    return codes(row.data)  # type: ignore[attr-defined]


def _answers(row: models.Model, ctx: Context) -> Any:
    free = ctx.free_questions(row.version_id)  # type: ignore[attr-defined]
    answers = row.answers or {}  # type: ignore[attr-defined]
    return {k: ("" if k in free else v) for k, v in answers.items()}


def _answer_value(row: models.Model, ctx: Context) -> Any:
    free = ctx.free_questions(row.version_id)  # type: ignore[attr-defined]
    return "" if row.question in free else row.value  # type: ignore[attr-defined]


def _answer_choice(row: models.Model, ctx: Context) -> Any:
    free = ctx.free_questions(row.version_id)  # type: ignore[attr-defined]
    return None if row.question in free else row.choice  # type: ignore[attr-defined]


def _erased_name(row: models.Model, ctx: Context) -> Any:
    return erased_name(ctx.customer)


# How each model that holds rows about a customer is erased: DELETE the rows, or rewrite the
# columns named (every other text and JSON column of the rows has the identifiers replaced).
# A model with a key to customers that is missing here fails the coverage test.
ERASE: dict[str, str | dict[str, Rewrite]] = {
    # ``_anonymise``, field by field: what reports are cut by (a city) must stay as it is,
    # even where it repeats a personal attribute's value.
    "customers.Customer": "keep",
    "customers.Customer_tags": DELETE,
    "customers.ContactPoint": DELETE,
    "customers.Consent": {"evidence": blank},
    "customers.Event": {"properties": _properties},
    "engine.Enrollment": {},
    "engine.DueStep": {},
    "engine.SegmentMember": {},
    "outbox.Message": {"subject": blank, "body": blank, "links": nothing, "to": blank},
    "outbox.Attempt": {"answer": blank},
    "outbox.Click": {"url": blank, "user_agent": blank},
    "tasks.Task": {"notes": blank},
    "tasks.TaskEvent": {"data": _task_data},
    "tasks.Reminder": {},
    "surveys.Response": {"answers": _answers},
    "surveys.Answer": {"value": _answer_value, "choice": _answer_choice},
    "surveys.AnswerTag": {},
    "imports.Change": {"before": empty, "after": empty},
    "imports.ImportedEvent": {},
}
# Rows that only mention the customer: the audit log is never changed (append-only, and it
# names customers by number only); the rest have the identifiers replaced, and these too.
MENTIONED: dict[str, str | dict[str, Rewrite]] = {
    "audit.Entry": "keep",
    "admin.LogEntry": {"object_repr": _erased_name},
    "accounts.Notification": {},
    "imports.Problem": {"value": blank},
    "imports.Import": {},
    "api.IdempotentRequest": DELETE,
    "studio.Preview": DELETE,  # simulated figures: simulated again when next looked at
    "sources.Received": {"payload": blank},
    "subscriptions.Delivery": {},  # the identifiers in the payload are replaced
    "outbox.Message": {},  # staff messages about the customer's tasks
}


def unmapped(registry: Apps = apps) -> list[str]:
    """The models no one has said how they hold customers' data, or how their rows are
    erased: a model added later lands here until ``holdings`` and ``ERASE`` name it."""
    kinds = classify(registry)
    return sorted(
        name
        for name, kind in kinds.items()
        if kind == "unknown"
        or (kind == "held" and name not in ERASE)
        or (kind == "mentioning" and name not in MENTIONED)
    )


@dataclass(frozen=True)
class Erasure:
    rows: dict[str, int]
    cancelled: dict[str, int]
    entry: Entry


def erased_name(customer: Customer) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return _("Erased customer #%(number)s") % {"number": customer.pk}


def fingerprint(ids: Identifiers) -> str:
    """A keyed hash of the identifiers erased: shows later whether a given phone or name was
    among them (recompute it with the same key), without keeping them."""
    text = "\n".join(sorted({ids.name, *ids.values}))
    return salted_hmac("huifang.privacy.erasure", text, algorithm="sha256").hexdigest()


def erase(
    customer: Customer,
    *,
    actor: Any,
    reason: str,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> Erasure:
    """Erase the customer's personal data (see the module's description); refuses a customer
    already erased. ``reason``: why, with the request's reference."""
    now = now or timezone.now()
    if not reason.strip():
        raise ErasureRefused(_("Say why the data is erased, with the request's reference."))
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        if customer.erased_at is not None:
            raise ErasureRefused(
                _("This customer's data was already erased on %(day)s.")
                % {"day": customer.erased_at.date().isoformat()}
            )
        ids = identifiers(customer)
        terms = ids.texts
        pattern = (
            re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE) if terms else None
        )
        ctx = Context(customer, ids, pattern)
        mentions = list(mentioning(customer, ids))
        rows = {name: qs.count() for name, qs in held(customer)}
        for name, qs in mentions:
            rows[name] = rows.get(name, 0) + qs.count()
        cancelled = _cancel(customer, actor=actor, now=now)
        for name, qs in held(customer):
            _rewrite(qs, ERASE[name], ctx)
        for name, qs in mentions:
            _rewrite(qs, MENTIONED[name], ctx)
        _anonymise(customer, now)
        entry = record(
            Entry.Action.ERASURE,
            "erased",
            actor=actor,
            request=request,
            object_type="customers.customer",
            object_id=customer.pk,
            object_repr=customer.audit_label,
            details={"rows": rows, "cancelled": cancelled, "identifiers": fingerprint(ids)},
            reason=reason.strip(),
            at=now,
        )
    return Erasure(rows, cancelled, entry)


def _cancel(customer: Customer, *, actor: Any, now: datetime) -> dict[str, int]:
    """Plans ended and tasks cancelled (reason ``erased``), then consent withdrawn on every
    channel (do-not-contact from now on; queued and held messages and their retries
    cancelled); a plan its event started would end in the same breath."""
    plans = _end_plans(customer, now)
    tasks = 0
    for task in Task.objects.filter(customer=customer, status__in=OPEN):
        task_services.cancel(task, actor=actor, reason=REASON, now=now)
        tasks += 1
    pending = customer.messages.filter(status__in=["queued", "deferred"]).count()
    withdraw_consent(
        customer,
        None,
        method=Consent.Method.ERASURE,
        evidence=str(Consent.Method.ERASURE.label),
        actor=actor,
        now=now,
    )
    plans += _end_plans(customer, now)
    return {"plans": plans, "tasks": tasks, "messages": pending}


def _end_plans(customer: Customer, now: datetime) -> int:
    active = Enrollment.objects.filter(customer=customer, status=Enrollment.Status.ACTIVE)
    ids = list(active.values_list("pk", flat=True))
    return lifecycle.end_enrollments(ids, Enrollment.Status.ENDED, REASON, now)


def _rewrite(rows: models.QuerySet[Any], how: str | dict[str, Rewrite], ctx: Context) -> None:
    if how == "keep":
        return
    if how == DELETE:
        rows.delete()
        return
    assert isinstance(how, dict)
    fields = [f for f in rows.model._meta.concrete_fields if _is_text(f)]
    for row in rows.iterator():
        changes: dict[str, Any] = {}
        for f in fields:
            before = getattr(row, f.attname)
            after = how[f.name](row, ctx) if f.name in how else before
            after = ctx.scrub(after)
            if after != before:
                changes[f.attname] = after
        if changes:
            rows.model._base_manager.filter(pk=row.pk).update(**changes)


def _is_text(f: models.Field[Any, Any]) -> bool:
    return isinstance(f, models.CharField | models.TextField | models.JSONField) and not getattr(
        f, "generated", False
    )


def _anonymise(customer: Customer, now: datetime) -> None:
    attributes = {k: v for k, v in (customer.attributes or {}).items() if k in KEPT_ATTRIBUTES}
    Customer.objects.filter(pk=customer.pk).update(
        name=erased_name(customer),
        external_id=None,
        phone="",
        email="",
        wecom_external_userid="",
        gender="",
        birthday=None,
        company="",
        note="",
        attributes=attributes,
        do_not_contact=True,
        do_not_contact_reason=REASON,
        erased_at=now,
        updated_at=now,
    )
    customer.tags.clear()
    customer.refresh_from_db()
