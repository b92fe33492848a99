"""REST endpoints for exports (mounted under ``/api/v1``): a kind of rows as a CSV or xlsx file,
with the filters of its list, masked unless a token with the reveal scope asks for full values,
and audited either way — the same files as the export pages.

Each kind is one ``_export(...)`` line at the bottom: its path, the permission it needs, the
query it reads, and the function that filters its rows and writes its file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from huifang.accounts.permissions import can
from huifang.api.auth import TokenAuth
from huifang.api.errors import ApiError
from huifang.api.schemas import READ_REFUSALS, inline
from huifang.core.exports import XLSX
from huifang.customers.models import Customer, LifecycleStage, Tier
from huifang.customers.search import CustomerFilters

from . import customers as customer_rows
from . import tables

router = Router(tags=["exports"])
Tiers = Annotated[Tier, inline(Tier)]
Stages = Annotated[LifecycleStage, inline(LifecycleStage)]


class FileFormat(Schema):
    format: str = Field("csv", pattern="^(csv|xlsx)$", description="csv (UTF-8 with BOM) or xlsx.")
    reveal: bool = Field(
        False,
        description="Personal details in full: needs a token with the reveal scope (else 403); "
        "recorded in the audit log.",
    )


class CustomerExportQuery(FileFormat):
    q: str = Field("", max_length=100, description="Name, phone, e-mail or customer number.")
    tier: Tiers | None = None
    stage: Stages | None = None
    tag: int | None = Field(None, ge=1, le=2**63 - 1, description="A tag's id.")
    province: str = Field("", max_length=32)
    city: str = Field("", max_length=32)


def _customers(query: CustomerExportQuery) -> tuple[QuerySet[Customer], str]:
    params = {
        "q": query.q,
        "tier": query.tier.value if query.tier else "",
        "stage": query.stage.value if query.stage else "",
        "tag": str(query.tag or ""),
        "province": query.province,
        "city": query.city,
    }
    found = CustomerFilters.from_query(params).apply(Customer.objects.all())
    return found, "&".join(f"{k}={v}" for k, v in params.items() if v)


def _write_customers(rows: QuerySet[Customer], kind: str, reveal: bool) -> HttpResponseBase:
    lines = customer_rows.lines_of(rows, reveal=reveal)
    return tables.respond(lines, kind, "customers", customer_rows.sheet())


FILE_ANSWER = {
    "description": "The file, as an attachment.",
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        XLSX: {"schema": {"type": "string", "format": "binary"}},
    },
}


def _export(
    name: str,
    obj: str,
    query_schema: type[FileFormat],
    select: Callable[[Any], tuple[QuerySet[Any], str]],
    write: Callable[[QuerySet[Any], str, bool], HttpResponseBase],
) -> None:
    """Add ``GET /exports/{name}``: the rows ``select`` finds for the query, as ``write`` writes
    them, for tokens the table lets export ``obj``."""

    def operation(request: HttpRequest, query: Any) -> HttpResponseBase:
        token = request.auth  # type: ignore[attr-defined]
        if query.reveal and not can(token, obj, "reveal"):
            raise ApiError(
                403,
                "reveal_not_allowed",
                _("This token's scope does not allow personal details in full."),
            )
        rows, filters = select(query)
        count = rows.count()
        try:
            tables.check(count, query.format)
        except tables.TooMany as refused:
            raise ApiError(400, "too_many_rows", str(refused)) from None
        tables.audit(
            name,
            query.format,
            rows=count,
            revealed=query.reveal,
            filters=filters,
            request=request,
            actor=token,
            object_type=rows.model._meta.label_lower,
        )
        return write(rows, query.format, query.reveal)

    operation.__name__ = f"export_{name}"
    # The query's schema is the kind's own: set where django-ninja reads it.
    operation.__annotations__ = {
        "request": HttpRequest,
        "query": Query[query_schema],  # type: ignore[misc,valid-type]
        "return": HttpResponseBase,
    }
    router.get(
        f"/exports/{name}",
        auth=TokenAuth(obj, "export"),
        response={**READ_REFUSALS},
        openapi_extra={"responses": {"200": FILE_ANSWER}},
        summary=f"Export {name} as CSV or xlsx",
    )(operation)


_export("customers", "customer", CustomerExportQuery, _customers, _write_customers)
