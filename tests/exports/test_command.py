"""``huifang export customers|tasks|messages|answers|audit``: the file as the pages write it
(the same filters, masked unless --reveal), readable by its owner alone, audited; a clear error,
and no file, for what cannot be done."""

from __future__ import annotations

import csv
from io import StringIO
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from huifang.audit.models import Entry
from huifang.audit.services import record
from huifang.customers.models import Customer
from huifang.messaging.models import Message
from huifang.surveys.document import load_survey_text
from huifang.surveys.models import Response
from huifang.surveys.services import save_survey
from huifang.tasks.models import Task

pytestmark = pytest.mark.django_db

PHONE = "+8613800138000"
SURVEY = """
key: after-visit
name: 到店回访
questions:
  - {id: csat, type: csat, title: 满意吗？}
  - {id: note, type: long_text, title: 还想说什么？}
"""


@pytest.fixture
def shop(db: None) -> Customer:
    wang = Customer.objects.create(name="王小明", phone=PHONE)
    now = timezone.now()
    Task.objects.create(customer=wang, title="到店回访", status=Task.Status.DONE, closed_at=now)
    Task.objects.create(customer=wang, title="=2*3")
    Message.objects.create(
        customer=wang, template="t", planned_at=now, created_at=now, body=f"号码 {PHONE}"
    )
    version = save_survey(load_survey_text(SURVEY)).version
    Response.objects.create(
        version=version,
        customer=wang,
        channel="sms",
        submitted_at=now,
        answers={"csat": 5, "note": "-很好"},
    )
    record(Entry.Action.RULE, "saved", object_repr="回访规则")
    return wang


def export(*args: str) -> str:
    said = StringIO()
    call_command("export", *args, stdout=said)
    return said.getvalue()


def read(path: Path) -> list[list[Any]]:
    if path.suffix == ".csv":
        return list(csv.reader(StringIO(path.read_text("utf-8-sig"))))
    book = openpyxl.load_workbook(path)
    return [[c.value for c in row] for row in book.active.iter_rows()]


@pytest.mark.parametrize(
    ("what", "rows", "extra"),
    [
        ("customers", 1, []),
        ("tasks", 2, []),
        ("messages", 1, []),
        ("answers", 1, ["--survey", "after-visit"]),
        ("audit", 1, ["--filter", "action=rule"]),
    ],
)
@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_each_table_as_a_private_masked_audited_file(
    shop: Customer, tmp_path: Path, what: str, rows: int, extra: list[str], kind: str
) -> None:
    out = tmp_path / f"{what}.{kind}"
    assert f"{rows} {what} written to {out}" in export(what, "--out", str(out), *extra)
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    lines = read(out)
    assert len(lines) == 1 + rows
    assert PHONE not in str(lines) and "13800138000" not in str(lines)
    text = [str(v) for line in lines for v in line if v]
    assert not any(v.startswith(("=", "+", "-", "@")) for v in text)  # neutralised
    entry = Entry.objects.filter(action=Entry.Action.EXPORT).latest("seq")
    assert entry.verb == f"{what} ({kind}, command line)" and entry.actor == ""
    assert entry.details["rows"] == rows and entry.details["revealed"] is False


def test_in_full_with_reveal_is_a_reveal_in_the_log(shop: Customer, tmp_path: Path) -> None:
    out = tmp_path / "tasks.xlsx"
    export("tasks", "--out", str(out), "--reveal", "--filter", "status=done")
    lines = read(out)
    assert len(lines) == 2 and "'" + PHONE in lines[1]
    reveal = Entry.objects.get(action=Entry.Action.REVEAL)
    assert reveal.details == {"where": "tasks (xlsx, command line)", "rows": 1}
    assert Entry.objects.get(action=Entry.Action.EXPORT).details["filters"] == "status=done"


def test_an_existing_file_is_made_private_too(shop: Customer, tmp_path: Path) -> None:
    out = tmp_path / "customers.csv"
    out.write_text("old")
    out.chmod(0o644)
    export("customers", "--format", "csv", "--out", str(out))
    assert oct(out.stat().st_mode & 0o777) == "0o600" and "王小明" in out.read_text("utf-8-sig")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["tasks", "--format", "pdf"], "invalid choice: 'pdf'"),
        (["orders"], "invalid choice: 'orders'"),
        (["answers"], "--survey KEY (questionnaires: after-visit)"),
        (["answers", "--survey", "nope"], "no questionnaire 'nope'"),
        (["answers", "--survey", "after-visit", "--filter", "period=custom"], "YYYY-MM-DD"),
        (["tasks", "--filter", "status"], "KEY=VALUE"),
        (["audit", "--reveal"], "no personal detail"),
    ],
)
def test_bad_requests_are_told_and_write_nothing(
    shop: Customer, tmp_path: Path, args: list[str], said: str
) -> None:
    out = tmp_path / "out.xlsx"
    with pytest.raises(CommandError, match=said.replace("(", r"\(").replace(")", r"\)")):
        export(*args, "--out", str(out))
    assert not out.exists()
    assert not Entry.objects.filter(action=Entry.Action.EXPORT).exists()


def test_an_unwritable_place_is_told_before_anything_is_read(
    shop: Customer, tmp_path: Path
) -> None:
    with pytest.raises(CommandError, match="does not exist"):
        export("customers", "--out", str(tmp_path / "missing" / "c.xlsx"))
    with pytest.raises(CommandError, match="is a folder"):
        export("customers", "--out", str(tmp_path))
    assert not Entry.objects.filter(action=Entry.Action.EXPORT).exists()


def test_a_write_that_fails_leaves_no_half_written_file(
    shop: Customer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huifang.exports import customers

    def broken(*args: Any, **kwargs: Any) -> Any:
        yield customers.header()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(customers, "lines_of", broken)
    out = tmp_path / "c.csv"
    with pytest.raises(CommandError, match="No space left on device"):
        export("customers", "--out", str(out))
    assert not out.exists()
    assert not Entry.objects.filter(action=Entry.Action.EXPORT).exists()


def test_the_results_page_export_in_full_is_a_reveal_too(shop: Customer, carol: Any) -> None:
    client = Client()
    client.force_login(carol)
    url = reverse("rules:survey_export", args=["after-visit", "csv"])
    response = client.get(url, {"version": "all", "reveal": "1"})
    assert response.status_code == 200
    reveal = Entry.objects.get(action=Entry.Action.REVEAL)
    assert reveal.actor == "carol"
    assert reveal.details == {"where": "survey results (csv)", "rows": 1}
