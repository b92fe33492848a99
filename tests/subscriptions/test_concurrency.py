"""Several workers delivering at the same moment, each on its own database connection: every
delivery reaches the receiver once (PostgreSQL: ``FOR UPDATE SKIP LOCKED`` and the
conditional claim; SQLite has one writer at a time)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from huifang.customers.models import Customer
from huifang.subscriptions.delivery import Deliverer
from huifang.subscriptions.models import Delivery
from huifang.tasks.services import create_tasks
from tests.concurrency import needs_postgres, side_by_side

from .conftest import WallClock, subscribe
from .receiver import inbox

pytestmark = [*needs_postgres, pytest.mark.django_db(transaction=True)]


def test_four_workers_deliver_each_event_once(receiver: str, bob: Any) -> None:
    subscribe(receiver, "task.created")
    customers = [Customer.objects.create(name=f"客户{n}") for n in range(30)]
    create_tasks(customers, title="回访", actor=bob, team=None)
    assert Delivery.objects.count() == 30

    def work(_n: int) -> int:
        deliverer = Deliverer(WallClock(), limit=3)
        total = 0
        while done := deliverer.run_once():
            total += done
        return total

    handled = side_by_side(work, workers=4)
    assert sum(handled) == 30
    counts = Counter(r.body["id"] for r in inbox.requests)
    assert len(counts) == 30 and set(counts.values()) == {1}
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}
