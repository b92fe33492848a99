"""Message templates: Chinese and English variables, the sandbox, limits and clear errors."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from huifang.customers.models import Customer, Event
from huifang.messaging.rendering import (
    MAX_TEMPLATE_CHARS,
    Context,
    TemplateError,
    render,
    validate,
    variables_used,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
ISSUE_EXAMPLE = (
    "{{客户姓名}}您好,您在{{购买日期}}购买了{{产品名称}},"
    "现已使用{{使用天数}}天,特邀您分享使用体验:{{回访链接}}"
)


def context(**properties: object) -> Context:
    customer = Customer(name="王芳", tier="vip", city="杭州", time_zone="Asia/Shanghai")
    event = Event(
        type="purchase",
        # 00:30 on 2 November in Shanghai is still 1 November in UTC: the customer's own date.
        occurred_at=datetime(2026, 11, 2, 0, 30, tzinfo=SHANGHAI),
        properties={"product": "空气净化器", "order_id": "A-1001", "amount": 1299, **properties},
    )
    return Context(
        customer,
        event,
        now=datetime(2026, 11, 12, 9, 0, tzinfo=SHANGHAI),
        links={"followup": "https://hf.example.cn/l/abc"},
    )


def test_the_issues_chinese_example_renders_as_written() -> None:
    assert render(ISSUE_EXAMPLE, context()) == (
        "王芳您好,您在2026-11-02购买了空气净化器,现已使用10天,"
        "特邀您分享使用体验:https://hf.example.cn/l/abc"
    )


def test_english_names_and_chinese_names_are_the_same_variables() -> None:
    text = "{{customer.name}} / {{ 客户姓名 }} / {{event.product}} / {{customer.tier}}"
    with translation.override("en"):
        assert render(text, context()) == "王芳 / 王芳 / 空气净化器 / VIP"


def test_conditions_and_allowed_filters() -> None:
    text = (
        "{% if customer.tier == 'VIP' %}尊敬的{% else %}亲爱的{% endif %}"
        "{{ 城市|default('') }}{{ 客户姓名|truncate(5) }}{{ event.order_id|lower }}"
    )
    assert render(text, context()) == "尊敬的杭州王芳a-1001"


def test_variables_used_lists_them_by_the_name_written() -> None:
    assert variables_used("{{客户姓名}} {{event.days}} {{客户姓名}}") == ["客户姓名", "event.days"]


@pytest.mark.parametrize(
    ("source", "named"),
    [
        ("您好 {{客户名字}}", "客户名字"),
        ("{{customer.nmae}}", "customer.nmae"),
        ("{{customer.password}}", "customer.password"),
        ("{{settings.SECRET_KEY}}", "settings.SECRET_KEY"),
        ("{{ customer }}", "customer"),
    ],
)
def test_an_unknown_variable_is_refused_when_saved_naming_it(source: str, named: str) -> None:
    with pytest.raises(TemplateError) as error:
        validate(source)
    assert named in str(error.value)


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ 客户姓名.__class__ }}",
        "{{ customer.name.__class__.__init__.__globals__ }}",
        "{{ 客户姓名|attr('__class__') }}",
        "{{ 客户姓名.upper() }}",
        "{{ 客户姓名 * 100000000 }}",
        "{{ 9 ** 999999 }}",
        "{% for n in range(100000000) %}x{% endfor %}",
        "{% set secret = 1 %}",
        "{% include 'base.html' %}",
        "{% extends 'base.html' %}",
        "{% macro m() %}{% endmacro %}",
        "{{ lipsum() }}",
        "{{ cycler }}",
        "{{ config }}",
        "{{ request }}",
        "{{ self }}",
        "{{ customer['name'] }}",
    ],
)
def test_sandbox_escapes_are_refused_when_saved(source: str) -> None:
    with pytest.raises(TemplateError):
        validate(source)


def test_errors_are_in_the_users_language() -> None:
    with translation.override("zh-hans"), pytest.raises(TemplateError) as chinese:
        validate("{{客户名字}}")
    with translation.override("en"), pytest.raises(TemplateError) as english:
        validate("{{客户名字}}")
    assert "未知变量" in str(chinese.value)
    assert "unknown variable" in str(english.value)


def test_a_syntax_error_names_its_line() -> None:
    with translation.override("en"), pytest.raises(TemplateError) as error:
        validate("第一行\n{% if 客户姓名 %}没有结束")
    assert "Line 2" in str(error.value)


def test_sizes_are_limited() -> None:
    with pytest.raises(TemplateError):
        validate("字" * (MAX_TEMPLATE_CHARS + 1))
    with pytest.raises(TemplateError):
        render("{{产品名称}}", context(product="长" * 30_000))


def test_no_event_renders_empty_event_variables() -> None:
    bare = Context(Customer(name="李雷"))
    assert render("{{客户姓名}}|{{购买日期}}|{{使用天数}}|{{回访链接}}", bare) == "李雷|||"


@given(st.text(max_size=200))
def test_any_text_is_either_a_template_or_a_clear_refusal(source: str) -> None:
    try:
        validate(source)
    except TemplateError:
        return
    render(source, Context(Customer(name="韩梅梅")))  # a valid template renders


@given(st.text(alphabet=st.characters(blacklist_characters="{}%#\r"), max_size=300))
def test_text_without_delimiters_is_itself(text: str) -> None:
    # (Line breaks are kept, as "\n": Jinja2 normalises "\r\n" and "\r".)
    assert render(text, Context(Customer(name="x"))) == text
