"""What every router's operations share in their schema: the error body and the refusals each
operation documents besides its result."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from django.db.models import TextChoices
from ninja import Schema
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from huifang.core.limits import Refusal, check_moment


class ErrorBody(Schema):
    code: str
    message: str


class ErrorOut(Schema):
    error: ErrorBody


# What every operation may answer besides its result: 401 without a valid token, 403 for a
# token whose scope does not allow it, 400 for a NUL character, a bad cursor or (writes) a body
# that is not strict JSON within the depth limit, 413 for a body or batch over its limit, 422
# for a value the services refuse.
READ_REFUSALS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut}
REFUSALS: dict[int, Any] = {**READ_REFUSALS, 413: ErrorOut, 422: ErrorOut}


def inline(field: type[TextChoices]) -> WithJsonSchema:
    """A model's choices spelled out where they are used (``Annotated[Task.Status,
    inline(Task.Status)]``), not as a shared component: models call theirs ``Status``
    (tasks, messages, rules …), and one name in the schema must mean one thing."""
    return WithJsonSchema({"type": "string", "enum": list(field.values)})


def _iso_text(value: Any) -> Any:
    """Dates and times are ISO 8601 text: pydantic would also read a number, or a number in a
    query string, as a Unix timestamp, which the schema (``format: date-time``) does not
    allow."""
    if isinstance(value, int | float) or (isinstance(value, str) and not _ISO.match(value)):
        raise PydanticCustomError("datetime_parsing", "an ISO 8601 date and time is expected")
    return value


def _in_range(value: datetime) -> datetime:
    try:
        check_moment(value, path="")
    except Refusal as refusal:
        raise PydanticCustomError("date_out_of_range", refusal.message) from None
    return value


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]")
# A moment with its offset, as ISO 8601 text (2026-10-08T09:00:00+08:00).
# Between 1900 and 2199, as everywhere (``huifang.core.limits``).
Moment = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_in_range)]
