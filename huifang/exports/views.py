"""Downloads of the rows people work with — customers, follow-up tasks, messages and the audit
log — as CSV or Excel, each with the filters and within the scope of the list it is taken from;
masked unless asked for in full by someone who may reveal; refused past the largest export
allowed; audited (who, what, which filters, how many rows, and a reveal when in full)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from huifang.accounts.permissions import can, requires
from huifang.customers import visibility
from huifang.customers.models import Customer
from huifang.customers.search import CustomerFilters

from . import customers as customer_table
from . import entries as entry_table
from . import messages as message_table
from . import tables
from . import tasks as task_table

Lines = Callable[..., Iterator[list[Any]]]


def _reveal(request: HttpRequest) -> bool:
    reveal = request.GET.get("reveal") == "1"
    if reveal and not can(request.user, "customer", "reveal"):
        raise PermissionDenied(_("You may not export personal details in full."))
    return reveal


def _kind(kind: str) -> str:
    if kind not in tables.KINDS:
        raise Http404(kind)
    return kind


def _export(
    request: HttpRequest,
    *,
    kind: str,
    what: str,
    found: QuerySet[Any],
    filters: str,
    lines_of: Lines,
    sheet: str,
    object_type: str,
    reveal: bool,
) -> HttpResponseBase:
    """Count, refuse when too many (nothing written, nothing audited), audit, then stream."""
    rows = found.count()
    try:
        tables.check(rows, kind)
    except tables.TooMany as refused:
        return HttpResponse(str(refused), status=400, content_type="text/plain; charset=utf-8")
    tables.audit(
        what,
        kind,
        rows=rows,
        revealed=reveal,
        filters=filters,
        request=request,
        object_type=object_type,
    )
    return tables.respond(lines_of(found, reveal=reveal), kind, what, sheet)


@requires("customer", "export")
@require_GET
def customers(request: HttpRequest, kind: str) -> HttpResponseBase:
    """The customers the list's filters find, among those the user may see; phone, e-mail and
    personal attributes masked unless asked for in full by someone who may reveal them."""
    kind, reveal = _kind(kind), _reveal(request)
    filters = CustomerFilters.from_query(request.GET.dict())
    found = visibility.visible(request.user, filters.apply(Customer.objects.all()))
    return _export(
        request,
        kind=kind,
        what=customer_table.NAME,
        found=found,
        filters=_query(request),
        lines_of=customer_table.lines_of,
        sheet=customer_table.sheet(),
        object_type=customer_table.OBJECT_TYPE,
        reveal=reveal,
    )


@requires("task", "export")
@require_GET
def tasks(request: HttpRequest, kind: str) -> HttpResponseBase:
    """The tasks of *My follow-ups*' tab or of the team board's filters, among those the user
    may see; the customer's phone masked unless asked for in full by someone who may reveal."""
    kind, reveal = _kind(kind), _reveal(request)
    found, filters = task_table.found(request.user, request.GET, timezone.now())
    return _export(
        request,
        kind=kind,
        what=task_table.NAME,
        found=found,
        filters=filters,
        lines_of=task_table.lines_of,
        sheet=task_table.sheet(),
        object_type=task_table.OBJECT_TYPE,
        reveal=reveal,
    )


@requires("message", "export")
@require_GET
def messages(request: HttpRequest, kind: str) -> HttpResponseBase:
    """The message log's rows with its filters, among the customers the user may see."""
    kind, reveal = _kind(kind), _reveal(request)
    found, filters = message_table.found(request.user, request.GET)
    return _export(
        request,
        kind=kind,
        what=message_table.NAME,
        found=found,
        filters=filters,
        lines_of=message_table.lines_of,
        sheet=message_table.sheet(),
        object_type=message_table.OBJECT_TYPE,
        reveal=reveal,
    )


@requires("audit", "export")
@require_GET
def audit(request: HttpRequest, kind: str) -> HttpResponseBase:
    """The audit log's entries with the page's filters (administrators)."""
    kind = _kind(kind)
    found, filters = entry_table.found(request.GET)
    return _export(
        request,
        kind=kind,
        what=entry_table.NAME,
        found=found,
        filters=filters,
        lines_of=entry_table.lines_of,
        sheet=entry_table.sheet(),
        object_type=entry_table.OBJECT_TYPE,
        reveal=False,
    )


def _query(request: HttpRequest) -> str:
    params = request.GET.copy()
    for key in ("after", "before", "reveal"):
        params.pop(key, None)
    return params.urlencode()
