"""REST endpoints for customers and events (mounted under ``/api/v1``)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from huifang.api.auth import TokenAuth
from huifang.api.errors import ApiError
from huifang.api.pagination import PageQuery, answer, page
from huifang.api.schemas import READ_REFUSALS, REFUSALS, ErrorOut, Moment, inline

from . import pii, services
from .event_types import event_types
from .models import Customer, CustomEventType, Event, LifecycleStage, Tier
from .schemas import CustomerIn, EventIn

router = Router(tags=["customers"])


class CustomerOut(Schema):
    id: int
    external_id: str | None
    name: str
    phone: str = Field(..., description="Masked (138****8000); reveal it with POST …/reveal.")
    email: str = Field(..., description="Masked (w***@example.cn).")
    wecom_external_userid: str = Field(..., description="Masked.")
    tier: str
    lifecycle_stage: str
    tags: list[str]
    owner: str | None
    province: str
    city: str
    time_zone: str
    birthday: date | None
    do_not_contact: bool
    attributes: dict[str, Any]
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    order_count: int
    total_spend: Decimal
    spend_12m: Decimal
    last_contact_at: datetime | None
    last_reply_at: datetime | None
    last_satisfaction: int | None = Field(..., description="The latest CSAT, 1–5.")
    last_nps: int | None = Field(..., description="The latest NPS answer, 0–10.")
    last_ces: int | None = Field(..., description="The latest CES answer, 1–7.")
    csat_12m: Decimal | None = Field(..., description="Average CSAT of the last 365 days.")
    nps_12m: Decimal | None = Field(..., description="Average NPS answer of the last 365 days.")
    ces_12m: Decimal | None = Field(..., description="Average CES of the last 365 days.")
    complaint_count: int
    created_at: datetime
    updated_at: datetime


class CustomerPage(Schema):
    items: list[CustomerOut]
    next_cursor: str | None


class CustomerFilters(Schema):
    tier: Annotated[Tier, inline(Tier)] | None = None
    lifecycle_stage: Annotated[LifecycleStage, inline(LifecycleStage)] | None = None
    tag: str | None = Field(None, max_length=50, description="A tag's name.")
    updated_after: Moment | None = Field(None, description="Changed at or after (ISO 8601).")


class EventPage(Schema):
    items: list[EventOut]
    next_cursor: str | None


class EventFilters(Schema):
    customer: str | None = Field(None, max_length=128, description="A customer's external id.")
    type: str | None = Field(None, max_length=64)
    occurred_after: Moment | None = None
    occurred_before: Moment | None = None


class RowErrorOut(Schema):
    index: int
    code: str
    message: str
    field: str | None


class CustomerBatchIn(Schema):
    # Any: a malformed row is that row's error, not the whole batch's.
    customers: list[Any] = Field(
        ...,
        min_length=1,
        description="Rows of the CustomerIn schema; each row is checked on its own. At most "
        "API_BATCH_MAX_ROWS rows (413 beyond).",
    )


class RowResultOut(Schema):
    index: int
    id: int
    external_id: str | None = None
    created: bool


class CustomerBatchOut(Schema):
    created: int
    updated: int
    failed: int
    results: list[RowResultOut]
    errors: list[RowErrorOut]


class EventOut(Schema):
    id: int
    type: str
    customer_id: int
    occurred_at: datetime
    properties: dict[str, Any]
    idempotency_key: str | None
    duplicate: bool


class EventBatchIn(Schema):
    events: list[Any] = Field(
        ...,
        min_length=1,
        description="Rows of the EventIn schema; each row is checked on its own. At most "
        "API_BATCH_MAX_ROWS rows (413 beyond).",
    )


class EventBatchOut(Schema):
    created: int
    duplicates: int
    failed: int
    results: list[RowResultOut]
    errors: list[RowErrorOut]


class EventTypeOut(Schema):
    key: str
    label: str
    description: str
    builtin: bool


def _customer_out(customer: Customer, *, reload: bool = True) -> dict[str, Any]:
    """A customer as the API shows it: personal details masked (``POST …/reveal`` shows one in
    full, audited). ``reload``: read it again first (a write may have changed derived
    figures); a list reads its page with tags and owners at once instead."""
    if reload:
        customer.refresh_from_db()
    return {
        **{f: getattr(customer, f) for f in CustomerOut.model_fields if hasattr(customer, f)},
        **{f: pii.masked(customer, f) for f in pii.FIELDS if f in CustomerOut.model_fields},
        "attributes": pii.masked_attributes(customer.attributes or {}),
        "tags": sorted(tag.name for tag in customer.tags.all()),
        "owner": customer.owner.get_username() if customer.owner else None,
    }


def _token(request: HttpRequest) -> Any:
    """The API token that authenticated this request (set by django-ninja)."""
    return getattr(request, "auth", None)


def _check_batch_size(rows: list[Any]) -> None:
    limit = settings.API_BATCH_MAX_ROWS
    if len(rows) > limit:
        raise ApiError(
            413,
            "batch_too_large",
            _("A batch holds at most %(limit)s rows; this one has %(count)s.")
            % {"limit": limit, "count": len(rows)},
        )


def _row_error(error: services.RowError) -> ApiError:
    return ApiError(422, error.code, error.message, field=error.field)


@router.post(
    "/customers",
    auth=TokenAuth("customer", "edit"),
    response={200: CustomerOut, 201: CustomerOut, **REFUSALS},
    summary="Create or update a customer by external id",
)
def upsert_customer(request: HttpRequest, payload: CustomerIn) -> Status[dict[str, Any]]:
    result = services.upsert_customers(
        [payload.model_dump(exclude_unset=True)], actor=_token(request)
    )
    if result.errors:
        raise _row_error(result.errors[0])
    customer = result.by_index[0]
    return Status(201 if result.created else 200, _customer_out(customer))


@router.post(
    "/customers/batch",
    auth=TokenAuth("customer", "edit"),
    response={200: CustomerBatchOut, **REFUSALS},
    summary="Create or update many customers; valid rows are saved, bad rows reported",
)
def upsert_customers(request: HttpRequest, payload: CustomerBatchIn) -> dict[str, Any]:
    _check_batch_size(payload.customers)
    result = services.upsert_customers(payload.customers, actor=_token(request))
    created = {id(c) for c in result.created}
    return {
        "created": len(result.created),
        "updated": len(result.updated),
        "failed": len(result.errors),
        "results": [
            {"index": i, "id": c.pk, "external_id": c.external_id, "created": id(c) in created}
            for i, c in sorted(result.by_index.items())
        ],
        "errors": [e.as_dict() for e in result.errors],
    }


class RevealIn(Schema):
    field: str = Field(
        ...,
        description="phone, email, wecom_external_userid, or attributes.<key> for a personal "
        "custom attribute (PII_ATTRIBUTES: an address, an id number)",
    )
    reason: str = Field("", max_length=200, description="Why it is needed; kept in the audit log.")


class RevealOut(Schema):
    field: str
    value: str


@router.post(
    "/customers/{external_id}/reveal",
    auth=TokenAuth("customer", "reveal"),
    response={200: RevealOut, 404: ErrorOut, 429: ErrorOut, **REFUSALS},
    summary="Show one personal detail in full (recorded in the audit log, limited per hour)",
)
def reveal_detail(request: HttpRequest, external_id: str, payload: RevealIn) -> dict[str, Any]:
    customer = _customer_or_404(external_id)
    personal_attribute = payload.field.startswith(pii.ATTRIBUTE) and pii.is_personal_attribute(
        payload.field.removeprefix(pii.ATTRIBUTE)
    )
    if payload.field not in pii.FIELDS and not personal_attribute:
        raise ApiError(
            422,
            "not_revealable",
            _("Only %(fields)s can be revealed.")
            % {"fields": ", ".join([*pii.FIELDS, "attributes.<key>"])},
            field="field",
        )
    if personal_attribute and pii.detail_of(customer, payload.field) is None:
        raise ApiError(
            404,
            "unknown_attribute",
            _("This customer has no attribute “%(key)s”.")
            % {"key": payload.field.removeprefix(pii.ATTRIBUTE)},
            field="field",
        )
    try:
        shown = pii.reveal(
            customer, payload.field, user=_token(request), request=request, reason=payload.reason
        )
    except pii.RevealRefused as refused:
        if refused.status == 429:
            raise ApiError(429, "reveal_limit", str(refused)) from None
        raise ApiError(422, "reason_required", str(refused), field="reason") from None
    return {"field": shown.field, "value": shown.value}


def _customer_or_404(external_id: str) -> Customer:
    customer = Customer.objects.filter(external_id=external_id).first()
    if customer is None:
        raise ApiError(
            404,
            "unknown_customer",
            _("No customer has the external id “%(value)s”.") % {"value": external_id},
        )
    return customer


@router.get(
    "/customers/{external_id}",
    auth=TokenAuth("customer", "view"),
    response={200: CustomerOut, 404: ErrorOut, **READ_REFUSALS},
    summary="Read a customer by external id",
)
def get_customer(request: HttpRequest, external_id: str) -> dict[str, Any]:
    return _customer_out(_customer_or_404(external_id))


def _event_out(event: Event, created: bool) -> dict[str, Any]:
    return {
        "id": event.pk,
        "type": event.type,
        "customer_id": event.customer_id,
        "occurred_at": event.occurred_at,
        "properties": event.properties,
        "idempotency_key": event.idempotency_key,
        "duplicate": not created,
    }


@router.post(
    "/events",
    auth=TokenAuth("event", "create"),
    response={200: EventOut, 201: EventOut, 404: ErrorOut, **REFUSALS},
    summary="Record an event; a repeated idempotency_key returns the first event",
)
def ingest_event(request: HttpRequest, payload: EventIn) -> Status[dict[str, Any]]:
    result = services.ingest_events([payload.model_dump(exclude_unset=True)], actor=_token(request))
    if result.errors:
        error = result.errors[0]
        raise ApiError(
            404 if error.code == "unknown_customer" else 422,
            error.code,
            error.message,
            field=error.field,
        )
    event, created = result.by_index[0]
    return Status(201 if created else 200, _event_out(event, created))


@router.post(
    "/events/batch",
    auth=TokenAuth("event", "create"),
    response={200: EventBatchOut, **REFUSALS},
    summary="Record many events; valid rows are saved, bad rows reported",
)
def ingest_events(request: HttpRequest, payload: EventBatchIn) -> dict[str, Any]:
    _check_batch_size(payload.events)
    result = services.ingest_events(payload.events, actor=_token(request))
    return {
        "created": len(result.created),
        "duplicates": len(result.duplicates),
        "failed": len(result.errors),
        "results": [
            {"index": i, "id": event.pk, "created": created}
            for i, (event, created) in sorted(result.by_index.items())
        ],
        "errors": [e.as_dict() for e in result.errors],
    }


@router.get(
    "/event-types",
    auth=TokenAuth("event", "view"),
    response={200: list[EventTypeOut], **READ_REFUSALS},
    summary="Known event types",
)
def list_event_types(request: HttpRequest) -> list[dict[str, Any]]:
    builtin = [
        {"key": t.key, "label": str(t.label), "description": str(t.description), "builtin": True}
        for t in event_types
    ]
    custom = [
        {"key": t.key, "label": t.name, "description": t.description, "builtin": False}
        for t in CustomEventType.objects.all()
    ]
    return builtin + custom


@router.get(
    "/customers",
    auth=TokenAuth("customer", "view"),
    response={200: CustomerPage, **READ_REFUSALS},
    summary="List customers, newest first, personal details masked",
)
def list_customers(
    request: HttpRequest, filters: Query[CustomerFilters], paging: Query[PageQuery]
) -> dict[str, Any]:
    lookups = {
        "tier": filters.tier,
        "lifecycle_stage": filters.lifecycle_stage,
        "tags__name": filters.tag,
        "updated_at__gte": filters.updated_after,
    }
    found = Customer.objects.filter(**{k: v for k, v in lookups.items() if v is not None})
    rows, cursor = page(found.select_related("owner").prefetch_related("tags"), paging)
    return answer([_customer_out(c, reload=False) for c in rows], cursor)


@router.get(
    "/events",
    auth=TokenAuth("event", "view"),
    response={200: EventPage, **READ_REFUSALS},
    summary="List events, newest first (personal properties masked)",
)
def list_events(
    request: HttpRequest, filters: Query[EventFilters], paging: Query[PageQuery]
) -> dict[str, Any]:
    lookups = {
        "customer__external_id": filters.customer,
        "type": filters.type,
        "occurred_at__gte": filters.occurred_after,
        "occurred_at__lt": filters.occurred_before,
    }
    found = Event.objects.filter(**{k: v for k, v in lookups.items() if v is not None})
    rows, cursor = page(found, paging)
    # Properties named as personal attributes (an address …) are masked, as on a customer.
    return answer(
        [
            {**_event_out(e, created=True), "properties": pii.masked_attributes(e.properties)}
            for e in rows
        ],
        cursor,
    )
