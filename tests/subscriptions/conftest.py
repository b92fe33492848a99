from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from django.utils import timezone

from huifang.subscriptions.models import Subscription

from .receiver import SECRET, receiving


class WallClock:
    """The clock time-machine moves (the deliverer's default, the database's, does not
    move on SQLite)."""

    def now(self) -> datetime:
        return timezone.now()


@pytest.fixture
def clock() -> WallClock:
    return WallClock()


@pytest.fixture
def receiver(settings: Any) -> Iterator[str]:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]  # an admin allowed the local receiver
    with receiving() as url:
        yield url


def subscribe(url: str, *event_types: str, name: str = "订单系统") -> Subscription:
    subscription = Subscription(name=name, url=url, event_types=list(event_types))
    subscription.set_secret(SECRET)
    subscription.save()
    return subscription
