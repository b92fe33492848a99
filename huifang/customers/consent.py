"""Consent: a customer's decision per channel, and the one way it is withdrawn.

``record_consent`` sets a decision and puts the change on the timeline. ``withdraw_consent`` is
what the unsubscribe page, the RFC 8058 one-click POST, an SMS stop word (退订 / TD / T / N /
STOP), an agent's "refused further contact" and "wrong number" outcomes all call: it records the
withdrawal on each channel with its evidence, sets do-not-contact with its time when every
channel goes, records one ``unsubscribed`` event (rules that exit on it end their plans), and
has the customer's pending messages and their retries cancelled — identically for every path.

The cancelling is done by the apps that own messages and retries (messaging, the engine), which
register a listener here in their ``AppConfig.ready()`` (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from huifang.audit import services as audit
from huifang.core.hooks import Hook

from .events import record_event
from .models import Channel, Consent, Customer, Event
from .schemas import ConsentIn

# listener(customer, channels or None for every channel, now), after the withdrawal is recorded
withdrawn: Hook[Callable[[Customer, list[str] | None, datetime], object]] = Hook(
    "consent withdrawn"
)


def _aware(moment: datetime) -> datetime:
    if timezone.is_naive(moment):
        return timezone.make_aware(moment, timezone.get_default_timezone())
    return moment


def record_consent(
    customer: Customer, consent: ConsentIn, *, actor: Any = None, now: datetime | None = None
) -> Consent:
    """Set the customer's decision for a channel and put the change on their timeline."""
    now = now or timezone.now()
    recorded_at = _aware(consent.recorded_at) if consent.recorded_at else now
    current = Consent.objects.filter(customer=customer, channel=consent.channel).first()
    if (
        current
        and current.status == consent.status
        and current.method == consent.method
        and current.text_version == consent.text_version
    ):
        return current
    values = {
        "status": consent.status,
        "recorded_at": recorded_at,
        "method": consent.method,
        "text_version": consent.text_version,
        "evidence": consent.evidence,
        "recorded_by": actor if getattr(actor, "is_authenticated", False) else None,
    }
    record, _created = Consent.objects.update_or_create(
        customer=customer, channel=consent.channel, defaults=values
    )
    audit.record(
        audit.Action.CONSENT,
        str(consent.status),
        actor=actor,
        target=customer,
        object_repr=customer.audit_label,
        details={
            "channel": str(consent.channel),
            "from": current.status if current is not None else "",
            "to": str(consent.status),
            "method": str(consent.method),
        },
        at=now,
    )
    record_event(
        customer.pk,
        "consent_changed",
        now=now,
        refresh=False,
        occurred_at=recorded_at,
        properties={
            "channel": str(consent.channel),
            "status": str(consent.status),
            "method": str(consent.method),
            "text_version": consent.text_version,
            "evidence": consent.evidence,
        },
    )
    return record


def withdraw_consent(
    customer: Customer,
    channels: Sequence[str] | None,
    *,
    method: str,
    evidence: str,
    actor: Any = None,
    now: datetime | None = None,
    details: dict[str, Any] | None = None,
) -> list[str]:
    """Withdraw consent on ``channels`` (``None``: every channel, and do-not-contact from now
    on); returns the channels withdrawn. Idempotent: a channel already withdrawn is recorded
    again only with a new method, and pending messages are cancelled either way."""
    now = now or timezone.now()
    every = channels is None
    names = list(Channel.values) if channels is None else list(dict.fromkeys(channels))
    with transaction.atomic():
        current = {
            c.channel: c.status
            for c in Consent.objects.filter(customer=customer, channel__in=names)
        }
        for channel in names:
            if current.get(channel) != Consent.Status.WITHDRAWN:
                record_consent(
                    customer,
                    ConsentIn(
                        channel=Channel(channel),
                        status=Consent.Status.WITHDRAWN,
                        method=Consent.Method(method),
                        recorded_at=now,
                        text_version="",
                        evidence=evidence[:2000],
                    ),
                    actor=actor,
                    now=now,
                )
        if every and not customer.do_not_contact:
            customer.do_not_contact = True
            customer.do_not_contact_at = now
            customer.do_not_contact_reason = evidence[:200]
            Customer.objects.filter(pk=customer.pk).update(
                do_not_contact=True,
                do_not_contact_at=now,
                do_not_contact_reason=customer.do_not_contact_reason,
            )
        # The timeline shows it, and rules with ``exit: {on: [unsubscribed]}`` end their plans.
        record_event(
            customer.pk,
            "unsubscribed",
            now=now,
            refresh=False,
            source=Event.Source.SYSTEM,
            properties={
                "channels": names,
                "scope": "all" if every else "channel",
                "method": str(method),
                **(details or {}),
            },
        )
        withdrawn(customer, None if every else names, now)
    return names


def consent_state(customer: Customer) -> dict[str, Any]:
    """What ``restore_consent`` puts back: each channel's decision (or none) and the
    do-not-contact flag, as JSON (kept with what changed them, e.g. a task's outcome)."""
    rows = {c.channel: c for c in Consent.objects.filter(customer=customer)}
    fresh = Customer.objects.only(
        "do_not_contact", "do_not_contact_at", "do_not_contact_reason"
    ).get(pk=customer.pk)
    return {
        "channels": {
            channel: (
                {
                    "status": row.status,
                    "method": row.method,
                    "recorded_at": row.recorded_at.isoformat(),
                    "text_version": row.text_version,
                    "evidence": row.evidence,
                    "recorded_by": row.recorded_by_id,
                }
                if (row := rows.get(channel)) is not None
                else None
            )
            for channel in Channel.values
        },
        "do_not_contact": [
            fresh.do_not_contact,
            fresh.do_not_contact_at.isoformat() if fresh.do_not_contact_at else None,
            fresh.do_not_contact_reason,
        ],
    }


def restore_consent(
    customer: Customer, state: dict[str, Any], *, actor: Any, reason: str, now: datetime
) -> list[str]:
    """Put back the decisions ``consent_state`` saw, for an undo made soon after a mistaken
    withdrawal: each changed channel gets its earlier decision (with its original evidence) or
    none, audited and on the timeline with ``reason``; do-not-contact its earlier value.
    Messages the withdrawal cancelled stay cancelled. Returns the channels restored."""
    restored = []
    with transaction.atomic():
        rows = {c.channel: c for c in Consent.objects.filter(customer=customer)}
        for channel, before in (state.get("channels") or {}).items():
            row = rows.get(channel)
            if _same(row, before):
                continue
            if before is None:
                if row is not None:
                    row.delete()
            else:
                Consent.objects.update_or_create(
                    customer=customer,
                    channel=channel,
                    defaults={
                        "status": before["status"],
                        "method": before["method"],
                        "recorded_at": datetime.fromisoformat(before["recorded_at"]),
                        "text_version": before["text_version"],
                        "evidence": before["evidence"],
                        "recorded_by_id": before["recorded_by"],
                    },
                )
            restored.append(channel)
            to = before["status"] if before is not None else ""
            audit.record(
                audit.Action.CONSENT,
                "restored",
                actor=actor,
                target=customer,
                object_repr=customer.audit_label,
                details={"channel": channel, "from": row.status if row else "", "to": to},
                reason=reason[:500],
                at=now,
            )
            record_event(
                customer.pk,
                "consent_changed",
                now=now,
                refresh=False,
                properties={"channel": channel, "status": to, "evidence": reason[:2000]},
            )
        flag, at, why = state.get("do_not_contact") or [False, None, ""]
        Customer.objects.filter(pk=customer.pk).update(
            do_not_contact=bool(flag),
            do_not_contact_at=datetime.fromisoformat(at) if at else None,
            do_not_contact_reason=why or "",
        )
    return restored


def _same(row: Consent | None, before: dict[str, Any] | None) -> bool:
    if row is None or before is None:
        return row is None and before is None
    return row.status == before["status"] and row.method == before["method"]
