"""REST endpoints for messages and message templates (mounted under ``/api/v1``): read-only.

A message's text, error and provider answers are shown as the message log shows them: the
customer's phone and e-mail masked wherever they appear (``log.redact``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Path, Query, Router, Schema

from huifang.api.auth import TokenAuth
from huifang.api.errors import ApiError
from huifang.api.pagination import PageQuery, answer, page
from huifang.api.schemas import READ_REFUSALS, ErrorOut, Moment, inline
from huifang.core.limits import MAX_ID
from huifang.customers.models import Channel

from . import log
from .models import Attempt, Message, MessageTemplate

router = Router(tags=["messages"])
ID = Path(..., ge=1, le=MAX_ID)
MessageStatus = Annotated[Message.Status, inline(Message.Status)]
MessageChannel = Annotated[Channel, inline(Channel)]
AttemptOutcome = Annotated[Attempt.Outcome, inline(Attempt.Outcome)]


class MessageOut(Schema):
    id: int
    status: MessageStatus
    reason: str = Field(..., description="Why it was deferred or dropped, when it was.")
    channel: str = Field(..., description="Empty until the gate chose one of `channels`.")
    channels: list[str]
    customer_id: int | None
    customer_external_id: str | None
    rule: str | None = Field(..., description="The key of the rule that sent it.")
    step: str
    template: str
    transactional: bool
    subject: str = Field(..., description="Personal details masked.")
    body: str = Field(..., description="Personal details masked.")
    planned_at: datetime
    queued_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    attempts: int
    error: str
    created_at: datetime


class AttemptOut(Schema):
    number: int
    transport: str
    started_at: datetime
    finished_at: datetime | None
    outcome: AttemptOutcome
    code: str
    error: str = Field(..., description="Personal details masked.")
    answer: str = Field(..., description="The provider's answer, personal details masked.")


class MessageDetailOut(MessageOut):
    attempt_log: list[AttemptOut]


class MessagePage(Schema):
    items: list[MessageOut]
    next_cursor: str | None


class MessageFilters(Schema):
    status: MessageStatus | None = None
    channel: MessageChannel | None = None
    customer: str | None = Field(None, max_length=128, description="A customer's external id.")
    rule: str | None = Field(None, max_length=100, description="A rule's key.")
    planned_after: Moment | None = Field(None, description="Planned at or after.")
    planned_before: Moment | None = Field(None, description="Planned before.")


class TemplateOut(Schema):
    id: int
    key: str
    channel: MessageChannel
    name: str
    version: int | None = Field(..., description="The number of the current version.")
    subject: str
    body: str
    created_at: datetime
    updated_at: datetime


class TemplatePage(Schema):
    items: list[TemplateOut]
    next_cursor: str | None


def _messages() -> QuerySet[Message]:
    return Message.objects.select_related("customer", "rule")


def _out(message: Message) -> dict[str, Any]:
    customer = message.customer
    return {
        **{f: getattr(message, f) for f in MessageOut.model_fields if hasattr(message, f)},
        **log.for_display(message, ("subject", "body", "error")),
        "customer_external_id": customer.external_id if customer else None,
        "rule": message.rule.key if message.rule else None,
    }


def _attempt(attempt: Attempt, message: Message) -> dict[str, Any]:
    return {
        **{f: getattr(attempt, f) for f in AttemptOut.model_fields},
        "error": log.redact(attempt.error, message.customer),
        "answer": log.redact(attempt.answer, message.customer),
    }


@router.get(
    "/messages",
    auth=TokenAuth("message", "view"),
    response={200: MessagePage, **READ_REFUSALS},
    summary="List messages, newest first, with filters",
)
def list_messages(
    request: HttpRequest, filters: Query[MessageFilters], paging: Query[PageQuery]
) -> dict[str, Any]:
    lookups = {
        "status": filters.status and filters.status.value,
        "channel": filters.channel and filters.channel.value,
        "customer__external_id": filters.customer,
        "rule__key": filters.rule,
        "planned_at__gte": filters.planned_after,
        "planned_at__lt": filters.planned_before,
    }
    found = _messages().filter(**{k: v for k, v in lookups.items() if v is not None})
    rows, cursor = page(found, paging)
    return answer([_out(m) for m in rows], cursor)


@router.get(
    "/messages/{message_id}",
    auth=TokenAuth("message", "view"),
    response={200: MessageDetailOut, 404: ErrorOut, **READ_REFUSALS},
    summary="Read a message with its status and every hand-off to its provider",
)
def get_message(request: HttpRequest, message_id: int = ID) -> dict[str, Any]:
    message = _messages().filter(pk=message_id).first()
    if message is None:
        raise ApiError(
            404, "unknown_message", _("There is no message %(id)s.") % {"id": message_id}
        )
    attempts = Attempt.objects.filter(message=message).order_by("number", "pk")
    return {**_out(message), "attempt_log": [_attempt(a, message) for a in attempts]}


def _template(template: MessageTemplate) -> dict[str, Any]:
    current = template.current_version
    return {
        "id": template.pk,
        "key": template.key,
        "channel": template.channel,
        "name": template.name,
        "version": current.number if current else None,
        "subject": current.subject if current else "",
        "body": current.body if current else "",
        "created_at": template.created_at,
        "updated_at": template.updated_at,
    }


@router.get(
    "/templates",
    auth=TokenAuth("template", "view"),
    response={200: TemplatePage, **READ_REFUSALS},
    summary="List message templates with their current text",
    tags=["templates"],
)
def list_templates(
    request: HttpRequest,
    paging: Query[PageQuery],
    channel: MessageChannel | None = None,
) -> dict[str, Any]:
    templates = MessageTemplate.objects.select_related("current_version")
    if channel is not None:
        templates = templates.filter(channel=channel.value)
    rows, cursor = page(templates, paging)
    return answer([_template(t) for t in rows], cursor)


@router.get(
    "/templates/{template_id}",
    auth=TokenAuth("template", "view"),
    response={200: TemplateOut, 404: ErrorOut, **READ_REFUSALS},
    summary="Read a message template with its current text",
    tags=["templates"],
)
def get_template(request: HttpRequest, template_id: int = ID) -> dict[str, Any]:
    template = (
        MessageTemplate.objects.select_related("current_version").filter(pk=template_id).first()
    )
    if template is None:
        raise ApiError(
            404, "unknown_template", _("There is no template %(id)s.") % {"id": template_id}
        )
    return _template(template)
