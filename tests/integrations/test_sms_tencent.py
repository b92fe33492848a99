"""Tencent Cloud SMS against a local server that checks TC3-HMAC-SHA256 the way Tencent Cloud
documents it and answers in API 3.0's shape."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from huifang.integrations.base import Outgoing, TransportError
from huifang.integrations.sms_tencent.transport import TencentSmsTransport
from tests.integrations.fakes import JsonHandler, serve

SECRET_ID, SECRET_KEY, APP = "AKIDtest", "tencent-secret", "1400006666"
sent: list[dict[str, Any]] = []


def expected_authorization(headers: Any, body: bytes) -> str:
    """Written out from Tencent Cloud's description, independently of the transport's code."""
    stamp = int(headers["X-TC-Timestamp"])
    day = datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d")
    canonical = (
        "POST\n/\n\n"
        f"content-type:{headers['Content-Type']}\nhost:{headers['Host']}\n\n"
        "content-type;host\n" + hashlib.sha256(body).hexdigest()
    )
    scope = f"{day}/sms/tc3_request"
    string_to_sign = (
        f"TC3-HMAC-SHA256\n{stamp}\n{scope}\n" + hashlib.sha256(canonical.encode()).hexdigest()
    )

    def mac(key: bytes, text: str) -> bytes:
        return hmac.new(key, text.encode(), hashlib.sha256).digest()

    signing = mac(mac(mac(("TC3" + SECRET_KEY).encode(), day), "sms"), "tc3_request")
    signature = hmac.new(signing, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={SECRET_ID}/{scope}, SignedHeaders=content-type;host, "
        f"Signature={signature}"
    )


class Tencent(JsonHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request_id = {"RequestId": "a0aabda6-cf91-4f3e-a2b0-2d0f4a4a1c4f"}
        if self.headers["X-TC-Action"] != "SendSms" or self.headers["X-TC-Version"] != "2021-01-11":
            return self.error("InvalidAction", request_id)
        if self.headers["Authorization"] != expected_authorization(self.headers, body):
            return self.error("AuthFailure.SignatureFailure", request_id)
        if abs(time.time() - int(self.headers["X-TC-Timestamp"])) > 300:
            return self.error("AuthFailure.SignatureExpire", request_id)
        payload = json.loads(body)
        number = payload["PhoneNumberSet"][0]
        code = {
            "+86139": "InvalidParameterValue.IncorrectPhoneNumber",
            "+8613900000000": "LimitExceeded.PhoneNumberDailyLimit",
        }.get(number, "Ok")
        if code == "Ok":
            sent.append(payload)
        status = {
            "SerialNo": "2645:3407",
            "PhoneNumber": number,
            "Fee": 1,
            "Code": code,
            "Message": "send success" if code == "Ok" else code,
            "IsoCode": "CN",
        }
        return self.answer(200, {"Response": {"SendStatusSet": [status], **request_id}})

    def error(self, code: str, request_id: dict[str, str]) -> None:
        self.answer(200, {"Response": {"Error": {"Code": code, "Message": code}, **request_id}})


@pytest.fixture
def tencent(settings: Any) -> Iterator[str]:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]
    sent.clear()
    with serve(Tencent) as url:
        yield url + "/"


def sms(to: str = "+8613800138000", **fields: Any) -> Outgoing:
    values: dict[str, Any] = {
        "template_code": "449739",
        "signature": "回访中心",
        "params": {"name": "王芳", "days": "10"},
        **fields,
    }
    return Outgoing(8, "sms", to, "（Tencent renders its own template）", **values)


def transport(url: str, key: str = SECRET_KEY) -> TencentSmsTransport:
    return TencentSmsTransport(SECRET_ID, key, APP, endpoint=url)


def test_a_signed_request_sends_the_template_with_its_parameters_in_order(tencent: str) -> None:
    assert transport(tencent).send(sms()).provider_ref == "2645:3407"
    (payload,) = sent
    assert payload["PhoneNumberSet"] == ["+8613800138000"]
    assert payload["TemplateParamSet"] == ["王芳", "10"]
    assert (payload["SmsSdkAppId"], payload["SignName"], payload["TemplateId"]) == (
        APP,
        "回访中心",
        "449739",
    )


def test_a_wrong_key_is_a_permanent_signature_failure(tencent: str) -> None:
    with pytest.raises(TransportError) as error:
        transport(tencent, "wrong").send(sms())
    assert (error.value.permanent, error.value.code) == (True, "AuthFailure.SignatureFailure")


@pytest.mark.parametrize(
    ("to", "code", "permanent"),
    [
        ("+86139", "InvalidParameterValue.IncorrectPhoneNumber", True),
        ("+8613900000000", "LimitExceeded.PhoneNumberDailyLimit", False),
    ],
)
def test_per_number_codes_map_to_permanent_or_transient(
    tencent: str, to: str, code: str, permanent: bool
) -> None:
    with pytest.raises(TransportError) as error:
        transport(tencent).send(sms(to))
    assert (error.value.code, error.value.permanent) == (code, permanent)


def test_a_template_without_a_provider_code_is_refused_before_calling(tencent: str) -> None:
    with pytest.raises(TransportError):
        transport(tencent).send(sms(template_code=""))
    assert not sent
