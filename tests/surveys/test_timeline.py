"""The customer page's follow-up history shows each questionnaire the customer answered, with
the answers along their path (labels, not stored values), and one opened but not submitted."""

from __future__ import annotations

import pytest
from django.test import Client

from huifang.customers.models import Customer

from .answering import flow_version, url

pytestmark = pytest.mark.django_db


def follow_ups(client: Client, customer: Customer) -> str:
    page = client.get(f"/customers/{customer.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert page.status_code == 200
    text = page.content.decode()
    return text[text.index('id="follow-ups"') :]


def test_an_answered_questionnaire_is_in_the_follow_ups_with_its_answers(
    alice_client: Client,
) -> None:
    version = flow_version()
    wang = Customer.objects.create(name="王芳", phone="+8613800138000")
    link = url(version, wang, message_id=11)
    respondent = Client()
    respondent.post(link, {"q": "csat", "csat": "2"})
    respondent.post(link, {"q": "why", "why": "waiting", "detail": "排队四十分钟"})
    respondent.post(link, {"q": "comment", "comment": "", "nps": "3"})

    history = follow_ups(alice_client, wang)
    assert "服务回访问卷 v1 · 短信" in history
    # The labels the customer chose, on their path, in order.
    assert "您对这次服务满意吗？ 2" in history
    assert "哪里让您不满意？ 等待时间" in history
    assert (
        history.index("等待时间") < history.index("排队四十分钟") < history.index("推荐给朋友？ 3")
    )


def test_a_questionnaire_opened_but_not_submitted_says_so(alice_client: Client) -> None:
    version = flow_version()
    zhao = Customer.objects.create(name="赵雷", phone="+8613900139000")
    Client().get(url(version, zhao, message_id=12))
    history = follow_ups(alice_client, zhao)
    assert "服务回访问卷 v1" in history
    assert "已打开，尚未提交" in history
