"""A customer who has everything, made through the real code paths: brought in from the shop's
file (import change rows), consent with evidence, a rule's cadence run on a virtual clock
(enrollment, due steps, messages sent with their attempts), an SMS reply, a task with an
outcome and notes, a questionnaire answered with free text, reveals and consent changes in the
audit log, a staff notification, the admin's history, an API answer kept for a retry — and,
when ``pending``, a plan still running and an open task. A second customer stands beside them,
to show that nothing of theirs is touched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.utils import timezone

from huifang.accounts.models import ApiToken
from huifang.accounts.services import notify
from huifang.customers import pii
from huifang.customers.consent import record_consent
from huifang.customers.models import Channel, Consent, ContactPoint, Customer
from huifang.customers.schemas import ConsentIn
from huifang.imports.planning import plan_file
from huifang.imports.services import run
from huifang.integrations.webhook.transport import sign
from huifang.messaging.inbound import record_reply
from huifang.messaging.models import Message
from huifang.sources.models import Received
from huifang.sources.ready import READY
from huifang.sources.services import create_source, receive
from huifang.subscriptions.events import event_types
from huifang.subscriptions.models import Delivery, Subscription
from huifang.surveys.answering import store, submit
from huifang.surveys.document import parse_survey
from huifang.surveys.models import Response
from huifang.surveys.services import library_documents, save_survey
from huifang.tasks.models import Task
from huifang.tasks.outcomes import Report, record
from tests.engine.world import World, local
from tests.imports.files import xlsx
from tests.rules.test_document import EXAMPLE

ADDRESS = "北京市朝阳区幸福路 8 号"
HEADER = ["会员编号", "姓名", "手机号码", "邮箱", "生日", "会员等级", "标签", "门店"]


@dataclass(frozen=True)
class Person:
    name: str
    phone: str  # E.164
    email: str

    @property
    def national(self) -> str:
        return self.phone.removeprefix("+86")

    @property
    def identifiers(self) -> tuple[str, ...]:
        return (self.name, self.phone, self.national, self.email)


HER = Person("欧阳娜娜", "+8613912345678", "ouyang.nana@example.cn")
OTHER = Person("李雷", "+8613800000001", "li.lei@example.cn")


def _pushed(customer: Customer, her: Person) -> None:
    """An order system pushed her order (Shopify-style): the source's log keeps it, masked."""
    source, secret = create_source(
        name="网店", slug="shop", ready="shopify-orders-paid", actor=None
    )
    payload = READY["shopify-orders-paid"].sample
    payload["customer"].update(id=customer.external_id, email=her.email, phone=her.phone)
    payload["billing_address"]["name"] = her.name
    body = json.dumps(payload, ensure_ascii=False).encode()
    stamp = int(timezone.now().timestamp())
    answer = receive(source, body, timestamp=str(stamp), signature=sign(secret, stamp, body))
    assert answer.status in (200, 202), answer


def everyone(
    world: World, tmp_path: Path, *, admin: Any, agent: Any, pending: bool, her: Person = HER
) -> Customer:
    """The customer who has everything (and the other one); returns her."""
    world.rule(EXAMPLE)
    # Another system told of every event: deliveries name the customer.
    Subscription.objects.create(
        name="订单系统", url="http://127.0.0.1:9/hook", event_types=[t.key for t in event_types]
    )
    path = xlsx(
        tmp_path / "会员.xlsx",
        [
            HEADER,
            ["M-1", her.name, her.national, her.email, "1990/5/1", "金卡", "老客户", "西湖店"],
            ["M-2", OTHER.name, OTHER.national, OTHER.email, "", "普通会员", "", ""],
        ],
    )
    run(plan_file(path), actor=admin)
    customer = Customer.objects.get(external_id="M-1")
    Customer.objects.filter(pk=customer.pk).update(
        wecom_external_userid="wmNANA0001",
        company="娜娜花店",
        note=f"{her.name}喜欢下午接电话",
        province="北京市",
        city="北京市",
        attributes={
            "store": "西湖店",
            "地址": "北京市朝阳区幸福路 8 号",
            "product_category": "家电",
        },
    )
    ContactPoint.objects.create(customer=customer, kind="phone", value="+8613700000002")
    _pushed(customer, her)
    other = Customer.objects.get(external_id="M-2")
    for person in (customer, other):
        for channel in (Channel.SMS, Channel.EMAIL):
            record_consent(
                person,
                ConsentIn(
                    channel=channel,
                    status=Consent.Status.GRANTED,
                    method=Consent.Method.PAPER,
                    recorded_at=world.now,
                    text_version="2026-01",
                    evidence=f"纸质同意书，{person.name}签字，{person.phone}",
                ),
                actor=agent,
                now=world.now,
            )
    customer.refresh_from_db()
    pii.reveal(customer, "phone", user=agent, reason="回访", context="customer page")

    world.event(
        customer, "purchase", amount=800, receiver=her.name, address="北京市朝阳区幸福路 8 号"
    )
    world.event(other, "purchase", amount=600)
    world.travel(local("2026-11-20 12:00"))
    first = Message.objects.filter(customer=customer).order_by("pk").first()
    assert first is not None and her.name in first.body
    record_reply(
        customer,
        "sms",
        f"我是{her.name}，新号码 {her.national}",
        provider_ref="reply-1",
        message_id=first.pk,
        now=world.now,
    )
    task = Task.objects.get(customer=customer)
    record(
        task,
        Report(outcome="reached", score=4, notes=f"{her.name}说快递打了{her.national}"),
        actor=agent,
        now=world.now,
    )
    notify(user=agent, title=f"新任务：电话回访 {her.name}", url=f"/tasks/{task.pk}/")

    document = {d.key: d for d in library_documents()}["purchase-satisfaction"]
    version = save_survey(document).version
    response = Response.objects.create(
        version=version, customer=customer, channel="sms", message_id=first.pk
    )
    store(response, {"csat": 2, "why_low": ["delivery"], "comment": f"我是{her.name}，送货太慢"})
    submit(response, parse_survey(version.content), now=world.now)

    LogEntry.objects.log_actions(
        user_id=admin.pk,
        queryset=[customer],
        action_flag=CHANGE,
        change_message=json.dumps([{"changed": {"fields": ["Note"]}}]),
        single_object=True,
    )
    token, _secret = ApiToken.issue(name="order system")
    token.idempotentrequest_set.create(
        key="k-1",
        fingerprint="0" * 64,
        status_code=201,
        content_type="application/json",
        body=json.dumps({"name": her.name, "external_id": "M-1"}).encode(),
    )
    if pending:
        world.travel(local("2026-12-07 10:00"))
        world.event(customer, "purchase", amount=900)
        Task.objects.create(
            customer=customer,
            title=f"回访 {her.name}",
            notes=f"邮件 {her.email}",
            created_at=world.now,
        )
        Message.objects.create(  # held by quiet hours until the morning
            customer=customer,
            channel="email",
            channels=["email"],
            template="purchase-3d",
            status=Message.Status.DEFERRED,
            deferred_until=world.now,
            subject=f"{her.name}，您好",
            body=f"{her.name}您好",
            planned_at=world.now,
            created_at=world.now,
        )
    customer.refresh_from_db()
    assert customer.birthday == date(1990, 5, 1)
    # What other systems were told and pushed about her is part of what is held.
    assert Delivery.objects.filter(payload__customer__id=customer.pk).exists()
    assert Received.objects.filter(customer_id=customer.pk).exists()
    return customer
