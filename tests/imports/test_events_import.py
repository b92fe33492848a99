"""Importing events (orders, tickets, contracts) from real files: each row one event for the
customer it names, the customers' figures following, importing the same file twice adding
nothing, rules told only when the import says so, refused rows with their reasons and nothing
half-written, and undo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huifang.audit.models import Entry
from huifang.customers.models import Customer, CustomEventType, Event
from huifang.engine.models import Enrollment
from huifang.imports import event_rows, event_undo, events
from huifang.imports.mapping import EVENT_TARGETS, suggest
from huifang.imports.models import Import, ImportedEvent
from huifang.imports.planning import MappingRefused
from huifang.imports.reading import FileRefused
from huifang.imports.services import recover_stalled
from huifang.messaging.models import Message
from tests.engine.world import World, local

from .files import csv_file, xlsx

pytestmark = pytest.mark.django_db

TYPE_NAMES = event_rows.TYPE_NAMES

NOW = local("2026-12-07 10:00")
ORDERS = ["订单编号", "会员编号", "手机号码", "下单时间", "实付金额", "商品名称", "门店"]


@pytest.fixture(autouse=True)
def _clock() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def orders(tmp_path: Path, *rows: list[Any], name: str = "订单.xlsx") -> Path:
    return xlsx(tmp_path / name, [["订单导出 2026-12-01"], ORDERS, *rows])


def customers() -> tuple[Customer, Customer]:
    wang = Customer.objects.create(name="王小明", external_id="M-1", phone="+8613800138000")
    li = Customer.objects.create(name="李雷", phone="+8613900139000", email="li@example.com")
    return wang, li


def test_orders_become_purchases_and_the_figures_follow(tmp_path: Path) -> None:
    wang, li = customers()
    path = orders(
        tmp_path,
        ["A1001", "M-1", "", "2026/9/8 14:30", "¥1,299.00", "空气净化器", "西湖店"],
        ["A1002", "M-1", "", "2026年11月2日", 300, "滤网", "西湖店"],
        ["A1003", "", "139 0013 9000", datetime(2025, 6, 1, 9, 0), "￥88", "", ""],
    )
    outcome, batch = events.run(path, event_type="purchase")
    assert batch is not None and batch.kind == Import.Kind.EVENTS and batch.header_row == 2
    assert outcome.counts == {"added": 3, "repeated": 0, "customers": 0, "refused": 0}
    first = Event.objects.get(idempotency_key="purchase:A1001")
    assert (first.customer_id, first.type, first.source) == (wang.pk, "purchase", "import")
    assert first.occurred_at == local("2026-09-08 14:30")  # the organisation's time
    assert first.amount == Decimal("1299.00")
    assert first.properties == {
        "order_id": "A1001",
        "product": "空气净化器",
        "store": "西湖店",
        "amount": 1299,
    }
    wang.refresh_from_db()
    li.refresh_from_db()
    assert (wang.order_count, wang.total_spend, wang.spend_12m) == (2, Decimal("1599.00"), 1599)
    assert wang.last_purchase_at == local("2026-11-02 00:00")
    assert (li.order_count, li.total_spend, li.spend_12m) == (1, Decimal("88.00"), 0)
    assert batch.status == Import.Status.DONE and batch.data is None
    assert ImportedEvent.objects.filter(batch=batch).count() == 3
    assert Entry.objects.filter(verb="imported", details__kind="events").exists()


def test_importing_the_same_file_twice_adds_nothing(tmp_path: Path) -> None:
    wang, _li = customers()
    path = orders(
        tmp_path,
        ["A1001", "M-1", "", "2026/9/8", "1299", "", ""],
        ["A1001", "M-1", "", "2026/9/8", "1299", "", ""],  # the same order twice in the file
        ["A1002", "M-1", "", "2026/9/9", "10", "", ""],
    )
    first, _batch = events.run(path, event_type="purchase")
    assert first.counts["added"] == 2 and first.counts["repeated"] == 1
    again, _second = events.run(path, event_type="purchase")
    assert again.counts == {"added": 0, "repeated": 3, "customers": 0, "refused": 0}
    assert Event.objects.count() == 2
    wang.refresh_from_db()
    assert wang.order_count == 2


# A row of an orders file: an order number (or none), a day, an amount; rows repeat at random.
order_rows = st.lists(
    st.tuples(
        st.one_of(st.none(), st.sampled_from(["A1", "A2", "A3", "B7"])),
        st.integers(1, 28),
        st.integers(1, 500),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=order_rows, split=st.integers(1, 3), numbered=st.booleans())
def test_invariant_2_an_event_is_imported_once_however_often_and_in_what_pieces(
    tmp_path: Path, rows: list[tuple[str | None, int, int]], split: int, numbered: bool
) -> None:
    Event.objects.all().delete()
    Customer.objects.all().delete()
    wang = Customer.objects.create(name="王小明", external_id="M-1")
    header = ["订单号"] * numbered + ["会员号", "下单时间", "金额"]
    lines = [
        ([number or ""] if numbered else []) + ["M-1", f"2026-11-{day:02d}", str(amount)]
        for number, day, amount in rows
    ]
    # The same rows as one file, then again in pieces that overlap it.
    whole = csv_file(tmp_path / "all.csv", [header, *lines])
    events.run(whole, event_type="purchase")
    first = Event.objects.count()
    for part in range(split):
        piece = csv_file(tmp_path / f"part{part}.csv", [header, *lines[part::split]])
        assert events.run(piece, event_type="purchase")[0].counts["added"] == 0
    assert Event.objects.count() == first
    keys = list(Event.objects.values_list("idempotency_key", flat=True))
    assert len(keys) == len(set(keys))
    # One event per order number; a row without one is the event of what it says.
    distinct = {(n, 0) if n and numbered else (d, a) for n, d, a in rows}
    assert first == len(distinct)
    wang.refresh_from_db()
    assert wang.order_count == first


def test_without_an_order_number_the_row_itself_is_the_key(tmp_path: Path) -> None:
    customers()
    path = csv_file(
        tmp_path / "到店.csv",
        [
            ["手机", "到店时间", "门店", "类型"],
            ["13800138000", "2026-10-01 10:00", "西湖店", "到店"],
        ],
        "gbk",
    )
    assert events.run(path)[0].counts["added"] == 1
    # The same rows again (another export of them, even with another column): nothing new.
    again = csv_file(
        tmp_path / "到店2.csv",
        [
            ["手机", "到店时间", "门店", "类型", "导出人"],
            ["13800138000", "2026-10-01 10:00", "西湖店", "到店", "小王"],
        ],
    )
    assert events.run(again)[0].counts == {
        "added": 0,
        "repeated": 1,
        "customers": 0,
        "refused": 0,
    }
    (visit,) = Event.objects.all()
    assert visit.type == "visit" and str(visit.idempotency_key).startswith("import:")


def test_a_key_the_api_stored_is_not_imported_again(tmp_path: Path) -> None:
    wang, _li = customers()
    Event.objects.create(
        customer=wang, type="purchase", occurred_at=NOW, idempotency_key="purchase:A1001"
    )
    path = orders(tmp_path, ["A1001", "M-1", "", "2026/9/8", "1299", "", ""])
    assert events.run(path, event_type="purchase")[0].counts["repeated"] == 1
    assert Event.objects.count() == 1


def test_the_type_from_a_column_by_the_words_people_use(tmp_path: Path) -> None:
    wang, _li = customers()
    path = xlsx(
        tmp_path / "记录.xlsx",
        [
            ["单号", "客户编号", "事件类型", "发生时间", "金额", "合同到期日"],
            ["1", "M-1", "订单", "2026-11-01", "100", ""],
            ["2", "M-1", "投诉", "2026-11-02", "", ""],
            ["3", "M-1", "已关闭", "2026-11-03", "", ""],
            ["4", "M-1", "合同到期", "2026-11-04", "", "2027/3/31"],
            ["5", "M-1", "Purchase", "2026-11-05", "50", ""],
            ["6", "M-1", "ticket_closed", "2026-11-06", "", ""],
        ],
    )
    with translation.override("zh-hans"):
        outcome, _batch = events.run(path)
    assert outcome.counts["added"] == 6, outcome.problems
    assert list(Event.objects.order_by("occurred_at").values_list("type", flat=True)) == [
        "purchase",
        "complaint",
        "ticket_closed",
        "contract_ends",
        "purchase",
        "ticket_closed",
    ]
    assert Event.objects.get(type="contract_ends").properties["ends_on"] == "2027-03-31"
    wang.refresh_from_db()
    assert (wang.order_count, wang.complaint_count) == (2, 1)


@pytest.mark.parametrize(("written", "key"), sorted(TYPE_NAMES.items()))
def test_every_type_name(written: str, key: str) -> None:
    assert event_rows.TypeNames().find(written) == key


@pytest.mark.parametrize(
    ("header", "key"),
    [(name, target.key) for target in EVENT_TARGETS for name in target.headers],
)
def test_every_header_name_suggests_its_field(header: str, key: str) -> None:
    assert suggest(["无关", header], EVENT_TARGETS) == {1: key}


def test_refused_rows_say_why_and_the_rest_is_imported(tmp_path: Path) -> None:
    wang, _li = customers()
    path = xlsx(
        tmp_path / "订单.xlsx",
        [
            ["订单号", "会员编号", "手机", "类型", "下单时间", "实付金额"],
            ["B1", "M-9", "", "订单", "2026-11-01", "10"],  # unknown customer
            ["B2", "", "13700137000", "订单", "2026-11-01", "10"],  # unknown phone
            ["B3", "M-1", "", "订单", "2026-11-01", "十元"],  # bad amount
            ["B4", "M-1", "", "订单", "2026-13-01", "10"],  # bad date
            ["B5", "M-1", "", "退货", "2026-11-01", "10"],  # unknown type
            ["B6", "M-1", "", "订单", "2026-11-01", ""],  # a purchase without an amount
            ["B7", "M-1", "", "订单", "2027-11-01", "10"],  # to come
            ["B8", "M-1", "", "订单", "2026-11-01", "-10"],  # negative
            ["B9", "M-1", "", "订单", "", "10"],  # no date
            ["B10", "M-1", "", "订单", "2026-11-01", "10"],  # fine
        ],
    )
    with translation.override("zh-hans"):
        outcome, batch = events.run(path)
    assert outcome.counts == {"added": 1, "repeated": 0, "customers": 0, "refused": 9}
    reasons = {p.row: (p.column, p.value, p.reason) for p in outcome.problems}
    assert reasons[2][:2] == ("B", "M-9") and "没有客户" in reasons[2][2]
    assert reasons[3][1] == "137****7000" and "13700137000" not in reasons[3][2]
    assert reasons[4][:2] == ("F", "十元") and "金额" in reasons[4][2]
    assert reasons[5][:2] == ("E", "2026-13-01")
    assert reasons[6][:2] == ("D", "退货") and "购买" in reasons[6][2]
    assert reasons[7][0] == "F" and "金额" in reasons[7][2]
    assert reasons[8][0] == "E" and "2027-11-01" in reasons[8][1]
    assert reasons[9][0] == "F" and "-10" in reasons[9][2]
    assert reasons[10][0] == "E"
    assert list(Event.objects.values_list("idempotency_key", flat=True)) == ["purchase:B10"]
    assert batch is not None and batch.problems.count() == 9
    wang.refresh_from_db()
    assert wang.order_count == 1


def test_missing_customers_are_added_when_asked_and_the_file_names_them(tmp_path: Path) -> None:
    path = xlsx(
        tmp_path / "订单.xlsx",
        [
            ["订单号", "收货人", "手机", "下单时间", "实付金额"],
            ["C1", "韩梅梅", "13700137000", "2026-11-01", "10"],
            ["C2", "", "13700137000", "2026-11-02", "20"],  # the same, added once
            ["C3", "", "13600136000", "2026-11-03", "30"],  # no name: refused
        ],
    )
    dry, none = events.run(path, event_type="purchase", create_customers=True, dry_run=True)
    assert none is None and not Customer.objects.exists() and not Event.objects.exists()
    assert dry.counts == {"added": 2, "repeated": 0, "customers": 1, "refused": 1}
    outcome, _batch = events.run(path, event_type="purchase", create_customers=True)
    assert outcome.counts == dry.counts
    (han,) = Customer.objects.all()
    assert (han.name, han.phone, han.order_count, han.total_spend) == (
        "韩梅梅",
        "+8613700137000",
        2,
        Decimal("30.00"),
    )
    assert not Customer.objects.filter(phone="+8613600136000").exists()


def test_a_new_customer_repeated_far_down_the_file_is_added_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_rows, "CHUNK", 2)  # rows 2 and 5 in different chunks
    path = xlsx(
        tmp_path / "订单.xlsx",
        [
            ["订单号", "姓名", "手机", "下单时间", "实付金额"],
            ["D1", "韩梅梅", "13700137000", "2026-11-01", "10"],
            ["D2", "张伟", "13600136000", "2026-11-01", "10"],
            ["D3", "李四", "13500135000", "2026-11-01", "10"],
            ["D4", "韩梅梅", "+86 137 0013 7000", "2026-11-02", "10"],
            ["D1", "韩梅梅", "13700137000", "2026-11-01", "10"],
        ],
    )
    dry, _none = events.run(path, event_type="purchase", create_customers=True, dry_run=True)
    outcome, _batch = events.run(path, event_type="purchase", create_customers=True)
    assert dry.counts == outcome.counts == {"added": 4, "repeated": 1, "customers": 3, "refused": 0}
    assert Customer.objects.count() == 3
    assert Customer.objects.get(phone="+8613700137000").order_count == 2


def purchase_rule(world: World) -> None:
    world.rule(
        {
            "key": "thanks",
            "name": "购买后致谢",
            "trigger": {"kind": "event", "event": "purchase", "delay": {"days": 1}},
            "steps": [{"id": "thanks", "send": {"channel": "sms", "template": "thanks"}}],
        }
    )


@pytest.mark.parametrize("fire", [False, True])
def test_rules_hear_of_the_events_only_when_the_import_says_so(tmp_path: Path, fire: bool) -> None:
    world = World(NOW)
    purchase_rule(world)
    customer = world.customer("王小明", phone="+8613800138000")
    yesterday = (NOW - timedelta(hours=20)).strftime("%Y-%m-%d %H:%M")
    path = xlsx(
        tmp_path / "订单.xlsx",
        [
            ["订单号", "手机", "下单时间", "实付金额"],
            ["E1", "13800138000", yesterday, "100"],
            ["E2", "13800138000", "2025-01-05 10:00", "100"],  # last year's: too old anyway
        ],
    )
    events.run(path, event_type="purchase", fire_rules=fire, now=world.now)
    enrolled = Enrollment.objects.filter(customer=customer)
    world.travel(timedelta(days=2))
    if fire:
        assert [e.event and e.event.idempotency_key for e in enrolled] == ["purchase:E1"]
        assert len(world.sent(customer)) == 1
    else:
        assert not enrolled.exists()
        assert not Message.objects.exists()
    customer.refresh_from_db()
    assert customer.order_count == 2


def test_undo_removes_the_events_and_the_figures_follow(tmp_path: Path) -> None:
    wang, li = customers()
    Event.objects.create(customer=li, type="visit", occurred_at=NOW)  # not the import's
    path = orders(
        tmp_path,
        ["A1001", "M-1", "", "2026/9/8", "1299", "", ""],
        ["A1002", "", "13900139000", "2026/9/9", "10", "", ""],
    )
    _outcome, batch = events.run(path, event_type="purchase")
    assert batch is not None
    wang.refresh_from_db()
    assert wang.order_count == 1
    result = event_undo.undo(batch)
    assert (result.removed, result.kept) == (2, [])
    assert list(Event.objects.values_list("type", flat=True)) == ["visit"]
    wang.refresh_from_db()
    li.refresh_from_db()
    assert (wang.order_count, wang.total_spend, wang.last_purchase_at) == (0, 0, None)
    assert (li.order_count, li.total_spend) == (0, 0)
    batch.refresh_from_db()
    assert batch.status == Import.Status.UNDONE
    assert event_undo.undo(batch).removed == 0  # once
    # Undone, the file can be imported again.
    assert events.run(path, event_type="purchase")[0].counts["added"] == 2


def test_undo_keeps_an_event_whose_follow_up_has_acted(tmp_path: Path) -> None:
    world = World(NOW)
    purchase_rule(world)
    acted = world.customer("王小明", phone="+8613800138000")
    quiet = world.customer("李雷", phone="+8613900139000")
    path = xlsx(
        tmp_path / "订单.xlsx",
        [
            ["订单号", "姓名", "手机", "下单时间", "实付金额"],
            ["F1", "王小明", "13800138000", "2026-12-06 11:00", "100"],
            ["F2", "李雷", "13900139000", "2026-12-07 09:00", "50"],
            ["F3", "新客户", "13600136000", "2026-12-07 09:30", "20"],
        ],
    )
    _outcome, batch = events.run(
        path, event_type="purchase", fire_rules=True, create_customers=True, now=world.now
    )
    assert batch is not None
    world.travel(local("2026-12-07 11:01"))
    assert len(world.sent(acted)) == 1 and not world.sent(quiet)  # F2's plan has not acted
    result = event_undo.undo(batch, now=world.now)
    assert result.kept == [2] and "消息" in result.reasons[2]
    assert (result.removed, result.restored) == (2, 1)  # F2, F3; the customer F3 added
    assert list(Event.objects.values_list("idempotency_key", flat=True)) == ["purchase:F1"]
    assert not Enrollment.objects.filter(customer=quiet).exists()  # it had done nothing
    world.travel(timedelta(days=2))
    assert not world.sent(quiet)
    assert not Customer.objects.filter(phone="+8613600136000").exists()


def test_a_failure_part_way_takes_back_every_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers()
    monkeypatch.setattr(event_rows, "CHUNK", 500)
    # Far enough down that the reader meets the formula after chunks were written (it reads
    # the sheet 64 KB at a time).
    path = orders(
        tmp_path,
        *[[f"G{i}", "M-1", "", "2026-11-01", "10", "", ""] for i in range(3000)],
        ["G9", "M-1", "", "2026-11-01", "=SUM(1,2)", "", ""],
    )
    with pytest.raises(FileRefused):
        events.run(path, event_type="purchase", create_customers=True)
    batch = Import.objects.get()
    assert batch.status == Import.Status.FAILED and "公式" in batch.error
    assert not Event.objects.exists()
    assert Customer.objects.get(external_id="M-1").order_count == 0


def test_columns_and_options_that_cannot_work_are_refused_before_anything(tmp_path: Path) -> None:
    customers()
    path = orders(tmp_path, ["A1001", "M-1", "", "2026/9/8", "1299", "", ""])
    everything = {"订单编号": "order_id", "会员编号": "external_id", "下单时间": "occurred_at"}
    for mapping, kind in (
        ({"订单编号": "order_id", "下单时间": "occurred_at"}, "purchase"),  # who is it?
        ({"会员编号": "external_id", "实付金额": "amount"}, "purchase"),  # when?
        ({"会员编号": "nickname"}, "purchase"),
        ({"没有": "phone"}, "purchase"),
        (everything, "no_such_type"),
        (everything, ""),  # no type and no type column
    ):
        with pytest.raises(MappingRefused):
            events.run(path, mapping=mapping, event_type=kind)
    assert not Import.objects.exists() and not Event.objects.exists()


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "空.csv"
    empty.write_bytes(b"")
    with pytest.raises(FileRefused):
        events.run(empty, event_type="purchase")
    assert not Import.objects.exists()


def test_the_organisations_zone_reads_a_time_without_one(tmp_path: Path) -> None:
    customers()
    path = orders(tmp_path, ["A1", "M-1", "", "2026-12-01 23:30", "1", "", ""])
    events.run(path, event_type="purchase")
    event = Event.objects.get()
    assert event.occurred_at == datetime(2026, 12, 1, 15, 30, tzinfo=UTC)


def test_properties_keep_the_limits_of_an_event(tmp_path: Path) -> None:
    customers()
    extra = [f"属性{i}" for i in range(101)]
    path = xlsx(
        tmp_path / "宽表.xlsx",
        [["会员号", "时间", *extra], ["M-1", "2026-11-01", *["x"] * 101]],
    )
    mapping = {"会员号": "external_id", "时间": "occurred_at"}
    mapping |= {name: f"properties.{name}" for name in extra}
    with translation.override("zh-hans"):
        outcome, _batch = events.run(path, mapping=mapping, event_type="visit")
    assert outcome.counts["refused"] == 1 and not Event.objects.exists()
    assert "100" in outcome.problems[0].reason


def test_an_import_whose_worker_died_is_taken_back(tmp_path: Path) -> None:
    wang, _li = customers()
    path = orders(tmp_path, ["A1001", "M-1", "", "2026/9/8", "1299", "", ""])
    _outcome, batch = events.run(path, event_type="purchase")
    assert batch is not None
    # As a worker that died part-way leaves it: running, silent for long.
    Import.objects.filter(pk=batch.pk).update(
        status=Import.Status.RUNNING, beat_at=NOW - timedelta(hours=1)
    )
    assert recover_stalled(NOW) == 1
    batch.refresh_from_db()
    assert batch.status == Import.Status.FAILED
    assert not Event.objects.exists()
    wang.refresh_from_db()
    assert wang.order_count == 0


def test_an_organisations_own_type_by_its_key_or_name(tmp_path: Path) -> None:
    customers()
    CustomEventType.objects.create(key="trial_started", name="试用开通")
    CustomEventType.objects.create(key="ticket_opened", name="工单")  # their word wins
    path = xlsx(
        tmp_path / "记录.xlsx",
        [
            ["会员号", "类型", "时间"],
            ["M-1", "试用开通", "2026-11-01"],
            ["M-1", "trial_started", "2026-11-02"],
            ["M-1", "工单", "2026-11-03"],
        ],
    )
    events.run(path)
    assert list(Event.objects.order_by("occurred_at").values_list("type", flat=True)) == [
        "trial_started",
        "trial_started",
        "ticket_opened",
    ]
