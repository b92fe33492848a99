"""Importing events on the page and on the command line: the kind chosen at upload, the event
type and whether follow-ups start chosen with the columns, the check, the import, the refused
rows, undo; ``huifang import events`` with --dry-run and --json."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from huifang.customers.models import Customer, Event
from huifang.imports.models import Import
from huifang.imports.tasks import check_import, run_import

from .files import xlsx

pytestmark = pytest.mark.django_db

ROWS = [
    ["订单导出"],
    ["订单号", "会员号", "客户", "手机号码", "付款时间", "实付金额", "商品"],
    ["A1", "M-1", "王小明", "13800138000", "2026/9/8 10:00", "¥1,299.00", "净化器"],
    ["A2", "M-2", "李雷", "13900139000", "2026/9/9", "十元", "滤网"],
    ["A3", "", "韩梅梅", "13700137000", "2026/9/10", "99", "滤网"],
]


def uploaded(tmp_path: Path, rows: list[list[Any]] = ROWS) -> Any:
    path = xlsx(tmp_path / "file.xlsx", rows)
    return SimpleUploadedFile("订单.xlsx", path.read_bytes())


def test_upload_choose_the_type_check_import_undo(tmp_path: Path, alice_client: Client) -> None:
    wang = Customer.objects.create(name="王小明", external_id="M-1")
    page = alice_client.get(reverse("imports:list")).content.decode()
    assert 'name="kind"' in page and 'value="events"' in page
    response = alice_client.post(
        reverse("imports:list"), {"kind": "events", "file": uploaded(tmp_path)}
    )
    batch = Import.objects.get()
    assert response["Location"] == reverse("imports:detail", args=[batch.pk])
    assert (batch.kind, batch.header_row, batch.fire_rules) == ("events", 2, False)
    assert batch.mapping == {
        "A": "order_id",
        "B": "external_id",
        "C": "name",
        "D": "phone",
        "E": "occurred_at",
        "F": "amount",
        "G": "product",
    }
    page = alice_client.get(reverse("imports:detail", args=[batch.pk])).content.decode()
    assert 'id="event-options"' in page and 'name="fire_rules"' in page
    assert "13800138000" not in page  # examples masked

    form = {
        "action": "check",
        **{f"column_{letter}": key for letter, key in batch.mapping.items()},
        "event_type": "purchase",
        "match_on": ["external_id", "phone"],
        "create_customers": "on",
    }
    alice_client.post(reverse("imports:detail", args=[batch.pk]), form)
    batch.refresh_from_db()
    assert (batch.status, batch.event_type, batch.create_customers) == (
        Import.Status.CHECKING,
        "purchase",
        True,
    )
    check_import.call_local(batch.pk)
    batch.refresh_from_db()
    assert batch.status == Import.Status.CHECKED
    assert batch.counts == {"added": 2, "repeated": 0, "customers": 1, "refused": 1}
    page = alice_client.get(reverse("imports:detail", args=[batch.pk])).content.decode()
    assert 'data-count="customers"' in page and "import-preview" in page
    assert "+8613800138000" not in page and "净化器" in page
    assert not Event.objects.exists()  # a check writes nothing

    alice_client.post(reverse("imports:detail", args=[batch.pk]), {"action": "import"})
    run_import.call_local(batch.pk)
    batch.refresh_from_db()
    assert batch.status == Import.Status.DONE
    wang.refresh_from_db()
    assert wang.order_count == 1
    assert Customer.objects.get(name="韩梅梅").order_count == 1
    report: Any = alice_client.get(reverse("imports:problems", args=[batch.pk, "csv"]))
    assert "十元" in b"".join(report.streaming_content).decode("utf-8-sig")

    response = alice_client.post(reverse("imports:undo", args=[batch.pk]), {"confirm": "1"})
    assert not Event.objects.exists()
    assert list(Customer.objects.values_list("name", flat=True)) == ["王小明"]
    wang.refresh_from_db()
    assert wang.order_count == 0
    page = alice_client.get(response["Location"]).content.decode()
    assert "删除了 2 个事件" in page


def test_events_columns_that_cannot_work_are_refused(tmp_path: Path, alice_client: Client) -> None:
    alice_client.post(reverse("imports:list"), {"kind": "events", "file": uploaded(tmp_path)})
    batch = Import.objects.get()
    url = reverse("imports:detail", args=[batch.pk])
    for form in (
        {"column_E": "occurred_at", "event_type": "purchase"},  # whose?
        {"column_B": "external_id", "event_type": "purchase"},  # when?
        {"column_B": "external_id", "column_E": "occurred_at"},  # what?
    ):
        response = alice_client.post(url, {"action": "check", "match_on": ["phone"], **form})
        assert response.status_code == 400
        assert 'id="columns-error"' in response.content.decode()
    batch.refresh_from_db()
    assert batch.status == Import.Status.DRAFT


def test_the_command_line_dry_run_and_json(tmp_path: Path) -> None:
    Customer.objects.create(name="王小明", external_id="M-1")
    path = xlsx(tmp_path / "订单.xlsx", ROWS)
    out = StringIO()
    call_command("import", "events", str(path), "--type", "purchase", "--dry-run", stdout=out)
    assert "1 events added, 0 already there, 0 customers added, 2 refused (would be)" in (
        out.getvalue()
    )
    assert not Import.objects.exists() and not Event.objects.exists()

    mapping = tmp_path / "columns.yaml"
    mapping.write_text(
        "columns: {订单号: order_id, 会员号: external_id, 客户: name, 手机号码: phone,"
        " 付款时间: occurred_at, 实付金额: amount, 商品: ''}\n"
        "type: purchase\ncreate_customers: true\n",
        encoding="utf-8",
    )
    out = StringIO()
    call_command("import", "events", str(path), "--mapping", str(mapping), "--json", stdout=out)
    document = json.loads(out.getvalue())
    assert document["counts"] == {"added": 2, "repeated": 0, "customers": 1, "refused": 1}
    assert document["dry_run"] is False and document["fire_rules"] is False
    assert document["columns"]["付款时间"] == "occurred_at" and "商品" not in document["columns"]
    assert [p["row"] for p in document["problems"]] == [4]
    assert document["preview"][0]["who"]["phone"] == "138****8000"
    assert Event.objects.count() == 2

    again = StringIO()
    call_command("import", "events", str(path), "--mapping", str(mapping), "--json", stdout=again)
    assert json.loads(again.getvalue())["counts"]["repeated"] == 2  # nothing twice

    out = StringIO()
    call_command("import", "undo", str(document["import"]), stdout=out)
    assert "2 events removed, 1 customers it added removed" in out.getvalue()
    assert not Event.objects.exists()

    with pytest.raises(CommandError, match="事件类型"):
        call_command("import", "events", str(path), stdout=StringIO())
