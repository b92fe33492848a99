"""An append-only, hash-chained log.

Each entry carries the hash of the one before it, and its own hash covers every field it holds
and that previous hash: editing, deleting or reordering any entry breaks the chain from there
on, which ``huifang audit verify`` reports. The models and their querysets refuse to change or
delete an entry and the admin shows entries read-only; whoever can write to the database
directly can still alter a row, and the chain then names it. A head row serialises writers, so
two processes cannot both extend the chain from the same entry.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

GENESIS = "0" * 64


class AppendOnlyError(Exception):
    """An attempt to change or remove an audit entry."""


class EntryQuerySet(models.QuerySet["Entry"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("audit entries cannot be changed")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit entries cannot be deleted")


class Entry(models.Model):
    class Action(models.TextChoices):
        SIGN_IN = "sign_in", _("Signed in")
        SIGN_IN_FAILED = "sign_in_failed", _("Sign-in failed")
        SIGN_OUT = "sign_out", _("Signed out")
        REVEAL = "reveal", _("Personal data shown")
        EXPORT = "export", _("Data exported")
        RULE = "rule", _("Rule changed")
        SURVEY = "survey", _("Questionnaire changed")
        TEMPLATE = "template", _("Template changed")
        PROVIDER = "provider", _("Provider changed")
        SETTINGS = "settings", _("Settings changed")
        STAFF = "staff", _("Staff or role changed")
        TOKEN = "token", _("API token issued or revoked")
        CONSENT = "consent", _("Consent changed")
        CUSTOMER = "customer", _("Customer changed")
        ERASURE = "erasure", _("Personal data erased")
        ADMIN = "admin", _("Changed in the admin")
        OUTBOUND = "outbound", _("Outbound connection")

    seq = models.PositiveBigIntegerField(_("number"), unique=True)
    at = models.DateTimeField(_("at"), db_index=True)
    actor_id = models.BigIntegerField(_("actor id"), null=True, blank=True)
    actor = models.CharField(_("by"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=20, choices=Action.choices, db_index=True)
    verb = models.CharField(_("what"), max_length=40, blank=True)
    object_type = models.CharField(_("object type"), max_length=40, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    previous = models.CharField(_("previous hash"), max_length=64)
    digest = models.CharField(_("hash"), max_length=64)

    objects = EntryQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.get_action_display()} {self.object_repr}".strip()

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit entries cannot be deleted")

    def content(self) -> str:
        """The canonical text the hash covers: every field but the hash itself."""
        return json.dumps(
            [
                self.seq,
                self.at.isoformat(timespec="microseconds"),
                self.actor_id,
                self.actor,
                self.action,
                self.verb,
                self.object_type,
                self.object_id,
                self.object_repr,
                self.details,
                self.reason,
                self.ip,
                self.previous,
            ],
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )

    def compute_digest(self) -> str:
        return hashlib.sha256(self.content().encode()).hexdigest()


class Head(models.Model):
    """One row: the chain's last entry. Writers lock it first, so they take turns."""

    seq = models.PositiveBigIntegerField(default=0)
    digest = models.CharField(max_length=64, default=GENESIS)

    class Meta:
        verbose_name = _("audit head")

    def __str__(self) -> str:
        return f"#{self.seq} {self.digest[:12]}"
