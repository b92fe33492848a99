"""The same push arriving several times at once (a sender that retries before the first answer)
makes one customer and one event on PostgreSQL, where writers really run side by side."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from huifang.customers.models import Customer, Event
from huifang.sources import services
from huifang.sources.models import Received
from huifang.sources.ready import READY
from tests.concurrency import needs_postgres, side_by_side

from .helpers import push

pytestmark = [*needs_postgres, pytest.mark.django_db(transaction=True)]


def test_four_copies_of_a_first_push_at_once_store_one_customer_and_one_event() -> None:
    source, _secret = services.create_source(
        name="有赞", slug="youzan", ready="youzan-trade-paid", actor=None
    )

    def send(n: int) -> Any:
        return push(Client(), source, READY["youzan-trade-paid"].sample).status_code

    answers = side_by_side(send, workers=4)
    assert sorted(answers) == [200, 200, 200, 202]
    assert Customer.objects.count() == 1 and Event.objects.count() == 1
    statuses = sorted(Received.objects.values_list("status", flat=True))
    assert statuses == ["accepted", "duplicate", "duplicate", "duplicate"]
    assert Received.objects.filter(customer_created=True).count() == 1
