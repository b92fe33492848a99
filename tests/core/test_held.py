"""``held``: within a block a value is read once; outside one, every time it is asked for."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from huifang.core import held
from huifang.organisation.business_calendar import BusinessCalendar
from huifang.organisation.models import CalendarDay


def test_read_once_within_a_block_every_time_outside() -> None:
    reads: list[int] = []

    def load() -> int:
        reads.append(1)
        return len(reads)

    assert (held.once("k", load), held.once("k", load)) == (1, 2)
    with held.block():
        assert (held.once("k", load), held.once("k", load), held.once("j", load)) == (3, 3, 4)
    assert held.once("k", load) == 5  # the block's copy is gone with it


@pytest.mark.django_db
def test_the_calendar_is_read_once_in_a_block() -> None:
    CalendarDay.objects.create(date="2026-11-02", kind=CalendarDay.Kind.HOLIDAY)
    with CaptureQueriesContext(connection) as outside:
        BusinessCalendar.load()
        BusinessCalendar.load()
    with held.block(), CaptureQueriesContext(connection) as inside:
        first, second = BusinessCalendar.load(), BusinessCalendar.load()
    assert (len(outside), len(inside)) == (2, 1)
    assert first is second and not first.is_working_day(date(2026, 11, 2))
