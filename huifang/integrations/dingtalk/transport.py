"""DingTalk custom group robot (钉钉自定义机器人), for staff notifications.

Protocol as DingTalk documents it: POST JSON ``{"msgtype": "text", "text": {"content": …}}``
to the robot's webhook URL. With 加签 (signing) on, the URL also carries ``timestamp`` (ms) and
``sign`` = URL-encoded Base64 of HMAC-SHA256 (key: the ``SEC…`` secret) over
``"<timestamp>\\n<secret>"``. The answer is ``{"errcode": 0, "errmsg": "ok"}``; 130101 ("send
too fast": a robot takes 20 messages a minute) is transient, other codes (310000: signature,
keyword or IP not allowed; 300001: unknown token) are permanent.

A non-empty ``Outgoing.to`` is the member of staff to @-mention: a mainland mobile number
(``13800138000``, with or without ``+86``) goes, as its 11 national digits, in
``at.atMobiles``; anything else is a DingTalk userid, in ``at.atUserIds`` (with
``"isAtAll": false``). DingTalk shows the mention only where the text itself says
``@<mobile>`` / ``@<userid>``, so `` @<value>`` is appended to the content. Without ``to`` the
message mentions nobody and carries no ``at``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

from django.utils.translation import gettext_lazy
from pydantic import BaseModel, Field

from huifang.integrations.base import Outgoing, Receipt, check_answer, national_mobile
from huifang.integrations.http import post_json
from huifang.integrations.kinds import STAFF, Kind

from .forms import DingTalkForm

THROTTLED = {130101}


def sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return quote_plus(base64.b64encode(digest))


@dataclass
class DingTalkTransport:
    webhook_url: str
    secret: str = ""
    timeout: float = 10.0
    key: str = "dingtalk"

    def url(self) -> str:
        if not self.secret:
            return self.webhook_url
        now = int(time.time() * 1000)
        joiner = "&" if "?" in self.webhook_url else "?"
        return f"{self.webhook_url}{joiner}timestamp={now}&sign={sign(self.secret, now)}"

    def send(self, outgoing: Outgoing) -> Receipt:
        content = f"{outgoing.subject}\n{outgoing.body}" if outgoing.subject else outgoing.body
        at: dict[str, Any] = {}
        if to := outgoing.to.strip():
            mobile = national_mobile(to)
            at = {"atMobiles": [mobile]} if mobile else {"atUserIds": [to]}
            at["isAtAll"] = False
            content = f"{content} @{mobile or to}"  # DingTalk shows only an @ in the text
        payload: dict[str, Any] = {"msgtype": "text", "text": {"content": content}}
        if at:
            payload["at"] = at
        status, answer, text = post_json(self.url(), payload, timeout=self.timeout)
        answer = answer if isinstance(answer, dict) else {}
        code, message = answer.get("errcode"), answer.get("errmsg")
        check_answer("DingTalk", status, code, message, text, THROTTLED)
        return Receipt(f"dingtalk-{outgoing.message_id}", text)


class Config(BaseModel):
    webhook_url: str = Field(min_length=1, max_length=500)  # carries the robot's access token
    secret: str = ""
    timeout: float = Field(10.0, gt=0, le=60)


KIND = Kind(
    key="dingtalk",
    label=gettext_lazy("DingTalk robot"),
    serves=(STAFF,),
    config=Config,
    build=lambda config: DingTalkTransport(**config.model_dump()),
    secrets=("webhook_url", "secret"),
    rate_per_minute=20,
    form=DingTalkForm,
    description=gettext_lazy("Posts staff notifications in a DingTalk group."),
)
