"""A source: an outside system that pushes JSON to its own signed URL, and what it pushed.

The signing secret is stored encrypted like channel secrets (``integrations.secrets``); the log
of what was received keeps the payload with personal details masked, and only for
``HUIFANG_SOURCES_LOG_DAYS`` days (``services.purge_log``).
"""

from __future__ import annotations

import secrets as random

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from huifang.integrations.secrets import seal, unseal

SLUG = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    _("Use lower-case letters, digits and hyphens (at most 50), e.g. youzan-shop."),
)


def new_secret() -> str:
    """256 random bits, as hex: what the sender signs with."""
    return random.token_hex(32)


class Source(models.Model):
    name = models.CharField(_("name"), max_length=100)
    slug = models.CharField(
        _("URL name"),
        max_length=50,
        unique=True,
        validators=[SLUG],
        help_text=_("The last part of the address the system posts to."),
    )
    sealed = models.TextField(_("signing secret (encrypted)"), blank=True)
    active = models.BooleanField(_("active"), default=True)
    mapping = models.TextField(_("mapping"))
    ready = models.CharField(
        _("started from"), max_length=50, blank=True, help_text=_("The ready mapping it began as.")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"))
    updated_at = models.DateTimeField(_("updated at"))
    last_received_at = models.DateTimeField(_("last received"), null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("inbound source")
        verbose_name_plural = _("inbound sources")

    def __str__(self) -> str:
        return self.name

    @property
    def secret(self) -> str:
        """The signing secret; ``UnreadableSecrets`` when the key changed since it was stored."""
        return str(unseal(self.sealed).get("secret", ""))

    def set_secret(self, value: str) -> None:
        self.sealed = seal({"secret": value})


class Received(models.Model):
    """One request to a source's URL and what became of it."""

    class Status(models.TextChoices):
        ACCEPTED = "accepted", _("Accepted")
        DUPLICATE = "duplicate", _("Already received")
        IGNORED = "ignored", _("Ignored (condition not met)")
        REFUSED = "refused", _("Not accepted")

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="received")
    received_at = models.DateTimeField(_("received at"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    http_status = models.PositiveSmallIntegerField(_("answer"))
    customer_id = models.BigIntegerField(_("customer"), null=True, blank=True)
    event_id = models.BigIntegerField(_("event"), null=True, blank=True)
    customer_created = models.BooleanField(_("new customer"), default=False)
    message = models.CharField(_("message"), max_length=500, blank=True)
    # The payload with phone numbers, e-mail addresses, names and addresses masked, cut to
    # ``PAYLOAD_CHARS``; empty for a request whose signature failed (nothing of it is trusted).
    payload = models.TextField(_("payload (masked)"), blank=True)
    size = models.PositiveIntegerField(_("bytes"), default=0)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("received payload")
        verbose_name_plural = _("received payloads")
        indexes = [models.Index(fields=["source", "-received_at"], name="sources_received_idx")]

    def __str__(self) -> str:
        return f"{self.source_id} {self.received_at:%Y-%m-%d %H:%M:%S} {self.status}"
