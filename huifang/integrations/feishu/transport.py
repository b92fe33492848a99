"""Feishu / Lark custom group robot (飞书自定义机器人), for staff notifications.

Protocol as Feishu documents it: POST JSON ``{"msg_type": "text", "content": {"text": …}}`` to
the robot's webhook URL. With signature verification on, the body also carries ``timestamp``
(seconds) and ``sign`` = Base64 of HMAC-SHA256 keyed with ``"<timestamp>\\n<secret>"`` over an
empty message. The answer is ``{"code": 0, "msg": "success"}``; 11232 (frequency limited) is
transient, other codes (19021: bad signature or timestamp; 19024: keyword missing) permanent.

A non-empty ``Outgoing.to`` is the member of staff to @-mention, an open id (``ou_…``) or a
user id: the text starts with ``<at user_id="<to>"></at>`` (Feishu fills in the name). Without
``to`` the text is sent as it is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy
from pydantic import BaseModel, Field

from huifang.integrations.base import Outgoing, Receipt, check_answer
from huifang.integrations.http import post_json
from huifang.integrations.kinds import STAFF, Kind

from .forms import FeishuForm

THROTTLED = {11232}


def sign(secret: str, timestamp: int) -> str:
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


@dataclass
class FeishuTransport:
    webhook_url: str
    secret: str = ""
    timeout: float = 10.0
    key: str = "feishu"

    def send(self, outgoing: Outgoing) -> Receipt:
        content = f"{outgoing.subject}\n{outgoing.body}" if outgoing.subject else outgoing.body
        if to := outgoing.to.strip():
            content = f'<at user_id="{to}"></at> {content}'
        payload: dict[str, Any] = {"msg_type": "text", "content": {"text": content}}
        if self.secret:
            now = int(time.time())
            payload.update(timestamp=str(now), sign=sign(self.secret, now))
        status, answer, text = post_json(self.webhook_url, payload, timeout=self.timeout)
        answer = answer if isinstance(answer, dict) else {}
        code = answer.get("code", answer.get("StatusCode"))
        check_answer("Feishu", status, code, answer.get("msg"), text, THROTTLED)
        return Receipt(f"feishu-{outgoing.message_id}", text)


class Config(BaseModel):
    webhook_url: str = Field(min_length=1, max_length=500)  # carries the robot's hook id
    secret: str = ""
    timeout: float = Field(10.0, gt=0, le=60)


KIND = Kind(
    key="feishu",
    label=gettext_lazy("Feishu / Lark robot"),
    serves=(STAFF,),
    config=Config,
    build=lambda config: FeishuTransport(**config.model_dump()),
    secrets=("webhook_url", "secret"),
    rate_per_minute=100,
    form=FeishuForm,
    description=gettext_lazy("Posts staff notifications in a Feishu / Lark group."),
)
