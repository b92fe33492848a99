from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from huifang.core.clock import DatabaseClock, VirtualClock


@pytest.mark.django_db
def test_the_database_clock_is_the_servers_utc_time() -> None:
    clock = DatabaseClock()
    first = clock.now()
    assert first.tzinfo == UTC
    assert abs(first - datetime.now(UTC)) < timedelta(seconds=5)
    assert clock.now() >= first


@pytest.mark.django_db
def test_the_database_clock_ignores_a_moved_python_clock() -> None:
    with time_machine.travel(datetime(2030, 1, 1, tzinfo=UTC), tick=False):
        assert DatabaseClock().now().year < 2030


def test_a_virtual_clock_moves_only_forward() -> None:
    clock = VirtualClock(datetime(2026, 9, 28, 0, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    assert clock.now() == datetime(2026, 9, 27, 16, 0, tzinfo=UTC)
    assert clock.advance(timedelta(hours=9)) == datetime(2026, 9, 28, 1, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError):
        clock.set(datetime(2026, 9, 1, tzinfo=UTC))
    with pytest.raises(ValueError):
        VirtualClock(datetime(2026, 9, 28))
