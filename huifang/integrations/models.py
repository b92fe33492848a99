"""A configured provider: an SMTP account, an Aliyun SMS account, a DingTalk robot …

One generic row whatever the kind: the settings are the kind's pydantic model, stored as JSON
(``config``), with the secret ones encrypted apart (``sealed``). Messages on a channel go out
through the enabled provider serving it with the lowest ``priority``.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _
from pydantic import BaseModel

from .base import Transport
from .kinds import Kind, kinds
from .secrets import seal, unseal


class Provider(models.Model):
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=30)
    # A customer channel (sms, email, wecom) or "staff" (robots, in-app).
    channel = models.CharField(_("serves"), max_length=16)
    enabled = models.BooleanField(_("enabled"), default=True)
    priority = models.PositiveSmallIntegerField(
        _("priority"), default=100, help_text=_("Lower goes first among providers of a channel.")
    )
    config = models.JSONField(_("settings"), default=dict)
    sealed = models.TextField(_("secrets (encrypted)"), blank=True)
    rate_per_minute = models.PositiveIntegerField(
        _("messages per minute"),
        null=True,
        blank=True,
        help_text=_("Messages beyond this are held until the next minute, never dropped."),
    )
    last_test_at = models.DateTimeField(_("last tested at"), null=True, blank=True)
    last_test_ok = models.BooleanField(_("last test succeeded"), null=True, blank=True)
    last_test_answer = models.TextField(_("provider's answer to the last test"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("channel provider")
        verbose_name_plural = _("channel providers")
        ordering = ["channel", "priority", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def spec(self) -> Kind:
        return kinds[self.kind]

    @property
    def kind_label(self) -> str:
        spec = kinds.get(self.kind)
        return str(spec.label) if spec else self.kind

    def secrets(self) -> dict[str, Any]:
        return unseal(self.sealed)

    def set_settings(self, values: dict[str, Any]) -> None:
        """Store validated settings: secrets encrypted, the rest readable."""
        secret = set(self.spec.secrets)
        self.config = {k: v for k, v in values.items() if k not in secret}
        self.sealed = seal({k: v for k, v in values.items() if k in secret and v not in ("", None)})

    def settings(self) -> BaseModel:
        return self.spec.config.model_validate({**self.config, **self.secrets()})

    def transport(self) -> Transport:
        return self.spec.build(self.settings())

    @property
    def limit(self) -> int | None:
        """Messages a minute: this provider's own setting, else its kind's (robots: 20)."""
        return self.rate_per_minute or self.spec.rate_per_minute
