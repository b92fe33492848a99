"""WeCom group robot (企业微信群机器人), for staff notifications.

Protocol as WeCom documents it: POST JSON ``{"msgtype": "text", "text": {"content": …}}`` to
``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`` (the key in the URL is the robot's
only secret). The answer is ``{"errcode": 0, "errmsg": "ok"}``; 45009 (API frequency limit: a
robot takes 20 messages a minute) is transient, other codes (93000: invalid webhook URL;
40008: bad message type) permanent.

A non-empty ``Outgoing.to`` is the member of staff to @-mention: a mainland mobile number
(``13800138000``, with or without ``+86``) goes, as its 11 national digits, in
``text.mentioned_mobile_list``; anything else is a WeCom userid, in ``text.mentioned_list``.
Without ``to`` the message mentions nobody and carries neither field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy
from pydantic import BaseModel, Field

from huifang.integrations.base import Outgoing, Receipt, check_answer, national_mobile
from huifang.integrations.http import post_json
from huifang.integrations.kinds import STAFF, Kind

from .forms import WeComRobotForm

THROTTLED = {45009}


@dataclass
class WeComRobotTransport:
    webhook_url: str
    timeout: float = 10.0
    key: str = "wecom_robot"

    def send(self, outgoing: Outgoing) -> Receipt:
        content = f"{outgoing.subject}\n{outgoing.body}" if outgoing.subject else outgoing.body
        text_part: dict[str, Any] = {"content": content}
        if to := outgoing.to.strip():
            if mobile := national_mobile(to):
                text_part["mentioned_mobile_list"] = [mobile]
            else:
                text_part["mentioned_list"] = [to]
        payload = {"msgtype": "text", "text": text_part}
        status, answer, text = post_json(self.webhook_url, payload, timeout=self.timeout)
        answer = answer if isinstance(answer, dict) else {}
        check_answer("WeCom", status, answer.get("errcode"), answer.get("errmsg"), text, THROTTLED)
        return Receipt(f"wecom-{outgoing.message_id}", text)


class Config(BaseModel):
    webhook_url: str = Field(min_length=1, max_length=500)  # carries the robot's key
    timeout: float = Field(10.0, gt=0, le=60)


KIND = Kind(
    key="wecom_robot",
    label=gettext_lazy("WeCom group robot"),
    serves=(STAFF,),
    config=Config,
    build=lambda config: WeComRobotTransport(**config.model_dump()),
    secrets=("webhook_url",),
    rate_per_minute=20,
    form=WeComRobotForm,
    description=gettext_lazy("Posts staff notifications in a WeCom group."),
)
