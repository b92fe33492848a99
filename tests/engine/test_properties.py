"""DESIGN invariants 1 and 2 as properties: over random customers, zones, rules, events and
clock moves, no send falls in quiet hours, on an excluded day, beyond a cap, to a
do-not-contact customer or without consent, and no trigger enrolls a customer twice."""

from __future__ import annotations

from collections import defaultdict
from datetime import time, timedelta
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huifang.customers.models import Consent
from huifang.engine.models import Enrollment
from huifang.messaging.models import Message
from huifang.organisation.business_calendar import BusinessCalendar
from huifang.organisation.quiet_hours import QuietHours
from huifang.organisation.zones import zone

from .world import World, local

ZONES = ["Asia/Shanghai", "America/New_York", "Europe/Berlin"]
CHANNELS = ["sms", "email"]


class Rollback(Exception):
    pass


hours = st.integers(min_value=0, max_value=23)
rules = st.fixed_dictionaries(
    {
        "quiet": st.tuples(hours, hours),
        "days": st.sampled_from(["any", "business"]),
        "cap": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "channel": st.sampled_from(["any", "sms"]),
                    "max": st.integers(1, 3),
                    "per_days": st.integers(1, 7),
                }
            ),
        ),
        "on_cap": st.sampled_from(["defer", "drop"]),
        "delay_hours": st.integers(0, 72),
        "channel": st.sampled_from(CHANNELS),
        "transactional": st.sampled_from([False, False, False, True]),
        "steps": st.integers(1, 4),
    }
)
customers = st.lists(
    st.fixed_dictionaries(
        {
            "zone": st.sampled_from(ZONES),
            "dnc": st.sampled_from([False, False, False, True]),
            "consent": st.sampled_from([{"sms", "email"}, {"sms", "email"}, {"sms"}, set()]),
        }
    ),
    min_size=1,
    max_size=4,
)
# Event times: hours after the start, across the 2026 DST changes in New York (1 November)
# and Berlin (25 October), and the National Day holiday.
events = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 24 * 12)), min_size=1, max_size=8)
starts = st.sampled_from(["2026-09-28 00:00", "2026-10-22 18:00", "2026-10-29 07:00"])
moves = st.lists(st.integers(1, 30), min_size=1, max_size=12)


def rule_document(number: int, spec: dict[str, Any]) -> dict[str, Any]:
    start, end = spec["quiet"]
    policy: dict[str, Any] = {
        "quiet_hours": {"start": f"{start:02d}:00", "end": f"{end:02d}:00"},
        "days": spec["days"],
        "on_cap": spec["on_cap"],
        "misfire_grace": {"days": 30},
    }
    if spec["cap"]:
        policy["caps"] = [spec["cap"]]
    send = {"channel": spec["channel"], "template": "t", "transactional": spec["transactional"]}
    steps = [
        {"id": f"s{n}", "send": send, **({"wait": {"hours": 5}} if n else {})}
        for n in range(spec["steps"])
    ]
    return {
        "key": f"rule-{number}",
        "name": f"rule {number}",
        "trigger": {"kind": "event", "event": "purchase", "delay": {"hours": spec["delay_hours"]}},
        "policy": policy,
        "steps": steps,
    }


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rules=st.lists(rules, min_size=1, max_size=2),
    people=customers,
    purchases=events,
    start=starts,
    steps=moves,
)
def test_no_send_breaks_the_contact_rules(
    rules: list[dict[str, Any]],
    people: list[dict[str, Any]],
    purchases: list[tuple[int, int]],
    start: str,
    steps: list[int],
) -> None:
    try:
        with transaction.atomic():
            world = World(local(start))
            documents = {f"rule-{n}": spec for n, spec in enumerate(rules)}
            for n, spec in enumerate(rules):
                world.rule(rule_document(n, spec))
            made = [
                world.customer(
                    zone=p["zone"], do_not_contact=p["dnc"], consent=tuple(sorted(p["consent"]))
                )
                for p in people
            ]
            # Purchases arrive as the clock moves, interleaved with random jumps of the clock.
            begin = world.now
            for who, hour in sorted(purchases, key=lambda p: p[1]):
                if steps:
                    world.travel(
                        min(world.now + timedelta(hours=steps.pop()), begin + timedelta(hours=hour))
                        if begin + timedelta(hours=hour) > world.now
                        else world.now
                    )
                world.travel(max(world.now, begin + timedelta(hours=hour)))
                world.event(made[who % len(made)], "purchase", amount=100)
            world.travel(timedelta(days=20))
            check(documents)
            raise Rollback
    except Rollback:
        pass


def check(documents: dict[str, dict[str, Any]]) -> None:
    calendar = BusinessCalendar.load()
    consents = set(Consent.objects.filter(status="granted").values_list("customer_id", "channel"))
    sends: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for message in Message.objects.filter(status="sent").select_related("customer", "rule"):
        assert message.rule is not None and message.sent_at is not None
        spec = documents[message.rule.key]
        customer = message.customer
        assert customer is not None
        assert not customer.do_not_contact, "sent to a do-not-contact customer"
        assert (customer.pk, message.channel) in consents, "sent without consent"
        local_time = message.sent_at.astimezone(zone(customer.time_zone))
        start, end = spec["quiet"]
        quiet = QuietHours(time(start), time(end))
        assert not quiet.contains(local_time.time()), f"sent in quiet hours: {local_time}"
        if spec["days"] == "business":
            assert calendar.is_working_day(local_time.date()), f"sent on a day off: {local_time}"
        if not spec["transactional"]:
            sends[(customer.pk, message.rule.key)].append(message)
    for (_customer, key), messages in sends.items():
        cap = documents[key]["cap"]
        if not cap:
            continue
        # Caps count every send to the customer, whichever rule sent it.
        window = timedelta(days=cap["per_days"])
        every = sorted(
            m.sent_at
            for m in Message.objects.filter(customer_id=_customer, status="sent")
            if cap["channel"] in ("any", m.channel) and m.sent_at is not None
        )
        for message in messages:
            assert message.sent_at is not None
            if cap["channel"] not in ("any", message.channel):
                continue  # an sms cap says nothing about e-mails
            # At the moment it went out, fewer than ``max`` sends were inside its window.
            # (A message of a rule without caps may go out in the same instant; it does not
            # count against this one, which was decided first.)
            before = [at for at in every if message.sent_at - window < at < message.sent_at]
            assert len(before) < cap["max"], f"cap {cap} broken at {message.sent_at}"
    anchors = list(Enrollment.objects.values_list("rule_id", "customer_id", "anchor"))
    assert len(anchors) == len(set(anchors)), "a trigger enrolled a customer twice"
