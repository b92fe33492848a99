"""Event subscriptions: a URL of another system that is told, signed, when something happens
here (a task completed, a message delivered, a questionnaire answered …), and the deliveries
it was sent — durable timers, rows with a due time (``next_attempt_at``) that the worker's
loop claims (``delivery.py``)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from huifang.integrations.secrets import seal, unseal


class Subscription(models.Model):
    name = models.CharField(_("name"), max_length=100)
    url = models.CharField(_("URL"), max_length=500)
    event_types = models.JSONField(_("event types"), default=list)
    # The signing secret, encrypted as channel secrets are (``integrations.secrets``).
    sealed = models.TextField(_("signing secret (encrypted)"), blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("event subscription")
        verbose_name_plural = _("event subscriptions")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def secret(self) -> str:
        """The signing secret (``UnreadableSecrets`` when the key changed)."""
        return str(unseal(self.sealed).get("secret", ""))

    def set_secret(self, secret: str) -> None:
        self.sealed = seal({"secret": secret})


class Delivery(models.Model):
    """One event on its way to one subscription. A replay is a new row of the same event
    (same ``event_id``, so the receiver can tell it has seen it)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERING = "delivering", _("Delivering")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed, will retry")
        GIVEN_UP = "given_up", _("Given up")

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_type = models.CharField(_("event type"), max_length=40)
    event_id = models.UUIDField(_("event id"), default=uuid.uuid4, db_index=True)
    payload = models.JSONField(_("payload"), default=dict)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=80, blank=True)
    last_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    last_response = models.TextField(_("response (excerpt)"), blank=True)
    last_duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    last_error = models.CharField(_("error"), max_length=500, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    replay_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replays"
    )
    occurred_at = models.DateTimeField(_("occurred at"))  # the event's time, kept by replays
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="subscription_due_idx"),
            models.Index(fields=["subscription", "-created_at"], name="subscription_log_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.subscription_id} ({self.status})"

    @property
    def body(self) -> dict[str, Any]:
        """What is POSTed: the envelope around the payload (docs/subscriptions.md)."""
        return {
            "id": str(self.event_id),
            "type": self.event_type,
            "occurred_at": self.occurred_at.isoformat().replace("+00:00", "Z"),
            "data": self.payload,
        }

    @property
    def pretty_body(self) -> str:
        """The envelope as indented JSON, for the delivery log."""
        return json.dumps(self.body, ensure_ascii=False, indent=2)
