"""Tasks, messages and audit entries as files, from their list pages: the list's filters and
scope (an agent's export holds only what their list shows), masked unless asked for in full by
someone who may reveal (a reveal in the audit log), refused past the largest export allowed,
each export audited."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, cast

import openpyxl
import pytest
from django.http import FileResponse, StreamingHttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from huifang.accounts.models import Team
from huifang.accounts.roles import Role
from huifang.audit.models import Entry
from huifang.audit.services import record
from huifang.customers.models import Customer
from huifang.messaging.models import Message
from huifang.tasks.models import Task
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db

PHONE = "+8613800138000"


def rows_of(response: Any) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse), "a CSV export is streamed"
    text = b"".join(cast(Iterator[bytes], response.streaming_content)).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def sheet_of(response: Any) -> list[list[Any]]:
    assert isinstance(response, FileResponse)
    content = b"".join(cast(Iterator[bytes], response.streaming_content))
    book = openpyxl.load_workbook(io.BytesIO(content))
    return [[c.value for c in row] for row in book.active.iter_rows()]


def by_header(rows: list[list[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(rows[0], row, strict=False)) for row in rows[1:]]


# -- tasks ---------------------------------------------------------------------------------------


@pytest.fixture
def desk(bob: Any, carol: Any, service_team: Team) -> dict[str, Any]:
    """Bob's tasks, a task of his team given to nobody, and another team's task."""
    wang = Customer.objects.create(name="王小明", phone=PHONE, email="wang@example.com")
    li = Customer.objects.create(name="李雷", phone="+8613900139000")
    other = Team.objects.create(key="sales", name="销售组")
    dave = make_staff("dave", Role.AGENT, team=other)
    now = timezone.now()
    due = now + timedelta(hours=1)
    if timezone.localtime(due).date() != timezone.localtime(now).date():
        due = now  # "today" for bob's first task whatever the hour the test runs
    return {
        "today": Task.objects.create(
            customer=wang,
            team=service_team,
            assignee=bob,
            title="到店回访",
            due_at=due,
            notes=f"客户说换号了，旧号 {PHONE}",
        ),
        "later": Task.objects.create(
            customer=wang,
            team=service_team,
            assignee=bob,
            title="=1+2",
            due_at=now + timedelta(days=3),
        ),
        "done": Task.objects.create(
            customer=li,
            team=service_team,
            assignee=carol,
            title="投诉处理",
            status=Task.Status.DONE,
            closed_at=now,
            outcome=Task.Outcome.REACHED,
        ),
        "pool": Task.objects.create(customer=li, team=service_team, title="未分配回访"),
        "theirs": Task.objects.create(customer=li, team=other, assignee=dave, title="别组回访"),
    }


def test_an_agents_tab_holds_only_their_tasks_masked(
    desk: dict[str, Any], bob_client: Client
) -> None:
    response = bob_client.get(reverse("exports:tasks", args=["csv"]), {"tab": "upcoming"})
    rows = by_header(rows_of(response))
    assert [int(r["任务编号"]) for r in rows] == [desk["later"].pk]
    (task,) = rows
    assert task["标题"] == "'=1+2"  # a formula start, neutralised
    assert task["电话"] == "138****8000" and task["客户姓名"] == "王小明"
    entry = Entry.objects.get(action=Entry.Action.EXPORT)
    assert entry.actor == "bob" and entry.verb == "tasks (csv)"
    assert entry.details == {
        "format": "csv",
        "filters": "tab=upcoming",
        "rows": 1,
        "revealed": False,
    }


def test_an_agents_whole_export_stops_at_their_scope(
    desk: dict[str, Any], bob_client: Client
) -> None:
    rows = by_header(rows_of(bob_client.get(reverse("exports:tasks", args=["csv"]))))
    ids = {int(r["任务编号"]) for r in rows}
    # Open tasks by default (as the board): his and his team's, never another team's.
    assert ids == {desk["today"].pk, desk["later"].pk, desk["pool"].pk}
    every = by_header(
        rows_of(bob_client.get(reverse("exports:tasks", args=["csv"]), {"status": "all"}))
    )
    assert desk["theirs"].pk not in {int(r["任务编号"]) for r in every}
    assert len(every) == 4
    # The board of a team he does not supervise: refused, nothing written, nothing audited.
    team = desk["theirs"].team_id
    assert bob_client.get(reverse("exports:tasks", args=["csv"]), {"team": team}).status_code == 403
    assert not Entry.objects.filter(action=Entry.Action.EXPORT, actor="bob", details__rows=0)


def test_the_board_export_takes_the_boards_filters(
    desk: dict[str, Any], carol_client: Client, service_team: Team
) -> None:
    query = {"team": str(service_team.pk), "status": "done"}
    rows = by_header(sheet_of(carol_client.get(reverse("exports:tasks", args=["xlsx"]), query)))
    assert [r["任务编号"] for r in rows] == [desk["done"].pk]
    assert rows[0]["结果"] == "已联系上" and rows[0]["状态"] == "已完成"
    entry = Entry.objects.get(action=Entry.Action.EXPORT)
    assert entry.details["filters"] == f"team={service_team.pk}&status=done"
    other = desk["theirs"].team_id
    assert (
        carol_client.get(reverse("exports:tasks", args=["xlsx"]), {"team": other}).status_code
        == 403
    )


def test_in_full_for_who_may_reveal_and_audited_as_a_reveal(
    desk: dict[str, Any], bob_client: Client
) -> None:
    masked = by_header(rows_of(bob_client.get(reverse("exports:tasks", args=["csv"]))))
    today = next(r for r in masked if int(r["任务编号"]) == desk["today"].pk)
    assert PHONE not in str(masked) and "138****8000" in today["备注"]  # the notes too
    full = by_header(
        sheet_of(bob_client.get(reverse("exports:tasks", args=["xlsx"]), {"reveal": "1"}))
    )
    today = next(r for r in full if r["任务编号"] == desk["today"].pk)
    assert today["电话"] == "'" + PHONE and PHONE in today["备注"]
    reveal = Entry.objects.get(action=Entry.Action.REVEAL)
    assert reveal.actor == "bob" and reveal.details == {"where": "tasks (xlsx)", "rows": 3}
    assert Entry.objects.filter(action=Entry.Action.EXPORT, details__revealed=True).count() == 1


def test_analysts_export_every_task_but_never_in_full(desk: dict[str, Any], client: Client) -> None:
    client.force_login(make_staff("ann", Role.ANALYST))
    url = reverse("exports:tasks", args=["csv"])
    assert len(rows_of(client.get(url, {"status": "all"}))) == 1 + 5
    assert client.get(url, {"reveal": "1"}).status_code == 403
    assert client.get(reverse("exports:tasks", args=["pdf"])).status_code == 404
    assert not Entry.objects.filter(action=Entry.Action.REVEAL).exists()


def test_past_the_largest_export_nothing_is_written(
    desk: dict[str, Any], alice_client: Client, settings: Any
) -> None:
    settings.HUIFANG_EXPORT_MAX_ROWS = 3  # four open tasks: an administrator sees every team's
    response = alice_client.get(reverse("exports:tasks", args=["csv"]))
    assert response.status_code == 400
    said = response.content.decode()
    assert "包含 4 行" in said and "允许的 3 行" in said and "缩小筛选范围" in said
    assert not Entry.objects.filter(action=Entry.Action.EXPORT).exists()
    settings.HUIFANG_EXPORT_MAX_ROWS = 4
    assert alice_client.get(reverse("exports:tasks", args=["csv"])).status_code == 200


def test_the_task_pages_offer_the_export_of_what_they_show(
    desk: dict[str, Any], bob_client: Client, carol_client: Client, service_team: Team
) -> None:
    page = bob_client.get(reverse("tasks:mine"), {"tab": "upcoming"}).content.decode()
    assert 'href="/exports/tasks.xlsx?tab=upcoming"' in page
    assert "export-tasks-full" in page  # agents may reveal
    board = carol_client.get(reverse("tasks:board"), {"status": "done"}).content.decode()
    assert f'href="/exports/tasks.csv?team={service_team.pk}&amp;status=done"' in board


# -- messages ------------------------------------------------------------------------------------


def message(customer: Customer | None, **fields: Any) -> Message:
    now = timezone.now()
    values: dict[str, Any] = {
        "status": Message.Status.SENT,
        "planned_at": now,
        "created_at": now,
        "sent_at": now,
        "template": "visit",
        "channel": "sms",
        "channels": ["sms"],
        **fields,
    }
    return Message.objects.create(customer=customer, **values)


@pytest.fixture
def outbox(db: None) -> dict[str, Message]:
    wang = Customer.objects.create(name="王小明", phone=PHONE, email="wang@example.com")
    li = Customer.objects.create(name="李雷", phone="+8613900139000")
    return {
        "sent": message(wang, body=f"王先生您好，您的号码 {PHONE} 已登记。"),
        "failed": message(
            li,
            status=Message.Status.FAILED,
            error="provider said: 13900139000 is unreachable",
            body="@SUM(A1)",
        ),
    }


def test_the_message_log_as_a_file_with_its_filters(
    outbox: dict[str, Message], carol_client: Client
) -> None:
    url = reverse("exports:messages", args=["csv"])
    rows = by_header(rows_of(carol_client.get(url)))
    assert len(rows) == 2 and PHONE not in str(rows) and "13900139000" not in str(rows)
    sent = next(r for r in rows if int(r["消息编号"]) == outbox["sent"].pk)
    assert "138****8000" in sent["正文"] and sent["电话"] == "138****8000"
    failed = by_header(rows_of(carol_client.get(url, {"status": "failed"})))
    assert [int(r["消息编号"]) for r in failed] == [outbox["failed"].pk]
    assert failed[0]["正文"] == "'@SUM(A1)" and "139****9000" in failed[0]["原因"]
    entries = Entry.objects.filter(action=Entry.Action.EXPORT).order_by("seq")
    assert [e.details["filters"] for e in entries] == ["", "status=failed"]
    assert [e.details["rows"] for e in entries] == [2, 1]


def test_messages_in_full_and_who_may(
    outbox: dict[str, Message], carol_client: Client, bob_client: Client
) -> None:
    url = reverse("exports:messages", args=["xlsx"])
    rows = by_header(sheet_of(carol_client.get(url, {"reveal": "1"})))
    assert any(PHONE in str(r["正文"]) for r in rows)
    failed = next(r for r in rows if r["消息编号"] == outbox["failed"].pk)
    assert "13900139000" in failed["原因"] and failed["电话"] == "'+8613900139000"
    assert Entry.objects.filter(action=Entry.Action.REVEAL, actor="carol").count() == 1
    assert bob_client.get(url).status_code == 403  # agents read the log, do not export it


def test_a_scoped_supervisor_exports_only_their_customers_messages(
    outbox: dict[str, Message], carol: Any, client: Client
) -> None:
    from huifang.organisation.models import OrganisationSettings
    from huifang.organisation.services import forget

    OrganisationSettings.objects.update_or_create(pk=1, defaults={"team_scoped_customers": True})
    forget()
    sales = Team.objects.create(key="sales", name="销售组")
    erin = make_staff("erin", Role.SUPERVISOR, team=sales)
    Customer.objects.filter(messages=outbox["sent"]).update(owner=erin)
    client.force_login(erin)
    rows = by_header(rows_of(client.get(reverse("exports:messages", args=["csv"]))))
    assert [int(r["消息编号"]) for r in rows] == [outbox["sent"].pk]


# -- audit ---------------------------------------------------------------------------------------


def test_the_audit_log_as_a_file_with_its_filters(
    alice_client: Client, carol_client: Client
) -> None:
    record(Entry.Action.SETTINGS, "changed", object_repr="=cmd|' /C calc'!A0")
    record(Entry.Action.RULE, "saved", object_repr="回访规则")
    response = alice_client.get(reverse("exports:audit", args=["xlsx"]), {"action": "settings"})
    rows = by_header(sheet_of(response))
    assert len(rows) == 1
    (row,) = rows
    assert row["对象"] == "'=cmd|' /C calc'!A0" and row["操作"] == "设置变更"
    assert len(row["哈希"]) == 64 and len(row["上一条的哈希"]) == 64
    entry = Entry.objects.get(action=Entry.Action.EXPORT)
    assert entry.details == {
        "format": "xlsx",
        "filters": "action=settings",
        "rows": 1,
        "revealed": False,
    }
    assert carol_client.get(reverse("exports:audit", args=["csv"])).status_code == 403
    page = alice_client.get(reverse("audit"), {"action": "rule"}).content.decode()
    assert 'href="/exports/audit.csv?action=rule"' in page
