"""The customer list as a file: the list's filters, the customers the user may see, masked
unless asked for in full by someone who may reveal, formula cells neutralised, audited."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from huifang.audit.models import Entry
from huifang.customers.models import Customer, Tag

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(db: None) -> None:
    wang = Customer.objects.create(
        name="王小明",
        phone="+8613800138000",
        email="wang@example.com",
        tier="vip",
        city="杭州市",
        total_spend=Decimal("1299.50"),
        order_count=3,
        attributes={"store": "西湖店"},
    )
    wang.tags.add(Tag.objects.create(name="老客户"))
    Customer.objects.create(name='=HYPERLINK("http://evil")', phone="+8613900139000", city="上海市")


def rows_of(response: Any) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_masked_by_default_with_the_lists_filters(shop: None, alice_client: Client) -> None:
    response = alice_client.get(reverse("exports:customers", args=["csv"]), {"q": "王"})
    rows = rows_of(response)
    assert rows[0][:3] == ["客户编号", "客户姓名", "电话"]
    assert len(rows) == 2
    wang = dict(zip(rows[0], rows[1], strict=True))
    assert wang["电话"] != "+8613800138000" and "8000" in wang["电话"]
    assert wang["邮箱"].startswith("w***@")
    assert wang["客户分层"] == "VIP" and wang["标签"] == "老客户" and wang["累计消费"] == "1299.5"
    entry = Entry.objects.get(action=Entry.Action.EXPORT)
    assert entry.details["rows"] == 1 and entry.details["revealed"] is False


def test_in_full_for_those_who_may_reveal_and_audited(shop: None, carol_client: Client) -> None:
    response: Any = carol_client.get(reverse("exports:customers", args=["xlsx"]), {"reveal": "1"})
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    values = [[c.value for c in row] for row in book.active.iter_rows()]
    # In full (an E.164 phone starts with "+": written with a leading ' like any formula start).
    assert "'+8613800138000" in values[1] + values[2]
    # A cell a spreadsheet would run as a formula is written as text.
    assert any(v == '\'=HYPERLINK("http://evil")' for row in values for v in row)
    assert Entry.objects.get(action=Entry.Action.EXPORT).details["revealed"] is True


def test_who_may_export(shop: None, bob_client: Client, client: Client, alice: Any) -> None:
    assert bob_client.get(reverse("exports:customers", args=["csv"])).status_code == 403
    from tests.conftest import make_staff

    analyst = make_staff("ann", "analyst")
    client.force_login(analyst)
    assert client.get(reverse("exports:customers", args=["csv"])).status_code == 200
    assert (
        client.get(reverse("exports:customers", args=["csv"]), {"reveal": "1"}).status_code == 403
    )
    assert client.get(reverse("exports:customers", args=["pdf"])).status_code == 404


def test_the_command_writes_a_private_file(shop: None, tmp_path: Path) -> None:
    out = tmp_path / "customers.csv"
    said = StringIO()
    call_command("export", "customers", "--format", "csv", "--out", str(out), stdout=said)
    assert "2 customers" in said.getvalue()
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    text = out.read_text("utf-8-sig")
    assert "+8613800138000" not in text and "王小明" in text
    call_command("export", "customers", "--out", str(tmp_path / "c.xlsx"), "--reveal", stdout=said)
    assert Entry.objects.filter(action=Entry.Action.EXPORT).count() == 2
