"""The channels page: who may use it, adding each kind, the errors, the secrets (encrypted,
never shown back, kept when left blank), enabling, disabling and deleting. "Send test" is in
``test_channels_send_test.py``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from huifang.integrations.models import Provider
from huifang.messaging.models import Message
from tests.integrations.test_robots import TOKEN

# Extra WSGI environ for the test client's **extra (its keyword arguments are typed Any).
EN: dict[str, Any] = {"HTTP_ACCEPT_LANGUAGE": "en"}
HX: dict[str, Any] = {"HTTP_HX_REQUEST": "true"}
NOW = datetime(2026, 11, 5, 2, 0, tzinfo=UTC)

# Valid settings per kind, as typed into the page, and a secret that must never show again.
KINDS: dict[str, tuple[str, dict[str, str], str]] = {
    "email": (
        "email",
        {
            "host": "smtp.exmail.qq.com",
            "port": "465",
            "security": "tls",
            "username": "notice@shop.example.cn",
            "password": "mail-pass-8271",
            "sender": "notice@shop.example.cn",
            "sender_name": "回访中心",
            "timeout": "15",
        },
        "mail-pass-8271",
    ),
    "sms_aliyun": (
        "sms",
        {
            "access_key_id": "LTAI5tExample",
            "access_key_secret": "aliyun-secret-9921",
            "sign_name": "【回访中心】",
            "endpoint": "https://dysmsapi.aliyuncs.com/",
            "region": "cn-hangzhou",
            "timeout": "10",
        },
        "aliyun-secret-9921",
    ),
    "sms_tencent": (
        "sms",
        {
            "secret_id": "AKIDexample",
            "secret_key": "tencent-key-5512",
            "sdk_app_id": "1400006666",
            "sign_name": "回访中心",
            "endpoint": "https://sms.tencentcloudapi.com/",
            "region": "ap-guangzhou",
            "timeout": "10",
        },
        "tencent-key-5512",
    ),
    "sms_http": (
        "sms",
        {
            "url": "http://smsgw:8080/send",
            "method": "POST",
            "content_type": "json",
            "parameters": "mobile={to_national}\ncontent={body}\nkey={token}",
            "token": "gateway-token-3301",
            "timeout": "10",
        },
        "gateway-token-3301",
    ),
    "dingtalk": (
        "staff",
        {
            "webhook_url": f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}-dd",
            "timeout": "10",
        },
        f"{TOKEN}-dd",
    ),
    "feishu": (
        "staff",
        {
            "webhook_url": "https://open.feishu.cn/open-apis/bot/v2/hook/feishu-hook-77",
            "secret": "feishu-sign-4410",
            "timeout": "10",
        },
        "feishu-hook-77",
    ),
    "wecom_robot": (
        "staff",
        {
            "webhook_url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=wecom-key-6612",
            "timeout": "10",
        },
        "wecom-key-6612",
    ),
    "webhook": (
        "wecom",
        {
            "url": "https://hooks.example.cn/huifang",
            "secret": "webhook-signing-secret-0042",
            "timeout": "10",
        },
        "webhook-signing-secret-0042",
    ),
    "inapp": ("staff", {}, ""),
}


def form(kind: str, name: str = "", **settings: str) -> dict[str, str]:
    channel, values, _secret = KINDS[kind]
    data = {"name": name or f"{kind} provider", "channel": channel, "priority": "100"}
    data["enabled"] = "on"
    data.update({f"settings-{k}": v for k, v in {**values, **settings}.items()})
    return data


def add(client: Client, kind: str, **settings: str) -> Provider:
    answer = client.post(f"/channels/add/{kind}/", form(kind, **settings))
    assert answer.status_code == 302, answer.content.decode()
    return Provider.objects.get(pk=int(answer["Location"].strip("/").rsplit("/", 1)[1]))


# -- who may ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["bob_client", "carol_client"])
def test_only_an_admin_may_see_or_change_channels(who: str, request: Any, alice: Any) -> None:
    client: Client = request.getfixturevalue(who)
    provider = Provider(name="群机器人", channel="staff")
    provider.kind = "inapp"
    provider.save()
    for path in (
        "/channels/",
        "/channels/add/",
        "/channels/add/email/",
        f"/channels/{provider.pk}/",
    ):
        assert client.get(path).status_code == 403
    for action in ("disable", "delete", "test"):
        assert client.post(f"/channels/{provider.pk}/{action}/").status_code == 403
    provider.refresh_from_db()
    assert provider.enabled and provider.last_test_at is None
    assert "/channels/" not in client.get("/customers/").content.decode()


def test_the_admin_finds_the_page_in_the_navigation(alice_client: Client) -> None:
    assert 'href="/channels/"' in alice_client.get("/customers/").content.decode()


# -- adding and listing -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_is_added_through_the_page_and_listed(alice_client: Client, kind: str) -> None:
    assert alice_client.get(f"/channels/add/{kind}/").status_code == 200
    provider = add(alice_client, kind)
    channel, _values, secret = KINDS[kind]
    assert (provider.kind, provider.channel, provider.enabled) == (kind, channel, True)
    assert provider.settings()  # the stored settings validate as the kind's Config
    listed = alice_client.get("/channels/", **EN).content.decode()
    assert f"{kind} provider" in listed and provider.kind_label in listed
    edit = alice_client.get(f"/channels/{provider.pk}/", **EN).content.decode()
    if secret:
        assert secret not in str(provider.config) and secret not in provider.sealed
        assert secret in str(provider.secrets())
        assert secret not in listed and secret not in edit
        assert ">set<" in edit


def test_the_kind_chooser_offers_every_kind(alice_client: Client) -> None:
    page = alice_client.get("/channels/add/", **EN).content.decode()
    for kind in KINDS:
        assert f'href="/channels/add/{kind}/"' in page


def test_signatures_lose_their_brackets_and_defaults_come_from_the_kind(
    alice_client: Client,
) -> None:
    blank = alice_client.get("/channels/add/sms_aliyun/").content.decode()
    assert 'value="https://dysmsapi.aliyuncs.com/"' in blank and 'value="cn-hangzhou"' in blank
    provider = add(alice_client, "sms_aliyun")
    assert provider.config["sign_name"] == "回访中心"


@pytest.mark.parametrize(
    ("kind", "changes", "field", "says"),
    [
        ("dingtalk", {"webhook_url": ""}, "webhook_url", "此项为必填项。"),
        ("dingtalk", {"webhook_url": "oapi.dingtalk.com/robot"}, "webhook_url", "http://"),
        ("webhook", {"secret": "too-short"}, "secret", "16"),
        ("email", {"sender": "not an address"}, "sender", "有效"),
        ("email", {"port": "70000"}, "port", "65535"),
        ("sms_aliyun", {"sign_name": "一二三四五六七八九十一二三"}, "sign_name", "12"),
        ("sms_tencent", {"sdk_app_id": "app-1"}, "sdk_app_id", "SdkAppId"),
    ],
)
def test_bad_input_shows_the_error_in_chinese_and_writes_nothing(
    alice_client: Client, kind: str, changes: dict[str, str], field: str, says: str
) -> None:
    answer = alice_client.post(f"/channels/add/{kind}/", form(kind, **changes))
    page = answer.content.decode()
    assert answer.status_code == 200 and Provider.objects.count() == 0
    found = re.search(rf'<div class="mb-3 field-{field}">(.*?)\n</div>', page, re.S)
    assert found and "is-invalid" in found.group(1), page
    errors = " ".join(re.findall(r'<div class="invalid-feedback"[^>]*>(.*?)</div>', found.group(1)))
    assert says in errors.replace("&#x27;", "'")
    assert re.search(r"[\u4e00-\u9fff]", errors) or kind == "sms_tencent", errors
    secret = KINDS[kind][2]
    assert not secret or secret not in page  # what was typed in a secret field is not echoed


def test_a_channel_offers_only_what_its_kind_serves(alice_client: Client) -> None:
    answer = alice_client.post("/channels/add/dingtalk/", {**form("dingtalk"), "channel": "sms"})
    assert answer.status_code == 200 and Provider.objects.count() == 0


def test_names_and_answers_are_escaped(alice_client: Client) -> None:
    provider = add(alice_client, "inapp")
    provider.name = "<script>alert(1)</script>"
    provider.last_test_answer, provider.last_test_at = (
        "<img src=x onerror=alert(2)>",
        datetime.now(UTC),
    )
    provider.save()
    page = alice_client.get("/channels/").content.decode()
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
    assert "<img src=x" not in page


# -- secrets ------------------------------------------------------------------------------------


def test_blank_secrets_keep_the_stored_ones_and_typed_ones_replace_them(
    alice_client: Client,
) -> None:
    provider = add(alice_client, "feishu")
    before = provider.secrets()
    kept = {**form("feishu", name="飞书群"), "settings-webhook_url": "", "settings-secret": ""}
    assert alice_client.post(f"/channels/{provider.pk}/", kept).status_code == 302
    provider.refresh_from_db()
    assert provider.name == "飞书群" and provider.secrets() == before
    replaced = {**kept, "settings-secret": "feishu-sign-new-1"}
    alice_client.post(f"/channels/{provider.pk}/", replaced)
    provider.refresh_from_db()
    assert provider.secrets()["secret"] == "feishu-sign-new-1"
    assert provider.secrets()["webhook_url"] == before["webhook_url"]
    # An optional secret (signing turned off in Feishu) can be removed; a required one cannot.
    page = alice_client.get(f"/channels/{provider.pk}/").content.decode()
    assert 'name="forget" value="secret"' in page and 'value="webhook_url"' not in page
    alice_client.post(f"/channels/{provider.pk}/", {**kept, "forget": ["secret", "webhook_url"]})
    provider.refresh_from_db()
    assert provider.secrets() == {"webhook_url": before["webhook_url"]}


def test_the_http_gateways_own_form_keeps_its_secrets_the_same_way(alice_client: Client) -> None:
    provider = add(alice_client, "sms_http")
    before = provider.secrets()
    page = alice_client.get(f"/channels/{provider.pk}/").content.decode()
    assert "mobile={to_national}" in page and "gateway-token-3301" not in page
    kept = {**form("sms_http", name="网关"), "settings-token": ""}
    assert alice_client.post(f"/channels/{provider.pk}/", kept).status_code == 302
    provider.refresh_from_db()
    assert provider.name == "网关" and provider.secrets() == before


def test_a_required_secret_cannot_be_blank_when_none_is_stored(alice_client: Client) -> None:
    answer = alice_client.post("/channels/add/webhook/", form("webhook", secret=""))
    assert answer.status_code == 200 and Provider.objects.count() == 0
    assert "此项为必填项。" in answer.content.decode()


def test_a_secret_the_key_cannot_read_asks_to_be_entered_again(
    alice_client: Client, settings: Any
) -> None:
    provider = add(alice_client, "dingtalk")
    settings.HUIFANG_SECRETS_KEY = "a-new-key-after-a-restore"
    listed = alice_client.get("/channels/", **EN).content.decode()
    assert "Secrets unreadable: re-enter them" in listed
    edit = alice_client.get(f"/channels/{provider.pk}/", **EN)
    assert edit.status_code == 200 and "Re-enter the secrets and save." in edit.content.decode()
    tested = alice_client.post(f"/channels/{provider.pk}/test/", {}, **EN, **HX)
    assert tested.status_code == 200 and "Re-enter the secrets" in tested.content.decode()
    provider.refresh_from_db()
    assert provider.last_test_at is None
    # The URL is required again (nothing readable is stored); typed in, all is well.
    blank = {**form("dingtalk"), "settings-webhook_url": ""}
    assert alice_client.post(f"/channels/{provider.pk}/", blank).status_code == 200
    assert alice_client.post(f"/channels/{provider.pk}/", form("dingtalk")).status_code == 302
    provider.refresh_from_db()
    assert provider.secrets()["webhook_url"].endswith(f"{TOKEN}-dd")


# -- enable, disable, delete --------------------------------------------------------------------


def test_a_customer_channel_without_an_enabled_provider_says_it_is_only_logged(
    alice_client: Client,
) -> None:
    def logged() -> list[str]:
        page = alice_client.get("/channels/", **EN).content.decode()
        sections = re.findall(
            r'<section class="card mb-3" id="channel-(\w+)"(.*?)</section>', page, re.S
        )
        return [name for name, body in sections if "only written to the log, not sent" in body]

    assert logged() == ["sms", "email", "wecom"]
    provider = add(alice_client, "sms_aliyun")
    assert logged() == ["email", "wecom"]
    assert alice_client.post(f"/channels/{provider.pk}/disable/").status_code == 302
    provider.refresh_from_db()
    assert not provider.enabled and logged() == ["sms", "email", "wecom"]
    alice_client.post(f"/channels/{provider.pk}/enable/")
    provider.refresh_from_db()
    assert provider.enabled and logged() == ["email", "wecom"]


def test_disable_and_delete_want_a_post(alice_client: Client) -> None:
    provider = add(alice_client, "inapp")
    assert alice_client.get(f"/channels/{provider.pk}/disable/").status_code == 405
    assert alice_client.get(f"/channels/{provider.pk}/delete/").status_code == 200
    assert Provider.objects.filter(pk=provider.pk, enabled=True).exists()


def test_deleting_a_provider_keeps_the_history_of_its_messages(alice_client: Client) -> None:
    provider = add(alice_client, "sms_aliyun")
    message = Message.objects.create(
        channel="sms", template="purchase-3d", status="sent", planned_at=NOW, created_at=NOW,
        provider=provider, transport="sms_aliyun", provider_ref="9006197^0",
    )  # fmt: skip
    confirm = alice_client.get(f"/channels/{provider.pk}/delete/", **EN).content.decode()
    assert "1 message went out through it; it keeps its history." in confirm
    assert alice_client.post(f"/channels/{provider.pk}/delete/").status_code == 302
    assert not Provider.objects.exists()
    message.refresh_from_db()
    assert message.provider_id is None and message.provider_ref == "9006197^0"


def test_the_page_says_the_bell_needs_no_provider(alice_client: Client) -> None:
    from huifang.integrations.models import Provider

    assert not Provider.objects.exists()
    html = alice_client.get("/channels/").content.decode()
    assert 'id="bell-built-in"' in html and "无需任何服务商" in html
    assert "尚未为员工配置群机器人或邮件" in html
