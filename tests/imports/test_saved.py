"""Saved column choices: kept at a check under a name, given to the next file whose headers
hold them (whatever the columns' order), chosen by hand, deleted; only for those who import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from huifang.imports.models import Import, SavedMapping

from .files import xlsx

pytestmark = pytest.mark.django_db

# 客户 is no header Huifang knows: chosen by hand, then remembered.
FIRST = [["会员编号", "客户", "手机号码", "积分"], ["M-1", "王小明", "13800138000", "120"]]
# The same export a week later, its columns in another order, one more at the end.
LATER = [
    ["手机号码", "客户", "会员编号", "积分", "备注"],
    ["13900139000", "李雷", "M-2", "80", "新客"],
]


def upload(client: Client, tmp_path: Path, rows: list[list[Any]], name: str) -> Any:
    path = xlsx(tmp_path / name, rows)
    return client.post(
        reverse("imports:list"), {"file": SimpleUploadedFile(name, path.read_bytes())}
    )


def check_and_save(client: Client, batch: Import, name: str) -> Any:
    return client.post(
        reverse("imports:detail", args=[batch.pk]),
        {
            "action": "check",
            "column_A": "external_id",
            "column_B": "name",
            "column_C": "phone",
            "column_D": "attributes.积分",
            "policy": "overwrite",
            "match_on": ["phone"],
            "save_as": name,
        },
    )


def test_choices_saved_at_a_check_are_given_to_the_next_file_of_that_shape(
    tmp_path: Path, alice_client: Client
) -> None:
    upload(alice_client, tmp_path, FIRST, "一.xlsx")
    first = Import.objects.get()
    assert first.mapping.get("B") is None  # 客户 is not suggested
    check_and_save(alice_client, first, "会员系统每周导出")

    saved = SavedMapping.objects.get()
    assert saved.columns == {
        "会员编号": "external_id",
        "客户": "name",
        "手机号码": "phone",
        "积分": "attributes.积分",
    }
    assert saved.options["policy"] == "overwrite" and saved.options["match_on"] == ["phone"]

    answer = upload(alice_client, tmp_path, LATER, "二.xlsx")
    later = Import.objects.exclude(pk=first.pk).get()
    # By header, not by letter: the columns moved.
    assert later.mapping == {"A": "phone", "B": "name", "C": "external_id", "D": "attributes.积分"}
    assert later.policy == "overwrite" and later.match_on == ["phone"]
    page = alice_client.get(answer["Location"]).content.decode()
    assert 'id="saved-in-use"' in page and "会员系统每周导出" in page


def test_a_file_without_one_of_the_saved_headers_keeps_the_suggestions(
    tmp_path: Path, alice_client: Client
) -> None:
    upload(alice_client, tmp_path, FIRST, "一.xlsx")
    check_and_save(alice_client, Import.objects.get(), "每周导出")
    upload(alice_client, tmp_path, [["姓名", "手机号码"], ["韩梅梅", "13700137000"]], "二.xlsx")
    later = Import.objects.order_by("-pk").first()
    assert later is not None
    assert later.mapping == {"A": "name", "B": "phone"}
    assert "saved" not in later.summary
    page = alice_client.get(reverse("imports:detail", args=[later.pk])).content.decode()
    assert 'id="apply-saved"' not in page  # nothing fits: nothing offered


def test_choosing_saved_choices_by_hand_and_refusing_one_that_does_not_fit(
    tmp_path: Path, alice_client: Client
) -> None:
    upload(alice_client, tmp_path, FIRST, "一.xlsx")
    batch = Import.objects.get()
    check_and_save(alice_client, batch, "每周导出")
    other = SavedMapping.objects.create(
        kind="customers",
        name="别的系统",
        columns={"卡号": "external_id"},
        created_at=batch.created_at,
    )
    Import.objects.filter(pk=batch.pk).update(mapping={}, status=Import.Status.DRAFT)

    detail = reverse("imports:detail", args=[batch.pk])
    refused = alice_client.post(detail, {"action": "apply", "saved": str(other.pk)}, follow=True)
    assert "不适用" in refused.content.decode()
    batch.refresh_from_db()
    assert batch.mapping == {}

    alice_client.post(
        detail, {"action": "apply", "saved": str(SavedMapping.objects.get(name="每周导出").pk)}
    )
    batch.refresh_from_db()
    assert batch.mapping["B"] == "name" and batch.summary["saved"] == "每周导出"


def test_deleting_saved_choices_and_who_may(
    tmp_path: Path, alice_client: Client, bob_client: Client
) -> None:
    upload(alice_client, tmp_path, FIRST, "一.xlsx")
    check_and_save(alice_client, Import.objects.get(), "每周导出")
    saved = SavedMapping.objects.get()
    listed = alice_client.get(reverse("imports:list")).content.decode()
    assert f'data-saved="{saved.pk}"' in listed

    forget = {"action": "forget", "saved": str(saved.pk)}
    assert bob_client.post(reverse("imports:list"), forget).status_code == 403  # an agent
    assert SavedMapping.objects.exists()
    alice_client.post(reverse("imports:list"), forget)
    assert not SavedMapping.objects.exists()
