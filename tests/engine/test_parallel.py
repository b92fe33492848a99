"""A full evaluation runs rules side by side on PostgreSQL (each on its own connection, in a
transaction of its own) and enrolls exactly whom one-after-the-other evaluation enrolls."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection

from huifang.engine import triggers
from huifang.engine.models import DueStep, Enrollment, SegmentMember, TriggerCursor

from .test_triggers import rule
from .world import World, local


def outcome() -> set[tuple[Any, ...]]:
    return set(
        DueStep.objects.values_list(
            "enrollment__rule__key", "enrollment__customer_id", "enrollment__anchor", "due_at"
        )
    )


def forget() -> None:
    DueStep.objects.all().delete()
    Enrollment.objects.all().delete()
    SegmentMember.objects.all().delete()
    TriggerCursor.objects.all().delete()


@pytest.mark.django_db(transaction=True)
def test_rules_evaluated_side_by_side_enroll_the_same_customers(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(local("2026-11-02 10:00"))
    vips = [world.customer(tier="vip") for _n in range(6)]
    others = [world.customer(tier="regular") for _n in range(6)]
    for n, customer in enumerate(vips + others):
        world.event(customer, "purchase", at=local(f"2026-11-01 0{n % 10}:00"), amount=100 * n)
    world.rule(rule("after-purchase", {"kind": "event", "event": "purchase", "delay": {"days": 3}}))
    world.rule(
        rule(
            "big-spenders",
            {
                "kind": "event",
                "event": "purchase",
                "where": {"field": "properties.amount", "op": "gte", "value": 500},
                "delay": {"days": 1},
            },
        )
    )
    world.rule(
        rule(
            "vips",
            {
                "kind": "segment",
                "where": {"field": "tier", "op": "eq", "value": "vip"},
                "include_existing": True,
            },
        )
    )
    world.rule(rule("regulars", {"kind": "recurring", "every": {"days": 7}}))
    threads: set[str] = set()
    evaluate = triggers.evaluate

    def watched(*args: Any, **kwargs: Any) -> int:
        threads.add(threading.current_thread().name)
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(triggers, "evaluate", watched)

    forget()  # activation evaluated the scheduled rules already (on commit): start afresh
    settings.HUIFANG_EVALUATION_THREADS = 3
    side_by_side = triggers.evaluate_all(world.now)
    enrolled = outcome()
    assert triggers.evaluate_all(world.now) == dict.fromkeys(side_by_side, 0)
    if connection.vendor == "postgresql":
        assert threads and all(name.startswith("evaluate") for name in threads)
    else:  # one writer at a time: one after the other, in this thread
        assert threads == {threading.current_thread().name}

    forget()
    settings.HUIFANG_EVALUATION_THREADS = 1
    assert triggers.evaluate_all(world.now) == side_by_side
    assert outcome() == enrolled
    assert side_by_side["vips"] == len(vips)
    assert side_by_side["big-spenders"] == sum(1 for n in range(12) if 100 * n >= 500)
