"""The mapping document: the ready ones read their sample payloads; bad documents are refused
with a message that names the place; no payload makes applying a mapping fail other than with a
clear refusal."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huifang.sources.mapping import MappingInvalid, PayloadRefused, apply, read_document
from huifang.sources.masking import masked
from huifang.sources.ready import BLANK, READY

pytestmark = pytest.mark.django_db


def test_the_youzan_mapping_reads_its_sample_push() -> None:
    ready = READY["youzan-trade-paid"]
    outcome = apply(read_document(ready.document), ready.sample)
    assert outcome.ignored == ""
    assert outcome.identity == {
        "external_id": "LnhGm4rh576452722916618240",
        "phone": "13800138000",
    }
    assert outcome.name == "王小明"
    assert outcome.customer_fields == {"province": "浙江省", "city": "杭州市", "source": "有赞"}
    assert outcome.event == {
        "type": "purchase",
        "occurred_at": "2026-09-08T10:15:30+08:00",
        "idempotency_key": "E20260908101530012345678",
        "properties": {
            "amount": "128.00",
            "order_no": "E20260908101530012345678",
            "store": "慢茶小铺",
            "items": ["桂花乌龙 250g", "玻璃茶杯"],
            "quantities": [2, 1],
        },
    }


def test_the_shopify_mapping_reads_its_sample_webhook() -> None:
    ready = READY["shopify-orders-paid"]
    outcome = apply(read_document(ready.document), ready.sample)
    assert outcome.identity == {
        "external_id": "115310627314723954",
        "email": "jon@example.com",
        "phone": "+8613900139000",
    }
    assert outcome.name == "Jon Li"
    assert outcome.event["idempotency_key"] == "820982911946154508"
    assert outcome.event["occurred_at"] == "2026-09-08T10:15:30+08:00"
    assert outcome.event["properties"]["amount"] == "199.00"
    assert outcome.event["properties"]["items"] == ["Ceramic teapot", "Tea towel"]


def test_a_condition_not_met_ignores_the_payload_and_says_why() -> None:
    ready = READY["shopify-orders-paid"]
    outcome = apply(read_document(ready.document), {**ready.sample, "financial_status": "pending"})
    assert outcome.ignored == '$.financial_status 不是 "paid"'


def test_the_blank_mapping_is_a_valid_document() -> None:
    assert read_document(BLANK).event_type == "purchase"


BAD = [
    ("", "映射必须是一个包含 customer 和 event 两部分的文档。"),
    ("customer: [", "映射不是有效的 YAML 或 JSON（第 1 行）。"),
    ("- a\n- b", "映射必须是一个包含 customer 和 event 两部分的文档。"),
    (
        "customer: {external_id: $.id}\nevent: {type: purchase}",
        "event.idempotency_key: 此项为必填项。",
    ),
    (
        "customer: {external_id: order.id}\nevent: {type: purchase, idempotency_key: $.id}",
        "customer.external_id: “order.id”不是 JSONPath；路径以 $ 开头，例如 $.order.id",
    ),
    (
        "customer: {external_id: '$.a['}\nevent: {type: purchase, idempotency_key: $.id}",
        "customer.external_id: “$.a[”不是有效的 JSONPath：Parse error near the end of string!",
    ),
    (
        "customer: {external_id: '$.a * 100000'}\nevent: {type: purchase, idempotency_key: $.id}",
        "customer.external_id: “$.a * 100000”用到了映射不允许的 JSONPath 写法",
    ),
    (
        "customer: {external_id: $.id}\nevent: {type: 买东西, idempotency_key: $.id}",
        "event.type: “买东西”不是已知的事件类型。",
    ),
    (
        "customer: {name: $.name}\nevent: {type: purchase, idempotency_key: $.id}",
        "customer.match: 请说明客户的外部编号、手机号或邮箱在哪里，并按它匹配。",
    ),
    (
        "customer: {external_id: $.id, fields: {salary: $.s}}\n"
        "event: {type: purchase, idempotency_key: $.id}",
        "“salary”不是外部来源可以填写的客户字段",
    ),
    (
        "when: [{path: $.status}]\ncustomer: {external_id: $.id}\n"
        "event: {type: purchase, idempotency_key: $.id}",
        "when.0: 每个条件需要且只需要 equals、not_equals、in、exists 中的一个。",
    ),
    (
        "time_zone: Mars/Olympus\ncustomer: {external_id: $.id}\n"
        "event: {type: purchase, idempotency_key: $.id}",
        "time_zone: “Mars/Olympus”不是时区",
    ),
    (
        "customer: {external_id: $.id}\n"
        "event: {type: purchase, idempotency_key: $.id, colour: red}",
        "event.colour",
    ),
]


@pytest.mark.parametrize(("document", "message"), BAD)
def test_a_bad_document_is_refused_with_a_message_that_names_the_place(
    document: str, message: str
) -> None:
    with pytest.raises(MappingInvalid) as refused:
        read_document(document)
    assert message in refused.value.message


def test_a_document_over_its_size_is_refused() -> None:
    with pytest.raises(MappingInvalid, match="20000"):
        read_document("#" * 20_001)


def test_youzans_msg_that_is_not_json_is_refused_clearly() -> None:
    ready = READY["youzan-trade-paid"]
    with pytest.raises(PayloadRefused) as refused:
        apply(read_document(ready.document), {**ready.sample, "msg": "%7Bnot json"})
    assert refused.value.message.startswith("msg 里不是 JSON")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), key=st.sampled_from(sorted(READY)))
def test_no_payload_makes_a_ready_mapping_fail_other_than_clearly(data: Any, key: str) -> None:
    ready = READY[key]
    mapping = read_document(ready.document)
    sample = json.loads(json.dumps(ready.sample))
    if key == "youzan-trade-paid":  # mutate inside the order too, not only the envelope
        sample["msg"] = json.loads(unquote(sample["msg"]))
    paths: list[list[Any]] = []
    stack: list[tuple[Any, list[Any]]] = [(sample, [])]
    while stack:
        value, path = stack.pop()
        paths.append(path)
        if isinstance(value, dict):
            stack.extend((v, [*path, k]) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, [*path, i]) for i, v in enumerate(value))
    path = data.draw(st.sampled_from(paths))
    replacement = data.draw(json_values)
    if path:
        target = sample
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = replacement
    else:
        sample = replacement
    if (
        key == "youzan-trade-paid"
        and isinstance(sample, dict)
        and isinstance(sample.get("msg"), dict | list)
    ):
        sample["msg"] = json.dumps(sample["msg"], ensure_ascii=False)
    try:
        outcome = apply(mapping, sample)
    except PayloadRefused as refused:
        assert refused.message
        return
    assert outcome.ignored or outcome.event["idempotency_key"]
    json.dumps(masked(outcome.payload))


def test_masking_hides_phones_emails_names_and_addresses_wherever_they_are() -> None:
    ready = READY["youzan-trade-paid"]
    outcome = apply(read_document(ready.document), ready.sample)
    text = json.dumps(masked(outcome.payload, {"13800138000", "王小明"}), ensure_ascii=False)
    for secret in ("13800138000", "王小明", "文三路 100 号", "LnhGm4rh576452722916618240"):
        assert secret not in text
    assert "138****8000" in text
    assert "E20260908101530012345678" in text  # the order number stays readable
    shop = masked(
        {"note": "call jon@example.com or +8613900139000", "customer": {"email": "a@b.cn"}}
    )
    assert shop == {
        "note": "call j***@example.com or +86****9000",
        "customer": {"email": "a***@b.cn"},
    }


documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "customer",
                    "event",
                    "when",
                    "unpack",
                    "path",
                    "type",
                    "match",
                    "fields",
                    "x",
                    "in",
                ]
            )
            | st.text(max_size=6),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(document=documents)
def test_no_document_fails_to_read_other_than_with_a_clear_refusal(document: Any) -> None:
    try:
        read_document(json.dumps(document, ensure_ascii=False))
    except MappingInvalid as invalid:
        assert invalid.message


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_no_text_fails_to_read_other_than_with_a_clear_refusal(text: str) -> None:
    try:
        read_document(text)
    except MappingInvalid as invalid:
        assert invalid.message
