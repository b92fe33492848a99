"""Aliyun SMS pushes (HTTP批量推送): delivery receipts (SmsReport) and replies (SmsUp).

Both are POSTed as a JSON array, several items at a time, unsigned — hence the token in our
callback URLs. A receipt::

    {"phone_number": "13800138000", "send_time": "2026-11-05 10:00:01",
     "report_time": "2026-11-05 10:00:09", "success": true, "err_code": "DELIVERED",
     "err_msg": "用户接收成功", "sms_size": "1", "biz_id": "9006197^0", "out_id": "hf42"}

``biz_id`` is the ``BizId`` our send got back; ``out_id`` the ``OutId`` we sent (``hf`` and
the message's id), which finds a message whose ``BizId`` was never recorded. A reply::

    {"phone_number": "13800138000", "send_time": "2026-11-05 10:20:00", "content": "TD",
     "sign_name": "回访中心", "dest_code": "1234", "sequence_id": 1234567890}

Aliyun wants ``{"code": 0, "msg": …}`` with HTTP 200, and pushes again (after 1, 5 and 10
minutes) on any other answer.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse

from huifang.customers.phones import normalize_phone
from huifang.integrations.callbacks import Refused, callback_url, field, provider_time
from huifang.integrations.inbound import Report, SmsReply, inbox
from huifang.integrations.models import Provider

_OUT_ID = re.compile(r"hf(\d{1,18})")  # transport.out_id


def callback_urls(provider: Provider) -> dict[str, str]:
    """For the console's 状态报告接收 (SmsReport) and 上行消息接收 (SmsUp), HTTP批量推送."""
    return {
        "report": callback_url("aliyun_report", provider),
        "reply": callback_url("aliyun_reply", provider),
    }


def answer(status: int, message: str) -> HttpResponse:
    body = {"code": 0, "msg": "成功"} if status == 200 else {"code": status, "msg": message}
    return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})


def phone(raw: str) -> str:
    """E.164 from Aliyun's number: mainland ones bare, others with their country code, no +."""
    for candidate, region in ((raw, "CN"), ("+" + raw.lstrip("+"), None)):
        try:
            return normalize_phone(candidate, region=region)
        except ValidationError:
            continue
    return ""


def _success(item: dict[str, Any]) -> bool:
    value = item.get("success")
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise Refused(400, "field 'success' must be true or false")


def report(item: dict[str, Any]) -> Report:
    delivered = _success(item)
    code, text = field(item, "err_code", required=False), field(item, "err_msg", required=False)
    ours = _OUT_ID.fullmatch(field(item, "out_id", required=False))
    return Report(
        reference=field(item, "biz_id"),
        delivered=delivered,
        at=provider_time(item.get("report_time")),
        sent_at=provider_time(item.get("send_time")),
        error="" if delivered else " ".join(part for part in (code, text) if part),
        message_id=int(ours.group(1)) if ours else None,
        phone=phone(field(item, "phone_number", required=False)),
    )


def handle_reports(provider: Provider, items: list[dict[str, Any]], now: datetime) -> bool:
    return inbox().receipts(provider.pk, [report(item) for item in items], now) == 0


def handle_replies(provider: Provider, items: list[dict[str, Any]], now: datetime) -> bool:
    for item in items:
        number = field(item, "phone_number")
        text = field(item, "content", blank=True)
        sent = item.get("send_time")
        sequence = field(item, "sequence_id", required=False)
        if not sequence:  # without Aliyun's id, the same push repeated must still count once
            sequence = hashlib.sha256(f"{number}|{sent}|{text}".encode()).hexdigest()[:24]
        reply = SmsReply(
            phone(number), text, provider_time(sent), f"aliyun-{provider.pk}-{sequence}"
        )
        inbox().sms_reply(reply, now)
    return True
