"""Aliyun SMS against a local server that checks the RPC signature the way Aliyun documents it
and answers with Aliyun's codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest

from huifang.integrations.base import Outgoing, TransportError
from huifang.integrations.sms_aliyun.transport import AliyunSmsTransport
from tests.integrations.fakes import JsonHandler, serve

KEY_ID, SECRET = "LTAI-test", "aliyun-secret"
sent: list[dict[str, str]] = []
nonces: set[str] = set()


def documented_signature(params: dict[str, str]) -> str:
    """Written out from Aliyun's description, independently of the transport's code."""

    def enc(value: str) -> str:
        return quote(value, safe="").replace("+", "%20").replace("*", "%2A").replace("%7E", "~")

    query = "&".join(f"{enc(k)}={enc(params[k])}" for k in sorted(params))
    string_to_sign = "POST&" + enc("/") + "&" + enc(query)
    mac = hmac.new((SECRET + "&").encode(), string_to_sign.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


class Aliyun(JsonHandler):
    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"])).decode()
        params = dict(parse_qsl(raw, keep_blank_values=True))
        given = params.pop("Signature", "")
        request = {"RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990"}
        if params.get("AccessKeyId") != KEY_ID:
            return self.answer(404, {**request, "Code": "InvalidAccessKeyId.NotFound"})
        if given != documented_signature(params):
            return self.answer(400, {**request, "Code": "SignatureDoesNotMatch"})
        stamp = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs(time.time() - stamp.timestamp()) > 900:
            return self.answer(400, {**request, "Code": "InvalidTimeStamp.Expired"})
        if params["SignatureNonce"] in nonces:
            return self.answer(400, {**request, "Code": "SignatureNonceUsed"})
        nonces.add(params["SignatureNonce"])
        number = params["PhoneNumbers"]
        if not number.isdigit() or len(number) < 11:
            return self.answer(200, {**request, "Code": "isv.MOBILE_NUMBER_ILLEGAL"})
        if number == "13900000000":  # the carrier's per-number limit
            return self.answer(200, {**request, "Code": "isv.BUSINESS_LIMIT_CONTROL"})
        sent.append(params)
        return self.answer(200, {**request, "Code": "OK", "Message": "OK", "BizId": "9006197^0"})


@pytest.fixture
def aliyun(settings: Any) -> Iterator[str]:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]
    sent.clear()
    with serve(Aliyun) as url:
        yield url + "/"


def sms(to: str = "+8613800138000", **fields: Any) -> Outgoing:
    values: dict[str, Any] = {
        "template_code": "SMS_123456789",
        "signature": "回访中心",
        "params": {"name": "王芳", "product": "空气净化器 Pro*", "link": "https://x.cn/l/a~b c"},
        **fields,
    }
    return Outgoing(5, "sms", to, "（Aliyun renders its own template）", **values)


def test_a_signed_request_sends_the_template_with_its_variables(aliyun: str) -> None:
    receipt = AliyunSmsTransport(KEY_ID, SECRET, endpoint=aliyun).send(sms())
    assert receipt.provider_ref == "9006197^0"
    (request,) = sent
    assert request["PhoneNumbers"] == "13800138000"  # mainland numbers without +86
    assert (request["SignName"], request["TemplateCode"]) == ("回访中心", "SMS_123456789")
    assert '"name": "王芳"' in request["TemplateParam"]


def test_a_wrong_secret_is_a_permanent_signature_error(aliyun: str) -> None:
    with pytest.raises(TransportError) as error:
        AliyunSmsTransport(KEY_ID, "wrong", endpoint=aliyun).send(sms())
    assert (error.value.permanent, error.value.code) == (True, "SignatureDoesNotMatch")


@pytest.mark.parametrize(
    ("to", "code", "permanent"),
    [
        ("+86139", "isv.MOBILE_NUMBER_ILLEGAL", True),
        ("+8613900000000", "isv.BUSINESS_LIMIT_CONTROL", False),
    ],
)
def test_provider_codes_map_to_permanent_or_transient(
    aliyun: str, to: str, code: str, permanent: bool
) -> None:
    with pytest.raises(TransportError) as error:
        AliyunSmsTransport(KEY_ID, SECRET, endpoint=aliyun).send(sms(to))
    assert (error.value.code, error.value.permanent) == (code, permanent)


def test_a_template_without_a_provider_code_is_refused_before_calling(aliyun: str) -> None:
    with pytest.raises(TransportError) as error:
        AliyunSmsTransport(KEY_ID, SECRET, endpoint=aliyun).send(sms(template_code=""))
    assert error.value.permanent
    assert not sent


def test_every_request_has_a_fresh_nonce(aliyun: str) -> None:
    transport = AliyunSmsTransport(KEY_ID, SECRET, endpoint=aliyun)
    for _n in range(3):
        transport.send(sms())
    assert len({request["SignatureNonce"] for request in sent}) == 3
