"""Tencent Cloud SMS (腾讯云短信, API 2021-01-11 ``SendSms``), signed with TC3-HMAC-SHA256.

The signature Tencent Cloud documents (API 3.0):

1. canonical request: ``POST``, ``/``, an empty query, the canonical ``content-type`` and
   ``host`` headers, the signed header names, and the hex SHA-256 of the body, one per line;
2. string to sign: ``TC3-HMAC-SHA256``, the timestamp, the credential scope
   (``<UTC date>/sms/tc3_request``) and the hex SHA-256 of the canonical request;
3. the key: HMAC-SHA256 chained from ``"TC3" + SecretKey`` over the date, ``sms`` and
   ``tc3_request``; the signature is the hex HMAC-SHA256 of the string to sign.

The message is the provider-side template (``TemplateId``) with its parameters in order
(``TemplateParamSet``: ``{1}``, ``{2}`` … in the Tencent template). A send is accepted when the
number's ``SendStatusSet`` entry has ``Code`` ``Ok``. Rate limits and Tencent's internal errors
are transient; a bad signature, number or template is permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from django.utils.translation import gettext_lazy
from pydantic import BaseModel, Field

from huifang.integrations.base import Outgoing, Receipt, TransportError, require_template_code
from huifang.integrations.http import call
from huifang.integrations.kinds import Kind

from .forms import TencentSmsForm

ENDPOINT = "https://sms.tencentcloudapi.com/"
CONTENT_TYPE = "application/json; charset=utf-8"
# Rate limits, Tencent's own errors, and a balance that runs out (it will be topped up).
TRANSIENT_PREFIXES = (
    "LimitExceeded",
    "RequestLimitExceeded",
    "InternalError",
    "FailedOperation.InsufficientBalance",
)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def authorization(secret_id: str, secret_key: str, host: str, body: bytes, timestamp: int) -> str:
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{CONTENT_TYPE}\nhost:{host}\n",
            "content-type;host",
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{date}/sms/tc3_request"
    to_sign = "\n".join(
        ["TC3-HMAC-SHA256", str(timestamp), scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), "sms"), "tc3_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )


def _transient(code: str) -> bool:
    return code.startswith(TRANSIENT_PREFIXES)


@dataclass
class TencentSmsTransport:
    secret_id: str
    secret_key: str
    sdk_app_id: str
    sign_name: str = ""
    endpoint: str = ENDPOINT
    region: str = "ap-guangzhou"
    timeout: float = 10.0
    key: str = "sms_tencent"

    def send(self, outgoing: Outgoing) -> Receipt:
        require_template_code(outgoing, "Tencent Cloud SMS")
        body = json.dumps(
            {
                "PhoneNumberSet": [outgoing.to],
                "SmsSdkAppId": self.sdk_app_id,
                "SignName": outgoing.signature or self.sign_name,
                "TemplateId": outgoing.template_code,
                "TemplateParamSet": [str(v) for v in outgoing.params.values()],
                "SessionContext": str(outgoing.message_id),
            },
            ensure_ascii=False,
        ).encode()
        host = urlsplit(self.endpoint).netloc
        timestamp = int(time.time())
        headers = {
            "Authorization": authorization(self.secret_id, self.secret_key, host, body, timestamp),
            "Content-Type": CONTENT_TYPE,
            "X-TC-Action": "SendSms",
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Version": "2021-01-11",
            "X-TC-Region": self.region,
        }
        answer = call("POST", self.endpoint, body=body, headers=headers, timeout=self.timeout)
        text = answer.text()[:2000]
        try:
            response = json.loads(answer.body or b"{}").get("Response", {})
        except (ValueError, AttributeError):
            response = {}
        error = response.get("Error") if isinstance(response, dict) else None
        if error:
            code = str(error.get("Code", ""))
            raise TransportError(
                f"Tencent SMS {code}: {error.get('Message', '')}",
                permanent=not _transient(code),
                code=code,
                answer=text,
            )
        statuses = response.get("SendStatusSet") or [] if isinstance(response, dict) else []
        if not statuses:
            raise TransportError(
                f"Tencent SMS: HTTP {answer.status}", permanent=answer.status < 500, answer=text
            )
        status = statuses[0]
        code = str(status.get("Code", ""))
        if code == "Ok":
            return Receipt(str(status.get("SerialNo", "")), text)
        raise TransportError(
            f"Tencent SMS {code}: {status.get('Message', '')}",
            permanent=not _transient(code),
            code=code,
            answer=text,
        )


class Config(BaseModel):
    secret_id: str = Field(min_length=1, max_length=128)
    secret_key: str = Field(min_length=1, max_length=256)
    sdk_app_id: str = Field(min_length=1, max_length=32)
    sign_name: str = Field("", max_length=12)
    endpoint: str = ENDPOINT
    region: str = "ap-guangzhou"
    timeout: float = Field(10.0, gt=0, le=60)


KIND = Kind(
    key="sms_tencent",
    label=gettext_lazy("Tencent Cloud SMS"),
    serves=("sms",),
    config=Config,
    build=lambda config: TencentSmsTransport(**config.model_dump()),
    secrets=("secret_key",),
    form=TencentSmsForm,
    description=gettext_lazy(
        "Tencent Cloud's SMS service; it sends only templates approved in its console."
    ),
)
