"""The e-mail reply webhook (the work is in ``inbound``)."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from huifang.accounts.permissions import public
from huifang.integrations import callbacks

from . import inbound


@public("the provider's secret token in the URL and the relay's signature")
@csrf_exempt  # a relay has no CSRF token: the URL's token and the signature are the keys
@require_POST
def reply(request: HttpRequest, provider_id: int, token: str) -> HttpResponse:
    provider = callbacks.provider_for(provider_id, token, "email")
    try:
        body = callbacks.read_body(request)
        # Before parsing: an unsigned body is not worth reading.
        inbound.check_signature(request, provider, body)
        payload = callbacks.parse_json(body)
        with transaction.atomic():
            result = inbound.handle(payload, timezone.now())
    except callbacks.Refused as refused:
        return inbound.answer(refused.status, refused.message)
    return inbound.answer(200, "", **result)
