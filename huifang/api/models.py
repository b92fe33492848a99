from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from huifang.accounts.models import ApiToken


class IdempotentRequest(models.Model):
    """The first response to a POST carrying an ``Idempotency-Key``, replayed on a retry."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)  # null while the first is running
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(default=b"")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("idempotent request")
        verbose_name_plural = _("idempotent requests")
        constraints = [
            models.UniqueConstraint(fields=["token", "key"], name="idempotent_request_unique"),
        ]

    def __str__(self) -> str:
        return self.key
