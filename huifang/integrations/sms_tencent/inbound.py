"""Tencent Cloud SMS callbacks: delivery status (状态回执) and replies (回复回调).

Unsigned, like Aliyun's — hence the token in our callback URLs. Receipts come as a JSON array::

    [{"user_receive_time": "2026-11-05 10:00:09", "nationcode": "86",
      "mobile": "13800138000", "report_status": "SUCCESS", "errmsg": "DELIVRD",
      "description": "用户短信送达成功", "sid": "2640:3276305331616372340013829210"}]

``sid`` is the ``SerialNo`` our send got back; ``report_status`` is ``SUCCESS`` or ``FAIL``.
Tencent echoes nothing of ours, so a message whose ``SerialNo`` was never recorded (an
``uncertain`` one) cannot be matched. A reply comes as one object (an array is accepted too)::

    {"extend": "", "mobile": "13800138000", "nationcode": "86", "sign": "回访中心",
     "text": "TD", "time": 1793945000}

Tencent wants ``{"result": 0, "errmsg": "OK"}``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse

from huifang.customers.phones import normalize_phone
from huifang.integrations.callbacks import Refused, callback_url, field, provider_time
from huifang.integrations.inbound import Report, SmsReply, inbox
from huifang.integrations.models import Provider


def callback_urls(provider: Provider) -> dict[str, str]:
    """For the SMS console's 回调配置: 状态回执 and 回复回调."""
    return {
        "report": callback_url("tencent_report", provider),
        "reply": callback_url("tencent_reply", provider),
    }


def answer(status: int, message: str) -> HttpResponse:
    body = {"result": 0, "errmsg": "OK"} if status == 200 else {"result": status, "errmsg": message}
    return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})


def phone(item: dict[str, Any]) -> str:
    """E.164 from ``nationcode`` and ``mobile``; empty if they do not make a phone number."""
    country = field(item, "nationcode", required=False) or "86"
    try:
        return normalize_phone(f"+{country.lstrip('+')}{field(item, 'mobile')}")
    except ValidationError:
        return ""


def report(item: dict[str, Any]) -> Report:
    status = field(item, "report_status").upper()
    if status not in ("SUCCESS", "FAIL"):
        raise Refused(400, "field 'report_status' must be SUCCESS or FAIL")
    delivered = status == "SUCCESS"
    code, text = field(item, "errmsg", required=False), field(item, "description", required=False)
    return Report(
        reference=field(item, "sid"),
        delivered=delivered,
        at=provider_time(item.get("user_receive_time")),
        error="" if delivered else " ".join(part for part in (code, text) if part),
        phone=phone(item),
    )


def handle_reports(provider: Provider, items: list[dict[str, Any]], now: datetime) -> bool:
    return inbox().receipts(provider.pk, [report(item) for item in items], now) == 0


def handle_replies(provider: Provider, items: list[dict[str, Any]], now: datetime) -> bool:
    for item in items:
        number, text = phone(item), field(item, "text", blank=True)
        sent = item.get("time")
        # Tencent gives a reply no id: the number, the second and the text stand for one, so
        # the same push repeated counts once.
        digest = hashlib.sha256(f"{number}|{sent}|{text}".encode()).hexdigest()[:24]
        reply = SmsReply(number, text, provider_time(sent), f"tencent-{provider.pk}-{digest}")
        inbox().sms_reply(reply, now)
    return True
