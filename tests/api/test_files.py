"""Files through the API: the customer export (masked unless a reveal token asks, audited)
and customer imports (upload, check and run on a worker, state and progress, refused cells)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from huifang.audit.models import Entry
from huifang.customers.models import Customer
from huifang.imports.models import Import
from huifang.imports.tasks import check_import, run_import
from tests.api.conftest import Scoped
from tests.api.helpers import error_of, post, walk
from tests.imports.files import xlsx

pytestmark = pytest.mark.django_db


@pytest.fixture
def shoppers(db: None) -> list[Customer]:
    return [
        Customer.objects.create(
            external_id="C-1", name="王小明", phone="+8613800138000", tier="vip", email="w@x.cn"
        ),
        Customer.objects.create(external_id="C-2", name="=HYPERLINK(1)", phone="+8613700137000"),
    ]


def csv_text(response: Any) -> str:
    return b"".join(response.streaming_content).decode("utf-8-sig")


def test_the_customer_export_is_masked_filtered_and_audited(
    reader: Client, shoppers: list[Customer]
) -> None:
    response = reader.get("/api/v1/exports/customers")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = csv_text(response)
    assert "王小明" in text and "138****8000" in text
    assert "13800138000" not in text and "w@x.cn" not in text
    assert "'=HYPERLINK(1)" in text  # formula neutralised
    vip = csv_text(reader.get("/api/v1/exports/customers", {"tier": "vip"}))
    assert "王小明" in vip and "HYPERLINK" not in vip
    first, filtered = Entry.objects.filter(action=Entry.Action.EXPORT).order_by("seq")
    assert (first.verb, first.details["revealed"], first.details["rows"]) == (
        "customers (csv)",
        False,
        2,
    )
    assert (filtered.details["filters"], filtered.details["rows"]) == ("tier=vip", 1)
    entry = first
    assert entry.actor.startswith("API token read system")


def test_full_values_need_the_reveal_scope(scoped: Scoped, shoppers: list[Customer]) -> None:
    refused = scoped("write").get("/api/v1/exports/customers", {"reveal": "true"})
    assert (refused.status_code, error_of(refused)["code"]) == (403, "reveal_not_allowed")
    assert not Entry.objects.filter(action=Entry.Action.EXPORT).exists()
    full: Any = scoped("reveal").get(
        "/api/v1/exports/customers", {"reveal": "true", "format": "xlsx"}
    )
    assert full.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(full.streaming_content))).active
    assert sheet is not None
    values = [str(cell.value) for row in sheet.iter_rows() for cell in row]
    assert any(v.endswith("+8613800138000") for v in values)  # in full (neutralised: +)
    assert Entry.objects.get(action=Entry.Action.EXPORT).details["revealed"] is True


def test_an_unknown_format_is_refused(reader: Client) -> None:
    assert reader.get("/api/v1/exports/customers", {"format": "pdf"}).status_code == 422


ROWS = [
    ["会员编号", "姓名", "手机号码"],
    ["M-1", "王小明", "13800138000"],
    ["M-2", "李雷", "12345"],
    ["M-3", "韩梅梅", "13700137000"],
]


def upload(client: Client, tmp_path: Path, rows: list[list[Any]] = ROWS) -> Any:
    data = xlsx(tmp_path / "file.xlsx", rows).read_bytes()
    return client.post("/api/v1/imports", {"file": SimpleUploadedFile("会员.xlsx", data)})


def test_an_import_is_uploaded_checked_run_and_followed(writer: Client, tmp_path: Path) -> None:
    response = upload(writer, tmp_path)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["headers"]) == ("draft", ["会员编号", "姓名", "手机号码"])
    assert body["mapping"] == {"A": "external_id", "B": "name", "C": "phone"}
    pk = body["id"]
    assert post(writer, f"/api/v1/imports/{pk}/run", {}).status_code == 409  # not checked

    checking = post(writer, f"/api/v1/imports/{pk}/check", {"match_on": ["external_id"]})
    assert checking.status_code == 202, checking.content
    assert checking.json()["status"] == "checking"
    check_import.call_local(pk)  # the worker
    checked = writer.get(f"/api/v1/imports/{pk}").json()
    assert (checked["status"], checked["counts"]["created"], checked["counts"]["refused"]) == (
        "checked",
        2,
        1,
    )
    assert not Customer.objects.exists()
    problems = walk(writer, f"/api/v1/imports/{pk}/problems", 1)
    assert [(p["row"], p["column"]) for p in problems] == [(3, "C")]
    assert "12345" not in str(problems)  # masked

    running = post(writer, f"/api/v1/imports/{pk}/run", {})
    assert running.status_code == 202
    run_import.call_local(pk)
    done = writer.get(f"/api/v1/imports/{pk}").json()
    assert (done["status"], done["percent"]) == ("done", 100)
    assert Customer.objects.get(external_id="M-1").phone == "+8613800138000"


def test_columns_the_page_would_refuse_are_refused(writer: Client, tmp_path: Path) -> None:
    pk = upload(writer, tmp_path).json()["id"]
    twice = post(writer, f"/api/v1/imports/{pk}/check", {"mapping": {"A": "name", "B": "name"}})
    assert (twice.status_code, error_of(twice)["code"]) == (422, "invalid_columns")
    useless = post(writer, f"/api/v1/imports/{pk}/check", {"mapping": {"A": "city"}})
    assert useless.status_code == 422
    assert Import.objects.get().status == Import.Status.DRAFT


def test_a_file_that_cannot_be_imported_is_refused_and_not_kept(
    writer: Client, reader: Client
) -> None:
    empty = writer.post("/api/v1/imports", {"file": SimpleUploadedFile("a.xlsx", b"not excel")})
    assert (empty.status_code, error_of(empty)["code"]) == (422, "file_refused")
    assert writer.post("/api/v1/imports", {}).status_code == 422
    text = SimpleUploadedFile("a.csv", "姓名\n王\n".encode())
    assert reader.post("/api/v1/imports", {"file": text}).status_code == 403
    assert not Import.objects.exists()
    assert error_of(writer.get("/api/v1/imports/99"))["code"] == "unknown_import"


def test_a_json_operation_refuses_a_form(writer: Client) -> None:
    response = writer.post("/api/v1/tasks", {"title": "x"})  # multipart, not JSON
    assert (response.status_code, error_of(response)["code"]) == (400, "not_json")
