"""What every inbound endpoint shares: the URL token, reading the body, and the provider's times.

Aliyun's and Tencent's SMS pushes carry no signature, so the URL itself is the key: each
provider's callback URLs hold a token, an HMAC of the provider's id keyed by the deployment's
secret, that nobody can guess and that is compared in constant time. A wrong token is a 404
before anything is read. The e-mail reply webhook signs its requests as well, with a secret
derived the same way (so there is nothing for an admin to invent or store).

Each kind with callbacks has ``huifang/integrations/<kind>/inbound.py`` with
``callback_urls(provider)``; ``urls_for(provider)`` finds it for any provider.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import import_module
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from huifang.accounts.permissions import public
from huifang.core.limits import Refusal, load_json
from huifang.organisation.services import base_url

from .models import Provider

# A push holds at most a few hundred reports of a few hundred bytes each.
MAX_BODY_BYTES = 1024 * 1024
# Chinese providers write their times without a zone: China Standard Time, whatever
# the deployment's own TIME_ZONE.
PROVIDER_ZONE = ZoneInfo("Asia/Shanghai")

# What the channels page calls each callback URL (the keys of ``callback_urls``).
LABELS: dict[str, Any] = {
    "report": _("Delivery receipts callback URL"),
    "reply": _("Replies callback URL"),
}


class Refused(Exception):
    """A request answered with ``status`` and ``message``, nothing recorded."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _derive(purpose: str, provider_id: int) -> bytes:
    key = f"huifang.inbound:{settings.SECRET_KEY}".encode()
    return hmac.new(key, f"{purpose}.{provider_id}".encode(), hashlib.sha256).digest()


def token_for(provider_id: int) -> str:
    """The unguessable part of a provider's callback URLs (144 bits, URL-safe)."""
    return base64.urlsafe_b64encode(_derive("token", provider_id)[:18]).decode()


def token_matches(provider_id: int, token: str) -> bool:
    return hmac.compare_digest(token_for(provider_id).encode(), token.encode())


def signing_secret(provider_id: int) -> str:
    """The secret a relay signs a provider's inbound webhook requests with."""
    return _derive("secret", provider_id).hex()


def provider_for(provider_id: int, token: str, kind: str) -> Provider:
    """The provider a callback URL names, if its token is right; otherwise 404, the same answer
    whether the provider does not exist or the token is wrong (nothing to probe)."""
    if not token_matches(provider_id, token):
        raise Http404
    provider = Provider.objects.filter(pk=provider_id, kind=kind).first()
    if provider is None:
        raise Http404
    return provider


def callback_url(name: str, provider: Provider) -> str:
    path = reverse(f"inbound:{name}", args=[provider.pk, token_for(provider.pk)])
    return base_url() + path


def urls_for(provider: Provider) -> dict[str, str]:
    """Any provider's callback URLs by ``LABELS`` key; empty for kinds without callbacks."""
    name = f"huifang.integrations.{provider.kind}.inbound"
    try:
        module = import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name not in (name, name.rpartition(".")[0]):
            raise  # a broken import inside the module, not a kind without callbacks
        return {}
    urls: dict[str, str] = module.callback_urls(provider)
    return urls


def read_body(request: HttpRequest) -> bytes:
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
        raise Refused(413, f"the body is limited to {MAX_BODY_BYTES} bytes")
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        raise Refused(413, f"the body is limited to {MAX_BODY_BYTES} bytes")
    return body


def parse_json(body: bytes) -> Any:
    """Strict JSON (no NaN, bounded depth, no NUL): anything else is a 400, never a 500."""
    try:
        return load_json(body)
    except Refusal as refusal:
        raise Refused(400, f"malformed JSON: {refusal.message}") from None


def objects(payload: Any) -> list[dict[str, Any]]:
    """The pushed items: providers send a JSON array of objects (Tencent's reply, one object)."""
    items = payload if isinstance(payload, list) else [payload]
    if not all(isinstance(item, dict) for item in items):
        raise Refused(400, "expected a JSON object or an array of objects")
    return items


def field(item: dict[str, Any], name: str, *, required: bool = True, blank: bool = False) -> str:
    """A text field of a pushed item; numbers are accepted (Aliyun's ``sequence_id`` is either).
    ``blank``: required, but may be empty (an empty SMS is still a reply)."""
    value = item.get(name)
    if value is None or value == "":
        if required and not (blank and value == ""):
            raise Refused(400, f"missing field {name!r}")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Refused(400, f"field {name!r} must be a string")
    return str(value).strip()


def provider_time(value: object) -> datetime | None:
    """``2017-09-01 00:00:00`` or ``20170901000000`` in China time, or a Unix timestamp in
    seconds; ``None`` for anything else (the caller uses the time of arrival)."""
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 11:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y%m%d%H%M%S"):
        try:
            return datetime.strptime(value.strip(), pattern).replace(tzinfo=PROVIDER_ZONE)
        except ValueError:
            continue
    return None


# -- the view every unsigned push uses ---------------------------------------------------------

Handler = Callable[[Provider, list[dict[str, Any]], datetime], bool]
Answer = Callable[[int, str], HttpResponse]


def push_view(kind: str, handle: Handler, answer: Answer) -> Callable[..., HttpResponse]:
    """A provider's push endpoint: the URL's token, a bounded JSON body, then ``handle`` in one
    transaction. ``handle`` returns ``False`` when some items must be pushed again later; the
    provider is then told to retry (503), after the rest is committed (a repeat is harmless)."""

    @public("the provider's secret token in the URL")
    @csrf_exempt  # providers have no CSRF token; the URL's token is the key
    @require_POST
    def view(request: HttpRequest, provider_id: int, token: str) -> HttpResponse:
        provider = provider_for(provider_id, token, kind)
        try:
            items = objects(parse_json(read_body(request)))
            with transaction.atomic():
                settled = handle(provider, items, timezone.now())
        except Refused as refused:
            return answer(refused.status, refused.message)
        if not settled:
            return answer(503, "some reports are for messages still being recorded; push later")
        return answer(200, "")

    return view
