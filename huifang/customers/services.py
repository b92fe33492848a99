"""Writing customers and events: the one path for the API, imports and staff edits.

Batches are validated row by row; valid rows are written together in one transaction and bad
rows come back as ``RowError`` with the row's index, a machine code and a translated message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import pydantic
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huifang.core.limits import Refusal, check_data, check_day, check_moment, has_nul
from huifang.core.validation import describe_validation_error
from huifang.core.zones import is_zone_name

from . import changes as told
from .consent import record_consent
from .event_scores import COLUMNS, ScoreInvalid, read_scores
from .event_types import EventType, resolve
from .events import record_events
from .models import ContactPoint, Customer, Event, Tag, tag_name_validator
from .phones import normalize_phone
from .schemas import CustomerIn, EventIn


@dataclass
class RowError:
    index: int
    code: str
    message: str
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "code": self.code,
            "message": self.message,
            "field": self.field,
        }


class RowInvalid(Exception):
    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


@dataclass
class UpsertResult:
    created: list[Customer] = field(default_factory=list)
    updated: list[Customer] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    # For every row index that succeeded: the customer it created or updated.
    by_index: dict[int, Customer] = field(default_factory=dict)


@dataclass
class IngestResult:
    created: list[Event] = field(default_factory=list)
    duplicates: list[Event] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    by_index: dict[int, tuple[Event, bool]] = field(default_factory=dict)


def _parse(model: type[pydantic.BaseModel], index: int, row: Any) -> Any:
    if not isinstance(row, Mapping):
        raise RowInvalid("invalid_row", _("Each row must be an object."))
    if has_nul(row):
        raise RowInvalid("nul_character", _("Text may not contain the NUL character (U+0000)."))
    try:
        return model.model_validate(row)
    except pydantic.ValidationError as exc:
        first = describe_validation_error(exc)[0]
        raise RowInvalid("validation_error", first["message"], first["field"]) from None


def _within_limits(check: Any, value: Any, path: str) -> None:
    """``check(value, path=path)`` from ``huifang.core.limits``, its refusal as a row's error."""
    try:
        check(value, path=path)
    except Refusal as refusal:
        raise RowInvalid(refusal.code, refusal.message, path) from None


# --- customers ---------------------------------------------------------------------------


_PLAIN_FIELDS = (
    "name",
    "wecom_external_userid",
    "gender",
    "birthday",
    "company",
    "province",
    "city",
    "source",
    "business_line",
    "tier",
    "lifecycle_stage",
    "preferred_channel",
    "language",
)


@dataclass
class _CustomerChange:
    index: int
    data: CustomerIn
    values: dict[str, Any]
    extra_phones: list[str]
    owner: str | None


def _check_customer(index: int, data: CustomerIn) -> _CustomerChange:
    sent = data.model_fields_set
    values: dict[str, Any] = {}
    for name in _PLAIN_FIELDS:
        if name in sent:
            value = getattr(data, name)
            values[name] = "" if value is None and name not in {"birthday"} else value
    if data.birthday is not None:
        _within_limits(check_day, data.birthday, "birthday")
    if data.attributes is not None:
        _within_limits(check_data, data.attributes, "attributes")
    for position, consent in enumerate(data.consents or []):
        if consent.recorded_at is not None:
            _within_limits(check_moment, consent.recorded_at, f"consents.{position}.recorded_at")
    if "name" in sent and not data.name:
        raise RowInvalid("validation_error", _("A customer needs a name."), "name")
    if "phone" in sent:
        values["phone"] = _phone(data.phone, "phone") if data.phone else ""
    extra = [_phone(p, f"phones.{i}") for i, p in enumerate(data.phones or [])]
    if "email" in sent:
        email = (data.email or "").strip().lower()
        if email:
            try:
                validate_email(email)
            except ValidationError:
                raise RowInvalid(
                    "invalid_email",
                    _("“%(value)s” is not an e-mail address.") % {"value": email},
                    "email",
                ) from None
        values["email"] = email
    if "time_zone" in sent and data.time_zone:
        if not is_zone_name(data.time_zone):
            raise RowInvalid(
                "invalid_time_zone",
                _("“%(value)s” is not a time zone; use a name such as Asia/Shanghai.")
                % {"value": data.time_zone},
                "time_zone",
            )
        values["time_zone"] = data.time_zone
    if "do_not_contact" in sent and data.do_not_contact is not None:
        values["do_not_contact"] = data.do_not_contact
    for position, tag in enumerate(data.tags or []):
        try:
            tag_name_validator(tag)
        except ValidationError as exc:
            raise RowInvalid("invalid_tag", exc.messages[0], f"tags.{position}") from None
    return _CustomerChange(index, data, values, extra, data.owner if "owner" in sent else None)


def _phone(raw: str, field_name: str) -> str:
    try:
        return normalize_phone(raw)
    except ValidationError as exc:
        raise RowInvalid("invalid_phone", exc.messages[0], field_name) from None


def upsert_customers(
    rows: Sequence[Any], *, actor: Any = None, now: datetime | None = None
) -> UpsertResult:
    """Create or update customers by external id. Bad rows are reported; good rows are saved."""
    now = now or timezone.now()
    result = UpsertResult()
    changes: list[_CustomerChange] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        try:
            change = _check_customer(index, _parse(CustomerIn, index, row))
            if change.data.external_id in seen:
                raise RowInvalid(
                    "duplicate_in_batch",
                    _("This external id appears earlier in the same batch."),
                    "external_id",
                )
            seen.add(change.data.external_id)
            changes.append(change)
        except RowInvalid as err:
            result.errors.append(RowError(index, err.code, err.message, err.field))
    if not changes:
        return result
    owners = _owners({c.owner for c in changes if c.owner})
    with transaction.atomic():
        existing: dict[str, Customer] = {
            str(c.external_id): c
            for c in Customer.objects.select_for_update().filter(
                external_id__in=[c.data.external_id for c in changes]
            )
        }
        to_create: list[_CustomerChange] = []
        to_update: list[_CustomerChange] = []
        for change in changes:
            if change.owner is not None and change.owner and change.owner not in owners:
                result.errors.append(
                    RowError(
                        change.index,
                        "unknown_owner",
                        _("No staff member has the username “%(value)s”.")
                        % {"value": change.owner},
                        "owner",
                    )
                )
                continue
            if change.owner is not None:
                change.values["owner"] = owners.get(change.owner)
            if change.data.external_id in existing:
                if error := _merged_error(change, existing[change.data.external_id]):
                    result.errors.append(error)
                    continue
                to_update.append(change)
            elif not change.data.name:
                result.errors.append(
                    RowError(
                        change.index, "validation_error", _("A new customer needs a name."), "name"
                    )
                )
            else:
                to_create.append(change)
        _create(to_create, result)
        _update(to_update, existing, result)
        touched = to_create + to_update
        _apply_tags([c for c in touched if c.data.tags is not None], result)
        _apply_extra_phones([c for c in touched if c.extra_phones], result)
        for change in touched:
            customer = result.by_index[change.index]
            for consent in change.data.consents or []:
                record_consent(customer, consent, actor=actor, now=now)
            if change.values.get("do_not_contact") and customer.do_not_contact_at is None:
                Customer.objects.filter(pk=customer.pk).update(do_not_contact_at=now)
        if result.created:
            told.happened(told.CREATED, result.created, now)
        if result.updated:
            told.happened(told.UPDATED, result.updated, now)
    result.errors.sort(key=lambda e: e.index)
    return result


def _owners(usernames: set[str]) -> dict[str, Any]:
    if not usernames:
        return {}
    User = get_user_model()
    return {u.get_username(): u for u in User.objects.filter(username__in=usernames)}


def _create(changes: list[_CustomerChange], result: UpsertResult) -> None:
    objs = []
    for change in changes:
        values = dict(change.values)
        values.setdefault("phone", "")
        objs.append(
            Customer(
                external_id=change.data.external_id,
                attributes=_merged({}, change.data.attributes),
                **values,
            )
        )
    Customer.objects.bulk_create(objs, batch_size=500)
    for change, customer in zip(changes, objs, strict=True):
        result.created.append(customer)
        result.by_index[change.index] = customer


def _update(
    changes: list[_CustomerChange], existing: dict[str, Customer], result: UpsertResult
) -> None:
    fields: set[str] = set()
    objs = []
    for change in changes:
        customer = existing[change.data.external_id]
        for name, value in change.values.items():
            setattr(customer, name, value)
            fields.add(name)
        if change.data.attributes is not None:
            customer.attributes = _merged(customer.attributes, change.data.attributes)
            fields.add("attributes")
        objs.append(customer)
        result.updated.append(customer)
        result.by_index[change.index] = customer
    if fields:
        Customer.objects.bulk_update(objs, sorted(fields | {"updated_at"}), batch_size=500)


def _merged_error(change: _CustomerChange, customer: Customer) -> RowError | None:
    """Each patch of attributes is within the limits; with what is stored, maybe not."""
    if change.data.attributes is None:
        return None
    try:
        check_data(_merged(customer.attributes, change.data.attributes), path="attributes")
    except Refusal as refusal:
        return RowError(change.index, refusal.code, refusal.message, "attributes")
    return None


def _merged(current: dict[str, Any], patch: dict[str, Any] | None) -> dict[str, Any]:
    merged = dict(current)
    for key, value in (patch or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _apply_tags(changes: list[_CustomerChange], result: UpsertResult) -> None:
    if not changes:
        return
    names = {name for c in changes for name in c.data.tags or []}
    Tag.objects.bulk_create([Tag(name=n) for n in names], ignore_conflicts=True)
    tag_ids = dict(Tag.objects.filter(name__in=names).values_list("name", "id"))
    Through = Customer.tags.through
    customer_ids = [result.by_index[c.index].pk for c in changes]
    Through.objects.filter(customer_id__in=customer_ids).delete()
    Through.objects.bulk_create(
        [
            Through(customer_id=result.by_index[c.index].pk, tag_id=tag_ids[name])
            for c in changes
            for name in dict.fromkeys(c.data.tags or [])
        ],
        batch_size=1000,
    )


def _apply_extra_phones(changes: list[_CustomerChange], result: UpsertResult) -> None:
    ContactPoint.objects.bulk_create(
        [
            ContactPoint(
                customer=result.by_index[c.index], kind=ContactPoint.Kind.PHONE, value=phone
            )
            for c in changes
            for phone in c.extra_phones
            if phone != result.by_index[c.index].phone
        ],
        ignore_conflicts=True,
    )


# --- events ------------------------------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    if timezone.is_naive(moment):
        return timezone.make_aware(moment, timezone.get_default_timezone())
    return moment


def _amount(entry: EventType, properties: dict[str, Any]) -> Decimal | None:
    if not entry.is_purchase and "amount" not in properties:
        return None
    raw = properties.get("amount")
    if raw is None:
        if entry.is_purchase:
            raise RowInvalid(
                "validation_error", _("A purchase needs properties.amount."), "properties.amount"
            )
        return None
    try:
        amount = Decimal(str(raw))
        if isinstance(raw, bool) or not amount.is_finite():  # "NaN" compares with nothing
            raise InvalidOperation
        amount = amount.quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise RowInvalid(
            "validation_error", _("properties.amount must be a number."), "properties.amount"
        ) from None
    if amount < 0 or amount >= Decimal("1e12"):
        raise RowInvalid(
            "validation_error",
            _("properties.amount must be between 0 and 999,999,999,999."),
            "properties.amount",
        )
    return amount


def _scores(entry: EventType, properties: dict[str, Any]) -> dict[str, int | None]:
    """The CSAT, NPS and CES the event carries; an event type without scores carries none."""
    if not entry.has_score:
        return dict.fromkeys(COLUMNS)
    try:
        return read_scores(properties)
    except ScoreInvalid as err:
        raise RowInvalid("validation_error", err.message, err.field) from None


@dataclass
class _EventRow:
    index: int
    data: EventIn
    entry: EventType
    occurred_at: datetime
    amount: Decimal | None
    scores: dict[str, int | None]


def _check_event(
    index: int, data: EventIn, types: dict[str, EventType | None], *, found: bool = False
) -> _EventRow:
    if data.type not in types:
        types[data.type] = resolve(data.type)
    entry = types[data.type]
    if entry is None:
        raise RowInvalid(
            "unknown_event_type",
            _("“%(value)s” is not a known event type.") % {"value": data.type},
            "type",
        )
    if not data.customer_external_id and data.customer is None and not found:
        raise RowInvalid(
            "validation_error",
            _("Give customer_external_id or a customer object."),
            "customer_external_id",
        )
    if (
        data.customer
        and data.customer_external_id
        and data.customer.external_id != data.customer_external_id
    ):
        raise RowInvalid(
            "validation_error",
            _("customer_external_id and customer.external_id differ."),
            "customer_external_id",
        )
    _within_limits(check_moment, data.occurred_at, "occurred_at")
    _within_limits(check_data, data.properties, "properties")
    return _EventRow(
        index,
        data,
        entry,
        _aware(data.occurred_at),
        _amount(entry, data.properties),
        _scores(entry, data.properties),
    )


def ingest_events(
    rows: Sequence[Any],
    *,
    source: str = Event.Source.API,
    actor: Any = None,
    now: datetime | None = None,
    customers: Mapping[int, int] | None = None,
) -> IngestResult:
    """Store events, skipping repeats of an idempotency key, and refresh derived figures.

    A repeated key is not an error: the first event with that key is returned as a duplicate.
    ``customers``: the customer of a row the caller has already found (row index → customer
    id), for rows that name none (an inbound source matches customers by phone or e-mail).
    """
    result = IngestResult()
    checked: list[_EventRow] = []
    types: dict[str, EventType | None] = {}
    found = customers or {}
    for index, row in enumerate(rows):
        try:
            data = _parse(EventIn, index, row)
            checked.append(_check_event(index, data, types, found=index in found))
        except RowInvalid as err:
            result.errors.append(RowError(index, err.code, err.message, err.field))
    with transaction.atomic():
        customer_ids = _customers_for(
            [row for row in checked if row.index not in found], result, actor=actor, now=now
        )
        customer_ids.update({row.index: found[row.index] for row in checked if row.index in found})
        ready = [row for row in checked if row.index in customer_ids]
        # The engine reacts in the same transaction (``record_events``): exits and replies take
        # effect, and event triggers enroll, the moment these events are committed.
        try:
            with transaction.atomic():
                record_events(_new_events(ready, customer_ids, source, result), now=now)
        except IntegrityError:
            # Another request stored one of these keys between our check and our insert.
            result.created.clear()
            result.duplicates.clear()
            for row in ready:
                result.by_index.pop(row.index, None)
            record_events(_new_events(ready, customer_ids, source, result), now=now)
    result.errors.sort(key=lambda e: e.index)
    return result


def _customers_for(
    rows: list[_EventRow], result: IngestResult, *, actor: Any, now: datetime | None
) -> dict[int, int]:
    """Map each row index to its customer id, upserting inline customers first."""
    mapping: dict[int, int] = {}
    # Several events of a batch may carry the same customer: the first one's data is used.
    inline: dict[str, list[_EventRow]] = {}
    for row in rows:
        if row.data.customer is not None:
            inline.setdefault(row.data.customer.external_id, []).append(row)
    if inline:
        groups = list(inline.values())
        upserted = upsert_customers(
            [
                group[0].data.customer.model_dump(exclude_unset=True)  # type: ignore[union-attr]
                for group in groups
            ],
            actor=actor,
            now=now,
        )
        errors = {err.index: err for err in upserted.errors}
        for position, group in enumerate(groups):
            for row in group:
                if position in upserted.by_index:
                    mapping[row.index] = upserted.by_index[position].pk
                else:
                    err = errors[position]
                    result.errors.append(
                        RowError(
                            row.index,
                            err.code,
                            err.message,
                            f"customer.{err.field}" if err.field else "customer",
                        )
                    )
    by_reference = [row for row in rows if row.data.customer is None]
    known = dict(
        Customer.objects.filter(
            external_id__in={row.data.customer_external_id for row in by_reference}
        ).values_list("external_id", "id")
    )
    for row in by_reference:
        customer_id = known.get(row.data.customer_external_id)
        if customer_id is None:
            result.errors.append(
                RowError(
                    row.index,
                    "unknown_customer",
                    _("No customer has the external id “%(value)s”.")
                    % {"value": row.data.customer_external_id},
                    "customer_external_id",
                )
            )
        else:
            mapping[row.index] = customer_id
    return mapping


def _new_events(
    rows: list[_EventRow], customer_ids: dict[int, int], source: str, result: IngestResult
) -> list[Event]:
    """The rows' events not stored yet (unsaved; ``record_events`` stores them); a repeated
    idempotency key finds the event first stored with it."""
    keys = {row.data.idempotency_key for row in rows if row.data.idempotency_key}
    first_by_key = {e.idempotency_key: e for e in Event.objects.filter(idempotency_key__in=keys)}
    new: list[tuple[_EventRow, Event]] = []
    for row in rows:
        key = row.data.idempotency_key
        if key and key in first_by_key:
            result.duplicates.append(first_by_key[key])
            result.by_index[row.index] = (first_by_key[key], False)
            continue
        event = Event(
            customer_id=customer_ids[row.index],
            type=row.data.type,
            occurred_at=row.occurred_at,
            properties=row.data.properties,
            source=source,
            idempotency_key=key,
            amount=row.amount,
            **row.scores,
        )
        if key:
            first_by_key[key] = event
        new.append((row, event))
    for row, event in new:
        result.created.append(event)
        result.by_index[row.index] = (event, True)
    return [event for _row, event in new]
