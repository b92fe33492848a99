"""A rebuild on several connections at once (PostgreSQL): the same rows as one connection; a
refresh, or a second rebuild, waits for its turn; a day that fails stops the rebuild, and
leaves the days done, the failed day and the watermarks consistent."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, TypeVar

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huifang.analytics import rollup
from huifang.analytics.models import MessageDay, Watermark
from huifang.analytics.rollup import ROLLUPS, TURN, DayFailed, cut_months, rebuild, refresh
from huifang.customers.models import Customer, Event
from huifang.messaging.models import Click, Message
from huifang.surveys.models import Response
from huifang.tasks.models import Task
from tests.analytics.test_rollups import (
    BASE,
    HORIZON,
    MessagePlan,
    ResponsePlan,
    TaskPlan,
    World,
    Writer,
    _clear,
    at,
    make_world,
    messages,
    responses,
    tasks,
)
from tests.concurrency import needs_postgres, side_by_side

DAYS = 10
F = TypeVar("F", bound=Callable[..., Any])


def on_postgres(test: F) -> F:
    """``needs_postgres`` for one test: concurrent writers."""
    for mark in needs_postgres:
        test = mark(test)
    return test


@pytest.fixture
def world(transactional_db: None) -> World:
    return make_world()


@pytest.fixture
def world_in_a_transaction(db: None) -> World:
    return make_world()


def busy(world: World, days: int = DAYS) -> None:
    """Every day: each customer's message (delivered, clicked, replied to, with a
    questionnaire), task and response, and a complaint."""
    for n in range(days):
        moment = BASE + timedelta(days=n, hours=1)
        for c, customer in enumerate(world.customers):
            message = Message.objects.create(
                customer=customer, rule_id=1 if c else None, channel="sms", template="t",
                survey_version=world.version if c == 1 else None, planned_at=moment,
                created_at=moment, queued_at=moment, sent_at=moment,
                delivered_at=moment + timedelta(hours=1), status="delivered",
            )  # fmt: skip
            if c != 2:
                Click.objects.create(
                    message=message,
                    index=0,
                    url="https://x.cn",
                    clicked_at=moment + timedelta(hours=2),
                )
            Event.objects.create(
                customer=customer,
                type="message_replied",
                occurred_at=moment + timedelta(hours=3),
                properties={"message": message.pk},
            )
            Task.objects.create(
                customer=customer, team=world.teams[c % 2], assignee=world.agents[c % 2],
                title="回访", step="call", created_at=moment, status="done",
                closed_at=moment + timedelta(hours=5), outcome="reached",
            )  # fmt: skip
            Response.objects.create(
                version=world.version, customer=customer, channel="sms", started_at=moment,
                submitted_at=moment + timedelta(hours=1), csat=4, nps=9,
            )  # fmt: skip
        Event.objects.create(customer=world.customers[0], type="complaint", occurred_at=moment)


def every_row() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every rollup table (the day, then every other column but the id), in a
    stable order."""
    rows = {}
    for model in ROLLUPS:
        fields = ["day"]
        fields += [
            f.attname for f in model._meta.concrete_fields if not f.primary_key and f.name != "day"
        ]
        found = model.objects.values_list(*fields)
        rows[model.__name__] = sorted((tuple(row) for row in found), key=repr)
    return rows


def _month_column(model: Any) -> int | None:
    """The position of ``month`` in an ``every_row`` row of ``model`` (a cut table's)."""
    names = [f.attname for f in model._meta.concrete_fields if not f.primary_key]
    names = ["day", *(n for n in names if n != "day")]
    return names.index("month") if "month" in names else None


def by_day() -> dict[date, dict[str, list[tuple[Any, ...]]]]:
    """``every_row`` of each day (the day is each row's first value), without the cut tables'
    whole-month rows (their days' sums: see ``test_a_failed_day…``)."""
    days: dict[date, dict[str, list[tuple[Any, ...]]]] = {}
    months = {m.__name__: _month_column(m) for m in ROLLUPS}
    for table, rows in every_row().items():
        month = months[table]
        for row in rows:
            if month is not None and row[month]:
                continue
            days.setdefault(row[0], {}).setdefault(table, []).append(row)
    return days


def marks() -> dict[str, tuple[int, Any]]:
    return {w.source: (w.last_id, w.at) for w in Watermark.objects.all()}


def someone_waits_for_the_turn(seconds: float = 10) -> bool:
    """Whether another session waits for the advisory lock ``TURN`` (within ``seconds``)."""
    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND classid = %s AND objid = %s",
                [TURN >> 32, TURN & 0xFFFFFFFF],
            )
            if cursor.fetchone():
                return True
            time.sleep(0.02)
    return False


@on_postgres
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    sends=st.lists(messages, max_size=8),
    jobs=st.lists(tasks, max_size=5),
    answers=st.lists(responses, max_size=5),
)
@pytest.mark.django_db(transaction=True)
def test_a_rebuild_on_several_connections_writes_the_rows_of_one(
    world: World, sends: list[MessagePlan], jobs: list[TaskPlan], answers: list[ResponsePlan]
) -> None:
    _clear()
    end = at(HORIZON + 10 * 24 * 60)
    Writer(world).write(HORIZON + 10 * 24 * 60, (sends, jobs, answers))
    with transaction.atomic():  # the single-transaction way
        rebuild(None, None, end)
    one_transaction, its_marks = every_row(), marks()
    for n in (1, 2, 3):
        done = rebuild(None, None, end, jobs=n)
        assert done.jobs == min(n, len(done.days) or 1)
        assert every_row() == one_transaction
        assert marks() == its_marks


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_refresh_during_a_parallel_rebuild_waits_and_doubles_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    busy(world)
    Task.objects.update(updated_at=BASE)  # saved long ago: the refresh does not redo their days
    now = BASE + timedelta(days=DAYS)  # the refresh redoes the last days the rebuild redoes
    refresh(now)
    early = BASE + timedelta(hours=1)  # the first day's first messages
    first = rollup.local_day(early)
    finished: dict[str, float] = {}
    late: list[bool] = []
    waited: list[bool] = []
    real = rollup.rollup_day

    def late_refresh() -> None:
        try:
            refresh(now + timedelta(minutes=1))
            finished["refresh"] = time.monotonic()
        finally:
            connection.close()

    def first_day_then_a_refresh(day: date, *args: Any, **kwargs: Any) -> int:
        # The refresh may come in between the rebuild's end and the restoring of the real
        # function below (it waits for the rebuild, then goes at once): it passes through.
        rows = real(day, *args, **kwargs)
        if day == first and not late:  # once (the refresh redoes this day too)
            late.append(True)
            # A row back-dated to a day this rebuild has done: only the next refresh sees it.
            Message.objects.create(
                customer=world.customers[0], channel="email", template="t",
                planned_at=early, created_at=early, sent_at=early, status="sent",
            )  # fmt: skip
            threading.Thread(target=late_refresh).start()
            waited.append(someone_waits_for_the_turn())
        return rows

    monkeypatch.setattr(rollup, "rollup_day", first_day_then_a_refresh)
    done = rebuild(None, None, now, jobs=2)
    finished["rebuild"] = time.monotonic()
    monkeypatch.setattr(rollup, "rollup_day", real)
    deadline = time.monotonic() + 30
    while "refresh" not in finished and time.monotonic() < deadline:
        time.sleep(0.05)
    assert done.jobs == 2
    assert waited == [True]
    assert finished["rebuild"] < finished["refresh"]
    after_both = every_row()
    assert sum(row.sent for row in MessageDay.objects.filter(day=first)) == 4
    rebuild(None, None, now, jobs=1)  # nothing doubled: the same rows as a rebuild alone
    assert every_row() == after_both


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_two_rebuilds_at_once_take_turns(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    busy(world)
    now = BASE + timedelta(days=DAYS)
    rebuild(None, None, now, jobs=1)
    alone = every_row()
    counting = threading.Lock()
    under_way = [0]
    most: list[int] = []
    real = rollup.rollup_day

    def counted(day: date) -> int:
        with counting:
            under_way[0] += 1
            most.append(under_way[0])
        try:
            time.sleep(0.05)  # long enough for the other rebuild's days to overlap, if they may
            return real(day)
        finally:
            with counting:
                under_way[0] -= 1

    monkeypatch.setattr(rollup, "rollup_day", counted)
    done = side_by_side(lambda _n: rebuild(None, None, now, jobs=2), 2)
    assert [d.jobs for d in done] == [2, 2]
    assert len(most) == 2 * len(done[0].days)
    assert max(most) == 2  # each rebuild's two connections, never both rebuilds' four
    assert every_row() == alone


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_failed_day_stops_the_rebuild_and_keeps_every_day_whole(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    busy(world)
    now = BASE + timedelta(days=DAYS)
    rebuild(None, None, now, jobs=1)
    before = by_day()
    days = sorted(before)
    bad = days[2]
    # Every day's rows change: a customer moves; a row arrives (the watermarks would move);
    # a stray row on a day nothing counts on (a whole rebuild deletes it, when it succeeds).
    Customer.objects.filter(pk=world.customers[0].pk).update(city="宁波")
    Task.objects.create(
        customer=world.customers[2], title="回访", created_at=BASE + timedelta(hours=1)
    )
    MessageDay.objects.create(day=date(2020, 1, 1), step="s", channel="sms", sent=1)
    stray, its_marks = by_day()[date(2020, 1, 1)], marks()
    real = rollup._events

    def fails_on_bad(cursor: Any, day: date, lo: Any, hi: Any) -> int:
        if day == bad:  # after the day's messages, tasks and answers were rewritten
            raise RuntimeError("disk full")
        return real(cursor, day, lo, hi)

    monkeypatch.setattr(rollup, "_events", fails_on_bad)
    with pytest.raises(CommandError, match=f"rebuild failed on {bad}: disk full") as raised:
        call_command("analytics", "rebuild", "--jobs", "2")
    failed = raised.value.__cause__
    assert isinstance(failed, DayFailed)
    assert (failed.day, failed.kept[:2]) == (bad, days[:2])
    assert bad not in failed.kept
    during = by_day()
    assert marks() == its_marks
    # The months' rows are the sums of the days as they stand, the kept ones included.
    kept_rows = every_row()
    cut_months(days)
    assert every_row() == kept_rows
    assert during[date(2020, 1, 1)] == stray
    monkeypatch.setattr(rollup, "_events", real)
    rebuild(None, None, now, jobs=1)
    after = by_day()
    assert date(2020, 1, 1) not in after
    # Each day is either as it was or as rebuilt, never a mixture: the failed day as it was,
    # the days before it rebuilt, the last day untouched (no job took another day).
    for one in days:
        assert during[one] in (before[one], after[one])
        assert (during[one] == after[one]) is (one in failed.kept)
    assert before[bad] != after[bad]
    assert set(days[:2]) <= set(failed.kept)
    assert days[-1] not in failed.kept


def test_in_one_transaction_a_failure_changes_nothing(
    world_in_a_transaction: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite (and a caller's transaction): the days one after the other in one transaction,
    undone as a whole when one fails; the stray rows of a whole rebuild go when it succeeds."""
    busy(world_in_a_transaction, days=3)
    now = BASE + timedelta(days=3)
    rebuild(None, None, now)
    MessageDay.objects.create(day=date(2020, 1, 1), step="s", channel="sms", sent=1)
    Customer.objects.update(city="宁波")
    before, its_marks = every_row(), marks()
    bad = rollup.local_day(BASE + timedelta(days=1, hours=1))
    real = rollup.rollup_day

    def fails_on_bad(day: date) -> int:
        rows = real(day)
        if day == bad:
            raise RuntimeError("disk full")
        return rows

    monkeypatch.setattr(rollup, "rollup_day", fails_on_bad)
    with pytest.raises(DayFailed, match="disk full") as raised:
        rebuild(None, None, now + timedelta(hours=1), jobs=2)
    assert (raised.value.day, raised.value.kept) == (bad, [])
    assert every_row() == before
    assert marks() == its_marks
    monkeypatch.setattr(rollup, "rollup_day", real)
    assert rebuild(None, None, now, jobs=2).jobs == 1  # one writer: one connection
    assert not MessageDay.objects.filter(day=date(2020, 1, 1)).exists()
    assert every_row() != before


def test_the_command_takes_and_says_its_jobs(
    world_in_a_transaction: World, capsys: pytest.CaptureFixture[str]
) -> None:
    busy(world_in_a_transaction, days=2)
    call_command("analytics", "rebuild", "--jobs", "3")
    assert "(1 job)" in capsys.readouterr().out  # in a transaction: one connection
    for wrong in ("0", "two"):
        with pytest.raises(CommandError, match="not a number of jobs"):
            call_command("analytics", "rebuild", "--jobs", wrong)
