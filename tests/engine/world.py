"""A small world for engine tests: a virtual clock, customers, rules and events.

Everything goes through the real code paths: rules are saved and activated by the rules
services, events are ingested by the customers service, and due steps are claimed and processed
by the engine's runner, only on a clock the test moves.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from huifang.core.clock import VirtualClock
from huifang.customers.models import Consent, Customer, Event
from huifang.customers.services import ingest_events
from huifang.engine.lifecycle import activate
from huifang.engine.models import DueStep
from huifang.engine.runner import run_until_idle
from huifang.engine.triggers import evaluate_scheduled
from huifang.messaging import dispatch
from huifang.messaging.models import Message, MessageTemplate
from huifang.messaging.services import save_template
from huifang.rules.document import RuleDocument, load_rule_text, parse_rule
from huifang.rules.models import Rule
from huifang.rules.plans import channels_of
from huifang.rules.services import save_rule

_numbers = itertools.count(1)


class World:
    def __init__(self, start: datetime) -> None:
        self.clock = VirtualClock(start)

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def rule(self, document: str | dict[str, Any], *, active: bool = True) -> Rule:
        parsed = load_rule_text(document) if isinstance(document, str) else parse_rule(document)
        with_texts(parsed)
        saved = save_rule(parsed)
        if active:
            activate(saved.rule, saved.version, now=self.now)
        saved.rule.refresh_from_db()
        return saved.rule

    def customer(
        self,
        name: str = "张三",
        *,
        zone: str = "Asia/Shanghai",
        consent: tuple[str, ...] = ("sms", "email"),
        **fields: Any,
    ) -> Customer:
        number = next(_numbers)
        fields.setdefault("phone", f"+86138{number:08d}")
        fields.setdefault("email", f"c{number}@example.com")
        customer = Customer.objects.create(
            name=name, external_id=f"c-{number}", time_zone=zone, **fields
        )
        for channel in consent:
            Consent.objects.create(
                customer=customer,
                channel=channel,
                status=Consent.Status.GRANTED,
                recorded_at=self.now,
                method=Consent.Method.IMPORT,
            )
        return customer

    def event(
        self, customer: Customer, kind: str, at: datetime | None = None, **properties: Any
    ) -> Event:
        result = ingest_events(
            [
                {
                    "type": kind,
                    "customer_external_id": customer.external_id,
                    "occurred_at": (at or self.now).isoformat(),
                    "properties": properties,
                }
            ],
            now=self.now,
        )
        assert not result.errors, result.errors
        return result.created[0]

    def run(self) -> int:
        """Process what is due, then send what the gate released (the log transport unless a
        test configured a provider), as a worker's two loops would."""
        processed = run_until_idle(self.clock)
        dispatch.run_until_idle(self.clock)
        return processed

    def evaluate(self, *, force: bool = False) -> dict[str, int]:
        return evaluate_scheduled(self.now, force=force)

    def travel(self, to: datetime | timedelta, *, evaluate: bool = False) -> None:
        """Move the clock to ``to``, stopping at every due moment on the way to process it,
        as a worker that never sleeps would."""
        target = self.now + to if isinstance(to, timedelta) else to
        while True:
            self.run()
            next_due = (
                DueStep.objects.filter(status=DueStep.Status.DUE, due_at__lte=target)
                .order_by("due_at")
                .values_list("due_at", flat=True)
                .first()
            )
            if next_due is None:
                break
            self.clock.set(max(next_due, self.now))
        self.clock.set(target)
        if evaluate:
            self.evaluate()
        self.run()

    def sent(self, customer: Customer | None = None) -> list[Message]:
        messages = Message.objects.filter(status=Message.Status.SENT).order_by("sent_at", "id")
        if customer is not None:
            messages = messages.filter(customer=customer)
        return list(messages)


def with_texts(document: RuleDocument) -> RuleDocument:
    """Give every message of ``document`` a text where it has none (a plain one will do in
    engine tests: in earnest, a message without a template is dropped)."""
    for step in document.steps:
        if not step.send:
            continue
        for channel in channels_of(step.send):
            if not MessageTemplate.objects.filter(key=step.send.template, channel=channel).exists():
                save_template(
                    step.send.template,
                    channel,
                    name=step.send.template,
                    body="{{客户姓名}}您好",
                    subject="回访" if channel == "email" else "",
                )
    return document


def local(text: str) -> datetime:
    """``2026-09-28 09:00`` in Shanghai, or any ISO time with its own offset."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = timezone.make_aware(moment)
    return moment
