"""``Idempotency-Key`` on POST: a retried request gets the first answer, nothing is done twice.

Keys are scoped per API token and kept for ``RETENTION``. Reusing a key with a different body is
an error, and a retry that arrives while the first request is still running is told so (409).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from .auth import token_from_header
from .errors import error_response
from .models import IdempotentRequest

RETENTION = timedelta(hours=24)
HEADER = "Idempotency-Key"


class IdempotencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.headers.get(HEADER, "").strip()
        if request.method != "POST" or not key or not request.path.startswith("/api/"):
            return self.get_response(request)
        if len(key) > 255:
            return error_response(
                422,
                "invalid_idempotency_key",
                _("The Idempotency-Key header is longer than 255 characters."),
            )
        token = token_from_header(request)
        if token is None:
            return self.get_response(request)  # the API answers with its own 401
        fingerprint = hashlib.sha256(request.path.encode() + b"\n" + request.body).hexdigest()
        cutoff = timezone.now() - RETENTION
        IdempotentRequest.objects.filter(token=token, key=key, created_at__lt=cutoff).delete()
        try:
            with transaction.atomic():
                record = IdempotentRequest.objects.create(
                    token=token, key=key, fingerprint=fingerprint
                )
        except IntegrityError:
            return self._replay(token.pk, key, fingerprint)
        try:
            response = self.get_response(request)
        except Exception:
            record.delete()
            raise
        if response.status_code >= 500:
            record.delete()  # a failed attempt may be retried with the same key
            return response
        record.status_code = response.status_code
        record.content_type = response.get("Content-Type", "")
        record.body = response.content
        record.save(update_fields=["status_code", "content_type", "body"])
        return response

    def _replay(self, token_id: int, key: str, fingerprint: str) -> HttpResponse:
        first = IdempotentRequest.objects.get(token_id=token_id, key=key)
        if first.fingerprint != fingerprint:
            return error_response(
                422,
                "idempotency_key_reused",
                _("This Idempotency-Key was already used for a different request."),
            )
        if first.status_code is None:
            return error_response(
                409,
                "idempotency_in_progress",
                _(
                    "The first request with this Idempotency-Key is still "
                    "running; retry in a moment."
                ),
            )
        response = HttpResponse(
            bytes(first.body),
            status=first.status_code,
            content_type=first.content_type or "application/json",
        )
        response["Idempotent-Replayed"] = "true"
        return response


def purge_expired() -> int:
    deleted, _types = IdempotentRequest.objects.filter(
        created_at__lt=timezone.now() - RETENTION
    ).delete()
    return deleted
