"""The import page, as an administrator uses it: upload, choose the columns, check, import
with the worker, download the refused rows, undo. Personal details stay masked on the way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from huifang.audit.models import Entry
from huifang.customers.models import Customer
from huifang.imports.models import Import
from huifang.imports.tasks import check_import, run_import

from .files import xlsx

pytestmark = pytest.mark.django_db

ROWS = [
    ["会员导出"],
    ["会员编号", "客户", "手机号码", "生日", "积分"],
    ["M-1", "王小明", "13800138000", "1990/5/1", "120"],
    ["M-2", "李雷", "12345", "", "80"],
    ["M-3", "韩梅梅", "13700137000", "1991年3月2日", ""],
]


def uploaded(tmp_path: Path, rows: list[list[Any]] = ROWS, name: str = "会员.xlsx") -> Any:
    path = xlsx(tmp_path / "file.xlsx", rows)
    return SimpleUploadedFile(name, path.read_bytes())


def test_upload_choose_columns_check_import_report_undo(
    tmp_path: Path, alice_client: Client
) -> None:
    listed = alice_client.get(reverse("customers:list"))
    assert 'id="import-customers"' in listed.content.decode()

    response = alice_client.post(reverse("imports:list"), {"file": uploaded(tmp_path)})
    batch = Import.objects.get()
    assert response["Location"] == reverse("imports:detail", args=[batch.pk])
    assert batch.status == Import.Status.DRAFT and batch.header_row == 2
    # 客户 is not a header Huifang knows: suggested columns leave it out.
    assert batch.mapping == {"A": "external_id", "C": "phone", "D": "birthday"}
    page = alice_client.get(reverse("imports:detail", args=[batch.pk])).content.decode()
    assert 'data-column="B"' in page and "王小明" in page
    assert "13800138000" not in page  # examples of a phone column are masked… see below

    # The name column by hand, and 积分 as a custom attribute.
    form = {
        "action": "check",
        "column_A": "external_id",
        "column_B": "name",
        "column_C": "phone",
        "column_D": "birthday",
        "column_E": "attributes.积分",
        "policy": "fill_empty",
        "match_on": ["external_id", "phone"],
    }
    alice_client.post(reverse("imports:detail", args=[batch.pk]), form)
    batch.refresh_from_db()
    assert batch.status == Import.Status.CHECKING
    progress = alice_client.get(reverse("imports:progress", args=[batch.pk]))
    assert 'role="progressbar"' in progress.content.decode()

    check_import.call_local(batch.pk)  # the worker
    assert alice_client.get(reverse("imports:progress", args=[batch.pk]))["HX-Refresh"] == "true"
    batch.refresh_from_db()
    assert batch.status == Import.Status.CHECKED
    assert batch.counts == {"created": 2, "updated": 0, "merged": 0, "unchanged": 0, "refused": 1}
    page = alice_client.get(reverse("imports:detail", args=[batch.pk])).content.decode()
    assert 'id="import-preview"' in page and "+8613800138000" not in page
    assert not Customer.objects.exists()  # a check writes nothing

    alice_client.post(reverse("imports:detail", args=[batch.pk]), {"action": "import"})
    batch.refresh_from_db()
    assert batch.status == Import.Status.RUNNING
    run_import.call_local(batch.pk)
    batch.refresh_from_db()
    assert batch.status == Import.Status.DONE and batch.data is None
    wang = Customer.objects.get(external_id="M-1")
    assert (wang.name, wang.phone, wang.attributes) == ("王小明", "+8613800138000", {"积分": "120"})

    report: Any = alice_client.get(reverse("imports:problems", args=[batch.pk, "csv"]))
    text = b"".join(report.streaming_content).decode("utf-8-sig")
    assert "手机号码" in text and "12345" not in text  # the bad phone is masked too
    assert Entry.objects.filter(action=Entry.Action.EXPORT, verb="import problems").exists()
    assert alice_client.get(reverse("imports:problems", args=[batch.pk, "xlsx"])).status_code == 200

    alice_client.post(reverse("imports:undo", args=[batch.pk]))  # not confirmed
    assert Customer.objects.count() == 2
    alice_client.post(reverse("imports:undo", args=[batch.pk]), {"confirm": "1"})
    assert not Customer.objects.exists()
    batch.refresh_from_db()
    assert batch.status == Import.Status.UNDONE


def test_a_file_that_cannot_be_imported_is_refused_and_not_kept(
    tmp_path: Path, alice_client: Client
) -> None:
    locked = SimpleUploadedFile("照片.xlsx", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    response = alice_client.post(reverse("imports:list"), {"file": locked})
    assert response.status_code == 400
    assert "不是 Excel 工作簿" in response.content.decode()
    assert not Import.objects.exists()


def test_columns_that_fill_nothing_useful_are_refused(tmp_path: Path, alice_client: Client) -> None:
    alice_client.post(reverse("imports:list"), {"file": uploaded(tmp_path)})
    batch = Import.objects.get()
    response = alice_client.post(
        reverse("imports:detail", args=[batch.pk]),
        {"action": "check", "column_D": "birthday", "policy": "skip", "match_on": ["phone"]},
    )
    assert response.status_code == 400
    assert 'id="columns-error"' in response.content.decode()
    twice = alice_client.post(
        reverse("imports:detail", args=[batch.pk]),
        {
            "action": "check",
            "column_B": "name",
            "column_E": "name",
            "policy": "skip",
            "match_on": ["phone"],
        },
    )
    assert twice.status_code == 400
    batch.refresh_from_db()
    assert batch.status == Import.Status.DRAFT


def test_only_administrators_import(
    tmp_path: Path, carol_client: Client, bob_client: Client
) -> None:
    for client in (carol_client, bob_client):
        assert client.get(reverse("imports:list")).status_code == 403
        assert client.post(reverse("imports:list"), {"file": uploaded(tmp_path)}).status_code == 403
    assert not Import.objects.exists()
    assert (
        'id="import-customers"' not in carol_client.get(reverse("customers:list")).content.decode()
    )
