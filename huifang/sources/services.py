"""Sources: setting them up (audited), receiving their payloads, and trying a payload out.

``receive`` is the one path a pushed payload takes: the signature (the webhook channel's own
scheme, ``integrations.webhook.transport``), the mapping, the customer found or created through
the customers app, the event stored through ``ingest_events`` — de-duplicated by its idempotency
key, firing rules exactly as an API event does — and one line in the log either way.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from huifang.audit import services as audit
from huifang.core.limits import Refusal, load_json
from huifang.customers.models import Customer, Event
from huifang.customers.phones import mask_phone, try_normalize_phone
from huifang.customers.pii import mask_email
from huifang.customers.services import ingest_events, upsert_customers
from huifang.integrations.secrets import UnreadableSecrets
from huifang.integrations.webhook.transport import REPLAY_WINDOW_SECONDS, verify

from . import masking
from .mapping import Mapping, MappingInvalid, Outcome, PayloadRefused, apply, read_document
from .models import Received, Source, new_secret
from .ready import BLANK, READY

UNSIGNED_LOG_SECONDS = 60  # requests refused unsigned: one line a minute per source and answer
KEY_PREFIX = "source:{pk}:"  # an event's idempotency key, per source: two shops may share one


@dataclass
class Answer:
    """What the endpoint answers: an HTTP status and a JSON body."""

    status: int
    body: dict[str, Any]
    received: Received | None = None


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def answer(self) -> Answer:
        return Answer(self.status, {"error": {"code": self.code, "message": self.message}})


# -- setting sources up -------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def mapping_of(text: str) -> Mapping:
    """The compiled mapping of a stored document (read once per process and document)."""
    return read_document(text)


def create_source(
    *, name: str, slug: str, ready: str, actor: Any, request: HttpRequest | None = None
) -> tuple[Source, str]:
    """A new source starting from a ready mapping (or the blank one); returns it and its
    secret, which the page shows once."""
    now = timezone.now()
    document = READY[ready].document if ready in READY else BLANK
    source = Source(
        name=name,
        slug=slug,
        mapping=document,
        ready=ready if ready in READY else "",
        created_by=actor if getattr(actor, "pk", None) else None,
        created_at=now,
        updated_at=now,
    )
    secret = new_secret()
    source.set_secret(secret)
    with transaction.atomic():
        source.save()
        _audit("source added", source, request, actor, ready=source.ready)
    return source, secret


def save_mapping(
    source: Source, text: str, *, actor: Any, request: HttpRequest | None = None
) -> None:
    """Store a new mapping document; ``MappingInvalid`` and nothing stored when it is wrong."""
    read_document(text)
    with transaction.atomic():
        Source.objects.filter(pk=source.pk).update(mapping=text, updated_at=timezone.now())
        source.mapping = text
        _audit("source mapping changed", source, request, actor)


def rotate_secret(source: Source, *, actor: Any, request: HttpRequest | None = None) -> str:
    """A new signing secret: the old one stops working at once."""
    secret = new_secret()
    source.set_secret(secret)
    with transaction.atomic():
        Source.objects.filter(pk=source.pk).update(sealed=source.sealed, updated_at=timezone.now())
        _audit("source secret rotated", source, request, actor)
    return secret


def reveal_secret(source: Source, *, actor: Any, request: HttpRequest | None = None) -> str:
    """The signing secret, shown on purpose: audited."""
    secret = source.secret
    _audit("source secret shown", source, request, actor)
    return secret


def set_active(
    source: Source, active: bool, *, actor: Any, request: HttpRequest | None = None
) -> None:
    with transaction.atomic():
        Source.objects.filter(pk=source.pk).update(active=active, updated_at=timezone.now())
        source.active = active
        _audit("source resumed" if active else "source paused", source, request, actor)


def _audit(
    verb: str, source: Source, request: HttpRequest | None, actor: Any, **details: Any
) -> None:
    audit.record(
        audit.Action.SETTINGS,
        verb,
        actor=actor,
        request=request,
        target=source,
        details={"slug": source.slug, **details},
    )


# -- receiving --------------------------------------------------------------------------------


def check_signature(
    source: Source, body: bytes, timestamp: str, signature: str, now: float
) -> None:
    """The webhook channel's scheme: ``X-Huifang-Signature: sha256=<hex HMAC-SHA256 of
    "<timestamp>.<body>">`` with ``X-Huifang-Timestamp`` within five minutes of now."""
    if not timestamp or not signature:
        raise Refused(
            401,
            "signature_missing",
            _("Sign the request: send X-Huifang-Timestamp and X-Huifang-Signature."),
        )
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        raise Refused(401, "bad_timestamp", _("X-Huifang-Timestamp must be seconds since 1970."))
    if abs(now - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        raise Refused(
            401,
            "stale_timestamp",
            _("The timestamp is more than %(minutes)s minutes away from our clock; sign again.")
            % {"minutes": REPLAY_WINDOW_SECONDS // 60},
        )
    try:
        secret = source.secret
    except UnreadableSecrets:
        raise Refused(
            503,
            "secret_unreadable",
            _("This source's secret cannot be read any more; an administrator must rotate it."),
        ) from None
    if not verify(secret, timestamp, body, signature, now=now):
        raise Refused(401, "bad_signature", _("The signature does not match this source's secret."))


def receive(
    source: Source, body: bytes, *, timestamp: str, signature: str, now: datetime | None = None
) -> Answer:
    """Verify, map and store one pushed payload; always logged (``Received``)."""
    now = now or timezone.now()
    log = Received(source=source, received_at=now, size=len(body))
    signed = False
    try:
        if not source.active:
            raise Refused(409, "source_paused", _("This source is paused in Huifang."))
        check_signature(source, body, timestamp, signature, now.timestamp())
        signed = True
        answer = _process(source, body, log, now)
    except Refused as refused:
        answer = refused.answer()
        log.status, log.message = Received.Status.REFUSED, refused.message[:500]
    log.http_status = answer.status
    if not signed and _logged_lately(source, answer.status, now):
        return answer  # anyone may send unsigned requests: they must not fill the log
    with transaction.atomic():
        log.save()
        Source.objects.filter(pk=source.pk).update(last_received_at=now)
    answer.received = log
    return answer


def _logged_lately(source: Source, status: int, now: datetime) -> bool:
    """Whether a request refused with ``status`` before its signature was checked is in the
    log already within the last ``UNSIGNED_LOG_SECONDS``."""
    since = now - timedelta(seconds=UNSIGNED_LOG_SECONDS)
    return source.received.filter(http_status=status, received_at__gte=since).exists()


def _process(source: Source, body: bytes, log: Received, now: datetime) -> Answer:
    try:
        payload = load_json(body)
    except Refusal as refusal:
        raise Refused(400, "invalid_json", refusal.message) from None
    try:
        mapping = mapping_of(source.mapping)
    except MappingInvalid as invalid:
        raise Refused(
            422,
            "mapping_invalid",
            _("The source's mapping is wrong: %(error)s") % {"error": invalid.message},
        ) from None
    try:
        outcome = apply(mapping, payload)
    except PayloadRefused as refused:
        log.payload = masking.stored(payload)
        raise Refused(422, refused.code, refused.message) from None
    log.payload = masking.stored(outcome.payload, _known(outcome))
    if outcome.ignored:
        log.status, log.message = Received.Status.IGNORED, outcome.ignored[:500]
        return Answer(200, {"status": "ignored", "reason": outcome.ignored})
    with transaction.atomic():
        event, created, customer_new = _store(source, mapping, outcome, now)
    log.customer_id, log.event_id, log.customer_created = event.customer_id, event.pk, customer_new
    body_out = {"status": "accepted" if created else "duplicate", "event": event.pk}
    body_out["customer"] = event.customer_id
    if created:
        log.status = Received.Status.ACCEPTED
        return Answer(202, {**body_out, "customer_created": customer_new})
    log.status, log.message = Received.Status.DUPLICATE, _("This event was received before.")
    return Answer(200, body_out)


def _known(outcome: Outcome) -> set[str]:
    return {outcome.identity.get("phone", ""), outcome.identity.get("email", ""), outcome.name}


def _key(source: Source, key: str) -> str:
    full = KEY_PREFIX.format(pk=source.pk) + key
    if len(full) > 200:
        raise Refused(
            422,
            "idempotency_key_too_long",
            _("The idempotency key is longer than %(limit)s characters.")
            % {"limit": 200 - len(KEY_PREFIX.format(pk=source.pk))},
        )
    return full


def _store(
    source: Source, mapping: Mapping, outcome: Outcome, now: datetime
) -> tuple[Event, bool, bool]:
    """The event (stored now, or the one stored before with the same key), whether it is new,
    and whether its customer is."""
    key = _key(source, outcome.event["idempotency_key"])
    earlier = Event.objects.filter(idempotency_key=key).first()
    if earlier is not None:
        return earlier, False, False
    identity = _identity(outcome)
    customer = _find(identity, mapping.match)
    customer_new = False
    if customer is None:
        customer, customer_new = _create(identity, outcome, now)
    row = {
        **outcome.event,
        "idempotency_key": key,
        "occurred_at": outcome.event["occurred_at"] or now.isoformat(),
    }
    result = ingest_events([row], source=Event.Source.WEBHOOK, now=now, customers={0: customer.pk})
    if result.errors:
        error = result.errors[0]
        where = f"{error.field}: " if error.field else ""
        transaction.set_rollback(True)
        raise Refused(422, error.code, where + error.message)
    event, created = result.by_index[0]
    return event, created, customer_new


def _identity(outcome: Outcome) -> dict[str, str]:
    """The identity as stored: a phone in E.164, an e-mail in lower case; one that is not a
    phone number or an e-mail address is left out (an order's odd contact field must not lose
    the purchase)."""
    identity = {"external_id": outcome.identity.get("external_id", "")[:128]}
    phone = outcome.identity.get("phone", "")
    identity["phone"] = (try_normalize_phone(phone) or "") if phone else ""
    email = outcome.identity.get("email", "").lower()
    try:
        validate_email(email)
    except ValidationError:
        email = ""
    identity["email"] = email
    return identity


def _find(identity: dict[str, str], match: list[str]) -> Customer | None:
    for key in match:
        if identity.get(key):
            found = Customer.objects.filter(**{key: identity[key]}).order_by("pk").first()
            if found is not None:
                return found
    return None


def _create(identity: dict[str, str], outcome: Outcome, now: datetime) -> tuple[Customer, bool]:
    """The customer a payload names, created through the customers service; whether it was
    created by this call."""
    if not identity["external_id"]:
        raise Refused(
            422,
            "unknown_customer",
            _(
                "No customer has this phone or e-mail, and the payload has no external id to "
                "create one with."
            ),
        )
    existing = Customer.objects.filter(external_id=identity["external_id"]).first()
    if existing is not None:  # matched on other keys only; never changed by a source
        return existing, False
    if not outcome.name:
        raise Refused(
            422,
            "no_name",
            _("A new customer needs a name; the payload has none where the mapping looks."),
        )
    row = {key: value for key, value in identity.items() if value}
    row.update(outcome.customer_fields, name=outcome.name)
    try:
        with transaction.atomic():
            result = upsert_customers([row], now=now)
    except IntegrityError:
        # The same customer's first push, arriving twice at once: the other one created them.
        return Customer.objects.get(external_id=identity["external_id"]), False
    if result.errors:
        error = result.errors[0]
        where = f"customer.{error.field}: " if error.field else ""
        raise Refused(422, error.code, where + error.message)
    return result.by_index[0], True


def purge_log(now: datetime | None = None) -> int:
    """Forget what was received more than ``HUIFANG_SOURCES_LOG_DAYS`` days ago."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.HUIFANG_SOURCES_LOG_DAYS)
    deleted, _by_model = Received.objects.filter(received_at__lt=cutoff).delete()
    return deleted


# -- trying a payload -------------------------------------------------------------------------


@dataclass
class Trial:
    """What a payload would become, for the "try a payload" box: nothing is written."""

    error: str = ""
    ignored: str = ""
    customer: Customer | None = None
    creates_customer: bool = False
    customer_values: list[tuple[str, str]] = field(default_factory=list)
    event: dict[str, Any] = field(default_factory=dict)
    properties: list[tuple[str, str]] = field(default_factory=list)
    duplicate: bool = False


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def try_payload(source: Source, document: str, text: str) -> Trial:
    try:
        mapping = read_document(document)
    except MappingInvalid as invalid:
        return Trial(error=invalid.message)
    try:
        payload = load_json(text.encode())
        outcome = apply(mapping, payload)
    except Refusal as refusal:
        return Trial(error=refusal.message)
    except PayloadRefused as refused:
        return Trial(error=refused.message)
    if outcome.ignored:
        return Trial(ignored=outcome.ignored)
    identity = _identity(outcome)
    trial = Trial(event=outcome.event)
    trial.properties = [
        (name, ", ".join(map(_shown, value)) if isinstance(value, list) else _shown(value))
        for name, value in outcome.event["properties"].items()
    ]
    trial.customer = _find(identity, mapping.match)
    if trial.customer is None and identity["external_id"]:
        trial.customer = Customer.objects.filter(external_id=identity["external_id"]).first()
    trial.creates_customer = trial.customer is None
    shown = {
        "external_id": identity["external_id"],
        "phone": mask_phone(identity["phone"]) if identity["phone"] else "",
        "email": mask_email(identity["email"]) if identity["email"] else "",
        "name": outcome.name,
        **{key: str(value) for key, value in outcome.customer_fields.items()},
    }
    trial.customer_values = [(key, value) for key, value in shown.items() if value]
    try:
        key = _key(source, outcome.event["idempotency_key"])
    except Refused as refused:
        return Trial(error=refused.message)
    trial.duplicate = Event.objects.filter(idempotency_key=key).exists()
    if trial.creates_customer and not identity["external_id"]:
        trial.error = _(
            "No customer has this phone or e-mail, and the payload has no external id to create "
            "one with."
        )
    return trial
