"""Templates are saved as immutable versions, validated first, and previewed for a customer."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from huifang.customers.models import Customer, Event
from huifang.messaging.models import MessageTemplate, TemplateVersion
from huifang.messaging.services import preview, save_template

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
BODY = "{{客户姓名}}您好,您在{{购买日期}}购买了{{产品名称}},现已使用{{使用天数}}天:{{回访链接}}"
LINK = "https://shop.example.cn/review"


def test_saving_makes_versions_and_the_latest_is_current() -> None:
    first = save_template(
        "purchase-3d", "sms", name="购买后", body=BODY, sms_signature="回访", followup_url=LINK
    )
    assert (first.changed, first.version.number) == (True, 1)
    again = save_template(
        "purchase-3d", "sms", name="购买后", body=BODY, sms_signature="回访", followup_url=LINK
    )
    assert (again.changed, again.version.pk) == (False, first.version.pk)
    second = save_template(
        "purchase-3d",
        "sms",
        name="购买后",
        body=BODY + "。",
        sms_signature="回访",
        followup_url=LINK,
    )
    assert (second.changed, second.version.number) == (True, 2)
    template = MessageTemplate.objects.get(key="purchase-3d", channel="sms")
    assert template.current_version == second.version
    assert TemplateVersion.objects.get(pk=first.version.pk).body == BODY  # unchanged
    # The same key on another channel is another template.
    save_template(
        "purchase-3d", "email", name="购买后", subject="{{客户姓名}}", body=BODY, followup_url=LINK
    )
    assert MessageTemplate.objects.filter(key="purchase-3d").count() == 2


@pytest.mark.parametrize(
    ("channel", "fields", "field", "says"),
    [
        ("sms", {"body": "{{客户名字}}您好"}, "body", "客户名字"),
        ("sms", {"body": ""}, "body", "empty"),
        ("sms", {"body": "x", "sms_signature": "【回访】"}, "sms_signature", "2 to 12"),
        ("sms", {"body": "x", "sms_signature": "回访" * 7}, "sms_signature", "2 to 12"),
        ("email", {"body": "x"}, "subject", "subject"),
        ("email", {"body": "x", "subject": "{{ ''.__class__ }}"}, "subject", "__class__"),
        ("fax", {"body": "x"}, "channel", "fax"),
        ("sms", {"body": "评价：{{回访链接}}"}, "followup_url", "回访链接"),
        ("sms", {"body": "x", "followup_url": "javascript:alert(1)"}, "followup_url", "http"),
    ],
)
def test_bad_content_is_refused_naming_the_field_and_nothing_is_written(
    channel: str, fields: dict[str, str], field: str, says: str
) -> None:
    with translation.override("en"), pytest.raises(ValidationError) as error:
        save_template("t", channel, name="t", **fields)
    assert says in " ".join(error.value.message_dict[field])
    assert not MessageTemplate.objects.exists()
    assert not TemplateVersion.objects.exists()


def test_errors_are_chinese_by_default() -> None:
    with pytest.raises(ValidationError) as error:
        save_template("t", "sms", name="t", body="{{客户名字}}")
    assert "未知变量" in error.value.message_dict["body"][0]


def test_preview_for_a_customer_uses_their_latest_event_and_counts_the_sms() -> None:
    customer = Customer.objects.create(name="王芳", external_id="c-1", time_zone="Asia/Shanghai")
    Event.objects.create(
        customer=customer,
        type="purchase",
        occurred_at=datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI),
        properties={"product": "空气净化器"},
    )
    saved = save_template(
        "purchase-3d", "sms", name="购买后", body=BODY, sms_signature="回访", followup_url=LINK
    )
    with translation.override("zh-hans"):
        shown = preview(
            saved.version, "sms", customer, now=datetime(2026, 11, 5, 10, 0, tzinfo=SHANGHAI)
        )
    assert shown.body == "王芳您好,您在2026-11-02购买了空气净化器,现已使用3天:[回访链接]"
    assert shown.sms is not None
    assert shown.sms.encoding == "UCS-2"
    assert shown.sms.characters == len("【回访】" + shown.body)
    assert shown.sms.segments == 1


def test_preview_of_unsaved_content_for_a_customer_without_events() -> None:
    customer = Customer.objects.create(name="李雷", external_id="c-2")
    shown = preview(
        {"subject": "您好 {{customer.name}}", "body": "{{客户姓名}}{{产品名称}}"}, "email", customer
    )
    assert (shown.subject, shown.body, shown.sms) == ("您好 李雷", "李雷", None)
