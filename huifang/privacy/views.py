"""The customer's rights from their page: everything held about them as a file (an access
request), and the erasure of their personal data, confirmed."""

from __future__ import annotations

import tempfile

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from huifang.accounts.permissions import requires
from huifang.audit.models import Entry
from huifang.audit.services import record
from huifang.core.exports import SPILL, XLSX
from huifang.customers import visibility
from huifang.customers.models import Customer

from . import document, erasure
from .forms import EraseForm

KINDS = ("json", "xlsx")


def _customer(request: HttpRequest, pk: int) -> Customer:
    return get_object_or_404(visibility.visible(request.user, Customer.objects.all()), pk=pk)


@requires("customer", "access")
@require_GET
def export(request: HttpRequest, pk: int, kind: str) -> HttpResponseBase:
    """Every row held about the customer, in full, as JSON or xlsx; audited. The file is
    written to a temporary file that is gone once sent: nothing stays on the server."""
    if kind not in KINDS:
        raise Http404(kind)
    customer = _customer(request, pk)
    now = timezone.now()
    output = tempfile.SpooledTemporaryFile(max_size=SPILL)  # noqa: SIM115 - closed by the response
    if kind == "xlsx":
        rows = document.write_xlsx(customer, output, now=now)
    else:
        rows = document.write_json(customer, output, now=now)
    output.seek(0)
    record(
        Entry.Action.EXPORT,
        f"access request ({kind})",
        request=request,
        object_type="customers.customer",
        object_id=customer.pk,
        object_repr=customer.audit_label,
        details={"format": kind, "rows": rows, "revealed": True},
    )
    return FileResponse(
        output,
        as_attachment=True,
        filename=f"customer-{customer.pk}.{kind}",
        content_type=XLSX if kind == "xlsx" else "application/json",
    )


@requires("customer", "erase")
def erase(request: HttpRequest, pk: int) -> HttpResponse:
    """The confirmation page (GET) and the erasure (POST)."""
    customer = _customer(request, pk)
    form = EraseForm(request.POST or None, customer=customer)
    if customer.erased_at is not None:
        form.add_error(None, _("This customer's data was already erased."))
    elif request.method == "POST" and form.is_valid():
        try:
            done = erasure.erase(
                customer, actor=request.user, reason=form.cleaned_data["reason"], request=request
            )
        except erasure.ErasureRefused as refused:
            form.add_error(None, str(refused))
        else:
            messages.success(
                request,
                _("The customer's personal data was erased: %(rows)s rows about them anonymised.")
                % {"rows": sum(done.rows.values())},
            )
            return redirect("customers:detail", pk=customer.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "privacy/erase.html", {"customer": customer, "form": form}, status=status
    )
