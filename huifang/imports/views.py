"""The import page: upload a file, choose its columns, check what it would do, import it with
a progress bar, download the refused rows, undo."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from huifang.accounts.permissions import requires
from huifang.audit.models import Entry
from huifang.audit.services import record
from huifang.core.exports import csv_response, xlsx_response
from huifang.customers.models import Customer

from . import saved
from .event_pages import event_preview, undone_message
from .forms import ColumnsForm, EventColumnsForm, UploadForm
from .mapping import target_for
from .models import Import, SavedMapping
from .reading import FileRefused
from .services import undo, upload
from .tasks import check_import, run_import

RECENT = 20
CHOICES = {
    key: (lambda key=key: dict(Customer._meta.get_field(key).flatchoices))  # type: ignore[union-attr]
    for key in ("tier", "lifecycle_stage", "gender")
}


@requires("customer", "import")
def imports(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        sent = form.cleaned_data["file"]
        try:
            kind = form.cleaned_data["kind"] or Import.Kind.CUSTOMERS
            batch = upload(sent.name, sent.read(), kind=kind, actor=request.user)
        except FileRefused as exc:
            form.add_error("file", str(exc))
        else:
            if (found := saved.apply_best(batch)) is not None:
                messages.info(
                    request,
                    _("The columns are chosen as saved under “%(name)s”; change any.")
                    % {"name": found.name},
                )
            return redirect("imports:detail", batch.pk)
    if request.method == "POST" and request.POST.get("action") == "forget":
        SavedMapping.objects.filter(pk=_number(request.POST.get("saved"))).delete()
        messages.info(request, _("The saved choices are deleted."))
        return redirect("imports:list")
    recent = Import.objects.select_related("created_by").defer("data")[:RECENT]
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "recent": recent, "saved": SavedMapping.objects.all()}
    return render(request, "imports/list.html", context, status=status)


def _number(value: str | None) -> int:
    return int(value) if value and value.isascii() and value.isdigit() else 0


def _batch(pk: int) -> Import:
    return get_object_or_404(Import.objects.defer("data"), pk=pk)


@requires("customer", "import")
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch(pk)
    form: ColumnsForm | EventColumnsForm | None = None
    if batch.status in (Import.Status.DRAFT, Import.Status.CHECKED):
        kind = EventColumnsForm if batch.kind == Import.Kind.EVENTS else ColumnsForm
        form = kind(request.POST or None, batch=batch)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "check" and form is not None and form.is_valid():
            _check(batch, form.cleaned_data)
            if name := form.cleaned_data.get("save_as", "").strip():
                saved.save(batch, name, form.cleaned_data, actor=request.user)
                messages.info(
                    request,
                    _("Saved as “%(name)s” for the next file with these columns.") % {"name": name},
                )
            return redirect("imports:detail", batch.pk)
        if action == "apply" and form is not None:
            chosen = SavedMapping.objects.filter(
                pk=_number(request.POST.get("saved")), kind=batch.kind
            ).first()
            if chosen is not None and chosen in saved.fitting(batch):
                saved.apply(batch, chosen)
                return redirect("imports:detail", batch.pk)
            messages.error(request, _("Those saved choices do not fit this file's columns."))
            return redirect("imports:detail", batch.pk)
        if action == "import" and batch.status == Import.Status.CHECKED:
            _start(batch)
            return redirect("imports:detail", batch.pk)
        if action == "discard" and batch.status in (Import.Status.DRAFT, Import.Status.CHECKED):
            batch.delete()
            messages.info(request, _("The file is dropped; nothing was imported."))
            return redirect("imports:list")
        if form is None or form.is_valid():
            messages.error(request, _("That cannot be done with this import now."))
            return redirect("imports:detail", batch.pk)
    context: dict[str, Any] = {
        "batch": batch,
        "form": form,
        "fitting": saved.fitting(batch) if form is not None else [],
        "preview": _preview(batch),
        "problems": batch.problems.all()[:20],
        "problem_count": batch.problems.count(),
    }
    return render(
        request, "imports/detail.html", context, status=400 if request.method == "POST" else 200
    )


def _preview(batch: Import) -> list[dict[str, Any]]:
    """The checked rows with each value under its field's label."""
    if batch.kind == Import.Kind.EVENTS:
        return event_preview(batch)
    preview = batch.summary.get("preview", [])
    owners = {
        user.pk: user.get_username()
        for user in get_user_model().objects.filter(
            pk__in={row["values"]["owner_id"] for row in preview if row["values"].get("owner_id")}
        )
    }
    rows = []
    for row in preview:
        fields = []
        for key, value in row["values"].items():
            if key == "owner_id":
                key, value = "owner", owners.get(value, "")
            target = target_for(key)
            label = target.label if target is not None else key
            if key in CHOICES:  # a tier, stage or gender by its name, not its code
                value = CHOICES[key]().get(value, value)
            shown = "、".join(value) if isinstance(value, list) else value
            fields.append({"label": label, "value": shown})
        rows.append({**row, "fields": fields})
    return rows


def _check(batch: Import, data: dict[str, Any]) -> None:
    summary = batch.summary
    if data["mapping"] != batch.mapping:  # no longer the saved choices it was given
        summary = {k: v for k, v in summary.items() if k != "saved"}
    with transaction.atomic():
        Import.objects.filter(pk=batch.pk).update(
            summary=summary,
            mapping=data["mapping"],
            policy=data["policy"],
            match_on=data["match_on"],
            **{k: data[k] for k in ("event_type", "fire_rules", "create_customers") if k in data},
            status=Import.Status.CHECKING,
            done_rows=0,
            error="",
            beat_at=timezone.now(),
        )
        transaction.on_commit(lambda: check_import(batch.pk))


def _start(batch: Import) -> None:
    with transaction.atomic():
        Import.objects.filter(pk=batch.pk, status=Import.Status.CHECKED).update(
            status=Import.Status.RUNNING, done_rows=0, error="", beat_at=timezone.now()
        )
        transaction.on_commit(lambda: run_import(batch.pk))


@requires("customer", "import", fragment=True)
@require_GET
def progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress bar, which htmx asks for again every second; once the worker is done the
    whole page is loaded again (it shows the result)."""
    batch = _batch(pk)
    if batch.status not in Import.WORKING:
        response = HttpResponse("")
        response["HX-Refresh"] = "true"
        return response
    return render(request, "imports/_progress.html", {"batch": batch})


@requires("customer", "import")
@require_GET
def problems(request: HttpRequest, pk: int, fmt: str) -> HttpResponseBase:
    """The refused rows (row, column, header, value, reason), for fixing the file."""
    if fmt not in ("csv", "xlsx"):
        raise Http404(fmt)
    batch = _batch(pk)
    header = [_("Row"), _("Column"), _("Header"), _("Value"), _("Reason")]
    lines = (
        [p.row, p.column, p.header, p.value, p.reason]
        for p in batch.problems.order_by("row", "pk").iterator()
    )
    record(
        Entry.Action.EXPORT,
        "import problems",
        request=request,
        target=batch,
        details={"rows": batch.problems.count(), "format": fmt},
    )
    name = f"import-{batch.pk}-problems"
    if fmt == "xlsx":
        return xlsx_response([header, *lines], name, _("Refused rows"))
    return csv_response([header, *lines], name)


@requires("customer", "import")
@require_POST
def take_back(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch(pk)
    if batch.status != Import.Status.DONE:
        messages.error(request, _("Only a finished import can be undone."))
        return redirect("imports:detail", batch.pk)
    if request.POST.get("confirm") != "1":
        messages.error(request, _("Tick the box to confirm the undo."))
        return redirect("imports:detail", batch.pk)
    result = undo(batch, actor=request.user)
    if batch.kind == Import.Kind.EVENTS:
        messages.success(request, undone_message(result))
        return redirect("imports:detail", batch.pk)
    messages.success(
        request,
        _(
            "Import undone: %(removed)s customers removed, %(restored)s given back their "
            "earlier details, %(kept)s left as they are."
        )
        % {"removed": result.removed, "restored": result.restored, "kept": len(result.kept)},
    )
    return redirect("imports:detail", batch.pk)
