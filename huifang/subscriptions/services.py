"""What changes subscriptions and their deliveries: enqueueing an event for every active
subscription that chose its type (in the caller's transaction: the delivery exists exactly
when the change does), saving, pausing, deleting and replaying — audited, as settings are.

Plain functions with keyword-only arguments (STYLE.md example 8); the pages only show forms.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from huifang.audit import services as audit
from huifang.integrations import is_dry_run

from .events import TEST
from .models import Delivery, Subscription

T = TypeVar("T")


def listening(event_type: str) -> list[Subscription]:
    """The active subscriptions that chose ``event_type`` (a handful: read them all)."""
    return [s for s in Subscription.objects.filter(active=True) if event_type in s.event_types]


def enqueue(
    event_type: str,
    objects: Sequence[T],
    payload: Callable[[T], dict[str, Any]],
    *,
    now: datetime,
) -> list[Delivery]:
    """One delivery of each of ``objects`` (as ``payload`` describes it) to each active
    subscription of ``event_type``; the same event id for every subscription it goes to.
    Nothing in a dry run (simulations and previews): nothing there really happened."""
    if not objects or is_dry_run():
        return []
    subscriptions = listening(event_type)
    if not subscriptions:
        return []
    made: list[Delivery] = []
    for item in objects:
        data, event_id = payload(item), uuid.uuid4()
        made.extend(
            Delivery(
                subscription=subscription,
                event_type=event_type,
                event_id=event_id,
                payload=data,
                next_attempt_at=now,
                occurred_at=now,
                created_at=now,
            )
            for subscription in subscriptions
        )
    return Delivery.objects.bulk_create(made, batch_size=500)


def _audit(
    request: HttpRequest | None, subscription: Subscription, verb: str, **details: Any
) -> None:
    audit.record(
        audit.Action.SETTINGS,
        f"subscription {verb}",
        request=request,
        target=subscription,
        object_repr=f"{subscription.name} ({subscription.url})"[:200],
        details=details,
    )


def save_subscription(
    *,
    subscription: Subscription,
    secret: str = "",
    changed: Iterable[str] = (),
    request: HttpRequest | None = None,
) -> Subscription:
    """Store ``subscription`` (a new one, or one edited), with a new signing ``secret`` if
    given; audited with the names of the changed fields, never the secret."""
    new = subscription.pk is None
    if new and request is not None and getattr(request.user, "is_authenticated", False):
        subscription.created_by = request.user  # type: ignore[assignment]
    if secret:
        subscription.set_secret(secret)
    with transaction.atomic():
        subscription.save()
        _audit(
            request,
            subscription,
            "added" if new else "changed",
            fields=sorted(changed),
            event_types=list(subscription.event_types),
        )
    return subscription


def set_active(
    *, subscription: Subscription, active: bool, request: HttpRequest | None = None
) -> None:
    with transaction.atomic():
        subscription.active = active
        subscription.save(update_fields=["active", "updated_at"])
        _audit(request, subscription, "resumed" if active else "paused")


def delete(*, subscription: Subscription, request: HttpRequest | None = None) -> None:
    """Remove the subscription and its delivery log (a delivery under way finishes; its
    result is not recorded)."""
    with transaction.atomic():
        _audit(request, subscription, "deleted")
        subscription.delete()


def replay(
    *, delivery: Delivery, request: HttpRequest | None = None, now: datetime | None = None
) -> Delivery:
    """A new delivery of the same event (same event id, type, payload and time), due at
    once; audited."""
    now = now or timezone.now()
    with transaction.atomic():
        copy = Delivery.objects.create(
            subscription=delivery.subscription,
            event_type=delivery.event_type,
            event_id=delivery.event_id,
            payload=delivery.payload,
            occurred_at=delivery.occurred_at,
            next_attempt_at=now,
            created_at=now,
            replay_of=delivery,
        )
        _audit(
            request,
            delivery.subscription,
            "replayed",
            delivery=delivery.pk,
            replay=copy.pk,
            event_id=str(delivery.event_id),
            event_type=delivery.event_type,
        )
    return copy


def test_delivery(
    *, subscription: Subscription, request: HttpRequest | None = None, now: datetime | None = None
) -> Delivery:
    """A ``subscription.test`` delivery, sent at once by the page (``delivery.send_now``)."""
    now = now or timezone.now()
    user = getattr(request, "user", None) if request is not None else None
    with transaction.atomic():
        delivery = Delivery.objects.create(
            subscription=subscription,
            event_type=TEST,
            payload={
                "subscription": subscription.pk,
                "by": user.get_username() if user is not None and user.is_authenticated else "",
            },
            next_attempt_at=None,
            occurred_at=now,
            created_at=now,
        )
        _audit(request, subscription, "tested", delivery=delivery.pk)
    return delivery
