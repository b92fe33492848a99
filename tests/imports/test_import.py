"""Importing customers from real files: new rows, the three policies for customers already
there, duplicates inside the file, refused rows in the report, and undo; a refused file or
mapping writes nothing."""

from __future__ import annotations

import json
from datetime import date
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from huifang.audit.models import Entry
from huifang.customers.models import Customer, Event
from huifang.imports.models import Import
from huifang.imports.planning import MappingRefused, plan_file
from huifang.imports.services import run, undo

from .files import csv_file, xlsx

pytestmark = pytest.mark.django_db

HEADER = ["会员编号", "姓名", "手机号码", "邮箱", "生日", "会员等级", "标签", "门店"]


def sheet(tmp_path: Path, *rows: list[Any], name: str = "会员.xlsx") -> Path:
    return xlsx(tmp_path / name, [["会员资料导出 2026-11-30"], HEADER, *rows])


def test_new_customers_as_they_will_be_stored(tmp_path: Path) -> None:
    path = sheet(
        tmp_path,
        [
            "M-1",
            "王小明",
            "138 0013 8000",
            "Wang@Example.com",
            "1990/5/1",
            "金卡",
            "老客户，复购",
            "西湖店",
        ],
        ["M-2", "李雷", 13900139000, "", "1988年7月9日", "普通会员", "", ""],
    )
    plan = plan_file(path)
    assert plan.header_row == 2
    assert plan.counts == {"created": 2, "updated": 0, "merged": 0, "unchanged": 0, "refused": 0}
    batch = run(plan)
    wang = Customer.objects.get(external_id="M-1")
    assert (wang.name, wang.phone, wang.email) == ("王小明", "+8613800138000", "wang@example.com")
    assert (wang.birthday, wang.tier, wang.attributes) == (
        date(1990, 5, 1),
        "vip",
        {"store": "西湖店"},
    )
    assert sorted(wang.tags.values_list("name", flat=True)) == ["复购", "老客户"]
    assert Customer.objects.get(external_id="M-2").phone == "+8613900139000"
    assert batch.counts["created"] == 2
    assert Entry.objects.filter(action=Entry.Action.CUSTOMER, verb="imported").count() == 1


@pytest.mark.parametrize(
    ("policy", "city", "email", "how"),
    [
        ("skip", "", "old@example.com", "unchanged"),
        ("fill_empty", "杭州市", "old@example.com", "merged"),
        ("overwrite", "杭州市", "new@example.com", "merged"),
    ],
)
def test_a_customer_found_by_phone_follows_the_policy(
    tmp_path: Path, policy: str, city: str, email: str, how: str
) -> None:
    known = Customer.objects.create(name="王小明", phone="+8613800138000", email="old@example.com")
    path = csv_file(
        tmp_path / "客户.csv",
        [["姓名", "手机", "邮箱", "城市"], ["王晓明", "13800138000", "new@example.com", "杭州市"]],
        "gbk",
    )
    plan = plan_file(path, policy=policy)
    assert [p.how for p in plan.rows] == [how]
    run(plan)
    known.refresh_from_db()
    assert (known.city, known.email) == (city, email)
    assert known.name == ("王晓明" if policy == "overwrite" else "王小明")
    assert Customer.objects.count() == 1


def test_the_same_person_twice_in_the_file_is_one_customer(tmp_path: Path) -> None:
    path = sheet(
        tmp_path,
        ["", "王小明", "13800138000", "", "", "", "会员", ""],
        ["", "王小明", "+86 138 0013 8000", "wang@example.com", "", "", "复购", ""],
    )
    plan = plan_file(path)
    assert plan.counts["created"] == 1 and plan.counts["merged"] == 1
    run(plan)
    (wang,) = Customer.objects.all()
    assert wang.email == "wang@example.com"
    assert sorted(wang.tags.values_list("name", flat=True)) == ["会员", "复购"]


def test_refused_rows_are_reported_and_the_rest_imported(tmp_path: Path) -> None:
    path = sheet(
        tmp_path,
        ["M-1", "王小明", "12345", "", "", "", "", ""],
        ["M-2", "李雷", "", "", "2026/2/30", "黑卡", "", ""],
        ["M-3", "", "", "", "", "", "", ""],
        ["M-4", "韩梅梅", "13700137000", "", "", "", "", ""],
    )
    with translation.override("zh-hans"):
        plan = plan_file(path)
    assert plan.counts["created"] == 1 and plan.counts["refused"] == 3
    cells = {(p.row, p.column, p.header) for p in plan.problems}
    assert (3, "C", "手机号码") in cells
    assert (4, "E", "生日") in cells and (4, "F", "会员等级") in cells
    assert any(p.row == 5 and "姓名" in p.reason for p in plan.problems)
    batch = run(plan)
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["M-4"]
    assert batch.problems.count() == 4  # two bad cells in row 4


def test_a_mapping_by_hand_and_a_bad_mapping(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "x.xlsx", [["客户", "联系", "积分"], ["王小明", "13800138000", "120"]])
    plan = plan_file(path, mapping={"客户": "name", "B": "phone", "积分": "attributes.points"})
    run(plan)
    wang = Customer.objects.get()
    assert (wang.phone, wang.attributes) == ("+8613800138000", {"points": "120"})
    for bad in ({"电话": "phone"}, {"客户": "password"}, {"客户": "name", "联系": "name"}):
        with pytest.raises(MappingRefused):
            plan_file(path, mapping=bad)


def test_undo_takes_the_import_back(tmp_path: Path) -> None:
    known = Customer.objects.create(name="王小明", phone="+8613800138000")
    path = sheet(
        tmp_path,
        ["", "王小明", "13800138000", "wang@example.com", "", "", "导入", ""],
        ["M-2", "李雷", "13900139000", "", "", "", "", ""],
        ["M-3", "韩梅梅", "13700137000", "", "", "", "", ""],
    )
    batch = run(plan_file(path))
    # Something happened to one new customer since: undo leaves her.
    han = Customer.objects.get(external_id="M-3")
    Event.objects.create(customer=han, type="purchase", occurred_at=han.created_at)

    result = undo(batch)

    assert (result.removed, result.restored, len(result.kept)) == (1, 1, 1)
    known.refresh_from_db()
    assert known.email == "" and not known.tags.exists()
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["王小明", "韩梅梅"]
    batch.refresh_from_db()
    assert batch.status == Import.Status.UNDONE
    assert undo(batch).removed == 0  # twice is once


def test_the_command_dry_run_writes_nothing_and_the_import_can_be_undone(tmp_path: Path) -> None:
    path = sheet(tmp_path, ["M-1", "王小明", "13800138000", "", "", "", "", ""])
    out = StringIO()
    call_command("import", "customers", str(path), "--dry-run", "--json", stdout=out)
    document = json.loads(out.getvalue())
    assert document["dry_run"] and document["counts"]["created"] == 1
    assert document["preview"][0]["values"]["phone"] == "+8613800138000"
    assert not Customer.objects.exists()

    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns: {姓名: name, 手机号码: phone}\npolicy: overwrite\n", "utf-8")
    out = StringIO()
    call_command("import", "customers", str(path), "--mapping", str(mapping), stdout=out)
    assert "1 created" in out.getvalue()
    assert Customer.objects.get().external_id is None  # the mapping left 会员编号 out
    batch = Import.objects.get()
    call_command("import", "undo", str(batch.pk), stdout=StringIO())
    assert not Customer.objects.exists()
    with pytest.raises(CommandError):
        call_command("import", "undo", str(batch.pk), stdout=StringIO())


def test_a_refused_file_writes_nothing(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "f.xlsx", [["姓名", "金额"], ["王小明", "=1+1"]])
    with pytest.raises(CommandError, match="公式"):
        call_command("import", "customers", str(path), stdout=StringIO())
    assert not Customer.objects.exists() and not Import.objects.exists()


def test_an_import_whose_worker_died_is_taken_back(tmp_path: Path) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from huifang.imports.services import recover_stalled

    known = Customer.objects.create(name="王小明", phone="+8613800138000")
    path = sheet(
        tmp_path,
        ["", "王小明", "13800138000", "wang@example.com", "", "", "", ""],
        ["M-2", "李雷", "13900139000", "", "", "", "", ""],
    )
    batch = run(plan_file(path))
    # As if the worker had died after writing these chunks, a quarter of an hour ago.
    long_ago = timezone.now() - timedelta(minutes=16)
    Import.objects.filter(pk=batch.pk).update(status=Import.Status.RUNNING, beat_at=long_ago)
    stuck = Import.objects.create(
        kind="customers",
        file_name="x.csv",
        status=Import.Status.CHECKING,
        policy="skip",
        created_at=long_ago,
        beat_at=long_ago,
    )
    fresh = Import.objects.create(
        kind="customers",
        file_name="y.csv",
        status=Import.Status.CHECKING,
        policy="skip",
        created_at=timezone.now(),
        beat_at=timezone.now(),
    )

    assert recover_stalled() == 2

    batch.refresh_from_db()
    assert batch.status == Import.Status.FAILED and batch.error
    assert list(Customer.objects.all()) == [known]
    known.refresh_from_db()
    assert known.email == ""
    stuck.refresh_from_db()
    fresh.refresh_from_db()
    assert (stuck.status, fresh.status) == (Import.Status.DRAFT, Import.Status.CHECKING)


def test_the_stored_report_masks_personal_values_whoever_imported(tmp_path: Path) -> None:
    path = sheet(tmp_path, ["M-1", "王小明", "1380013800", "", "", "", "", ""])
    batch = run(plan_file(path))
    (problem,) = batch.problems.all()
    assert "1380013800" not in problem.value + problem.reason
