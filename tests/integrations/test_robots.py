"""Staff robots (DingTalk, Feishu, WeCom) against one local server that speaks each one's
documented protocol: the same URLs, signature checks, answers and the 20-a-minute limit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from huifang.integrations.base import Outgoing, Transport, TransportError
from huifang.integrations.dingtalk.transport import DingTalkTransport
from huifang.integrations.feishu.transport import FeishuTransport
from huifang.integrations.wecom.transport import WeComRobotTransport
from tests.integrations.fakes import JsonHandler, serve

SECRET = "SEC0123456789abcdef"
TOKEN = "robot-token"
LIMIT = 20  # messages per minute per robot, as all three document
received: dict[str, list[str]] = defaultdict(list)
bodies: dict[str, list[dict[str, Any]]] = defaultdict(list)  # each accepted request, in full
sent_at: dict[str, list[float]] = defaultdict(list)


def throttled(robot: str) -> bool:
    recent = [t for t in sent_at[robot] if time.time() - t < 60]
    sent_at[robot] = recent
    if len(recent) >= LIMIT:
        return True
    recent.append(time.time())
    return False


class Robots(JsonHandler):
    def do_POST(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        # All three answer errors too with HTTP 200 and a code in the body.
        if url.path == "/robot/send":
            return self.answer(200, self.dingtalk(query, body))
        if url.path.startswith("/open-apis/bot/v2/hook/"):
            return self.answer(200, self.feishu(url.path.rsplit("/", 1)[1], body))
        if url.path == "/cgi-bin/webhook/send":
            return self.answer(200, self.wecom(query, body))
        self.send_response(404)
        self.end_headers()

    def dingtalk(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        if query.get("access_token") != TOKEN:
            return {"errcode": 300001, "errmsg": "token is not exist"}
        stamp = query.get("timestamp", "0")
        expected = base64.b64encode(
            hmac.new(SECRET.encode(), f"{stamp}\n{SECRET}".encode(), hashlib.sha256).digest()
        ).decode()
        fresh = abs(time.time() * 1000 - int(stamp)) < 3600_000
        if not fresh or query.get("sign", "") != expected:  # parse_qs decoded it once
            return {"errcode": 310000, "errmsg": "sign not match"}
        if throttled("dingtalk"):
            return {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
        received["dingtalk"].append(body["text"]["content"])
        bodies["dingtalk"].append(body)
        return {"errcode": 0, "errmsg": "ok"}

    def feishu(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        if token != TOKEN:
            return {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}
        stamp = int(body.get("timestamp", 0))
        key = f"{stamp}\n{SECRET}".encode()
        expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        if abs(time.time() - stamp) > 3600 or body.get("sign") != expected:
            return {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}
        if throttled("feishu"):
            return {"code": 11232, "msg": "frequency limited psm"}
        received["feishu"].append(body["content"]["text"])
        # The signature was checked above and changes every second; keep the rest.
        bodies["feishu"].append({k: v for k, v in body.items() if k not in {"timestamp", "sign"}})
        return {"code": 0, "msg": "success", "data": {}}

    def wecom(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        if query.get("key") != TOKEN:
            return {"errcode": 93000, "errmsg": "invalid webhook url"}
        if body.get("msgtype") != "text":
            return {"errcode": 40008, "errmsg": "invalid message type"}
        if throttled("wecom"):
            return {"errcode": 45009, "errmsg": "api freq out of limit"}
        received["wecom"].append(body["text"]["content"])
        bodies["wecom"].append(body)
        return {"errcode": 0, "errmsg": "ok"}


@pytest.fixture
def server(settings: Any) -> Iterator[str]:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]
    received.clear()
    bodies.clear()
    sent_at.clear()
    with serve(Robots) as url:
        yield url


def robot(kind: str, base: str, *, secret: str = SECRET, token: str = TOKEN) -> Transport:
    if kind == "dingtalk":
        return DingTalkTransport(f"{base}/robot/send?access_token={token}", secret)
    if kind == "feishu":
        return FeishuTransport(f"{base}/open-apis/bot/v2/hook/{token}", secret)
    return WeComRobotTransport(f"{base}/cgi-bin/webhook/send?key={token}")


ALERT = Outgoing(7, "robot", "", "王芳（VIP）投诉未处理，已超时 2 小时", subject="回访任务超时")
KINDS = ["dingtalk", "feishu", "wecom"]
BAD_TOKEN = {"dingtalk": "300001", "feishu": "19001", "wecom": "93000"}
THROTTLE = {"dingtalk": "130101", "feishu": "11232", "wecom": "45009"}


@pytest.mark.parametrize("kind", KINDS)
def test_a_signed_message_arrives(server: str, kind: str) -> None:
    receipt = robot(kind, server).send(ALERT)
    assert receipt.provider_ref.endswith("-7")
    assert received[kind] == ["回访任务超时\n王芳（VIP）投诉未处理，已超时 2 小时"]


@pytest.mark.parametrize("kind", ["dingtalk", "feishu"])
def test_a_wrong_secret_is_a_permanent_signature_error(server: str, kind: str) -> None:
    with pytest.raises(TransportError) as error:
        robot(kind, server, secret="SECwrong").send(ALERT)
    assert error.value.permanent
    assert error.value.code == {"dingtalk": "310000", "feishu": "19021"}[kind]
    assert not received[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_robot_is_permanent(server: str, kind: str) -> None:
    with pytest.raises(TransportError) as error:
        robot(kind, server, token="gone").send(ALERT)
    assert (error.value.permanent, error.value.code) == (True, BAD_TOKEN[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_the_twenty_first_message_in_a_minute_is_throttled_and_transient(
    server: str, kind: str
) -> None:
    transport = robot(kind, server)
    for _n in range(LIMIT):
        transport.send(ALERT)
    with pytest.raises(TransportError) as error:
        transport.send(ALERT)
    assert (error.value.permanent, error.value.code) == (False, THROTTLE[kind])
    assert len(received[kind]) == LIMIT


# -- mentions: ``Outgoing.to`` is the member of staff to @ ----------------------------------

TEXT = "回访任务超时\n王芳（VIP）投诉未处理，已超时 2 小时"


@pytest.mark.parametrize("kind", KINDS)
def test_without_a_recipient_nobody_is_mentioned(server: str, kind: str) -> None:
    robot(kind, server).send(ALERT)
    assert bodies[kind] == [
        {
            "dingtalk": {"msgtype": "text", "text": {"content": TEXT}},
            "feishu": {"msg_type": "text", "content": {"text": TEXT}},
            "wecom": {"msgtype": "text", "text": {"content": TEXT}},
        }[kind]
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_a_blank_recipient_mentions_nobody(server: str, kind: str) -> None:
    robot(kind, server).send(replace(ALERT, to="  "))
    assert "at" not in bodies[kind][0]
    assert "mentioned" not in json.dumps(bodies[kind][0])
    assert "@" not in received[kind][0] and "<at" not in received[kind][0]


@pytest.mark.parametrize(
    "to", ["+8613800138000", "13800138000", "8613800138000", " +86 138-0013-8000 "]
)
def test_wecom_mentions_a_mobile_number_by_its_national_digits(server: str, to: str) -> None:
    robot("wecom", server).send(replace(ALERT, to=to))
    assert bodies["wecom"] == [
        {
            "msgtype": "text",
            "text": {"content": TEXT, "mentioned_mobile_list": ["13800138000"]},
        }
    ]


@pytest.mark.parametrize("to", ["zhangsan", "10086", "138001380001"])
def test_wecom_mentions_anything_else_by_userid(server: str, to: str) -> None:
    robot("wecom", server).send(replace(ALERT, to=to))
    assert bodies["wecom"] == [
        {"msgtype": "text", "text": {"content": TEXT, "mentioned_list": [to]}}
    ]


@pytest.mark.parametrize("to", ["+8613800138000", "13800138000"])
def test_dingtalk_mentions_a_mobile_number_in_at_and_in_the_text(server: str, to: str) -> None:
    robot("dingtalk", server).send(replace(ALERT, to=to))
    assert bodies["dingtalk"] == [
        {
            "msgtype": "text",
            "text": {"content": f"{TEXT} @13800138000"},
            "at": {"atMobiles": ["13800138000"], "isAtAll": False},
        }
    ]


def test_dingtalk_mentions_a_userid_in_at_and_in_the_text(server: str) -> None:
    robot("dingtalk", server).send(replace(ALERT, to="manager4521"))
    assert bodies["dingtalk"] == [
        {
            "msgtype": "text",
            "text": {"content": f"{TEXT} @manager4521"},
            "at": {"atUserIds": ["manager4521"], "isAtAll": False},
        }
    ]


def test_feishu_mentions_an_open_id_at_the_start_of_the_text(server: str) -> None:
    robot("feishu", server).send(replace(ALERT, to="ou_7d8a6e6df7621556ce0d21922b676706"))
    assert bodies["feishu"] == [
        {
            "msg_type": "text",
            "content": {"text": f'<at user_id="ou_7d8a6e6df7621556ce0d21922b676706"></at> {TEXT}'},
        }
    ]


def test_feishu_mentions_any_other_id_the_same_way(server: str) -> None:
    robot("feishu", server).send(replace(ALERT, to="e6f5a1b2"))
    assert bodies["feishu"] == [
        {"msg_type": "text", "content": {"text": f'<at user_id="e6f5a1b2"></at> {TEXT}'}}
    ]
