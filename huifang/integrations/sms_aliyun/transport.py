"""Aliyun SMS (阿里云短信服务, ``dysmsapi`` 2017-05-25 ``SendSms``).

The RPC-style request Aliyun documents: every parameter (common ones and ``SendSms``'s) sorted
by name, each name and value percent-encoded (RFC 3986: only ``A-Z a-z 0-9 - _ . ~`` stay,
space is ``%20``), joined with ``&``; the string to sign is
``POST&%2F&`` + the percent-encoded joined string; ``Signature`` is the Base64 HMAC-SHA1 of it
keyed with ``AccessKeySecret + "&"``. The message is the provider-side template
(``TemplateCode``) with the template's variables (``TemplateParam``) and the signature
(``SignName``); ``OutId`` carries our message id, which delivery receipts echo.

``{"Code": "OK", "BizId": …}`` is success; throttling and Aliyun's own errors
(``isv.BUSINESS_LIMIT_CONTROL``, ``Throttling.User``, ``isp.SYSTEM_ERROR``) are transient;
anything else (an illegal number, a bad signature, an unapproved template) is permanent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from django.utils.translation import gettext_lazy
from pydantic import BaseModel, Field

from huifang.integrations.base import Outgoing, Receipt, TransportError, require_template_code
from huifang.integrations.http import call
from huifang.integrations.kinds import Kind

from .forms import AliyunSmsForm

ENDPOINT = "https://dysmsapi.aliyuncs.com/"
TRANSIENT = {"isv.BUSINESS_LIMIT_CONTROL", "Throttling.User", "Throttling", "isp.SYSTEM_ERROR"}


def percent(value: str) -> str:
    return quote(value, safe="-_.~")


def canonical(params: dict[str, str]) -> str:
    """The sorted, percent-encoded query: what is signed, and the body that is sent."""
    return "&".join(f"{percent(k)}={percent(v)}" for k, v in sorted(params.items()))


def signature(secret: str, method: str, params: dict[str, str], query: str = "") -> str:
    query = query or canonical(params)
    # percent() once more of an already percent-encoded string: only "%", "=" and "&" are
    # left to encode, and replacing them is what keeps signing cheap with Chinese text.
    again = query.replace("%", "%25").replace("=", "%3D").replace("&", "%26")
    to_sign = f"{method}&{percent('/')}&{again}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def out_id(message_id: int) -> str:
    """Our id for a message, as ``OutId``: Aliyun echoes it in the delivery receipt, which then
    finds a message whose ``BizId`` we never got to record (an ``uncertain`` one)."""
    return f"hf{message_id}"


def phone_number(e164: str) -> str:
    """Aliyun takes mainland numbers without +86, others with their country code, no +."""
    return e164[3:] if e164.startswith("+86") else e164.lstrip("+")


@dataclass
class AliyunSmsTransport:
    access_key_id: str
    access_key_secret: str
    sign_name: str = ""  # used when the template has no signature of its own
    endpoint: str = ENDPOINT
    region: str = "cn-hangzhou"
    timeout: float = 10.0
    key: str = "sms_aliyun"

    def send(self, outgoing: Outgoing) -> Receipt:
        require_template_code(outgoing, "Aliyun SMS")
        params = {
            "AccessKeyId": self.access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "OutId": out_id(outgoing.message_id),
            "PhoneNumbers": phone_number(outgoing.to),
            "RegionId": self.region,
            "SignName": outgoing.signature or self.sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "TemplateCode": outgoing.template_code,
            "TemplateParam": json.dumps(dict(outgoing.params), ensure_ascii=False),
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
        }
        query = canonical(params)
        signed = signature(self.access_key_secret, "POST", params, query)
        answer = call(
            "POST",
            self.endpoint,
            body=f"{query}&Signature={percent(signed)}".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=self.timeout,
        )
        text = answer.text()[:2000]
        try:
            result = json.loads(answer.body or b"{}")
        except ValueError:
            result = {}
        code = str(result.get("Code", "")) if isinstance(result, dict) else ""
        if code == "OK":
            return Receipt(str(result.get("BizId", "")), text)
        if not code:
            raise TransportError(
                f"Aliyun SMS: HTTP {answer.status}", permanent=answer.status < 500, answer=text
            )
        raise TransportError(
            f"Aliyun SMS {code}: {result.get('Message', '')}",
            permanent=code not in TRANSIENT,
            code=code,
            answer=text,
        )


class Config(BaseModel):
    access_key_id: str = Field(min_length=1, max_length=128)
    access_key_secret: str = Field(min_length=1, max_length=256)
    sign_name: str = Field("", max_length=12)
    endpoint: str = ENDPOINT
    region: str = "cn-hangzhou"
    timeout: float = Field(10.0, gt=0, le=60)


KIND = Kind(
    key="sms_aliyun",
    label=gettext_lazy("Aliyun SMS"),
    serves=("sms",),
    config=Config,
    build=lambda config: AliyunSmsTransport(**config.model_dump()),
    secrets=("access_key_secret",),
    form=AliyunSmsForm,
    description=gettext_lazy(
        "Aliyun's SMS service; it sends only templates approved in its console."
    ),
)
