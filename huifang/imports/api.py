"""REST endpoints for customer imports (mounted under ``/api/v1``), the import page's steps for a
script: upload a file (multipart), check it with its columns (a dry run on a worker), run the
import (on a worker), and follow it — its state, counts and progress, and the refused cells.

The steps are the page's: ``services.upload``, then ``tasks.check_import`` and
``tasks.run_import`` queued once the request's transaction commits; the columns are checked by
the page's own form (``ColumnsForm``), so the API and the page refuse the same choices."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, File, Path, Query, Router, Schema
from ninja.files import UploadedFile
from ninja.responses import Status

from huifang.api.auth import TokenAuth
from huifang.api.errors import ApiError
from huifang.api.pagination import PageQuery, answer, page
from huifang.api.schemas import READ_REFUSALS, REFUSALS, ErrorOut, inline
from huifang.core.limits import MAX_ID

from .forms import MAX_UPLOAD, ColumnsForm
from .models import Import
from .planning import MATCH_KEYS
from .reading import FileRefused
from .services import upload
from .tasks import check_import, run_import

router = Router(tags=["imports"])
ID = Path(..., ge=1, le=MAX_ID)
ImportStatus = Annotated[Import.Status, inline(Import.Status)]
ImportPolicy = Annotated[Import.Policy, inline(Import.Policy)]


class ImportOut(Schema):
    id: int
    kind: str
    file_name: str
    status: ImportStatus
    policy: ImportPolicy
    match_on: list[str]
    mapping: dict[str, str] = Field(..., description="Column letter → field key.")
    headers: list[str] = Field(..., description="The file's column names, A, B, C …")
    counts: dict[str, int] = Field(
        ..., description="After the check or the import: new, updated, merged, refused rows …"
    )
    total_rows: int
    done_rows: int
    percent: int = Field(..., description="Progress of the check or the import, 0–100.")
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    undone_at: datetime | None


class CheckIn(Schema):
    mapping: dict[str, str] | None = Field(
        None,
        max_length=200,
        description="Column letter → field key (`name`, `phone`, `attributes.<header>` …); "
        "omitted: the columns as they are (suggested at upload, or chosen before).",
    )
    policy: ImportPolicy = Import.Policy.FILL_EMPTY
    match_on: list[str] = Field(
        list(MATCH_KEYS),
        min_length=1,
        max_length=len(MATCH_KEYS),
        description="How customers already there are found: "
        + ", ".join(f"`{k}`" for k in MATCH_KEYS),
    )


class ProblemOut(Schema):
    row: int
    column: str
    header: str
    value: str = Field(..., description="Phone numbers and e-mail addresses masked.")
    reason: str


class ProblemPage(Schema):
    items: list[ProblemOut]
    next_cursor: str | None


def _out(batch: Import) -> dict[str, Any]:
    return {
        **{f: getattr(batch, f) for f in ImportOut.model_fields if hasattr(batch, f)},
        "headers": list(batch.summary.get("headers", [])),
        "counts": {k: int(v) for k, v in (batch.counts or {}).items()},
    }


def _batch_or_404(import_id: int) -> Import:
    batch = Import.objects.defer("data").filter(pk=import_id).first()
    if batch is None:
        raise ApiError(404, "unknown_import", _("There is no import %(id)s.") % {"id": import_id})
    return batch


def _not_now(batch: Import) -> ApiError:
    return ApiError(
        409,
        "import_busy",
        _("That cannot be done with this import now: it is %(status)s.")
        % {"status": batch.get_status_display()},
    )


@router.post(
    "/imports",
    auth=TokenAuth("customer", "import"),
    response={201: ImportOut, **REFUSALS},
    summary="Upload a file of customers (.xlsx, .xls or .csv) as a new import",
)
def upload_file(request: HttpRequest, file: File[UploadedFile]) -> Status[dict[str, Any]]:
    if file.size is not None and file.size > MAX_UPLOAD:
        raise ApiError(
            413,
            "file_too_large",
            _("The file is larger than %(limit)s MB; split it into several imports.")
            % {"limit": MAX_UPLOAD // (1024 * 1024)},
            field="file",
        )
    try:
        batch = upload(file.name or "", file.read(), actor=None, now=timezone.now())
    except FileRefused as exc:
        raise ApiError(422, "file_refused", str(exc), field="file") from None
    return Status(201, _out(_batch_or_404(batch.pk)))


@router.post(
    "/imports/{import_id}/check",
    auth=TokenAuth("customer", "import"),
    response={202: ImportOut, 404: ErrorOut, 409: ErrorOut, **REFUSALS},
    summary="Check the import with its columns: a dry run on a worker (poll the import)",
)
def check_file(
    request: HttpRequest, payload: CheckIn, import_id: int = ID
) -> Status[dict[str, Any]]:
    batch = _batch_or_404(import_id)
    if batch.status not in (Import.Status.DRAFT, Import.Status.CHECKED):
        raise _not_now(batch)
    mapping = batch.mapping if payload.mapping is None else payload.mapping
    data: dict[str, Any] = {
        "policy": str(payload.policy),
        "match_on": payload.match_on,
        **{f"column_{letter}": key for letter, key in mapping.items()},
    }
    form = ColumnsForm(data, batch=batch)
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        raise ApiError(
            422,
            "invalid_columns",
            " ".join(str(e) for e in errors),
            field=None if field == "__all__" else field.removeprefix("column_"),
        )
    with transaction.atomic():
        changed = Import.objects.filter(
            pk=batch.pk, status__in=(Import.Status.DRAFT, Import.Status.CHECKED)
        ).update(
            mapping=form.cleaned_data["mapping"],
            policy=form.cleaned_data["policy"],
            match_on=form.cleaned_data["match_on"],
            status=Import.Status.CHECKING,
            done_rows=0,
            error="",
            beat_at=timezone.now(),
        )
        if not changed:
            raise _not_now(batch)
        transaction.on_commit(lambda: check_import(batch.pk))
    return Status(202, _out(_batch_or_404(batch.pk)))


@router.post(
    "/imports/{import_id}/run",
    auth=TokenAuth("customer", "import"),
    response={202: ImportOut, 404: ErrorOut, 409: ErrorOut, **REFUSALS},
    summary="Import a checked file, on a worker (poll the import for its progress)",
)
def run_file(request: HttpRequest, import_id: int = ID) -> Status[dict[str, Any]]:
    batch = _batch_or_404(import_id)
    with transaction.atomic():
        changed = Import.objects.filter(pk=batch.pk, status=Import.Status.CHECKED).update(
            status=Import.Status.RUNNING, done_rows=0, error="", beat_at=timezone.now()
        )
        if not changed:
            raise _not_now(batch)
        transaction.on_commit(lambda: run_import(batch.pk))
    return Status(202, _out(_batch_or_404(batch.pk)))


@router.get(
    "/imports/{import_id}",
    auth=TokenAuth("customer", "import"),
    response={200: ImportOut, 404: ErrorOut, **READ_REFUSALS},
    summary="An import's state, counts and progress",
)
def get_import(request: HttpRequest, import_id: int = ID) -> dict[str, Any]:
    return _out(_batch_or_404(import_id))


@router.get(
    "/imports/{import_id}/problems",
    auth=TokenAuth("customer", "import"),
    response={200: ProblemPage, 404: ErrorOut, **READ_REFUSALS},
    summary="The cells an import refused, by row",
)
def list_problems(
    request: HttpRequest, paging: Query[PageQuery], import_id: int = ID
) -> dict[str, Any]:
    batch = _batch_or_404(import_id)
    rows, cursor = page(batch.problems.all(), paging, order="pk")
    return answer([{f: getattr(p, f) for f in ProblemOut.model_fields} for p in rows], cursor)
