"""Message templates cannot take a worker down: a template that would expand past the output
limit is refused when saved where its shape shows it, and always while it renders, before the
text grows; nesting and lengths are limited with clear errors (issue 17)."""

from __future__ import annotations

import re
import time
import tracemalloc
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import translation

from huifang.customers.models import Customer, Event
from huifang.messaging.models import MessageTemplate
from huifang.messaging.rendering import (
    MAX_OUTPUT_CHARS,
    MAX_SUBJECT_CHARS,
    Context,
    TemplateError,
    render,
    validate,
)
from huifang.messaging.services import save_template

SHANGHAI = ZoneInfo("Asia/Shanghai")
HUNDRED = "x" * 100
# The issue's bomb: each replace("", 100 characters) makes the name a hundred times longer;
# four of them would make about 200 million characters of a two-character name.
BOMB = "{{ 客户姓名" + f'|replace("", "{HUNDRED}")' * 4 + " }}"
# Doubling seven times stays under the saved-template estimate (a variable counted as 100
# characters: 12,927), but not with a 10,000-character product: 1,280,000 characters.
DOUBLING = "{{ 产品名称" + "|replace('', 'a')" * 7 + " }}"
NESTED = "{{ " + "(" * 500 + "客户姓名" + ")" * 500 + " }}"


def context(product: str = "空气净化器", name: str = "王芳") -> Context:
    customer = Customer(name=name, tier="vip", city="杭州", time_zone="Asia/Shanghai")
    event = Event(
        type="purchase",
        occurred_at=datetime(2026, 11, 2, 10, tzinfo=SHANGHAI),
        properties={"product": product},
    )
    return Context(customer, event, now=datetime(2026, 11, 12, 9, tzinfo=SHANGHAI))


def test_the_issues_bomb_is_refused_when_saved_naming_the_limit() -> None:
    with translation.override("en"), pytest.raises(TemplateError) as english:
        validate(BOMB)
    with translation.override("zh-hans"), pytest.raises(TemplateError) as chinese:
        validate(BOMB)
    assert "longer than 20,000 characters" in str(english.value)
    assert "20,000" in str(chinese.value) and "字符" in str(chinese.value)


def test_and_refused_when_rendered_quickly_without_growing() -> None:
    """What is bounded is the work: the refusal comes before the text grows (under 1 MB held).
    The clock only guards against a hang: expanding the bomb would take many seconds, so the
    bound leaves room for a busy CI machine (speed itself is measured in bench/)."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(TemplateError):
            render(BOMB, context())
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seconds < 1
    assert peak < 2**20


def test_a_long_value_is_stopped_while_rendering_before_it_grows() -> None:
    validate(DOUBLING)  # within the estimate: nothing to say when saved
    assert render(DOUBLING, context(product="品")) == "a" * 127 + "品" + "a" * 127
    tracemalloc.start()
    try:
        with translation.override("en"), pytest.raises(TemplateError) as error:
            render(DOUBLING, context(product="品" * 10_000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert f"longer than {MAX_OUTPUT_CHARS:,} characters" in str(error.value)
    assert peak < 2**20  # the first value over 20,000 characters was never made


def test_the_output_is_counted_as_it_is_produced() -> None:
    source, long = "{{产品名称}}" * 150, context(product="品" * 5_000)
    validate(source)  # compiled (and remembered) before measuring
    tracemalloc.start()
    try:
        with pytest.raises(TemplateError):
            render(source, long)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20


@pytest.mark.parametrize(
    "source",
    [
        NESTED,
        "{% if 客户姓名 %}" * 100 + "x" + "{% endif %}" * 100,
        "{{ 客户姓名" + "|trim" * 1_000 + " }}",
        "{{ " + "not " * 2_000 + "客户姓名 }}",
    ],
)
def test_deep_nesting_is_a_clear_refusal_not_a_crash(source: str) -> None:
    with translation.override("en"), pytest.raises(TemplateError, match="nested"):
        validate(source)
    with pytest.raises(TemplateError):
        render(source, context())


def test_legitimate_templates_still_render() -> None:
    text = (
        "{% if customer.tier == 'VIP' %}尊敬的{% elif 城市 %}亲爱的{% else %}您好{% endif %}"
        "{{ 客户姓名|replace('王', '汪') }}：{{ 产品名称|truncate(20)|upper }}"
        "{{ ' / ' ~ 城市 ~ '店' }}"
    )
    assert render(text, context()) == "尊敬的汪芳：空气净化器 / 杭州店"


@pytest.mark.django_db
def test_the_service_refuses_a_long_subject_and_a_nested_body_and_writes_nothing() -> None:
    with translation.override("en"), pytest.raises(ValidationError) as error:
        save_template(
            "care", "email", name="关怀", subject="主" * (MAX_SUBJECT_CHARS + 1), body=NESTED
        )
    assert f"at most {MAX_SUBJECT_CHARS} characters" in str(error.value.message_dict["subject"])
    assert "nested at most 10 deep" in str(error.value.message_dict["body"])
    assert not MessageTemplate.objects.exists()


@pytest.mark.django_db
def test_the_preview_page_answers_the_bomb_with_the_limit(alice_client: Client) -> None:
    Customer.objects.create(name="王芳", phone="+8613800138000")
    form = {"key": "bomb", "channel": "sms", "name": "炸弹"}
    for body in (BOMB, NESTED):
        started = time.perf_counter()
        response = alice_client.post(
            "/templates/preview/", form | {"body": body}, HTTP_ACCEPT_LANGUAGE="en"
        )
        assert response.status_code == 200
        assert time.perf_counter() - started < 1
    assert "nested at most 10 deep" in response.content.decode()


@pytest.mark.django_db
def test_the_editor_refuses_a_nested_body_on_its_field(alice_client: Client) -> None:
    form = {"key": "deep", "channel": "sms", "name": "深", "body": NESTED}
    response = alice_client.post("/templates/new/", form, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code in (200, 400)
    error = re.search(r'id="error-body">([^<]*)<', response.content.decode())
    assert error is not None and "10" in error.group(1)
    assert not MessageTemplate.objects.exists()
