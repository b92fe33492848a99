"""E-mail replies, POSTed by whatever receives the mail (a mail-receiving service's webhook, a
script on the mail server) as JSON::

    {"from": "王芳 <wangfang@example.com>", "to": "service@shop.example",
     "subject": "Re: 回访", "text": "挺好用的，谢谢", "in_reply_to": "<…hf42@shop.example>",
     "message_id": "<CAF=abc@mail.example.com>"}

signed like our outbound webhook (``webhook/transport.py``): ``X-Huifang-Timestamp`` and
``X-Huifang-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">``, refused when
more than 5 minutes old. The secret is derived per provider from the deployment's secret
(``signing_secret``), shown on the channels page next to the URL — nothing to invent or store.

``in_reply_to`` names the message answered: our ``Message-ID`` is kept as the message's
provider id, so an exact match finds it (and its customer, even when they answer from another
address — nobody else knows that id). Without one, the sender's address finds the customer.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from email.utils import parseaddr
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from huifang.integrations import callbacks
from huifang.integrations.callbacks import Refused, field
from huifang.integrations.inbound import EmailReply, inbox
from huifang.integrations.models import Provider
from huifang.integrations.webhook.transport import verify

_IDS = re.compile(r"<[^<>\s]+>")
_OURS = re.compile(r"\.hf(\d{1,18})@")  # make_msgid(idstring=f"hf{message_id}")


def callback_urls(provider: Provider) -> dict[str, str]:
    return {"reply": callbacks.callback_url("email_reply", provider)}


def signing_secret(provider: Provider) -> str:
    """What the relay signs its requests with; shown to admins next to the URL."""
    return callbacks.signing_secret(provider.pk)


def answer(status: int, error: str, /, **extra: Any) -> HttpResponse:
    body = {"ok": status == 200, **({"error": error} if error else {}), **extra}
    return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})


def check_signature(request: HttpRequest, provider: Provider, body: bytes) -> None:
    timestamp = request.headers.get("X-Huifang-Timestamp", "")
    signature = request.headers.get("X-Huifang-Signature", "")
    if not timestamp or not signature:
        raise Refused(401, "sign the request: X-Huifang-Timestamp and X-Huifang-Signature")
    if not verify(signing_secret(provider), timestamp, body, signature):
        raise Refused(403, "bad signature, or a timestamp more than 5 minutes off")


def _message_ids(value: str) -> list[str]:
    found = _IDS.findall(value)
    return found or ([f"<{value.strip('<> ')}>"] if value.strip() else [])


def handle(payload: Any, now: datetime) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise Refused(400, "expected a JSON object")
    address = parseaddr(field(payload, "from"))[1].lower()
    if "@" not in address:
        raise Refused(400, "field 'from' must be an e-mail address")
    text = field(payload, "text", required=False)
    subject = field(payload, "subject", required=False)
    in_reply_to = field(payload, "in_reply_to", required=False)
    # The reply's own Message-ID, else its content, makes a repeated delivery count once.
    reference = (
        field(payload, "message_id", required=False)
        or hashlib.sha256(f"{address}|{subject}|{in_reply_to}|{text}".encode()).hexdigest()[:32]
    )
    ids = _message_ids(in_reply_to)
    reply = EmailReply(
        address=address,
        text=text,
        subject=subject,
        message_ids=tuple(ids),
        ours=tuple(int(m.group(1)) for value in ids if (m := _OURS.search(value))),
        reference=reference,
    )
    return inbox().email_reply(reply, now)
