"""The generic HTTP SMS gateway against a local gateway that records what it was sent and
answers the way in-house gateways do: a JSON code, a plain-text word, an error page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from pydantic import ValidationError

from huifang.integrations.base import Outgoing, TransportError
from huifang.integrations.kinds import kinds
from huifang.integrations.models import Provider
from huifang.integrations.sms_http.forms import SmsHttpForm, initial_for
from huifang.integrations.sms_http.transport import KIND, Config, SmsHttpTransport
from tests.integrations.fakes import JsonHandler, serve

received: list[dict[str, Any]] = []

ANSWERS: dict[str, tuple[int, Any]] = {
    "/send": (200, {"code": 0, "msg": "成功", "data": {"sid": "SM20250101-7"}}),
    "/throttled": (200, {"code": 1005, "msg": "提交过快"}),
    "/rejected": (200, {"code": 1002, "msg": "号码无效"}),
    "/no-code": (200, {"status": "queued"}),
    "/text": (200, "OK"),
    "/busy": (500, {"error": "upstream down"}),
    "/slow-down": (429, {"error": "rate limited"}),
    "/bad": (400, {"code": 4001, "msg": "缺少参数 mobile"}),
}

# Messages are asserted in English here; the Chinese catalog is checked as a whole.
pytestmark = pytest.mark.usefixtures("english")


class Gateway(JsonHandler):
    def record(self, body: bytes) -> None:
        parts = urlsplit(self.path)
        received.append(
            {
                "method": self.command,
                "path": parts.path,
                "query": dict(parse_qsl(parts.query, keep_blank_values=True)),
                "headers": dict(self.headers),
                "body": body,
            }
        )
        if parts.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if parts.path == "/text":
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")
            return
        status, payload = ANSWERS.get(parts.path, (404, {"error": "no such path"}))
        self.answer(status, payload)

    def answer(self, status: int, payload: Any) -> None:
        # Gateways in China answer in UTF-8 as it is, not with \u escapes.
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self.record(self.rfile.read(int(self.headers.get("Content-Length", 0))))

    def do_GET(self) -> None:
        self.record(b"")


@pytest.fixture
def gateway(settings: Any) -> Iterator[str]:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]  # an admin allowed the in-house gateway
    received.clear()
    with serve(Gateway) as url:
        yield url


def sms(body: str = "王芳您好，您的净水器滤芯该更换了。", **fields: Any) -> Outgoing:
    values: dict[str, Any] = {"signature": "回访中心", **fields}
    return Outgoing(42, "sms", values.pop("to", "+8613800138000"), body, **values)


def gateway_config(url: str = "", **fields: Any) -> Config:
    values: dict[str, Any] = {
        "url": url,
        "parameters": {"mobile": "{to_national}", "content": "{body}", "ref": "{message_id}"},
        **fields,
    }
    return Config.model_validate(values)


def send(config: Config, message: Outgoing | None = None) -> Any:
    return SmsHttpTransport(config).send(message or sms())


def test_it_posts_json_with_the_signature_in_front_and_chinese_intact(gateway: str) -> None:
    config = gateway_config(gateway + "/send", success_field="code", success_value="0")
    receipt = send(config)
    (request,) = received
    assert request["method"] == "POST"
    assert request["headers"]["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(request["body"]) == {
        "mobile": "13800138000",
        "content": "【回访中心】王芳您好，您的净水器滤芯该更换了。",
        "ref": "42",
    }
    assert receipt.provider_ref == "sms_http-42"  # no id field configured
    assert "成功" in receipt.answer


def test_it_posts_form_fields(gateway: str) -> None:
    parameters = {"phone": "{to}", "msg": "{text}", "sign": "{signature}", "tpl": "{template_code}"}
    config = gateway_config(gateway + "/send", content_type="form", parameters=parameters)
    send(config, sms(template_code="T-100"))
    (request,) = received
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(request["body"].decode())) == {
        "phone": "+8613800138000",
        "msg": "王芳您好，您的净水器滤芯该更换了。",
        "sign": "回访中心",
        "tpl": "T-100",
    }


def test_it_gets_with_query_parameters_added_to_the_urls_own(gateway: str) -> None:
    config = gateway_config(
        gateway + "/send?account=huifang",
        method="GET",
        parameters={"phone": "{to_national}", "content": "{body}", "vars": "{params_json}"},
    )
    send(config, sms(params={"姓名": "王芳"}))
    (request,) = received
    assert (request["method"], request["body"]) == ("GET", b"")
    assert request["query"] == {
        "account": "huifang",
        "phone": "13800138000",
        "content": "【回访中心】王芳您好，您的净水器滤芯该更换了。",
        "vars": '{"姓名": "王芳"}',
    }


@pytest.mark.parametrize(
    ("body", "signature", "sent"),
    [
        ("【回访中心】您好", "回访中心", "【回访中心】您好"),  # the template already has it
        ("您好", "", "您好"),  # no signature anywhere: the text alone
        ("您好", "【回访中心】", "【回访中心】您好"),  # brackets typed with it: not doubled
    ],
)
def test_the_signature_goes_in_front_once(
    gateway: str, body: str, signature: str, sent: str
) -> None:
    send(gateway_config(gateway + "/send"), sms(body, signature=signature))
    assert json.loads(received[0]["body"])["content"] == sent


def test_the_default_signature_is_used_when_the_message_has_none(gateway: str) -> None:
    send(gateway_config(gateway + "/send", signature="【慧访】"), sms("您好", signature=""))
    assert json.loads(received[0]["body"])["content"] == "【慧访】您好"


def test_text_that_looks_like_a_placeholder_is_sent_as_it_is(gateway: str) -> None:
    send(gateway_config(gateway + "/send"), sms("回复 {to} 或 {token} 即可", signature=""))
    assert json.loads(received[0]["body"])["content"] == "回复 {to} 或 {token} 即可"


def test_the_provider_id_is_read_by_its_path(gateway: str) -> None:
    config = gateway_config(
        gateway + "/send", success_field="code", success_value="0", id_field="data.sid"
    )
    assert send(config).provider_ref == "SM20250101-7"


def test_a_plain_text_answer_can_be_the_success_rule(gateway: str) -> None:
    assert send(gateway_config(gateway + "/text", success_value="OK")).answer == "OK"


def test_headers_and_the_token_are_sent(gateway: str) -> None:
    config = gateway_config(
        gateway + "/send",
        headers={"X-Request-Id": "huifang-{message_id}"},
        secret_headers={"Authorization": "Bearer {token}"},
        token="tok-123",
        parameters={"mobile": "{to}", "content": "{body}", "apikey": "{token}"},
    )
    send(config)
    (request,) = received
    assert request["headers"]["Authorization"] == "Bearer tok-123"
    assert request["headers"]["X-Request-Id"] == "huifang-42"
    assert json.loads(request["body"])["apikey"] == "tok-123"


def test_a_refusal_code_is_permanent_and_keeps_the_answer(gateway: str) -> None:
    config = gateway_config(gateway + "/rejected", success_field="code", success_value="0")
    with pytest.raises(TransportError) as error:
        send(config)
    assert (error.value.permanent, error.value.code) == (True, "1002")
    assert "号码无效" in error.value.answer


def test_a_throttling_code_listed_as_transient_is_transient(gateway: str) -> None:
    config = gateway_config(
        gateway + "/throttled",
        success_field="code",
        success_value="0",
        transient_codes=["1005", "1006"],
    )
    with pytest.raises(TransportError) as error:
        send(config)
    assert (error.value.permanent, error.value.code) == (False, "1005")


def test_a_2xx_answer_without_the_success_field_is_permanent(gateway: str) -> None:
    # The gateway may have sent it: trying again could send the customer two messages.
    config = gateway_config(gateway + "/no-code", success_field="code", success_value="0")
    with pytest.raises(TransportError) as error:
        send(config)
    assert (error.value.permanent, error.value.code) == (True, "unexpected_answer")


@pytest.mark.parametrize(("path", "code"), [("/busy", "500"), ("/slow-down", "429")])
def test_5xx_and_429_are_transient(gateway: str, path: str, code: str) -> None:
    with pytest.raises(TransportError) as error:
        send(gateway_config(gateway + path))
    assert (error.value.permanent, error.value.code) == (False, code)


def test_a_400_is_permanent_with_the_providers_code_and_answer(gateway: str) -> None:
    with pytest.raises(TransportError) as error:
        send(gateway_config(gateway + "/bad"))
    assert (error.value.permanent, error.value.code) == (True, "400")
    assert "缺少参数 mobile" in error.value.answer
    with pytest.raises(TransportError) as error:
        send(gateway_config(gateway + "/bad", success_field="code", success_value="0"))
    assert (error.value.permanent, error.value.code) == (True, "4001")


def test_an_internal_address_is_refused_unless_allowed(gateway: str, settings: Any) -> None:
    settings.HUIFANG_OUTBOUND_ALLOW = []
    with pytest.raises(TransportError) as error:
        send(gateway_config(gateway + "/send"))
    assert (error.value.permanent, error.value.code) == (True, "blocked_url")
    assert not received


def test_a_redirect_is_not_followed(gateway: str) -> None:
    with pytest.raises(TransportError) as error:
        send(gateway_config(gateway + "/redirect"))
    assert (error.value.permanent, error.value.code) == (True, "302")
    assert "/elsewhere" in str(error.value)
    assert [request["path"] for request in received] == ["/redirect"]


def test_nothing_listening_is_transient(settings: Any) -> None:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]
    with pytest.raises(TransportError) as error:
        send(gateway_config("http://127.0.0.1:9/send", timeout=1))
    assert (error.value.permanent, error.value.code) == (False, "network")


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"parameters": {"mobile": "{to}", "content": "{body}", "x": "{phone}"}}, "{phone}"),
        ({"headers": {"X-Text": "{body}"}}, "{body}"),  # customer text never goes in a header
    ],
)
def test_an_unknown_placeholder_is_refused_with_its_name(
    fields: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValidationError) as error:
        gateway_config("https://sms.example.cn/send", **fields)
    assert f"Unknown placeholder {named}" in str(error.value)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"parameters": {"content": "{body}"}}, "phone number"),
        ({"parameters": {"mobile": "{to}"}}, "message"),
        ({"url": "ftp://sms.example.cn/"}, "http"),
        ({"url": "https://sms.example.cn/{to}"}, "placeholders"),
        ({"headers": {"Host": "other.example.cn"}}, "Host"),
        ({"success_field": "code"}, "value"),
        ({"token": "a\r\nX-Injected: 1"}, "line break"),
        ({"timeout": 600}, "60"),
    ],
)
def test_bad_settings_are_refused(fields: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError) as error:
        gateway_config(**{"url": "https://sms.example.cn/send", **fields})
    assert says in str(error.value)


def test_credentials_typed_among_plain_headers_are_kept_secret() -> None:
    config = gateway_config(
        "https://sms.example.cn/send",
        headers={"Authorization": "Basic aHVpZmFuZzpwdw==", "X-Api-Key": "k", "Accept": "*/*"},
    )
    assert config.headers == {"Accept": "*/*"}
    assert config.secret_headers == {"Authorization": "Basic aHVpZmFuZzpwdw==", "X-Api-Key": "k"}
    provider = Provider(kind="sms_http")
    provider.set_settings(config.model_dump() | {"token": "tok-123"})
    assert "Basic" not in json.dumps(provider.config)
    assert provider.secrets()["token"] == "tok-123"
    assert provider.settings() == config.model_copy(update={"token": "tok-123"})


def test_the_kind_declares_its_secrets_and_builds_the_transport() -> None:
    assert kinds["sms_http"] is KIND  # IntegrationsConfig.ready() found it
    assert set(KIND.secrets) == {"secret_headers", "token"}
    transport = KIND.build(gateway_config("https://sms.example.cn/send"))
    assert isinstance(transport, SmsHttpTransport)
    assert KIND.form is SmsHttpForm


FORM = {
    "url": "http://smsgw:8080/api/send",  # an intranet name with no dot
    "method": "POST",
    "content_type": "form",
    "parameters": "account=huifang\nmobile={to_national}\n\ncontent = {body}\n",
    "headers": "Accept=application/json\nAuthorization=Bearer {token}",
    "secret_headers": "",
    "token": "tok-123",
    "signature": "",
    "success_field": "result.code",
    "success_value": "0",
    "id_field": "result.sid",
    "transient_codes": "1005，1006 429",
    "timeout": "8",
}


def test_the_form_builds_the_settings() -> None:
    form = SmsHttpForm(FORM)
    assert form.is_valid(), form.errors
    assert form.config == Config.model_validate(
        {
            "url": "http://smsgw:8080/api/send",
            "method": "POST",
            "content_type": "form",
            "parameters": {"account": "huifang", "mobile": "{to_national}", "content": "{body}"},
            "headers": {"Accept": "application/json"},
            "secret_headers": {"Authorization": "Bearer {token}"},
            "token": "tok-123",
            "success_field": "result.code",
            "success_value": "0",
            "id_field": "result.sid",
            "transient_codes": ["1005", "1006", "429"],
            "timeout": 8,
        }
    )
    again = SmsHttpForm(initial=initial_for(form.config))
    assert "mobile={to_national}" in str(again["parameters"])
    assert "tok-123" not in str(again["token"])
    assert "Bearer" not in str(again["secret_headers"])


def test_secret_fields_never_show_a_value_back() -> None:
    form = SmsHttpForm({**FORM, "url": "", "secret_headers": "X-Key=k-secret"})
    assert not form.is_valid()
    assert "tok-123" not in str(form["token"])
    assert "k-secret" not in str(form["secret_headers"])


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        (
            {"parameters": "mobile={to}\ncontent={body}\nname={customer}"},
            "parameters",
            "{customer}",
        ),
        ({"parameters": "mobile={to}\ncontent"}, "parameters", "Line 2"),
        ({"parameters": "mobile={to}\nmobile={body}"}, "parameters", "twice"),
        ({"url": "smsgw:8080/send"}, "url", "http"),
        ({"success_value": ""}, "success_value", "success"),
        ({"headers": "X-Text={text}"}, "headers", "{text}"),
        ({"timeout": "0"}, "timeout", "1"),
    ],
)
def test_the_form_shows_what_is_wrong_on_the_field(
    changes: dict[str, str], field: str, says: str
) -> None:
    form = SmsHttpForm({**FORM, **changes})
    assert not form.is_valid()
    assert says in " ".join(str(message) for message in form.errors[field]), form.errors
    assert form.config is None


def test_the_form_shows_every_mistake_at_once() -> None:
    form = SmsHttpForm({**FORM, "timeout": "600", "parameters": "mobile={phone}"})
    assert not form.is_valid()
    assert set(form.errors) == {"timeout", "parameters"}
    assert "Value error" not in str(form.errors)
