"""Writers in several processes extend the chain one after another: none forks it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from huifang.audit.models import Entry, Head
from huifang.audit.services import record, record_once, verify
from tests.concurrency import needs_postgres, side_by_side

pytestmark = [*needs_postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("head", [True, False], ids=["head", "no-head-yet"])
def test_four_writers_at_once_leave_one_unbroken_chain(head: bool) -> None:
    if not head:
        Head.objects.all().delete()  # as after a flush: the first writers race to make it

    def write(n: int) -> int:
        for i in range(15):
            record(Entry.Action.SETTINGS, f"writer {n}", details={"i": i})
        return n

    side_by_side(write, workers=4)
    assert sorted(Entry.objects.values_list("seq", flat=True)) == list(range(1, 61))
    assert verify() == (60, None)


def test_four_writers_of_the_same_once_an_hour_entry_write_one() -> None:
    key: dict[str, str | int] = {"host": "169.254.169.254", "port": 80, "reason": "link-local"}

    def write(n: int) -> bool:
        entry = record_once(Entry.Action.OUTBOUND, "blocked", key=key, within=timedelta(hours=1))
        return entry is not None

    assert sorted(side_by_side(write, workers=4)) == [False, False, False, True]
    assert Entry.objects.filter(action=Entry.Action.OUTBOUND).count() == 1
    assert verify() == (1, None)
