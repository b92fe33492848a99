from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


class ImmutableVersion(Exception):
    """A saved version was about to be changed: save a new one instead."""


class Version(models.Model):
    """One saved state of a document (a rule, a questionnaire), numbered. Never changed once
    written: what ran or was answered is read against the version it ran or was answered on."""

    number = models.PositiveIntegerField(_("version"))
    content = models.JSONField(_("content"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("created by"),
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ImmutableVersion(f"{self} is immutable; save a new version instead")
        super().save(*args, **kwargs)
