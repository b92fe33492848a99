"""The customer's rights, end to end on a customer who has everything: the access request's
export holds every row the database holds about them (found by walking the database row by
row, not by the code under test); after the erasure no row of any table holds their name,
phone, e-mail or address, their pending work is cancelled, the figures and the reports are
unchanged, the other customer is untouched, and the audit log has the evidence with its chain
intact."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.db import models
from django.test import Client

from huifang.accounts.permissions import roles_allowed
from huifang.accounts.services import notify
from huifang.analytics.rollup import rebuild
from huifang.audit.models import Entry
from huifang.audit.services import verify
from huifang.customers.models import Consent, Customer
from huifang.engine.models import DueStep, Enrollment
from huifang.messaging.models import Message
from huifang.privacy import erasure
from huifang.privacy.holdings import identifiers, readable
from huifang.tasks.models import Task, TaskEvent
from tests.engine.world import World

from .world import ADDRESS, HER, OTHER, everyone

pytestmark = pytest.mark.django_db

DEPTH = 4


def _text_fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    kinds = (models.CharField, models.TextField, models.JSONField, models.BinaryField)
    return [f for f in model._meta.concrete_fields if isinstance(f, kinds)]


def _as_text(value: Any) -> str:
    if isinstance(value, bytes | memoryview):
        value = readable(bytes(value))
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def holding(terms: tuple[str, ...]) -> Iterator[tuple[str, Any, str, str]]:
    """(model, row, column, term) for every text, JSON or binary column of every row of every
    table that holds one of ``terms``."""
    for model in apps.get_models(include_auto_created=True):
        fields = _text_fields(model)
        for row in model._base_manager.all():
            for f in fields:
                text = _as_text(getattr(row, f.attname))
                for term in terms:
                    if term and term in text:
                        yield model._meta.label, row.pk, f.name, term


def _reaches(row: models.Model, customer: Customer, depth: int) -> bool:
    for f in row._meta.concrete_fields:
        if not f.is_relation or f.related_model is None:
            continue
        value = getattr(row, f.attname)
        if value is None:
            continue
        if f.related_model is Customer:
            if value == customer.pk:
                return True
            continue
        if depth > 0:
            target = f.related_model._base_manager.filter(pk=value).first()
            if target is not None and target != row and _reaches(target, customer, depth - 1):
                return True
    return False


def _names(row: models.Model, customer: Customer) -> bool:
    """A row that refers to the customer by type and number (the audit log, the admin)."""
    kind = ContentType.objects.get_for_model(Customer)
    object_id = str(getattr(row, "object_id", "") or "")
    if object_id != str(customer.pk):
        return False
    return bool(
        getattr(row, "object_type", "") == "customers.customer"
        or getattr(row, "content_type_id", None) == kind.pk
    )


def about(customer: Customer, terms: tuple[str, ...]) -> set[tuple[str, int]]:
    """Every row of the database about the customer, found row by row: a chain of keys to
    them, a reference to them by number, or one of their identifiers in its text."""
    found = {(label, pk) for label, pk, _f, _t in holding(terms)}
    for model in apps.get_models(include_auto_created=True):
        for row in model._base_manager.all():
            if row == customer or _reaches(row, customer, DEPTH) or _names(row, customer):
                found.add((model._meta.label, row.pk))
    return found


@pytest.fixture
def her(world: World, tmp_path: Path, alice: Any, bob: Any) -> Customer:
    return everyone(world, tmp_path, admin=alice, agent=bob, pending=True)


def exported(client: Client, customer: Customer, kind: str) -> Any:
    answer: Any = client.get(f"/privacy/customers/{customer.pk}/data.{kind}")
    assert answer.status_code == 200
    return b"".join(answer.streaming_content)


def test_the_export_holds_every_row_the_database_holds_about_them(
    her: Customer, carol_client: Client
) -> None:
    expected = about(her, (*HER.identifiers, ADDRESS))
    doc = json.loads(exported(carol_client, her, "json"))
    rows = {(label, row["id"]) for label, found in doc["rows"].items() for row in found}
    assert expected - rows == set()
    # And nothing of the other customer's own.
    other = Customer.objects.get(external_id="M-2")
    assert ("customers.Customer", other.pk) not in rows
    assert OTHER.name not in json.dumps(doc["rows"], ensure_ascii=False)
    # In full: the values themselves, as they are stored.
    (profile,) = doc["rows"]["customers.Customer"]
    assert (profile["name"], profile["phone"], profile["email"]) == (HER.name, HER.phone, HER.email)
    for kind in ("customers.Event", "outbox.Message", "tasks.Task", "surveys.Answer",
                 "customers.Consent", "imports.Change", "engine.Enrollment", "audit.Entry",
                 "accounts.Notification", "admin.LogEntry", "api.IdempotentRequest"):  # fmt: skip
        assert doc["rows"].get(kind), kind
    entry = Entry.objects.filter(action=Entry.Action.EXPORT).latest("seq")
    assert (entry.object_id, entry.object_repr, entry.actor) == (str(her.pk), f"#{her.pk}", "carol")


def test_the_workbook_has_a_sheet_per_kind_with_the_same_rows(
    her: Customer, alice_client: Client
) -> None:
    doc = json.loads(exported(alice_client, her, "json"))
    book = openpyxl.load_workbook(io.BytesIO(exported(alice_client, her, "xlsx")), read_only=True)
    assert book.sheetnames == [label[:31] for label in doc["rows"]]
    for label, rows in doc["rows"].items():
        sheet = list(book[label[:31]].iter_rows(values_only=True))
        assert list(sheet[0]) == list(rows[0])
        # The first export is itself in the audit log by the time of the second.
        assert len(sheet) - 1 == len(rows) + (label == "audit.Entry"), label
    profile = list(book["customers.Customer"].iter_rows(values_only=True))
    header = list(profile[0])
    assert profile[1][header.index("name")] == HER.name


def test_after_the_erasure_no_row_holds_their_name_phone_or_email(
    her: Customer, alice: Any
) -> None:
    other = Customer.objects.get(external_id="M-2")
    others_rows = sorted(holding(OTHER.identifiers))
    done = erasure.erase(her, actor=alice, reason="删除请求 2026-12-01，工单 4711")
    terms = (*HER.identifiers, ADDRESS, "wmNANA0001", "+8613700000002", "娜娜花店")
    assert list(holding(terms)) == []
    # The other customer keeps every word of theirs.
    assert sorted(holding(OTHER.identifiers)) == others_rows
    other.refresh_from_db()
    assert (other.name, other.phone, other.erased_at) == (OTHER.name, OTHER.phone, None)
    her.refresh_from_db()
    assert her.name == f"已删除客户 #{her.pk}"
    assert (her.phone, her.email, her.external_id, her.birthday, her.erased_at) == (
        "", "", None, None, done.entry.at,
    )  # fmt: skip
    assert her.do_not_contact and list(her.tags.all()) == []
    assert her.attributes == {"product_category": "家电"}
    # What reports are cut by stays.
    assert (her.tier, her.province, her.city) == ("vip", "北京市", "北京市")
    assert set(Consent.objects.filter(customer=her).values_list("status", "evidence")) == {
        ("withdrawn", "")
    }


def test_pending_work_is_cancelled_and_the_evidence_is_in_the_audit_log(
    her: Customer, alice: Any
) -> None:
    active = Enrollment.objects.get(customer=her, status=Enrollment.Status.ACTIVE)
    assert DueStep.objects.filter(enrollment=active, status=DueStep.Status.DUE).exists()
    ids = identifiers(her)
    done = erasure.erase(her, actor=alice, reason="删除请求 4711")
    active.refresh_from_db()
    assert (active.status, active.end_reason) == (Enrollment.Status.ENDED, "erased")
    assert not DueStep.objects.filter(enrollment__customer=her, status="due").exists()
    assert not Task.objects.filter(customer=her, status__in=["open", "in_progress"]).exists()
    cancelled = TaskEvent.objects.get(task__customer=her, kind=TaskEvent.Kind.CANCELLED)
    assert cancelled.data == {"reason": "erased"}
    assert not Message.objects.filter(customer=her, status__in=["queued", "deferred"]).exists()
    assert done.cancelled == {"plans": 1, "tasks": 1, "messages": 1}
    held = Message.objects.get(customer=her, channel="email", template="purchase-3d")
    assert (held.status, held.subject, held.body) == ("cancelled", "", "")

    entry = Entry.objects.get(action=Entry.Action.ERASURE)
    assert (entry.actor, entry.object_id, entry.reason) == ("alice", str(her.pk), "删除请求 4711")
    assert entry.details["identifiers"] == erasure.fingerprint(ids)
    assert entry.details["rows"]["customers.Event"] >= 3
    assert entry.details["rows"]["outbox.Message"] >= 2
    for term in HER.identifiers:
        assert term not in json.dumps(entry.details, ensure_ascii=False)
    assert verify() == (Entry.objects.count(), None)
    # Once is all: a second erasure is refused, and changes nothing.
    with pytest.raises(erasure.ErasureRefused, match=r"已于 .* 删除"):
        erasure.erase(her, actor=alice, reason="again")
    assert Entry.objects.filter(action=Entry.Action.ERASURE).count() == 1


ROLLUPS = (
    "MessageDay", "TaskDay", "AnswerDay", "EventDay", "MessageDayBy", "TaskDayBy",
    "AnswerDayBy", "EventDayBy", "AnswerCutDay", "EnrollmentDay", "RuleStepDay", "DecisionDay",
)  # fmt: skip
FIGURES = (
    "order_count", "total_spend", "spend_12m", "first_purchase_at", "last_purchase_at",
    "last_contact_at", "last_reply_at", "last_satisfaction", "csat_12m", "complaint_count",
    "tier", "lifecycle_stage", "province", "city", "source", "business_line", "owner_id",
)  # fmt: skip


def _reports(world: World) -> dict[str, list[tuple[Any, ...]]]:
    rebuild(date(2026, 10, 1), date(2026, 12, 31), world.now)
    tables = {}
    for name in ROLLUPS:
        model = apps.get_model("analytics", name)
        fields = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
        tables[name] = sorted(model.objects.values_list(*fields), key=repr)
    return tables


def test_figures_and_reports_do_not_change(
    world: World, tmp_path: Path, alice: Any, bob: Any
) -> None:
    """Without pending work (whose cancellation is itself news for the reports), every
    rollup rebuilt from the rows after the erasure equals the one before it, and so do the
    customer's derived figures."""
    her = everyone(world, tmp_path, admin=alice, agent=bob, pending=False)
    before = _reports(world)
    assert before["MessageDay"] and before["TaskDay"] and before["AnswerDay"]
    figures = Customer.objects.filter(pk=her.pk).values(*FIGURES).get()
    erasure.erase(her, actor=alice, reason="删除请求 4711", now=world.now)
    assert Customer.objects.filter(pk=her.pk).values(*FIGURES).get() == figures
    assert _reports(world) == before


# -- pages and permissions ----------------------------------------------------------------------


def test_only_those_the_table_allows_may_export_or_erase(
    her: Customer, bob_client: Client, carol_client: Client, alice_client: Client
) -> None:
    # Handing over everything in full implies showing personal details in full.
    assert roles_allowed("customer", "access") <= roles_allowed("customer", "reveal")
    assert roles_allowed("customer", "erase") == {"admin"}
    export = f"/privacy/customers/{her.pk}/data.json"
    erase = f"/privacy/customers/{her.pk}/erase"
    entries = Entry.objects.count()
    assert bob_client.get(export).status_code == 403  # an agent
    assert bob_client.post(erase, {"confirm": HER.name, "reason": "x"}).status_code == 403
    assert carol_client.post(erase, {"confirm": HER.name, "reason": "x"}).status_code == 403
    assert Entry.objects.count() == entries
    assert Customer.objects.get(pk=her.pk).erased_at is None
    assert alice_client.get(f"/privacy/customers/{her.pk}/data.csv").status_code == 404
    page = carol_client.get(f"/customers/{her.pk}/").content.decode()
    assert 'id="export-all"' in page and 'id="erase-customer"' not in page
    page = alice_client.get(f"/customers/{her.pk}/").content.decode()
    assert 'id="erase-customer"' in page


def test_the_erasure_asks_for_the_name_and_a_reason(her: Customer, alice_client: Client) -> None:
    erase = f"/privacy/customers/{her.pk}/erase"
    assert alice_client.get(erase).status_code == 200
    wrong = alice_client.post(erase, {"confirm": "欧阳", "reason": "request 4711"})
    assert wrong.status_code == 400
    assert "与上方显示的客户姓名不一致" in wrong.content.decode()
    empty = alice_client.post(erase, {"confirm": HER.name, "reason": "   "})
    assert empty.status_code == 400
    assert Customer.objects.get(pk=her.pk).erased_at is None
    done = alice_client.post(erase, {"confirm": HER.name, "reason": "request 4711"})
    assert done.status_code == 302 and done["Location"] == f"/customers/{her.pk}/"
    page = alice_client.get(f"/customers/{her.pk}/").content.decode()
    assert HER.name not in page and "个人信息已于" in page
    again = alice_client.post(erase, {"confirm": f"已删除客户 #{her.pk}", "reason": "again"})
    assert again.status_code == 400 and "该客户的个人信息已删除" in again.content.decode()
    assert Entry.objects.filter(action=Entry.Action.ERASURE).count() == 1


# -- the command line ----------------------------------------------------------------------------


def test_the_command_exports_and_erases(her: Customer, tmp_path: Path) -> None:
    out = io.StringIO()
    call_command("privacy", "export", str(her.pk), "--out", str(tmp_path / "her.json"), stdout=out)
    doc = json.loads((tmp_path / "her.json").read_text())
    assert doc["rows"]["customers.Customer"][0]["phone"] == HER.phone
    assert (tmp_path / "her.json").stat().st_mode & 0o777 == 0o600
    call_command("privacy", "export", str(her.pk), "--out", str(tmp_path / "her.xlsx"), stdout=out)
    assert "customers.Event" in openpyxl.load_workbook(tmp_path / "her.xlsx").sheetnames
    with pytest.raises(CommandError, match=r"\.json or \.xlsx"):
        call_command("privacy", "export", str(her.pk), "--out", str(tmp_path / "her.csv"))
    with pytest.raises(CommandError, match="no customer"):
        call_command("privacy", "export", "999999", "--out", str(tmp_path / "x.json"))
    with pytest.raises(CommandError, match="--yes"):
        call_command("privacy", "erase", str(her.pk), "--reason", "4711")
    call_command("privacy", "erase", str(her.pk), "--reason", "4711", "--yes", stdout=out)
    assert "erased" in out.getvalue()
    assert Customer.objects.get(pk=her.pk).erased_at is not None
    with pytest.raises(CommandError):
        call_command("privacy", "erase", str(her.pk), "--reason", "4711", "--yes")


def test_a_namesakes_rows_are_neither_handed_over_nor_erased(
    her: Customer, carol_client: Client, alice: Any, bob: Any
) -> None:
    twin = Customer.objects.create(name=f"{HER.name}娜", phone="+8613100000000")
    task = Task.objects.create(customer=twin, title=f"回访 {twin.name}")
    told = notify(user=bob, title=f"新任务：回访 {twin.name}", url=f"/tasks/{task.pk}/")
    doc = json.loads(exported(carol_client, her, "json"))
    handed = {row["id"] for row in doc["rows"]["accounts.Notification"]}
    assert told.pk not in handed and handed  # hers are there, the twin's is not
    erasure.erase(her, actor=alice, reason="删除请求 4711")
    told.refresh_from_db()
    task.refresh_from_db()
    assert (told.title, task.title) == (f"新任务：回访 {twin.name}", f"回访 {twin.name}")


def test_a_preview_that_lists_her_over_a_cap_is_handed_over_and_erased(
    her: Customer, carol_client: Client, alice: Any
) -> None:
    """Kept impact figures name customers over a cap by number only; a preview that lists her
    is part of what is held about her, and goes with the erasure (it is simulated again)."""
    from django.utils import timezone

    from huifang.rules.models import RuleVersion
    from huifang.studio.models import Preview

    version = RuleVersion.objects.first()
    assert version is not None
    other = Customer.objects.exclude(pk=her.pk).first()
    assert other is not None

    def kept(customer: Customer) -> Preview:
        listed = {"count": 1, "customers": [{"id": customer.pk, "count": 3, "cap": {}}]}
        return Preview.objects.create(
            version=version,
            days=7,
            status="done",
            requested_at=timezone.now(),
            result={"alone": {"over_cap": listed}, "together": {"over_cap": listed}},
        )

    hers, theirs = kept(her), kept(other)
    doc = json.loads(exported(carol_client, her, "json"))
    assert [row["id"] for row in doc["rows"]["studio.Preview"]] == [hers.pk]
    erasure.erase(her, actor=alice, reason="删除请求 4711")
    assert list(Preview.objects.values_list("pk", flat=True)) == [theirs.pk]
