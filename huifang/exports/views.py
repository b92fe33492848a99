"""Downloads of the rows people work with — the customer list so far — as CSV or Excel, masked
unless asked for in full by someone who may reveal, and audited."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from huifang.accounts.permissions import can, requires
from huifang.audit.models import Entry
from huifang.audit.services import record
from huifang.customers import visibility
from huifang.customers.models import Customer
from huifang.customers.search import CustomerFilters

from . import customers as customer_rows

KINDS = ("csv", "xlsx")


@requires("customer", "export")
@require_GET
def customers(request: HttpRequest, kind: str) -> HttpResponseBase:
    """The customers the list's filters find, among those the user may see, as a file; phone,
    e-mail and personal attributes masked unless asked for in full by someone who may reveal
    them. Audited either way."""
    if kind not in KINDS:
        raise Http404(kind)
    reveal = request.GET.get("reveal") == "1"
    if reveal and not can(request.user, "customer", "reveal"):
        raise PermissionDenied(_("You may not export personal details in full."))
    filters = CustomerFilters.from_query(request.GET.dict())
    found = visibility.visible(request.user, filters.apply(Customer.objects.all()))
    record(
        Entry.Action.EXPORT,
        f"customers ({kind})",
        request=request,
        object_type="customers.customer",
        details={
            "format": kind,
            "filters": _filters(request),
            "rows": found.count(),
            "revealed": reveal,
        },
    )
    return customer_rows.export(found, kind, reveal=reveal)


def _filters(request: HttpRequest) -> str:
    params = request.GET.copy()
    for key in ("after", "before", "reveal"):
        params.pop(key, None)
    return params.urlencode()
