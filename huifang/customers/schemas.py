"""The shape of a customer row and an event row, shared by the API, imports and demo data.

Pydantic checks types; the services check meaning (a real phone number, an existing owner, a
known event type). Error messages are translated: pydantic's own English wording is replaced by
ours for the error kinds people actually hit.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict
from pydantic_core import PydanticCustomError

from .models import Channel, Consent, Language, LifecycleStage, Tier


def _written(kind: str) -> Any:
    """Dates and times as JSON carries them, in text: pydantic would also read a number as a
    Unix timestamp, which the schema does not allow and nobody means."""

    def check(value: Any) -> Any:
        if isinstance(value, int | float):
            raise PydanticCustomError(kind, "a date or time is written as text")
        return value

    return BeforeValidator(check)


Moment = Annotated[datetime, _written("datetime_type")]
Day = Annotated[date, _written("date_type")]
Flag = Annotated[bool, Strict()]  # true or false, not "yes" or 1


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    status: Consent.Status
    method: Consent.Method = Consent.Method.API
    recorded_at: Moment | None = Field(None, description="Defaults to the time of the request.")
    text_version: str = Field("", max_length=50)
    evidence: str = Field("", max_length=2000)


class CustomerIn(BaseModel):
    """A customer, created or updated by ``external_id``; omitted fields are left unchanged."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_id: str = Field(..., min_length=1, max_length=128)
    name: str | None = Field(None, min_length=1, max_length=100)
    phone: str | None = Field(None, max_length=40, description="Any format; stored as E.164.")
    phones: list[str] | None = Field(None, max_length=10, description="Further phone numbers.")
    email: str | None = Field(None, max_length=254)
    wecom_external_userid: str | None = Field(None, max_length=64)
    gender: str | None = Field(None, pattern="^(f|m|)$")
    birthday: Day | None = None
    company: str | None = Field(None, max_length=100)
    province: str | None = Field(None, max_length=32)
    city: str | None = Field(None, max_length=32)
    source: str | None = Field(None, max_length=64)
    owner: str | None = Field(None, max_length=150, description="The owner's username.")
    business_line: str | None = Field(None, max_length=64)
    tags: list[str] | None = Field(None, max_length=50, description="Replaces the tags.")
    tier: Tier | None = None
    lifecycle_stage: LifecycleStage | None = None
    time_zone: str | None = Field(None, max_length=64)
    preferred_channel: Channel | None = None
    language: Language | None = None
    do_not_contact: Flag | None = None
    attributes: dict[str, Any] | None = Field(
        None, description="Merged into the custom attributes; a null value removes the key."
    )
    consents: list[ConsentIn] | None = None


class EventIn(BaseModel):
    # Whose event it is: an existing customer by external id, or one created with it.
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "anyOf": [{"required": ["customer_external_id"]}, {"required": ["customer"]}]
        },
    )

    type: str = Field(..., min_length=1, max_length=64)
    customer_external_id: str | None = Field(None, min_length=1, max_length=128)
    customer: CustomerIn | None = Field(
        None, description="Create or update the customer in the same call."
    )
    occurred_at: Moment = Field(
        ..., description="ISO 8601; without an offset it is read in the organisation's zone."
    )
    properties: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)
